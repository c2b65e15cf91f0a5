// The runtime benchmark: aws-lambda-ric vs a bare undici loop vs lmi, on the lmi Runtime API
// emulator, in one run. Usage (from the repository root):
//
//   node bench/run.ts [--quick] [--rounds R] [--scale F] [--contenders aws,bare,lmi]
//                     [--handlers trivial,io10] [--concurrency 1,8,64] [--emulator <module>]
//
// Rounds go over every cell, and within a cell the contenders run back to back (A B C), so a
// noisy stretch of this shared machine lands on one round of many cells rather than on every
// round of one cell; medians over rounds then discard it.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Contender, ContenderName, Launch } from './contenders.ts'
import { benchDir, contenders, repoRoot } from './contenders.ts'
import type { RunRecord } from './measure.ts'
import { killStarted, runCell } from './measure.ts'
import { CLK_TCK } from './proc.ts'
import { aggregate, markdown, ratios, verdict } from './report.ts'
import { ensureBenchDeps } from './setup.ts'
import type { HandlerName } from './workloads.ts'
import { concurrencyLevels, countsFor, handlerInfo, handlerNames } from './workloads.ts'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    scale: { type: 'string' },
    contenders: { type: 'string' },
    handlers: { type: 'string' },
    concurrency: { type: 'string' },
    emulator: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})

if (flags.help) {
  console.log(`node bench/run.ts [options]
  --quick                short smoke run: 1 round, a fifth of the invocations
  --rounds R             rounds (default 5, quick 1; env LMI_BENCH_ROUNDS)
  --scale F              multiply invocation counts by F (env LMI_BENCH_SCALE)
  --contenders a,b       subset of aws,bare,lmi (default), lmi-main (LMI_WORKERS=0: one event
                         loop), lmi-percpu (one worker per CPU),
                         lmi-detect-off|warn|throw (LMI_SHARED_STATE: the detectors' cost)
  --handlers a,b         subset of trivial,io10 (default), cpu2 (CPU-bound, on request)
  --concurrency 1,8,64   concurrency levels
  --emulator <module>    module exporting createEmulator() (env LMI_BENCH_EMULATOR)
  --name N               write results/N.json and results/N.md (default latest)`)
  process.exit(0)
}

const resultsName = flags.name ?? 'latest'
if (!/^[\w.-]+$/.test(resultsName)) {
  console.error(`--name must be a plain file name, got ${JSON.stringify(resultsName)}`)
  process.exit(2)
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`)
}

function list<T extends string>(
  value: string | undefined,
  all: readonly T[],
  what: string,
  defaults: readonly T[] = all,
): T[] {
  if (value === undefined) return [...defaults]
  const picked = value.split(',').map((v) => v.trim())
  for (const v of picked) {
    if (!all.includes(v as T)) throw new Error(`unknown ${what} "${v}"; expected ${all.join(', ')}`)
  }
  return picked as T[]
}

/** The most telling line of a failure: the first error message, else the first line. */
function headline(failure: string): string {
  const lines = failure.split('\n').map((line) => line.trim())
  return (lines.find((line) => /^\w*Error\b|^Error \[/.test(line)) ?? lines[0] ?? '').slice(0, 300)
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`)
  return n
}

const quick = flags.quick ?? false
const rounds = Math.round(
  positive(flags.rounds ?? process.env.LMI_BENCH_ROUNDS, '--rounds') ?? (quick ? 1 : 5),
)
const scale =
  (positive(flags.scale ?? process.env.LMI_BENCH_SCALE, '--scale') ?? 1) * (quick ? 0.2 : 1)
/** Every contender, in the order tables list them. */
const CONTENDER_NAMES: readonly ContenderName[] = [
  'aws',
  'bare',
  'lmi',
  'lmi-main',
  'lmi-percpu',
  'lmi-detect-off',
  'lmi-detect-warn',
  'lmi-detect-throw',
]
const picked = list<ContenderName>(flags.contenders, [...CONTENDER_NAMES], 'contender', [
  'aws',
  'bare',
  'lmi',
])
const handlers = list<HandlerName>(
  flags.handlers,
  Object.keys(handlerInfo) as HandlerName[],
  'handler',
  handlerNames,
)
const levels = flags.concurrency
  ? flags.concurrency.split(',').map((v) => Math.round(positive(v, '--concurrency')!))
  : concurrencyLevels
const emulatorModule =
  flags.emulator ??
  (process.env.LMI_BENCH_EMULATOR || undefined) ??
  join(repoRoot, 'packages', 'runtime', 'dev', 'src', 'emulator', 'index.ts')

if (!existsSync(emulatorModule)) {
  log(`the Runtime API emulator ${emulatorModule} does not exist (yet): nothing can be measured`)
  process.exit(1)
}

const startedAt = new Date()
const started = performance.now()

// aws-lambda-ric and undici come from bench/'s own lockfile, installed on first use.
const setup = ensureBenchDeps(log)
if (!setup.ok) log(setup.message)

const active = new Map<ContenderName, { contender: Contender; launch: Launch }>()
const skipped: { name: ContenderName; reason: string }[] = []
for (const contender of contenders.filter((c) => picked.includes(c.name))) {
  const launch = contender.resolve()
  if ('unavailable' in launch) {
    skipped.push({ name: contender.name, reason: launch.unavailable })
    log(`skipping ${contender.name}: ${launch.unavailable}`)
  } else if (!setup.ok && contender.name !== 'lmi') {
    skipped.push({ name: contender.name, reason: 'bench dependencies are not installed' })
    log(`skipping ${contender.name}: bench dependencies are not installed`)
  } else {
    active.set(contender.name, { contender, launch })
  }
}
if (active.size === 0) {
  log('nothing to measure')
  process.exit(1)
}

// Interrupted: leave no runtime polling a dead emulator behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killStarted()
    log(`interrupted by ${signal}`)
    process.exit(130)
  })
}

const options = { emulatorModule, timeoutMs: 30_000, startTimeoutMs: 20_000, stopGraceMs: 3000 }
const records: RunRecord[] = []
const totalRuns = rounds * handlers.length * levels.length * active.size
let done = 0
for (let round = 1; round <= rounds; round++) {
  for (const handler of handlers) {
    for (const concurrency of levels) {
      const counts = countsFor(handler, concurrency, scale)
      for (const [name, { contender, launch }] of [...active]) {
        const record = await runCell(
          contender,
          launch,
          { handler, concurrency, counts },
          round,
          options,
        )
        records.push(record)
        done++
        const where = `[${done}/${totalRuns}] round ${round} ${handler} c=${concurrency} ${name}`
        if (record.count > 0) {
          log(
            `${where}: ${Math.round(record.invPerSec)} inv/s, p50 ${record.p50Ms.toFixed(2)} ms, ` +
              `p99 ${record.p99Ms.toFixed(2)} ms, ${Math.round(record.cpuMicrosPerInv)} µs CPU/inv ` +
              `(emulator ${Math.round(record.emulatorCpuMicrosPerInv)}), ` +
              `${Math.round(record.peakRssMB)} MB, ${record.threads} threads, ` +
              `peak in flight ${record.emulatorStats?.peakInFlight ?? '?'}, errors ${record.errors}`,
          )
        }
        if (record.failure) log(`${where}: ${record.failure}`)
        if (record.startFailed) {
          // It will not start on the next cell either: say so once and stop trying.
          active.delete(name)
          skipped.push({ name, reason: `failed to start: ${headline(record.failure ?? '')}` })
          log(`${name} failed to start; skipping it for the rest of the run`)
        }
      }
    }
  }
}

const cells = aggregate(records)
const ratioList = ratios(
  cells,
  [
    ['lmi', 'aws'],
    ['lmi', 'bare'],
    ['bare', 'aws'],
    ['lmi-main', 'lmi'],
    ['lmi-percpu', 'lmi'],
    ['lmi-detect-off', 'lmi'],
    ['lmi-detect-warn', 'lmi'],
    ['lmi-detect-throw', 'lmi'],
  ],
  handlers,
  levels,
)
const outcome = verdict(cells)
const elapsedS = (performance.now() - started) / 1000
const machine = {
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  clkTck: CLK_TCK,
}

const countsNote = levels
  .flatMap((c) =>
    handlers.map((h) => `${h} c=${c}: ${countsFor(h, c, scale).measure.toLocaleString('en-US')}`),
  )
  .join(', ')
const text = [
  `## lmi runtime benchmark — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  `${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}, ${rounds} round(s)${quick ? ', --quick' : ''}, ${elapsedS.toFixed(0)} s.` +
    ` Measured invocations per run (after warm-up): ${countsNote}.` +
    ' Fewer at low concurrency, where each invocation is slow to come by.' +
    ' CPU and peak RSS are the runtime process only (all its threads); the emulator runs in its own process.' +
    (rounds < 3 ? ' Fewer than 3 rounds: a smoke test, not a measurement.' : ''),
  ...(skipped.length > 0
    ? [`Not measured: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.`]
    : []),
  markdown({
    cells,
    ratios: ratioList,
    verdict: outcome,
    handlers: handlers.map((name) => ({ name, description: handlerInfo[name].description })),
    contenders: CONTENDER_NAMES.filter((c) => cells.some((cell) => cell.contender === c)),
    levels,
    rounds,
  }),
].join('\n\n')
console.log(`\n${text}\n`)

const resultsDir = join(benchDir, 'results')
mkdirSync(resultsDir, { recursive: true })
writeFileSync(
  join(resultsDir, `${resultsName}.json`),
  `${JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      elapsedS,
      machine,
      settings: { quick, rounds, scale, handlers, levels, ...options },
      counts: Object.fromEntries(
        handlers.map((h) => [
          h,
          Object.fromEntries(levels.map((c) => [c, countsFor(h, c, scale)])),
        ]),
      ),
      installMs: setup.ok ? setup.installedMs : undefined,
      skipped,
      cells,
      ratios: ratioList,
      verdict: outcome,
      runs: records,
    },
    null,
    2,
  )}\n`,
)
writeFileSync(join(resultsDir, `${resultsName}.md`), `${text}\n`)
log(`results: bench/results/${resultsName}.json (${elapsedS.toFixed(0)} s)`)
// A FAIL against the targets is a finding, not a broken bench; nothing measured at all is.
if (!records.some((r) => r.count > 0)) process.exitCode = 1
