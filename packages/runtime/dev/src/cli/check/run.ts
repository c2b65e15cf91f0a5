// One run of `lmi check`: the runtime processes of its two phases — each event alone in fresh
// processes, then all of them concurrently in one — and the evidence they yield, collected for
// grouping.ts. See index.ts for the method.
import { randomUUID } from 'node:crypto'
import type { RecordedRequest } from '@lmi/runtime'
import type { DetectorFinding } from './detectors.ts'
import {
  compareOutcome,
  type NormalizedOutcome,
  Normalizer,
  type RawDifference,
  type Reference,
} from './diff.ts'
import type { CheckEvent } from './events.ts'
import { isEscaped, type WrittenLine } from './logs.ts'
import { RuntimeProcess, type RuntimeProcessOptions } from './runtime-process.ts'
import { newTraceId, roundOrder, seededRandom } from './schedule.ts'
import { defaultConcurrency, type Settings } from './settings.ts'
import { type CheckSink, sinkEnvironment, startSink } from './sink.ts'
import type { CheckOptions, CheckProgress } from './types.ts'

const MAX_LINES_PER_INVOCATION = 200
const MAX_ESCAPED_LINES = 10_000

/**
 * The phase an invocation, or the process a finding line came from, belongs to.
 *
 * @example
 * ```ts
 * const phase: Phase = 'solo'
 * ```
 */
export type Phase = 'solo' | 'concurrent'

/**
 * What the check knows about an invocation it made.
 *
 * @example
 * ```ts
 * const info: InvocationInfo = { event: events[0], phase: 'concurrent', round: 2 }
 * ```
 */
export interface InvocationInfo {
  readonly event: CheckEvent
  readonly phase: Phase
  /** The concurrent round, from 1; 0 in the solo phase. */
  readonly round: number
  /** The `Root=` value of the trace id it was sent with (normalised in its lines). */
  readonly traceRoot?: string | undefined
}

/**
 * A line the handler wrote outside its invocation (see {@link isEscaped}).
 *
 * @example
 * ```ts
 * const escaped: EscapedLine = { line, phase: 'concurrent' }
 * ```
 */
export interface EscapedLine {
  readonly line: WrittenLine
  readonly phase: Phase
}

/**
 * One invocation's normalised outcome, and its request id.
 *
 * @example
 * ```ts
 * const run: SoloRun = { outcome: { status: 'timeout' }, requestId: '9a1e…' }
 * ```
 */
export interface SoloRun {
  readonly outcome: NormalizedOutcome
  readonly requestId: string
}

/**
 * A concurrent response that differs from its event's reference.
 *
 * @example
 * ```ts
 * const differing: DifferingResponse = {
 *   event: events[0], requestId: '5f2c…', round: 1,
 *   differences: [{ kind: 'value', segments: ['user'], expected: 'alice', got: 'bob' }],
 * }
 * ```
 */
export interface DifferingResponse {
  readonly event: CheckEvent
  readonly requestId: string
  readonly round: number
  readonly differences: RawDifference[]
}

/**
 * What a check run collected, by kind of evidence: what grouping.ts turns into findings.
 * A new kind of evidence gets its own field here and its own grouping there.
 *
 * @example
 * ```ts
 * const evidence: Evidence = run // a CheckRun, once both phases have run
 * evidence.differing.length // concurrent responses that differ from their reference
 * ```
 */
export interface Evidence {
  /** Every invocation the check made, by request id. */
  readonly invocations: ReadonlyMap<string, InvocationInfo>
  /** The detectors' finding lines, with the phase of the process that wrote each. */
  readonly detectorFindings: ReadonlyArray<{ finding: DetectorFinding; phase: Phase }>
  /** Concurrent responses that differ from their event's reference. */
  readonly differing: readonly DifferingResponse[]
  /** Invocations the concurrent phase made. */
  readonly concurrentInvocations: number
  /**
   * The lines each invocation wrote while it ran, by request id, both phases (the phase and
   * event are in `invocations`): a solo run's lines are its event's reference.
   */
  readonly writtenLines: ReadonlyMap<string, readonly WrittenLine[]>
  /** Lines written by an invocation that had answered, or by none once invocations had started. */
  readonly escapedLines: readonly EscapedLine[]
  /**
   * The outgoing requests each invocation made while it ran, by request id, both phases (a
   * solo run's requests are its event's reference); absent where nothing recorded requests.
   */
  readonly requests?: ReadonlyMap<string, readonly RecordedRequest[]>
}

/**
 * Shared state of one check run (one per runCheck call: nothing here is module-level): the
 * runtime processes it starts, its two phases, and the {@link Evidence} they yield.
 *
 * @example
 * ```ts
 * const run = new CheckRun(options, settings, events)
 * const soloRuns = await run.solo()
 * const references = soloRuns.map((runs) => buildReference(runs))
 * await run.concurrent(references)
 * await run.stopAll()
 * ```
 */
export class CheckRun implements Evidence {
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
  readonly detectorFindings: Array<{ finding: DetectorFinding; phase: Phase }> = []
  readonly differing: DifferingResponse[] = []
  readonly writtenLines = new Map<string, WrittenLine[]>()
  readonly escapedLines: EscapedLine[] = []
  readonly requests = new Map<string, RecordedRequest[]>()
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

  /** Stops whatever is still running (after a failure), and waits for it; then the sink. */
  async stopAll(): Promise<void> {
    await this.#concurrentRuntime?.catch(() => {})
    await Promise.allSettled([...this.live].map((runtime) => this.stop(runtime)))
    await (await this.#sink?.catch(() => undefined))?.close()
  }

  #sink: Promise<CheckSink> | undefined
  #sinkUrl: string | undefined

  /**
   * Starts the local sink the handler's requests can be pointed at (sink.ts), once, before the
   * first runtime process: its URL is in every process's environment.
   */
  openSink(): Promise<CheckSink> {
    this.#sink ??= startSink().then((sink) => {
      this.#sinkUrl = sink.url
      return sink
    })
    return this.#sink
  }

  #concurrentRuntime: Promise<RuntimeProcess> | undefined

  /**
   * Starts the process of the concurrent phase (once). The solo phase calls this when its
   * last invocation begins, so that the start-up overlaps it: only the module's
   * initialisation runs then, no invocation.
   */
  startConcurrent(): Promise<RuntimeProcess> {
    if (this.#concurrentRuntime === undefined) {
      this.#concurrentRuntime = this.openSink().then(() =>
        this.start(this.processOptions(this.concurrency, 'concurrent')),
      )
      this.#concurrentRuntime.catch(() => {})
    }
    return this.#concurrentRuntime
  }

  processOptions(concurrency: number, phase: Phase): RuntimeProcessOptions {
    const { settings } = this
    return {
      handler: this.handler,
      taskRoot: settings.cwd,
      concurrency,
      timeoutMs: settings.timeoutMs,
      initTimeoutMs: settings.initTimeoutMs,
      env:
        this.#sinkUrl === undefined
          ? settings.env
          : { ...settings.env, ...sinkEnvironment(this.#sinkUrl, settings.sinkEnv) },
      execArgv: settings.execArgv,
      onOutput: this.onOutput,
      onFinding: (finding) => {
        this.detectorFindings.push({ finding, phase })
      },
      onWrite: (line) => this.noteLine(line, phase),
      onRequest: (request) => this.noteRequest(request),
    }
  }

  /** Keeps a request an invocation made while it ran (requests.ts compares them). */
  noteRequest(request: RecordedRequest): void {
    // Made at init or after the answer: not comparable (the detectors see late requests).
    if (request.r === null || request.e) return
    let made = this.requests.get(request.r)
    if (made === undefined) {
      made = []
      this.requests.set(request.r, made)
    }
    if (made.length < MAX_LINES_PER_INVOCATION) made.push(request)
  }

  /** Keeps a line the handler wrote: its invocation's, or an escaped one. */
  noteLine(line: WrittenLine, phase: Phase): void {
    if (isEscaped(line)) {
      if (this.escapedLines.length < MAX_ESCAPED_LINES) this.escapedLines.push({ line, phase })
      return
    }
    if (line.requestId === null) return
    let lines = this.writtenLines.get(line.requestId)
    if (lines === undefined) {
      lines = []
      this.writtenLines.set(line.requestId, lines)
    }
    // A chatty handler's lines beyond these add little but memory.
    if (lines.length < MAX_LINES_PER_INVOCATION) lines.push(line)
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
    phase: Phase,
    round: number,
  ): Promise<SoloRun> {
    const requestId = randomUUID()
    const trace = newTraceId()
    this.invocations.set(requestId, { event, phase, round, traceRoot: trace.root })
    const result = await runtime.invoke(event.event, {
      requestId,
      traceId: trace.header,
      tenantId: event.tenantId,
    })
    let outcome: NormalizedOutcome
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
    await this.openSink()
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

function describeShort(outcome: NormalizedOutcome): string {
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
