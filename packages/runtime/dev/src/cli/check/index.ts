// `lmi check`: finds what a Lambda handler shares between concurrent invocations.
//
// Two kinds of evidence, from the same runs:
// 1. The runtime's shared-state detectors (`LMI_SHARED_STATE=warn`) report process.env and
//    global writes, escaped timers, shared /tmp paths, … as JSON lines, collected here.
// 2. Differential testing: each event runs alone, in a fresh runtime process (fresh module
//    instance, concurrency 1), `soloRuns` times; the first run is the event's reference and
//    whatever differs between the runs is volatile and ignored. Then one runtime process at
//    concurrency N runs every event many times, shuffled, over R rounds; a response that
//    differs from its event's reference is LMI_CONCURRENCY_DEPENDENT_RESPONSE. This catches
//    what no detector can see: a module-level `let`, a counter, a cache keyed by the wrong thing.

import { randomUUID } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { FINDING_CODES } from '@lmi/core'
import { HandlerLoadError, parseHandlerName } from '@lmi/runtime'
import {
  ABSENT,
  buildReference,
  compareOutcome,
  compileIgnore,
  type IgnoreMatcher,
  Normalizer,
  type Outcome,
  type RawDifference,
  type Reference,
  renderPath,
  renderValue,
  sameValue,
  valueAt,
} from './diff.ts'
import { CheckUsageError } from './errors.ts'
import { type CheckEvent, loadEvents, namedEvents } from './events.ts'
import { type DetectorFinding, RuntimeProcess, type RuntimeProcessOptions } from './run.ts'
import {
  invocationsPerRound,
  newTraceId,
  randomSeed,
  roundOrder,
  seededRandom,
} from './schedule.ts'
import type {
  CheckFinding,
  CheckOptions,
  CheckProgress,
  CheckResult,
  DifferenceExample,
  ResponseDifference,
} from './types.ts'

const DEFAULT_ROUNDS = 3
const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_SOLO_RUNS = 2
const DEFAULT_INIT_TIMEOUT_MS = 30_000
const MAX_CONCURRENCY = 1024
const EXAMPLES_PER_FINDING = 3
const LIKELY_FROM_MAX = 3

/**
 * The concurrency `lmi check` uses when none is given: 4 per event, at most 64.
 *
 * @example
 * ```ts
 * defaultConcurrency(6) // => 24
 * ```
 */
export function defaultConcurrency(events: number): number {
  return Math.min(64, 4 * events)
}

// Node options that decide how the runtime finds and loads code; the rest (--test, --inspect,
// --watch, …) belong to the process running the check, not to the handler's.
const PASSED_OPTIONS = new Set([
  '--conditions',
  '-C',
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
])
const PASSED_FLAGS = new Set(['--enable-source-maps', '--no-warnings'])

/**
 * The loader-related part of this process's Node options, for the runtime processes.
 *
 * @example
 * ```ts
 * inheritedExecArgv(['--test', '--conditions=@lmi/source']) // => ['--conditions=@lmi/source']
 * ```
 */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = []
  for (let index = 0; index < execArgv.length; index++) {
    const arg = execArgv[index] as string
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (PASSED_FLAGS.has(arg)) out.push(arg)
    else if (PASSED_OPTIONS.has(name)) {
      out.push(arg)
      const value = execArgv[index + 1]
      if (eq === -1 && value !== undefined) {
        out.push(value)
        index++
      }
    }
  }
  return out
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CheckUsageError(
      `${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    )
  }
  return value
}

interface Settings {
  readonly cwd: string
  readonly concurrency: number | undefined
  readonly rounds: number
  readonly seed: number
  readonly timeoutMs: number
  readonly soloRuns: number
  readonly soloJobs: number
  readonly ignore: IgnoreMatcher
  readonly env: NodeJS.ProcessEnv
  readonly execArgv: readonly string[]
  readonly initTimeoutMs: number
}

/** Merges the defaults and validates every option once, before anything starts. */
function resolveSettings(options: CheckOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new CheckUsageError('runCheck needs an options object')
  }
  if (typeof options.handler !== 'string') {
    throw new CheckUsageError('a handler is needed: path/to/module.export')
  }
  try {
    parseHandlerName(options.handler)
  } catch (error) {
    if (error instanceof HandlerLoadError) throw new CheckUsageError(error.message)
    throw error
  }
  if (typeof options.events !== 'string' && !Array.isArray(options.events)) {
    throw new CheckUsageError(
      'events must be a path (a JSON array file or a directory) or an array',
    )
  }
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (typeof value !== 'string') throw new CheckUsageError(`env.${key} must be a string`)
    env[key] = value
  }
  return {
    cwd: resolve(options.cwd ?? process.cwd()),
    concurrency:
      options.concurrency === undefined
        ? undefined
        : checkInteger(options.concurrency, 'concurrency', 1, MAX_CONCURRENCY),
    rounds: checkInteger(options.rounds ?? DEFAULT_ROUNDS, 'rounds', 1, 1000),
    seed: checkInteger(options.seed ?? randomSeed(), 'seed', 0, 2 ** 32 - 1),
    timeoutMs: checkInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs', 1, 900_000),
    soloRuns: checkInteger(options.soloRuns ?? DEFAULT_SOLO_RUNS, 'soloRuns', 2, 10),
    soloJobs: checkInteger(
      options.soloJobs ?? Math.min(4, availableParallelism()),
      'soloJobs',
      1,
      64,
    ),
    ignore: compileIgnore(options.ignore ?? []),
    env,
    execArgv: options.execArgv ?? inheritedExecArgv(),
    initTimeoutMs: checkInteger(
      options.initTimeoutMs ?? DEFAULT_INIT_TIMEOUT_MS,
      'initTimeoutMs',
      1,
      900_000,
    ),
  }
}

/** What the check knows about every invocation it made, by request id. */
interface InvocationInfo {
  readonly event: CheckEvent
  readonly phase: 'solo' | 'concurrent'
  readonly round: number
}

interface SoloRun {
  readonly outcome: Outcome
  readonly requestId: string
}

interface Differing {
  readonly event: CheckEvent
  readonly requestId: string
  readonly round: number
  readonly differences: RawDifference[]
}

/** Shared state of one check run (one per runCheck call: nothing here is module-level). */
class CheckRun {
  readonly settings: Settings
  readonly handler: string
  readonly events: readonly CheckEvent[]
  readonly concurrency: number
  readonly normalizer: Normalizer
  readonly onProgress: CheckOptions['onProgress']
  readonly onOutput: CheckOptions['onOutput']
  readonly signal: AbortSignal | undefined
  /** Runtime processes started and not yet stopped: an abort stops them. */
  readonly live = new Set<RuntimeProcess>()
  readonly invocations = new Map<string, InvocationInfo>()
  readonly detectorFindings: Array<{ finding: DetectorFinding; phase: 'solo' | 'concurrent' }> = []
  readonly differing: Differing[] = []
  readonly notes: string[] = []
  concurrentInvocations = 0
  soloInvocations = 0
  timedOut = 0
  crashed = 0

  constructor(options: CheckOptions, settings: Settings, events: readonly CheckEvent[]) {
    this.settings = settings
    this.handler = options.handler
    this.events = events
    this.concurrency = settings.concurrency ?? defaultConcurrency(events.length)
    this.normalizer = new Normalizer(events.map((event) => event.event))
    this.onProgress = options.onProgress
    this.onOutput = options.onOutput
    this.signal = options.signal
  }

  /** Starts a runtime process, tracked so that an abort can stop it. */
  async start(options: RuntimeProcessOptions): Promise<RuntimeProcess> {
    this.signal?.throwIfAborted()
    const runtime = await RuntimeProcess.start(options)
    this.live.add(runtime)
    void runtime.ready.catch(() => {})
    if (this.signal?.aborted) void runtime.stop()
    return runtime
  }

  async stop(runtime: RuntimeProcess): Promise<void> {
    try {
      await runtime.stop()
    } finally {
      this.live.delete(runtime)
    }
  }

  /** Stops every runtime process: their pending invocations end as `crashed`. */
  abort(): void {
    for (const runtime of this.live) void runtime.stop()
  }

  /** Stops whatever is still running (after a failure), and waits for it. */
  async stopAll(): Promise<void> {
    await this.#concurrentRuntime?.catch(() => {})
    await Promise.allSettled([...this.live].map((runtime) => this.stop(runtime)))
  }

  #concurrentRuntime: Promise<RuntimeProcess> | undefined

  /**
   * Starts the process of the concurrent phase (once). The solo phase calls this when its
   * last invocation begins, so that the start-up overlaps it: only the module's
   * initialisation runs then, no invocation.
   */
  startConcurrent(): Promise<RuntimeProcess> {
    if (this.#concurrentRuntime === undefined) {
      this.#concurrentRuntime = this.start(this.processOptions(this.concurrency, 'concurrent'))
      this.#concurrentRuntime.catch(() => {})
    }
    return this.#concurrentRuntime
  }

  processOptions(concurrency: number, phase: 'solo' | 'concurrent'): RuntimeProcessOptions {
    const { settings } = this
    return {
      handler: this.handler,
      taskRoot: settings.cwd,
      concurrency,
      timeoutMs: settings.timeoutMs,
      initTimeoutMs: settings.initTimeoutMs,
      env: settings.env,
      execArgv: settings.execArgv,
      onOutput: this.onOutput,
      onFinding: (finding) => {
        this.detectorFindings.push({ finding, phase })
      },
    }
  }

  progress(progress: Omit<CheckProgress, 'findingLines' | 'differingResponses'>): void {
    this.onProgress?.({
      ...progress,
      findingLines: this.detectorFindings.length,
      differingResponses: this.differing.length,
    })
  }

  /** Invokes once and returns the normalised outcome. */
  async invoke(
    runtime: RuntimeProcess,
    event: CheckEvent,
    phase: 'solo' | 'concurrent',
    round: number,
  ): Promise<SoloRun> {
    const requestId = randomUUID()
    const trace = newTraceId()
    this.invocations.set(requestId, { event, phase, round })
    const result = await runtime.invoke(event.event, { requestId, traceId: trace.header })
    let outcome: Outcome
    if (result.status === 'crashed') {
      this.crashed++
      outcome = { status: 'crashed', detail: result.detail }
    } else {
      if (result.status === 'timeout') this.timedOut++
      outcome = this.normalizer.outcome(result, { requestId, traceRoot: trace.root })
    }
    if (phase === 'solo') this.soloInvocations++
    else this.concurrentInvocations++
    return { outcome, requestId }
  }

  /**
   * Each event alone, `soloRuns` times, each time in a fresh runtime process at concurrency 1.
   * Up to `soloJobs` processes start ahead so that their start-up overlaps the invocation
   * before, but only one invocation runs at a time, and a process is stopped before the next
   * invocation starts: /tmp and anything else outside the process sees one invocation at once.
   */
  async solo(): Promise<SoloRun[][]> {
    const { soloRuns, soloJobs } = this.settings
    const jobs: CheckEvent[] = []
    for (let run = 0; run < soloRuns; run++) jobs.push(...this.events)
    const started: Array<Promise<RuntimeProcess>> = []
    const runs: SoloRun[][] = this.events.map(() => [])
    const options = this.processOptions(1, 'solo')
    try {
      for (const [index, event] of jobs.entries()) {
        while (started.length < jobs.length && started.length < index + soloJobs) {
          const starting = this.start(options)
          // Observed when its turn comes (or in `finally`); not an unhandled rejection before.
          starting.catch(() => {})
          started.push(starting)
        }
        this.signal?.throwIfAborted()
        if (index === jobs.length - 1) void this.startConcurrent()
        const runtime = await (started[index] as Promise<RuntimeProcess>)
        try {
          await runtime.ready
          const run = await this.invoke(runtime, event, 'solo', 0)
          runs[event.index]?.push(run)
        } finally {
          await this.stop(runtime)
        }
        this.progress({ phase: 'solo', done: index + 1, total: jobs.length, round: 0, rounds: 0 })
      }
    } finally {
      // After a failure, the processes started ahead are not needed any more.
      await Promise.allSettled(started.map(async (pending) => this.stop(await pending)))
    }
    return runs
  }

  /** Every event many times, shuffled, at concurrency N in one runtime process, over R rounds. */
  async concurrent(references: readonly Reference[]): Promise<void> {
    const { rounds, seed, ignore } = this.settings
    const random = seededRandom(seed)
    const runtime = await this.startConcurrent()
    try {
      await runtime.ready
      const orders = Array.from({ length: rounds }, () =>
        roundOrder(this.events.length, this.concurrency, random),
      )
      const total = orders.reduce((sum, order) => sum + order.length, 0)
      let done = 0
      for (const [roundIndex, order] of orders.entries()) {
        this.signal?.throwIfAborted()
        const round = roundIndex + 1
        // Odd rounds start everything at once; even rounds trickle invocations in, so that
        // they meet the ones in flight at other points of their execution.
        const trickle = round % 2 === 0
        const pending: Array<Promise<void>> = []
        for (const eventIndex of order) {
          const event = this.events[eventIndex] as CheckEvent
          const reference = references[eventIndex] as Reference
          if (trickle && random() < 0.25) {
            await new Promise((resolveDelay) => setTimeout(resolveDelay, Math.floor(random() * 3)))
          }
          pending.push(
            this.invoke(runtime, event, 'concurrent', round).then(({ outcome, requestId }) => {
              const differences = compareOutcome(reference, outcome, ignore)
              if (differences.length > 0) {
                this.differing.push({ event, requestId, round, differences })
              }
              done++
              this.progress({ phase: 'concurrent', done, total, round, rounds })
            }),
          )
        }
        await Promise.all(pending)
        if (!runtime.running) {
          if (round < rounds) {
            this.notes.push(
              `the runtime process exited during round ${round}; rounds ${round + 1}–${rounds} were not run`,
            )
          }
          break
        }
      }
    } finally {
      await this.stop(runtime)
    }
  }

  /** Notes on the references: events that fail or time out alone, references that vary. */
  noteReferences(runs: readonly SoloRun[][], references: readonly Reference[]): void {
    for (const event of this.events) {
      const reference = references[event.index] as Reference
      const outcome = reference.outcome
      if (reference.mask === true) {
        const seen = (runs[event.index] ?? []).map((run) => describeShort(run.outcome))
        this.notes.push(
          `${event.name}: its solo runs disagree (${[...new Set(seen)].join(' / ')}); its concurrent responses were not compared`,
        )
      } else if (outcome.status !== 'success') {
        this.notes.push(
          `${event.name}: ${describeShort(outcome)} even alone; its concurrent runs are compared with that`,
        )
      }
    }
  }
}

function describeShort(outcome: Outcome): string {
  switch (outcome.status) {
    case 'success':
      return 'a response'
    case 'error':
      return `fails with ${outcome.errorType}`
    case 'timeout':
      return 'times out'
    case 'crashed':
      return `gets no answer (${outcome.detail})`
  }
}

const FRAME_LOCATION = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/

/**
 * `file:line:column` of a stack's first frame, relative to `cwd` when inside it.
 *
 * @example
 * ```ts
 * locationOf('at handler (/app/src/a.mjs:3:7)', '/app') // => 'src/a.mjs:3:7'
 * ```
 */
export function locationOf(stack: string | undefined, cwd: string): string | undefined {
  if (stack === undefined) return undefined
  const first = stack
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '')
  if (first === undefined) return undefined
  const match = FRAME_LOCATION.exec(first)
  if (match === null) return undefined
  let file = match[1] as string
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file)
    } catch {
      // Not a file URL Node can map: keep it as it is.
    }
  }
  if (isAbsolute(file)) {
    const inside = relative(cwd, file)
    if (inside !== '' && !inside.startsWith(`..${sep}`) && inside !== '..' && !isAbsolute(inside)) {
      file = inside
    }
  }
  return `${file}:${match[2]}:${match[3]}`
}

function sortedNames(events: Iterable<CheckEvent>): string[] {
  return [...new Set(events)].sort((a, b) => a.index - b.index).map((event) => event.name)
}

/** Groups the detectors' finding lines by code, subject and place. */
function groupDetectorFindings(run: CheckRun): CheckFinding[] {
  const groups = new Map<
    string,
    {
      first: DetectorFinding
      withOther: DetectorFinding | undefined
      location: string | undefined
      events: Set<CheckEvent>
      phases: Set<'solo' | 'concurrent'>
      occurrences: number
    }
  >()
  for (const { finding, phase } of run.detectorFindings) {
    const location = locationOf(finding.stack, run.settings.cwd)
    const key = `${finding.code}\0${finding.subject}\0${location ?? ''}`
    let group = groups.get(key)
    if (group === undefined) {
      group = {
        first: finding,
        withOther: undefined,
        location,
        events: new Set(),
        phases: new Set(),
        occurrences: 0,
      }
      groups.set(key, group)
    }
    group.occurrences++
    group.phases.add(phase)
    if (group.withOther === undefined && finding.otherRequestId !== undefined) {
      group.withOther = finding
    }
    for (const id of [finding.requestId, finding.otherRequestId]) {
      const info = id === undefined ? undefined : run.invocations.get(id)
      if (info !== undefined) group.events.add(info.event)
    }
  }
  return [...groups.values()].map((group) => {
    const shown = group.withOther ?? group.first
    return {
      code: shown.code,
      subject: shown.subject,
      message: shown.message,
      location: group.location,
      stack: shown.stack,
      requestId: shown.requestId,
      otherRequestId: shown.otherRequestId,
      events: sortedNames(group.events),
      phases: (['solo', 'concurrent'] as const).filter((phase) => group.phases.has(phase)),
      occurrences: group.occurrences,
      examples: [],
    }
  })
}

/** The keys a differing response is grouped by: `outcome`, or the paths that differ. */
function keysOf(differences: readonly RawDifference[]): string[] {
  if (differences.some((difference) => difference.kind === 'outcome')) return ['outcome']
  return [...new Set(differences.map((difference) => renderPath(difference.segments)))]
}

const MAX_SUBJECT_PATHS = 6

function subjectOf(keys: readonly string[]): string {
  if (keys.includes('outcome')) return 'outcome'
  const sorted = [...keys].sort()
  const shown = sorted.slice(0, MAX_SUBJECT_PATHS).join(', ')
  return `response ${shown}${sorted.length > MAX_SUBJECT_PATHS ? ', …' : ''}`
}

/**
 * Groups differing responses into findings: two belong together when they differ at a common
 * path (connected components), so one shared variable that shows at `$.user` in one response
 * and at `$.user` and `$.plan` in another is one finding, while an error instead of a
 * response (`outcome`) and unrelated paths are findings of their own.
 */
function groupDifferences(run: CheckRun, references: readonly Reference[]): CheckFinding[] {
  const parent = new Map<string, string>()
  const root = (key: string): string => {
    let current = key
    for (;;) {
      const up = parent.get(current) ?? current
      if (up === current) return current
      parent.set(current, parent.get(up) ?? up)
      current = up
    }
  }
  const keyed = run.differing.map((differing) => ({
    differing,
    keys: keysOf(differing.differences),
  }))
  for (const { keys } of keyed) {
    const [first, ...rest] = keys
    if (first === undefined) continue
    if (!parent.has(first)) parent.set(first, first)
    for (const key of rest) {
      if (!parent.has(key)) parent.set(key, key)
      parent.set(root(key), root(first))
    }
  }
  const components = new Map<string, { keys: Set<string>; members: Differing[] }>()
  for (const { differing, keys } of keyed) {
    const component = root(keys[0] as string)
    let entry = components.get(component)
    if (entry === undefined) {
      entry = { keys: new Set(), members: [] }
      components.set(component, entry)
    }
    for (const key of keys) entry.keys.add(key)
    entry.members.push(differing)
  }
  const groups = new Map<string, Differing[]>()
  for (const { keys, members } of components.values()) groups.set(subjectOf([...keys]), members)
  const findings: CheckFinding[] = []
  for (const [subject, group] of groups) {
    const examples: DifferenceExample[] = []
    const seen = new Set<CheckEvent>()
    for (const differing of group) {
      if (examples.length >= EXAMPLES_PER_FINDING) break
      if (seen.has(differing.event)) continue
      seen.add(differing.event)
      const reference = references[differing.event.index] as Reference
      examples.push({
        event: differing.event.name,
        requestId: differing.requestId,
        referenceRequestId: reference.requestId,
        round: differing.round,
        differences: differing.differences.map((difference) =>
          renderDifference(difference, differing.event, run.events, references),
        ),
      })
    }
    const first = examples[0] as DifferenceExample
    const events = sortedNames(group.map((differing) => differing.event))
    const detail = first.differences
      .map((difference) =>
        difference.path === '$'
          ? `expected ${difference.expected}, got ${difference.got}`
          : `${difference.path}: expected ${difference.expected}, got ${difference.got}`,
      )
      .join('; ')
    findings.push({
      code: FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE,
      subject,
      message:
        `Response depends on concurrency: ${group.length} of ${run.concurrentInvocations} concurrent ` +
        `invocations (${events.length} of ${run.events.length} events) answered differently than ` +
        `the same event alone (${first.event}: ${detail}). Some state is shared between ` +
        'invocations: a module-level variable, a cache keyed without the user or tenant, a fixed file name…',
      location: undefined,
      stack: undefined,
      requestId: first.requestId,
      otherRequestId: first.referenceRequestId,
      events,
      phases: ['concurrent'],
      occurrences: group.length,
      examples,
    })
  }
  return findings
}

function renderDifference(
  difference: RawDifference,
  event: CheckEvent,
  events: readonly CheckEvent[],
  references: readonly Reference[],
): ResponseDifference {
  const path = renderPath(difference.segments)
  if (difference.kind === 'outcome') {
    return {
      path,
      expected: String(difference.expected),
      got: String(difference.got),
      likelyFrom: [],
    }
  }
  const likelyFrom: string[] = []
  if (difference.got !== ABSENT) {
    for (const other of events) {
      if (other === event) continue
      const outcome = references[other.index]?.outcome
      if (outcome?.status !== 'success') continue
      if (sameValue(valueAt(outcome.value, difference.segments), difference.got)) {
        likelyFrom.push(other.name)
      }
    }
  }
  return {
    path,
    expected: renderValue(difference.expected),
    got: renderValue(difference.got),
    // Many matches say nothing about where a value came from.
    likelyFrom: likelyFrom.length <= LIKELY_FROM_MAX ? likelyFrom : [],
  }
}

/**
 * Runs the check `lmi check` runs and resolves with its findings, grouped; never prints.
 * Rejects with a {@link CheckError} subclass when it cannot check: bad options
 * (`CheckUsageError`), unusable events (`CheckEventsError`), a handler that does not load
 * (`CheckHandlerError`, with the loader's message).
 *
 * The handler runs on lmi's runtime (a child process per run, against the Runtime API
 * emulator) with every shared-state detector in `warn` mode. First each event runs alone, in a
 * fresh process, `soloRuns` times: the first run is its reference, and whatever differs between
 * the runs (timestamps, random ids) is ignored. Then all events run at `concurrency` in one
 * process, `rounds` times in seeded random orders; a response that differs from its reference
 * is an `LMI_CONCURRENCY_DEPENDENT_RESPONSE` finding. Request ids, trace ids, UUIDs and
 * timestamps are normalised before comparing (see `diff.ts`).
 *
 * @example
 * ```ts
 * import { runCheck, formatReport } from '@lmi/dev'
 *
 * const result = await runCheck({
 *   handler: 'src/orders.handler',
 *   events: 'test/events/',
 *   rounds: 2,
 *   onProgress: ({ phase, done, total }) => process.stderr.write(`\r${phase} ${done}/${total}`),
 * })
 * console.log(formatReport(result))
 * process.exitCode = result.findings.length === 0 ? 0 : 1
 * ```
 */
export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const started = performance.now()
  const settings = resolveSettings(options)
  const events =
    typeof options.events === 'string'
      ? await loadEvents(options.events, settings.cwd)
      : namedEvents(options.events)
  const run = new CheckRun(options, settings, events)
  const onAbort = () => run.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let references: Reference[]
  try {
    const soloRuns = await run.solo()
    references = soloRuns.map((runs) => buildReference(runs))
    run.noteReferences(soloRuns, references)
    await run.concurrent(references)
    options.signal?.throwIfAborted()
  } catch (error) {
    // Stopping the processes makes them fail in their own ways: the abort is the reason.
    if (options.signal?.aborted) throw options.signal.reason
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await run.stopAll()
  }
  const findings = [...groupDetectorFindings(run), ...groupDifferences(run, references)].sort(
    (a, b) =>
      a.code.localeCompare(b.code) ||
      a.subject.localeCompare(b.subject) ||
      (a.location ?? '').localeCompare(b.location ?? ''),
  )
  if (run.timedOut > 0) {
    run.notes.push(`${run.timedOut} invocation(s) timed out after ${settings.timeoutMs / 1000} s`)
  }
  return {
    handler: options.handler,
    seed: settings.seed,
    concurrency: run.concurrency,
    rounds: settings.rounds,
    invocationsPerRound: invocationsPerRound(events.length, run.concurrency),
    soloRuns: settings.soloRuns,
    timeoutMs: settings.timeoutMs,
    events: events.map(({ name, index }) => ({ name, index })),
    invocations: {
      solo: run.soloInvocations,
      concurrent: run.concurrentInvocations,
      timedOut: run.timedOut,
      crashed: run.crashed,
    },
    findings,
    notes: run.notes,
    durationMs: Math.round(performance.now() - started),
  }
}
