import { type FunctionInfo, InvocationTimeoutError, LmiError, toErrorResponse } from '@lmi/core'
import {
  describeValue,
  type NextInvocation,
  rawClearTimeout,
  rawSetTimeout,
} from '@lmi/core/internal'
import { type Answer, answerInvocation, lostAnswer } from '../client/answer.ts'
import { RuntimeApiClient } from '../client/runtime-api.ts'
import { SHUTDOWN_TIMEOUT_DEFAULT_MS } from '../config.ts'
import { CODES, ShutdownTimeoutError } from '../errors.ts'
import type { LoadedHandler } from '../handler/load.ts'
import type { RuntimeLog } from '../log/log.ts'
import { Executor, type ExecutorOptions, type Job, type LateWork } from './executor.ts'
import {
  HOOKS_MAX_MS,
  runShutdownHooksWithin,
  type ShutdownPlan,
  settlesWithin,
  shutdownPlan,
} from './shutdown.ts'

/**
 * Where a {@link Runtime} runs its invocations: on its own event loop ({@link LocalExecutors})
 * or in worker threads (`WorkerExecutors`).
 *
 * @example
 * ```ts
 * const runtime = new Runtime({ runtimeApi, concurrency: 64, log, executors: new LocalExecutors(options) })
 * ```
 */
export interface Executors {
  /**
   * The handlers run on other event loops than the runtime's (worker threads): a handler that
   * blocks its loop cannot block the runtime's, which then answers for it at its deadline.
   */
  readonly isolated: boolean
  /** The handler streams its response: the executor sends its answer itself. */
  readonly streaming: boolean
  /** Installs containment; `onFault` is called on a fault no invocation owns. */
  start(onFault: () => void): void
  /**
   * Runs the job somewhere and resolves with its answer; never rejects. A job the runtime has
   * answered itself meanwhile is flagged `withdrawn` and, if still queued, never started.
   */
  execute(job: DispatchedJob): Promise<Answer>
  /** The shutdown budget is spent: end every invocation still running with `error`. */
  cancelAll(error: ShutdownTimeoutError): void
  /** Runs the shutdown hooks (for the plan's `hooksMs`) and releases what the executors hold. */
  close(plan: ShutdownPlan): Promise<void>
  /** Handlers still running although their invocation has ended. */
  lingering(): number
  /** Late work of every executor, summed (`oldestEndedAt`: the oldest of them). */
  lateWork(): LateWork
}

/** A {@link Job} as the runtime tracks it. */
export interface DispatchedJob extends Job {
  /** Set once the runtime answered the invocation itself (deadline, shutdown budget). */
  withdrawn: boolean
}

/**
 * The handler on the runtime's own event loop: no thread hop, and nothing to answer for a
 * handler that blocks the loop, since that blocks the runtime too.
 *
 * @example
 * ```ts
 * const executors = new LocalExecutors({ runtimeApi, handler, functionInfo, log, concurrency: 1, sequential: true })
 * ```
 */
export class LocalExecutors implements Executors {
  readonly isolated = false
  readonly #executor: Executor
  readonly #log: RuntimeLog

  constructor(options: ExecutorOptions) {
    this.#executor = new Executor(options)
    this.#log = options.log
  }

  get streaming(): boolean {
    return this.#executor.streaming
  }

  start(onFault: () => void): void {
    this.#executor.start(onFault)
  }

  execute(job: DispatchedJob): Promise<Answer> {
    return this.#executor.execute(job)
  }

  cancelAll(error: ShutdownTimeoutError): void {
    this.#executor.cancelAll(error)
  }

  async close(plan: ShutdownPlan): Promise<void> {
    await runShutdownHooksWithin(this.#log, plan.hooksMs)
    this.#executor.close()
  }

  lingering(): number {
    return this.#executor.lingering
  }

  lateWork(): LateWork {
    return this.#executor.lateWork
  }
}

/**
 * Options of {@link Runtime}.
 *
 * @example
 * ```ts
 * const options: RuntimeOptions = { runtimeApi: '127.0.0.1:9001', handler, concurrency: 16, functionInfo, log }
 * ```
 */
export interface RuntimeOptions {
  /** `host:port` of the Runtime API (`AWS_LAMBDA_RUNTIME_API`). */
  runtimeApi: string
  /** The handler, run on the runtime's own loop; or give {@link executors}. */
  handler?: LoadedHandler
  /** Where invocations run (worker threads); default {@link LocalExecutors} with `handler`. */
  executors?: Executors
  /** Invocations in flight at once; 1 runs a strictly sequential loop. */
  concurrency: number
  functionInfo: FunctionInfo
  log: RuntimeLog
  /**
   * The shutdown budget, from the stop to the end of {@link Runtime.start}: split by
   * `shutdownPlan` between the drain (invocations still running after it are answered with
   * {@link ShutdownTimeoutError}), posting those answers, and the shutdown hooks. Default
   * {@link SHUTDOWN_TIMEOUT_DEFAULT_MS} (250 ms: Lambda SIGKILLs the runtime 300 ms after
   * SIGTERM).
   */
  shutdownTimeoutMs?: number
  /**
   * Called when the runtime must end the process at once: after a 500 from the Runtime API,
   * Lambda expects a prompt exit. Default `process.exit`. (An unattributable fault instead
   * drains, then `start()` resolves with {@link Runtime.exitCode} 1.)
   */
  exit?: (code: number) => void
  /**
   * Classic one-at-a-time Lambda (`AWS_LAMBDA_MAX_CONCURRENCY` unset): like AWS's runtime,
   * set `process.env._X_AMZN_TRACE_ID` to each invocation's trace id, for the X-Ray SDK. Never
   * in concurrent mode, where one process-wide variable would hand every invocation the trace
   * id of whichever started last. Default: `concurrency === 1`. (With `handler` only.)
   */
  sequential?: boolean
  /** Install `uncaughtException` / `unhandledRejection` containment. Default true. */
  containFaults?: boolean
  /**
   * Refuse the HTTP requests an invocation makes once it is over (`LMI_FENCE_REQUESTS`).
   * Default true. (With `handler` only: worker threads read it from their own options.)
   */
  fenceRequests?: boolean
}

/**
 * Counters of a running {@link Runtime}.
 *
 * @example
 * ```ts
 * const { inFlight, peakInFlight, lingering } = runtime.stats()
 * ```
 */
export interface RuntimeStats {
  inFlight: number
  peakInFlight: number
  succeeded: number
  failed: number
  timedOut: number
  /** Handlers still running although their invocation has ended (timed out, failed, cancelled). */
  lingering: number
  /** How long ago the invocation of the oldest of those ended; 0 when none. */
  oldestLingeringMs: number
  /** Handlers that settled after their invocation had ended, their result discarded. */
  lateSettled: number
  /** Outgoing requests refused because their invocation was over (`LMI_REQUEST_FENCED`). */
  fencedRequests: number
}

interface Slot {
  client: RuntimeApiClient
  loop: Promise<void>
}

interface Running {
  job: DispatchedJob
  /** Answers the invocation in the runtime's name (deadline backstop, shutdown budget). */
  settle: ((answer: Answer) => void) | undefined
}

const STOP = new LmiError('The runtime is stopping', CODES.STOPPING)

export { type ShutdownPlan, shutdownPlan } from './shutdown.ts'
/**
 * With worker threads: how long after an invocation's deadline the runtime waits for its
 * executor's answer (a timeout, normally sent at the deadline itself) before answering for it.
 * Only a blocked event loop takes this long; Lambda's own cut-off comes shortly after.
 */
export const DEADLINE_BACKSTOP_MS = 10

function errorAnswer(error: unknown, timedOut: boolean): Answer {
  return { type: 'error', error: toErrorResponse(error), timedOut }
}

/**
 * The concurrent Runtime Interface Client: `concurrency` slots, each looping
 * next → invoke → respond on its own keep-alive connection, so at most `concurrency`
 * invocations are ever in flight and each response goes to its own request id.
 *
 * The invocations run in {@link Executors}: each in its own AsyncLocalStorage context, faults
 * that escape one attributed to it through that context and failing it alone (a fault no
 * invocation owns drains the others and exits non-zero), its signal aborting at the deadline.
 * With worker threads the runtime's own loop runs no handler code: it keeps polling, routes
 * work away from a blocked loop and answers, at its deadline, for an invocation whose loop is
 * blocked. A slot is free again as soon as its invocation is answered.
 *
 * @example
 * ```ts
 * const runtime = new Runtime({ runtimeApi: '127.0.0.1:9001', handler, concurrency: 64, functionInfo, log })
 * process.once('SIGTERM', () => runtime.stop())
 * await runtime.start()
 * ```
 */
export class Runtime {
  readonly #options: RuntimeOptions
  readonly #executors: Executors
  readonly #log: RuntimeLog
  readonly #exit: (code: number) => void
  readonly #slots: Slot[] = []
  readonly #stats: Omit<
    RuntimeStats,
    'inFlight' | 'lingering' | 'oldestLingeringMs' | 'lateSettled' | 'fencedRequests'
  > = {
    peakInFlight: 0,
    succeeded: 0,
    failed: 0,
    timedOut: 0,
  }
  readonly #inFlight = new Set<Running>()
  #stopping: Promise<void> | undefined
  /** Resolves once {@link stop} has finished, even if a slot loop is still stuck. */
  readonly #stopped = Promise.withResolvers<void>()
  /** Set once the shutdown budget is spent: the answer to anything still running or arriving. */
  #budgetSpent: ShutdownTimeoutError | undefined
  /** While stopping: re-checks whether no invocation runs, each time one ends. */
  #quietCheck: (() => void) | undefined
  #started = false
  #exitCode = 0
  /** The function's timeout as far as seen: see {@link #learnTimeout}. */
  #timeoutMs = 1000

  constructor(options: RuntimeOptions) {
    this.#options = options
    this.#log = options.log
    this.#exit = options.exit ?? ((code) => process.exit(code))
    if (options.executors !== undefined) {
      this.#executors = options.executors
    } else if (options.handler !== undefined) {
      this.#executors = new LocalExecutors({
        runtimeApi: options.runtimeApi,
        handler: options.handler,
        functionInfo: options.functionInfo,
        log: options.log,
        concurrency: options.concurrency,
        sequential: options.sequential ?? options.concurrency === 1,
        containFaults: options.containFaults,
        fenceRequests: options.fenceRequests,
      })
    } else {
      throw new LmiError('Runtime needs a handler or executors', CODES.INVALID_CONFIGURATION)
    }
  }

  /** 0, or 1 once an unattributable fault has made the runtime stop. */
  get exitCode(): number {
    return this.#exitCode
  }

  stats(): RuntimeStats {
    const late = this.#executors.lateWork()
    return {
      ...this.#stats,
      inFlight: this.#inFlight.size,
      lingering: late.lingering,
      oldestLingeringMs: late.lingering === 0 ? 0 : Date.now() - late.oldestEndedAt,
      lateSettled: late.lateSettled,
      fencedRequests: late.fencedRequests,
    }
  }

  /** Starts polling; resolves once the runtime has stopped (see {@link stop}). */
  async start(): Promise<void> {
    if (this.#started) throw new LmiError('Runtime already started', CODES.ALREADY_STARTED)
    this.#started = true
    this.#executors.start(() => {
      this.#exitCode = 1
      void this.stop()
    })
    for (let index = 0; index < this.#options.concurrency; index++) {
      const client = new RuntimeApiClient(this.#options.runtimeApi)
      const slot: Slot = { client, loop: Promise.resolve() }
      slot.loop = this.#runSlot(slot)
      this.#slots.push(slot)
    }
    // The slot loops end once stopped; a loop stuck past the shutdown's bounds must not keep
    // the process alive, so the end of stop() ends start() too.
    await Promise.race([Promise.all(this.#slots.map((slot) => slot.loop)), this.#stopped.promise])
    await this.#stopping
  }

  /**
   * Stops polling, lets in-flight invocations finish (the plan's `drainMs`), answers those
   * still running with {@link ShutdownTimeoutError} (posting for up to `answersMs`), runs the
   * shutdown hooks (for up to `hooksMs`) and releases connections: all within
   * `shutdownTimeoutMs` (see `shutdownPlan`). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown()
    return this.#stopping
  }

  async #shutdown(): Promise<void> {
    const plan = shutdownPlan(this.#options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_DEFAULT_MS)
    const startedAt = performance.now()
    try {
      await this.#drain(plan)
      // The hooks get what the drain and the answers left of the budget — at least their
      // share, at most HOOKS_MAX_MS.
      const left = plan.totalMs - plan.teardownMs - (performance.now() - startedAt)
      const hooksMs = Math.max(plan.hooksMs, Math.min(HOOKS_MAX_MS, Math.floor(left)))
      // The hooks and the connections' close at once: on Lambda the whole shutdown has 300 ms.
      await Promise.all([
        this.#executors.close({ ...plan, hooksMs }),
        ...this.#slots.map((slot) => slot.client.close()),
      ])
    } finally {
      this.#stopped.resolve()
    }
  }

  /**
   * Waits for the slot loops up to the budget; then answers every invocation still running
   * with the budget's error and gives those answers (and any invocation whose `/next` answer
   * is still arriving, answered the same way on arrival) a bounded margin to be posted.
   */
  async #drain(plan: ShutdownPlan): Promise<void> {
    const budgetMs = plan.drainMs
    const loops = Promise.all(this.#slots.map((slot) => slot.loop))
    const stopPolling = () => Promise.all(this.#slots.map((slot) => slot.client.stopPolling(STOP)))
    // Polls already sent are aborted only once no invocation is running: until then an
    // invocation the Runtime API hands out on one is served like any other. Aborting at once
    // would race the API's answer — one already on the wire when the poll is aborted is lost.
    const drained = this.#quiet()
      .then(stopPolling)
      .then(() => loops)
    if (await settlesWithin(drained, budgetMs)) return
    const error = new ShutdownTimeoutError(budgetMs, plan.totalMs)
    this.#budgetSpent = error
    const running = [...this.#inFlight]
    this.#log.log('WARN', 'Shutdown budget spent with invocations still running: failing them', {
      code: CODES.SHUTDOWN_TIMEOUT,
      budgetMs,
      totalMs: plan.totalMs,
      requestIds: running.map(({ job }) => job.next.requestId),
    })
    // The executors end them (their signals abort, each failure is logged in its context);
    // the runtime answers at once, whether or not their loops can.
    this.#executors.cancelAll(error)
    for (const entry of running) {
      entry.job.withdrawn = true
      entry.settle?.(errorAnswer(error, false))
    }
    this.#quietCheck = undefined
    await stopPolling()
    if (await settlesWithin(loops, plan.answersMs)) return
    this.#log.log(
      'WARN',
      `Answers still being posted ${plan.answersMs} ms after the drain: closing connections`,
      {
        code: CODES.SHUTDOWN_ANSWERS_TIMEOUT,
        requestIds: [...this.#inFlight].map(({ job }) => job.next.requestId),
      },
    )
  }

  /** Resolves once no invocation is running (every slot is polling or has ended). */
  #quiet(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>()
    this.#quietCheck = () => {
      if (this.#inFlight.size > 0) return
      this.#quietCheck = undefined
      resolve()
    }
    this.#quietCheck()
    return promise
  }

  async #runSlot(slot: Slot): Promise<void> {
    const onRetry = (error: Error, attempt: number) => {
      // Every retry would flood the log while the API is down: the first few, then every 50th.
      if (attempt <= 3 || attempt % 50 === 0) {
        this.#log.log(
          'WARN',
          `GET /runtime/invocation/next failed, retrying: ${describeValue(error)}`,
          {
            code: CODES.NEXT_RETRY,
            attempt,
          },
        )
      }
    }
    for (;;) {
      // Stopping: no new poll. One already sent stays open until the drain is quiet.
      if (this.#stopping !== undefined) return
      let next: NextInvocation
      try {
        next = await slot.client.next(onRetry)
      } catch {
        return // stopPolling() or close(): the only ways next() rejects.
      }
      await this.#invoke(slot.client, next)
    }
  }

  async #invoke(client: RuntimeApiClient, next: NextInvocation): Promise<void> {
    this.#learnTimeout(next.deadlineMs - Date.now())
    const { body, ...headers } = next
    const entry: Running = {
      job: {
        next: headers,
        payload: body.toString('utf8'),
        timeoutMs: this.#timeoutMs,
        withdrawn: false,
      },
      settle: undefined,
    }
    const stats = this.#stats
    this.#inFlight.add(entry)
    if (this.#inFlight.size > stats.peakInFlight) stats.peakInFlight = this.#inFlight.size
    try {
      let answer: Answer
      try {
        // Arrived after the shutdown budget: answered at once, the handler not run.
        answer =
          this.#budgetSpent === undefined
            ? await this.#run(entry)
            : errorAnswer(this.#budgetSpent, false)
        if (answer.type === 'response' || (answer.type === 'streamed' && answer.ok)) {
          stats.succeeded++
        } else if (answer.type === 'error' && answer.timedOut) stats.timedOut++
        else stats.failed++
      } catch (error) {
        // The executors never reject; should one all the same, that answer is lost, not the slot.
        answer = lostAnswer(error)
      }
      await this.#answer(client, next.requestId, answer)
    } finally {
      this.#inFlight.delete(entry)
      this.#quietCheck?.()
    }
  }

  /**
   * The executor's answer, or the runtime's own when the executor cannot give one in time:
   * with worker threads, an invocation whose loop is blocked past its deadline is answered
   * with its timeout {@link DEADLINE_BACKSTOP_MS} later, and its executor's answer, whenever
   * it comes, is dropped. (Streamed answers are the executor's to send.)
   */
  async #run(entry: Running): Promise<Answer> {
    const { job } = entry
    const { promise, resolve } = Promise.withResolvers<Answer>()
    entry.settle = resolve
    this.#executors.execute(job).then(resolve)
    if (!this.#executors.isolated || this.#executors.streaming) return promise
    const { requestId, deadlineMs } = job.next
    const backstop = rawSetTimeout(
      () => {
        job.withdrawn = true
        this.#log.log(
          'WARN',
          `No answer from the handler's event loop ${DEADLINE_BACKSTOP_MS} ms after the deadline (blocked by synchronous code?): answered as timed out`,
          { code: CODES.DEADLINE_BACKSTOP, requestId },
        )
        resolve(errorAnswer(new InvocationTimeoutError(requestId, job.timeoutMs), true))
      },
      Math.max(0, deadlineMs - Date.now()) + DEADLINE_BACKSTOP_MS,
    )
    try {
      return await promise
    } finally {
      rawClearTimeout(backstop)
    }
  }

  /**
   * Lambda gives the deadline, not the function's timeout, and timeouts are whole seconds. The
   * time left when an invocation is read is a little less than the timeout, and much less when
   * this loop was blocked before it could read it: the timeout is the longest time left seen,
   * rounded up to whole seconds. Reported as "Task timed out after N seconds", as Lambda does.
   */
  #learnTimeout(leftMs: number): void {
    const seconds = Math.max(1, Math.ceil(leftMs / 1000))
    if (seconds * 1000 > this.#timeoutMs) this.#timeoutMs = seconds * 1000
  }

  /**
   * Hands the answer to the client; after a 500 from the Runtime API, Lambda's contract is a
   * prompt exit, without draining.
   */
  async #answer(client: RuntimeApiClient, requestId: string, answer: Answer): Promise<void> {
    if (await answerInvocation(client, requestId, answer, this.#log)) this.#exit(1)
  }
}
