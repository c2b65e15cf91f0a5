// What lmi's shutdown extension costs in every execution environment: time from its start to
// its registration with the Extensions API, its resident memory while it waits (the whole
// process tree, from /proc), its CPU, and how long it takes to exit once the SHUTDOWN event
// reaches it. The anchor is the same extension on node (`shutdown-extension.mjs`, what the
// layer falls back to without bash, and what an extension written in Node costs). Both run
// against lmi's emulator, alternating within each round; medians over the rounds.
//
// Then what the extension is for: lmi's runtime (compiled dist/, default budget) with 64
// invocations in flight — half ending 50 ms later, half never — through Lambda's shutdown
// sequence with Lambda's 300 ms runtime share: how long after SIGTERM it exits, how many
// invocations it answered, how often Lambda would have SIGKILLed it. Needs `pnpm build`.
//
//   node bench/extension.ts [--quick]
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEmulator } from '../packages/runtime/dev/src/emulator/index.ts'
import { handlersDir, repoRoot } from './contenders.ts'
import { CLK_TCK, sampleProcess } from './proc.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 11
const layer = join(repoRoot, 'packages', 'runtime', 'runtime', 'layer', 'dist')
const script = join(layer, 'extensions', 'lmi-shutdown')
const nodeScript = join(layer, 'lmi', 'shutdown-extension.mjs')
const lmiBin = join(repoRoot, 'packages', 'runtime', 'runtime', 'bin', 'lmi-runtime.js')
const IN_FLIGHT = 64

interface Contender {
  name: string
  what: string
  start(env: NodeJS.ProcessEnv): ChildProcess
}

const contenders: Contender[] = [
  {
    name: 'node',
    what: '`shutdown-extension.mjs` on node (the fallback; an extension written in Node)',
    start: (env) =>
      spawn(process.execPath, [nodeScript, 'lmi-shutdown'], { env, stdio: 'inherit' }),
  },
  {
    name: 'lmi-shutdown',
    what: '`/opt/extensions/lmi-shutdown` as the layer ships it (bash, `/dev/tcp`)',
    start: (env) => spawn(script, [], { env, stdio: 'inherit' }),
  },
]

interface Sample {
  registerMs: number
  rssMb: number
  cpuMs: number
  processes: number
  exitMs: number
}

async function measure(contender: Contender): Promise<Sample> {
  const emulator = await createEmulator({ maxConcurrency: 64 })
  try {
    const env = { PATH: process.env.PATH ?? '', AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi }
    const registered = once(emulator, 'extensionRegistered')
    const startedAt = performance.now()
    const extension = contender.start(env)
    await registered
    const registerMs = performance.now() - startedAt
    // Waiting on its event/next poll, as it will for the life of the environment.
    await sleep(300)
    const sample = sampleProcess(extension.pid as number)
    const rssMb = sample.rssBytes / (1024 * 1024)
    const cpuMs = sample.cpuMicros / 1000
    // A runtime that exits on SIGTERM, then Lambda's shutdown sequence.
    const runtime = spawn(process.execPath, [
      '-e',
      "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1e6)",
    ])
    await sleep(100)
    const event = once(emulator, 'extensionEvent')
    const report = emulator.shutdown({ runtime, extensions: [extension] })
    await event
    const eventAt = performance.now()
    await once(extension, 'exit').catch(() => undefined)
    const exitMs = extension.exitCode === null ? Number.NaN : performance.now() - eventAt
    const { extensions } = await report
    if (extensions[0]?.code !== 0)
      throw new Error(`${contender.name} exited ${extensions[0]?.code}`)
    return { registerMs, rssMb, cpuMs, processes: sample.processes, exitMs }
  } finally {
    await emulator.close()
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

if (!existsSync(script) || !existsSync(nodeScript)) {
  process.stderr.write(`${script} not found: run pnpm build first\n`)
  process.exit(1)
}
const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const contender of round % 2 === 0 ? contenders : [...contenders].reverse()) {
    samples.get(contender.name)?.push(await measure(contender))
  }
  process.stderr.write(`[extension] round ${round + 1}/${ROUNDS}\n`)
}

const anchor = samples.get('node') as Sample[]
const rows = contenders.map((contender) => {
  const s = samples.get(contender.name) as Sample[]
  const pick = (key: keyof Sample) => median(s.map((sample) => sample[key]))
  return {
    name: contender.name,
    what: contender.what,
    registerMs: pick('registerMs'),
    rssMb: pick('rssMb'),
    cpuMs: pick('cpuMs'),
    processes: pick('processes'),
    exitMs: pick('exitMs'),
    rssRatio: pick('rssMb') / median(anchor.map((sample) => sample.rssMb)),
    registerRatio: pick('registerMs') / median(anchor.map((sample) => sample.registerMs)),
  }
})
const table = [
  `Node ${process.versions.node}, ${ROUNDS} rounds, medians; ratios against \`node\`.`,
  '',
  '| extension | start → registered | resident memory while waiting | CPU to get there | processes | SHUTDOWN → exit |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (row) =>
      `| ${row.what} | ${row.registerMs.toFixed(0)} ms (${row.registerRatio.toFixed(2)}×) | ${row.rssMb.toFixed(1)} MB (${row.rssRatio.toFixed(2)}×) | ${row.cpuMs === 0 ? `< ${Math.round(1000 / CLK_TCK)}` : row.cpuMs.toFixed(0)} ms | ${row.processes} | ${row.exitMs.toFixed(1)} ms |`,
  ),
].join('\n')
process.stdout.write(`${table}\n`)
const out = join(repoRoot, 'bench', 'results')
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'extension.json'), `${JSON.stringify({ rounds: ROUNDS, rows }, null, 2)}\n`)
writeFileSync(join(out, 'extension.md'), `${table}\n`)

// ---- the runtime's shutdown inside Lambda's 300 ms ------------------------------------------

interface Drain {
  exitMs: number
  killed: boolean
  answered: number
  shutdownTimeouts: number
}

async function drain(workers: string): Promise<Drain> {
  const emulator = await createEmulator({ maxConcurrency: IN_FLIGHT, timeoutMs: 30_000 })
  const env = {
    PATH: process.env.PATH ?? '',
    ...emulator.env,
    LAMBDA_TASK_ROOT: handlersDir,
    _HANDLER: 'shutdown.handler',
    AWS_LAMBDA_MAX_CONCURRENCY: String(IN_FLIGHT),
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    ...(workers === '' ? {} : { LMI_WORKERS: workers }),
  }
  const extension = spawn(script, [], { env, stdio: 'ignore' })
  const runtime = spawn(process.execPath, [lmiBin], { env, stdio: 'ignore' })
  try {
    await once(emulator, 'extensionRegistered')
    const results = Array.from({ length: IN_FLIGHT }, (_, n) =>
      emulator.invoke({ never: n % 2 === 0 }).catch(() => undefined),
    )
    while (emulator.stats().inFlight < IN_FLIGHT) await sleep(5)
    await sleep(10)
    const report = await emulator.shutdown({ runtime, extensions: [extension] })
    const settled = await Promise.race([Promise.all(results), sleep(1000).then(() => [])])
    const ended = settled.filter(
      (result) => result !== undefined && result.timedOutBy !== 'emulator',
    )
    return {
      exitMs: report.runtime.exitedAfterMs ?? Number.NaN,
      killed: report.runtime.killed,
      answered: ended.length,
      shutdownTimeouts: ended.filter(
        (result) => result?.error?.errorType === 'Runtime.ShutdownTimeout',
      ).length,
    }
  } finally {
    runtime.kill('SIGKILL')
    extension.kill('SIGKILL')
    await emulator.close()
  }
}

const modes = [
  { name: 'worker threads (default)', workers: '' },
  { name: 'one event loop (`LMI_WORKERS=0`)', workers: '0' },
]
const drains = new Map<string, Drain[]>(modes.map((mode) => [mode.name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
    drains.get(mode.name)?.push(await drain(mode.workers))
  }
  process.stderr.write(`[extension] drain round ${round + 1}/${ROUNDS}\n`)
}
const drainTable = [
  '',
  `lmi's runtime (dist/, \`LMI_SHUTDOWN_TIMEOUT_MS\` default 250) with ${IN_FLIGHT} invocations in flight, half ending 50 ms later, half never; Lambda's sequence, 300 ms runtime share; ${ROUNDS} rounds.`,
  '',
  '| runtime | SIGTERM → exit, median | max | SIGKILLed | answered (of 64), min | `Runtime.ShutdownTimeout`, median |',
  '| --- | --- | --- | --- | --- | --- |',
  ...modes.map((mode) => {
    const d = drains.get(mode.name) as Drain[]
    return `| ${mode.name} | ${median(d.map((x) => x.exitMs)).toFixed(0)} ms | ${Math.max(...d.map((x) => x.exitMs)).toFixed(0)} ms | ${d.filter((x) => x.killed).length} of ${d.length} | ${Math.min(...d.map((x) => x.answered))} | ${median(d.map((x) => x.shutdownTimeouts))} |`
  }),
].join('\n')
process.stdout.write(`${drainTable}\n`)
writeFileSync(
  join(out, 'extension.json'),
  `${JSON.stringify({ rounds: ROUNDS, rows, drains: Object.fromEntries(drains) }, null, 2)}\n`,
)
writeFileSync(join(out, 'extension.md'), `${table}\n${drainTable}\n`)
