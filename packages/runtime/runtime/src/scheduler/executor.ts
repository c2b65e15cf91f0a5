import type { Agent } from 'node:http'
import { type FunctionInfo, toErrorResponse } from '@lmi/core'
import {
  describeValue,
  HANDLER_HIGHWATERMARK,
  type InvocationOutcome,
  InvocationState,
  invocationStorage,
  type NextInvocation,
  rawClearTimeout,
  rawSetTimeout,
} from '@lmi/core/internal'
import { type Answer, encodeResponse, lostAnswer } from '../client/answer.ts'
import {
  CODES,
  ResponseSizeTooLargeError,
  SerializationError,
  UncaughtExceptionError,
  UnhandledRejectionError,
} from '../errors.ts'
import type { LoadedHandler } from '../handler/load.ts'
import type { RuntimeLog } from '../log/log.ts'
import { ResponseStream } from '../streaming/response-stream.ts'
import { RequestFence } from './fence.ts'

/**
 * How long after the first handler outlives its invocation the executor reports it
 * (`LMI_ZOMBIE_INVOCATIONS`): long enough for a handler that merely finishes a little late not
 * to be reported, short enough to show up next to the timeout that caused it.
 */
export const ZOMBIE_FIRST_REPORT_MS = 1000

/** At most one `LMI_ZOMBIE_INVOCATIONS` line per thread in this interval, while any remain. */
export const ZOMBIE_REPORT_INTERVAL_MS = 10_000

/**
 * Work an {@link Executor}'s handlers did or still do after their invocation ended. Plain data:
 * it crosses from a worker thread to the dispatcher as it is.
 *
 * @example
 * ```ts
 * const { lingering, oldestEndedAt } = executor.lateWork
 * const oldestLingeringMs = lingering === 0 ? 0 : Date.now() - oldestEndedAt
 * ```
 */
export interface LateWork {
  /** Handlers still running although their invocation has ended (timed out, failed, cancelled). */
  lingering: number
  /** Epoch ms at which the invocation of the oldest of them ended; 0 when none. */
  oldestEndedAt: number
  /** Handlers that settled after their invocation had ended (`LMI_LATE_SETTLE`). */
  lateSettled: number
  /** Outgoing requests refused by the fence (`LMI_REQUEST_FENCED`). */
  fencedRequests: number
}

/**
 * One invocation handed to an {@link Executor}: what `/next` answered (its body decoded, the
 * event's JSON text), and the function's timeout as far as the runtime has seen it (for the
 * "Task timed out after N seconds" message). Plain data: it crosses to a worker thread as it is.
 *
 * @example
 * ```ts
 * const { body, ...next } = await client.next()
 * const answer = await executor.execute({ next, payload: body.toString('utf8'), timeoutMs: 30_000 })
 * ```
 */
export interface Job {
  next: Omit<NextInvocation, 'body'>
  payload: string
  timeoutMs: number
}

/**
 * Options of {@link Executor}.
 *
 * @example
 * ```ts
 * const options: ExecutorOptions = { runtimeApi, handler, functionInfo, log, concurrency: 64, sequential: false }
 * ```
 */
export interface ExecutorOptions {
  /** `host:port` of the Runtime API, for streamed answers (sent by the executor itself). */
  runtimeApi: string
  handler: LoadedHandler
  functionInfo: FunctionInfo
  log: RuntimeLog
  /** Most invocations in flight at once: sizes the streaming connections. */
  concurrency: number
  /**
   * Classic one-at-a-time Lambda: set `process.env._X_AMZN_TRACE_ID` to each invocation's
   * trace id, for the X-Ray SDK, as AWS's runtime does. Never in concurrent mode, where one
   * process-wide variable would hand every invocation the trace id of whichever started last.
   */
  sequential: boolean
  /** Install `uncaughtException` / `unhandledRejection` containment. Default true. */
  containFaults?: boolean
  /**
   * Refuse the HTTP requests an invocation makes once it is over ({@link RequestFence}), from
   * {@link Executor.start} to {@link Executor.close}. Default true; `LMI_FENCE_REQUESTS=0`.
   */
  fenceRequests?: boolean
}

/**
 * Runs invocations on the event loop that holds the handler: each in its own AsyncLocalStorage
 * context, its signal aborting at the deadline, faults that escape it contained to it, its
 * result serialised (or its error logged and described) for the runtime to post. It never
 * talks to `/next` or posts buffered answers: the runtime does, from a loop no handler blocks
 * when the executors run in worker threads.
 *
 * @example
 * ```ts
 * const executor = new Executor({ runtimeApi, handler, functionInfo, log, concurrency: 64, sequential: false })
 * executor.start(() => runtime.stop())
 * const answer = await executor.execute({ next, timeoutMs: 30_000 })
 * ```
 */
export class Executor {
  readonly #options: ExecutorOptions
  readonly #handler: LoadedHandler
  readonly #log: RuntimeLog
  readonly #inFlight = new Set<InvocationState>()
  #streamAgent: Agent | undefined
  readonly #fence: RequestFence | undefined
  /** Handlers still running after their invocation ended, with when it ended, oldest first. */
  readonly #zombies = new Map<InvocationState, number>()
  #lateSettled = 0
  #zombieTimer: NodeJS.Timeout | undefined
  #lastZombieReport = Number.NEGATIVE_INFINITY
  #onLateWork: () => void = () => {}
  #onFault: () => void = () => {}
  readonly #onUncaught = (error: unknown) => this.#contain(error, 'exception')
  readonly #onUnhandled = (reason: unknown) => this.#contain(reason, 'rejection')

  constructor(options: ExecutorOptions) {
    this.#options = options
    this.#handler = options.handler
    this.#log = options.log
    if (options.fenceRequests !== false) {
      this.#fence = new RequestFence({
        runtimeApi: options.runtimeApi,
        log: options.log,
        onFenced: () => this.#onLateWork(),
      })
    }
  }

  /** Handlers still running although their invocation has ended (timed out or failed). */
  get lingering(): number {
    return this.#zombies.size
  }

  /** What this executor's handlers did, or still do, after their invocation ended. */
  get lateWork(): LateWork {
    let oldestEndedAt = 0
    for (const endedAt of this.#zombies.values()) {
      oldestEndedAt = endedAt
      break
    }
    return {
      lingering: this.#zombies.size,
      oldestEndedAt,
      lateSettled: this.#lateSettled,
      fencedRequests: this.#fence?.fenced ?? 0,
    }
  }

  /** `listener` is called whenever {@link lateWork} changes (one listener: the last given). */
  onLateWork(listener: () => void): void {
    this.#onLateWork = listener
  }

  /** Whether the handler streams its response (`awslambda.streamifyResponse`). */
  get streaming(): boolean {
    return this.#handler.streaming
  }

  /**
   * Installs fault containment on this thread's `process`; `onFault` is called once a fault no
   * invocation owns has been logged (the runtime must then drain and exit 1).
   */
  start(onFault: () => void): void {
    this.#onFault = onFault
    this.#fence?.install()
    if (this.#options.containFaults === false) return
    process.on('uncaughtException', this.#onUncaught)
    process.on('unhandledRejection', this.#onUnhandled)
  }

  /** Removes fault containment and releases the streaming connections. */
  close(): void {
    this.#fence?.uninstall()
    if (this.#zombieTimer !== undefined) rawClearTimeout(this.#zombieTimer)
    this.#zombieTimer = undefined
    this.#streamAgent?.destroy()
    process.off('uncaughtException', this.#onUncaught)
    process.off('unhandledRejection', this.#onUnhandled)
  }

  /**
   * Ends every invocation still running with `error` and aborts its signal: the runtime has
   * given up on them (its shutdown budget is spent). Their answers are the runtime's to post.
   */
  cancelAll(error: Error): void {
    for (const invocation of this.#inFlight) invocation.cancel(error)
  }

  /**
   * Runs one invocation and resolves with its {@link Answer}; never rejects. The handler's
   * synchronous part has run when this returns.
   */
  async execute(job: Job): Promise<Answer> {
    const { next, timeoutMs } = job
    const invocation = InvocationState.fromNext(next, this.#options.functionInfo)
    this.#inFlight.add(invocation)
    // The invocation ends itself at its deadline (at once if this loop read it late).
    invocation.expireAtDeadline(timeoutMs, { streamed: this.#handler.streaming })
    if (this.#options.sequential) {
      if (next.traceId === undefined) delete process.env._X_AMZN_TRACE_ID
      else process.env._X_AMZN_TRACE_ID = next.traceId
    }
    let stream: ResponseStream | undefined
    try {
      let outcome: InvocationOutcome | undefined
      let event: unknown
      try {
        event = JSON.parse(job.payload)
      } catch (error) {
        outcome = { ok: false, error, timedOut: false }
      }
      if (outcome === undefined && this.#handler.streaming) {
        stream = this.#createStream(next.requestId)
      }
      outcome ??= await invocation.run(this.#call(event, invocation, stream), this.#onLateSettle)
      if (invocation.lingering) this.#addZombie(invocation)
      return await this.#answer(invocation, outcome, stream)
    } catch (error) {
      return lostAnswer(error)
    } finally {
      invocation.dispose()
      this.#inFlight.delete(invocation)
    }
  }

  #call(event: unknown, invocation: InvocationState, stream: ResponseStream | undefined) {
    const handler = this.#handler
    const fn = handler.fn as (...args: unknown[]) => unknown
    const context = invocation.context
    if (stream !== undefined) return () => fn(event, stream, context)
    if (handler.callback) {
      return () =>
        new Promise((resolve, reject) => {
          const returned = fn(event, context, (error: unknown, result: unknown) =>
            error === null || error === undefined ? resolve(result) : reject(error),
          )
          if (returned instanceof Promise) returned.then(resolve, reject)
        })
    }
    return () => fn(event, context)
  }

  #createStream(requestId: string): ResponseStream {
    if (this.#streamAgent === undefined) {
      // Not an ES import of node:http: see ResponseStream.
      const { Agent: HttpAgent } = process.getBuiltinModule('node:http')
      this.#streamAgent = new HttpAgent({ keepAlive: true, maxSockets: this.#options.concurrency })
      // The answer's own request, made inside the invocation: the runtime's traffic, not its.
      this.#fence?.exempt(this.#streamAgent)
    }
    const highWaterMark = (this.#handler.fn as unknown as Record<symbol, unknown>)[
      HANDLER_HIGHWATERMARK
    ]
    return new ResponseStream(this.#options.runtimeApi, requestId, this.#streamAgent, {
      highWaterMark: typeof highWaterMark === 'number' ? highWaterMark : undefined,
    })
  }

  readonly #onLateSettle = (invocation: InvocationState) => {
    // It may settle before execute() has seen it linger (both wait on the same turn): then it
    // was never counted, and the delete is a no-op.
    this.#zombies.delete(invocation)
    this.#lateSettled++
    if (this.#zombies.size === 0 && this.#zombieTimer !== undefined) {
      rawClearTimeout(this.#zombieTimer)
      this.#zombieTimer = undefined
    }
    this.#log.log('WARN', 'Handler settled after its invocation had ended; result discarded', {
      code: CODES.LATE_SETTLE,
      requestId: invocation.requestId,
    })
    this.#onLateWork()
  }

  #addZombie(invocation: InvocationState): void {
    this.#zombies.set(invocation, Date.now())
    this.#armZombieReport()
    this.#onLateWork()
  }

  /**
   * The report is a timer armed only while zombies exist, unref'd: it never keeps the process
   * alive, and a runtime with none pays nothing.
   */
  #armZombieReport(): void {
    if (this.#zombieTimer !== undefined) return
    const delay = Math.max(
      ZOMBIE_FIRST_REPORT_MS,
      this.#lastZombieReport + ZOMBIE_REPORT_INTERVAL_MS - Date.now(),
    )
    this.#zombieTimer = rawSetTimeout(this.#reportZombies, delay)
    this.#zombieTimer.unref()
  }

  readonly #reportZombies = () => {
    this.#zombieTimer = undefined
    if (this.#zombies.size === 0) return
    const now = Date.now()
    this.#lastZombieReport = now
    const requestIds: string[] = []
    let oldestEndedAt = now
    for (const [invocation, endedAt] of this.#zombies) {
      if (requestIds.length === 0) oldestEndedAt = endedAt
      requestIds.push(invocation.requestId)
      if (requestIds.length === 10) break
    }
    const count = this.#zombies.size
    const oldestAgeMs = now - oldestEndedAt
    this.#log.log(
      'WARN',
      `${count} handler(s) still running after their invocation ended, the oldest for ${oldestAgeMs} ms: they hold memory and connections, and their results are discarded`,
      { code: CODES.ZOMBIE_INVOCATIONS, count, oldestAgeMs, requestIds },
    )
    this.#armZombieReport()
  }

  async #answer(
    invocation: InvocationState,
    outcome: InvocationOutcome,
    stream: ResponseStream | undefined,
  ): Promise<Answer> {
    if (!outcome.ok) return this.#error(invocation, outcome.error, outcome.timedOut, stream)
    if (stream !== undefined) {
      const status = await stream.finished()
      return { type: 'streamed', status, ok: true }
    }
    let body: string
    try {
      body = encodeResponse(outcome.value)
    } catch (error) {
      // The invocation's error when its result has no fitting JSON; anything else is not.
      if (!(error instanceof SerializationError || error instanceof ResponseSizeTooLargeError)) {
        throw error
      }
      return this.#error(invocation, error, false, stream)
    }
    return { type: 'response', body }
  }

  async #error(
    invocation: InvocationState,
    error: unknown,
    timedOut: boolean,
    stream: ResponseStream | undefined,
  ): Promise<Answer> {
    const body = toErrorResponse(error)
    // Logged inside the invocation's context so the line carries its request and tenant ids.
    invocationStorage.run(invocation, () =>
      this.#log.log('ERROR', body, { errorType: body.errorType, errorMessage: body.errorMessage }),
    )
    if (stream?.fail(body)) {
      return { type: 'streamed', status: await stream.finished().catch(() => 0), ok: false }
    }
    return { type: 'error', error: body, timedOut }
  }

  /**
   * `uncaughtException` / `unhandledRejection`: the AsyncLocalStorage context current when
   * Node reports the fault is the one of the code that threw (or created the promise), so
   * the fault belongs to that invocation.
   *
   * It must never throw, whatever the value: a throwing `uncaughtException` listener ends the
   * process (exit 7) and a throwing `unhandledRejection` listener turns one invocation's fault
   * into an unattributable one. `describeValue()` and `toErrorResponse()` read any value safely; the
   * `catch` is the last line should anything on the way throw all the same.
   */
  #contain(error: unknown, kind: 'exception' | 'rejection'): void {
    const invocation = invocationStorage.getStore()
    try {
      if (invocation !== undefined && !invocation.ended) {
        const wrapped =
          kind === 'exception'
            ? new UncaughtExceptionError(error)
            : new UnhandledRejectionError(error)
        if (invocation.fail(wrapped)) return
      }
      if (invocation !== undefined) {
        // Its invocation was already answered: nobody else is affected, so keep serving.
        invocationStorage.run(invocation, () =>
          this.#log.log('WARN', `Fault after the invocation ended: ${describeValue(error)}`, {
            code: CODES.FAULT_AFTER_END,
            kind,
          }),
        )
        return
      }
      this.#log.log(
        'FATAL',
        `Unattributable ${kind}, draining and exiting: ${describeValue(error)}`,
        {
          code: CODES.UNATTRIBUTABLE_FAULT,
          ...toErrorResponse(error),
        },
      )
    } catch {
      // Nothing of the value is read again: the invocation still fails, with a fixed message.
      if (invocation !== undefined) {
        if (!invocation.ended) {
          const cause = 'a value that could not be described'
          invocation.fail(
            kind === 'exception'
              ? new UncaughtExceptionError(cause)
              : new UnhandledRejectionError(cause),
          )
        }
        return
      }
    }
    this.#onFault()
  }
}
