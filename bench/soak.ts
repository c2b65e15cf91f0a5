// The soak: does a runtime's memory stay put over many invocations? 200,000 invocations of a
// 1 ms handler at concurrency 64, in phases of 20,000; after each phase, the runtime's resident
// set (all its processes and threads, from /proc) and, through a probe invocation that runs a
// full GC in the handler's isolate, its live heap. lmi's runtime and AWS's aws-lambda-ric on
// the same emulator, one after the other in one run.
//
//   node bench/soak.ts [--quick] [--contenders aws,lmi] [--phases N] [--per-phase N]
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { benchDir, contenders, lambdaEnv, repoRoot } from './contenders.ts'
import { sampleProcess } from './proc.ts'
import type { ChildMessage, ParentMessage } from './protocol.ts'
import { ensureBenchDeps } from './setup.ts'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    contenders: { type: 'string', default: 'aws,lmi' },
    phases: { type: 'string' },
    'per-phase': { type: 'string' },
  },
})
const PHASES = Number(flags.phases ?? (flags.quick ? 4 : 10))
const PER_PHASE = Number(flags['per-phase'] ?? (flags.quick ? 5000 : 20_000))
const CONCURRENCY = 64
const WARMUP = 2000
const emulatorModule = join(repoRoot, 'packages', 'runtime', 'dev', 'src', 'emulator', 'index.ts')

function log(line: string): void {
  process.stderr.write(`[soak] ${line}\n`)
}

interface Point {
  invocations: number
  rssMB: number
  peakRssMB: number
  heapMB: number | undefined
}

interface SoakResult {
  contender: string
  points: Point[]
  errors: number
  failure?: string
}

/** Messages of the emulator process, in order. */
function inbox(child: ChildProcess): (type: ChildMessage['type']) => Promise<ChildMessage> {
  const queue: ChildMessage[] = []
  let wake: (() => void) | undefined
  child.on('message', (message: ChildMessage) => {
    queue.push(message)
    wake?.()
  })
  child.on('exit', () => wake?.())
  return async function next(type) {
    for (;;) {
      const index = queue.findIndex((m) => m.type === type || m.type === 'fatal')
      if (index >= 0) {
        const [message] = queue.splice(index, 1) as [ChildMessage]
        if (message.type === 'fatal') throw new Error(`emulator: ${message.message}`)
        return message
      }
      if (child.exitCode !== null) throw new Error('the emulator process exited')
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  }
}

async function soak(name: string): Promise<SoakResult> {
  const contender = contenders.find((c) => c.name === name)
  const launch = contender?.resolve()
  if (launch === undefined || 'unavailable' in launch) {
    return { contender: name, points: [], errors: 0, failure: launch?.unavailable ?? 'unknown' }
  }
  const emulator = fork(join(benchDir, 'emulator-process.ts'), [], {
    execArgv: ['--conditions=@lmi/source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const next = inbox(emulator)
  const post = (message: ParentMessage) => emulator.send(message)
  let runtime: ChildProcess | undefined
  try {
    post({
      type: 'init',
      emulatorModule,
      concurrency: CONCURRENCY,
      timeoutMs: 30_000,
      event: { n: 1 },
      expectedPayload: JSON.stringify({ ok: true }),
    })
    const ready = (await next('ready')) as Extract<ChildMessage, { type: 'ready' }>
    const child = spawn(launch.command, launch.args, {
      cwd: join(benchDir, 'handlers'),
      env: {
        ...lambdaEnv({ runtimeApi: ready.runtimeApi, handler: 'soak', concurrency: CONCURRENCY }),
        ...launch.env,
        NODE_OPTIONS: '--expose-gc',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    runtime = child
    const probe = async (): Promise<number | undefined> => {
      post({ type: 'probe', event: { probe: true } })
      const probed = (await next('probed')) as Extract<ChildMessage, { type: 'probed' }>
      const body = JSON.parse(probed.payload) as { heapUsed?: number }
      return body.heapUsed === undefined ? undefined : body.heapUsed / 2 ** 20
    }
    post({ type: 'run', phase: 'warmup', count: WARMUP })
    await next('done')
    const points: Point[] = []
    let errors = 0
    const sample = async (invocations: number) => {
      const heapMB = await probe()
      const proc = sampleProcess(child.pid as number)
      points.push({
        invocations,
        rssMB: proc.rssBytes / 2 ** 20,
        peakRssMB: proc.peakRssBytes / 2 ** 20,
        heapMB,
      })
      log(
        `${name}: ${invocations} invocations, RSS ${(proc.rssBytes / 2 ** 20).toFixed(1)} MB, live heap ${heapMB?.toFixed(2) ?? '?'} MB`,
      )
    }
    await sample(0)
    for (let phase = 1; phase <= PHASES; phase++) {
      post({ type: 'run', phase: 'measure', count: PER_PHASE })
      const done = (await next('done')) as Extract<ChildMessage, { type: 'done' }>
      errors += done.summary.errors
      await sample(phase * PER_PHASE)
    }
    return { contender: name, points, errors }
  } catch (error) {
    return { contender: name, points: [], errors: 0, failure: (error as Error).message }
  } finally {
    if (runtime !== undefined && runtime.exitCode === null) {
      const exited = once(runtime, 'exit')
      runtime.kill('SIGKILL')
      await exited
    }
    if (emulator.connected) {
      post({ type: 'close' })
      emulator.disconnect()
    }
    if (emulator.exitCode === null) emulator.kill('SIGKILL')
  }
}

const setup = ensureBenchDeps(log)
if (!setup.ok) log(setup.message)
const results: SoakResult[] = []
for (const name of (flags.contenders ?? '').split(',')) results.push(await soak(name.trim()))

const lines: string[] = [
  `### Soak: ${PHASES} × ${PER_PHASE.toLocaleString('en')} invocations of a 1 ms handler at c=${CONCURRENCY}, Node ${process.version}`,
  '',
  '| runtime | RSS after warm-up MB | RSS at end MB | peak RSS MB | live heap after warm-up MB | live heap at end MB | heap growth per 100k MB | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
]
for (const result of results) {
  if (result.failure !== undefined) {
    lines.push(`| ${result.contender} | failed: ${result.failure.split('\n')[0]} | | | | | | |`)
    continue
  }
  const first = result.points[0] as Point
  const last = result.points.at(-1) as Point
  const fmt = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(1))
  // Least-squares slope of the live heap over the phases after the first, per 100k invocations.
  const heaps = result.points.slice(1).filter((p) => p.heapMB !== undefined)
  let slope: number | undefined
  if (heaps.length >= 2) {
    const xs = heaps.map((p) => p.invocations / 100_000)
    const ys = heaps.map((p) => p.heapMB as number)
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length
    const my = ys.reduce((a, b) => a + b, 0) / ys.length
    let num = 0
    let den = 0
    for (let i = 0; i < xs.length; i++) {
      num += ((xs[i] as number) - mx) * ((ys[i] as number) - my)
      den += ((xs[i] as number) - mx) ** 2
    }
    slope = den === 0 ? undefined : num / den
  }
  lines.push(
    `| ${result.contender} | ${fmt(first.rssMB)} | ${fmt(last.rssMB)} | ${fmt(Math.max(...result.points.map((p) => p.peakRssMB)))} | ${fmt(first.heapMB)} | ${fmt(last.heapMB)} | ${slope === undefined ? 'n/a' : slope.toFixed(3)} | ${result.errors} |`,
  )
}
lines.push(
  '',
  "Live heap: `process.memoryUsage().heapUsed` after `gc()` in the isolate that served the probe (aws-lambda-ric runs 16 worker isolates here: one of them; lmi's default on 2 vCPUs is one). RSS: the whole process tree, from /proc.",
)
const report = lines.join('\n')
console.log(`\n${report}`)
mkdirSync(join(benchDir, 'results'), { recursive: true })
writeFileSync(join(benchDir, 'results', 'soak.md'), `${report}\n`)
writeFileSync(join(benchDir, 'results', 'soak.json'), `${JSON.stringify(results, null, 2)}\n`)
