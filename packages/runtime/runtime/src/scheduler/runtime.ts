import { Agent } from 'node:http'
import { type FunctionInfo, InvocationTimeoutError, LmiError, toErrorResponse } from '@lmi/core'
import {
  describe,
  HANDLER_HIGHWATERMARK,
  InvocationState,
  invocationStorage,
  type NextInvocation,
  type Outcome,
  rawClearTimeout,
  rawSetTimeout,
  runShutdownHooks,
} from '@lmi/core/internal'
import { ALREADY_DELIVERED, RESPONSE_LIMIT_BYTES, RuntimeApiClient } from '../client/runtime-api.ts'
import {
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
  ShutdownTimeoutError,
  UncaughtExceptionError,
  UnhandledRejectionError,
} from '../errors.ts'
import type { LoadedHandler } from '../handler/load.ts'
import type { RuntimeLog } from '../log/log.ts'
import { ResponseStream } from '../streaming/response-stream.ts'

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
  handler: LoadedHandler
  /** Invocations in flight at once; 1 runs a strictly sequential loop. */
  concurrency: number
  functionInfo: FunctionInfo
  log: RuntimeLog
  /**
   * The shutdown budget: how long a stop waits for in-flight invocations. Those still running
   * then are answered with {@link ShutdownTimeoutError}. Default 10 s.
   */
  shutdownTimeoutMs?: number
  /**
   * Called when the runtime must end the process at once: after a 500 from the Runtime API,
   * Lambda expects a prompt exit. Default `process.exit`. (An unattributable fault instead
   * drains, then `start()` resolves with {@link Runtime.exitCode} 1.)
   */
  exit?: (code: number) => void
  /**
   * Classic one-at-a-time Lambda (`AWS_LAMBDA_MAX_CONCURRENCY` unset or 1): like AWS's runtime,
   * set `process.env._X_AMZN_TRACE_ID` to each invocation's trace id, for the X-Ray SDK. Never
   * in concurrent mode, where one process-wide variable would hand every invocation the trace
   * id of whichever started last. Default: `concurrency === 1`.
   */
  sequential?: boolean
  /** Install `uncaughtException` / `unhandledRejection` containment. Default true. */
  containFaults?: boolean
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
  /** Handlers still running although their invocation has ended (timed out or failed). */
  lingering: number
}

interface Slot {
  client: RuntimeApiClient
  loop: Promise<void>
}

const STOP = new LmiError('The runtime is stopping', 'LMI_STOPPING')

/**
 * After the shutdown budget, how long the answers to the invocations it cut short (and to any
 * whose `/next` answer was still arriving) may take to post before connections close.
 */
export const SHUTDOWN_ANSWER_MARGIN_MS = 1000
/** How long the shutdown hooks may run, together, before the runtime exits without them. */
export const SHUTDOWN_HOOKS_TIMEOUT_MS = 1000

/** Resolves true if `promise` settles within `ms`, false otherwise; never rejects. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = rawSetTimeout(resolve, ms, false)
  })
  const settled = promise.then(
    () => true,
    () => true,
  )
  try {
    return await Promise.race([settled, timedOut])
  } finally {
    rawClearTimeout(timer)
  }
}

/**
 * The concurrent Runtime Interface Client: `concurrency` slots, each looping
 * next → invoke → respond on its own keep-alive connection, so at most `concurrency`
 * invocations are ever in flight and each response goes to its own request id.
 *
 * Each invocation runs in its own AsyncLocalStorage context. Faults that escape an
 * invocation's promise chain (a throw in a timer, a floating rejection) are attributed to it
 * through that context and fail it alone; a fault no invocation owns drains the others and
 * exits non-zero. At the deadline the invocation's signal aborts and the timeout is reported;
 * the slot is free again as soon as the invocation is answered.
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
  readonly #handler: LoadedHandler
  readonly #log: RuntimeLog
  readonly #exit: (code: number) => void
  readonly #sequential: boolean
  readonly #slots: Slot[] = []
  readonly #stats: Omit<RuntimeStats, 'inFlight'> = {
    peakInFlight: 0,
    succeeded: 0,
    failed: 0,
    timedOut: 0,
    lingering: 0,
  }
  readonly #inFlight = new Set<InvocationState>()
  #streamAgent: Agent | undefined
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
  readonly #onUncaught = (error: unknown) => this.#contain(error, 'exception')
  readonly #onUnhandled = (reason: unknown) => this.#contain(reason, 'rejection')

  constructor(options: RuntimeOptions) {
    this.#options = options
    this.#handler = options.handler
    this.#log = options.log
    this.#exit = options.exit ?? ((code) => process.exit(code))
    this.#sequential = options.sequential ?? options.concurrency === 1
  }

  /** 0, or 1 once an unattributable fault has made the runtime stop. */
  get exitCode(): number {
    return this.#exitCode
  }

  stats(): RuntimeStats {
    return { ...this.#stats, inFlight: this.#inFlight.size }
  }

  /** Starts polling; resolves once the runtime has stopped (see {@link stop}). */
  async start(): Promise<void> {
    if (this.#started) throw new LmiError('Runtime already started', 'LMI_ALREADY_STARTED')
    this.#started = true
    if (this.#options.containFaults !== false) {
      process.on('uncaughtException', this.#onUncaught)
      process.on('unhandledRejection', this.#onUnhandled)
    }
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
   * Stops polling, lets in-flight invocations finish (up to `shutdownTimeoutMs`, the budget),
   * answers those still running with {@link ShutdownTimeoutError} (posting for up to
   * {@link SHUTDOWN_ANSWER_MARGIN_MS}), runs the shutdown hooks (for up to
   * {@link SHUTDOWN_HOOKS_TIMEOUT_MS}) and releases connections. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown()
    return this.#stopping
  }

  async #shutdown(): Promise<void> {
    try {
      await this.#drain()
      const hooks = runShutdownHooks((error) => {
        this.#log.log('ERROR', `Shutdown hook failed: ${describe(error)}`, {
          code: 'LMI_SHUTDOWN_HOOK',
        })
      })
      if (!(await settlesWithin(hooks, SHUTDOWN_HOOKS_TIMEOUT_MS))) {
        this.#log.log(
          'WARN',
          `Shutdown hooks still running after ${SHUTDOWN_HOOKS_TIMEOUT_MS} ms: exiting without them`,
          { code: 'LMI_SHUTDOWN_HOOKS_TIMEOUT' },
        )
      }
      await Promise.all(this.#slots.map((slot) => slot.client.close()))
      this.#streamAgent?.destroy()
      process.off('uncaughtException', this.#onUncaught)
      process.off('unhandledRejection', this.#onUnhandled)
    } finally {
      this.#stopped.resolve()
    }
  }

  /**
   * Waits for the slot loops up to the budget; then answers every invocation still running
   * with the budget's error and gives those answers (and any invocation whose `/next` answer
   * is still arriving, answered the same way on arrival) a bounded margin to be posted.
   */
  async #drain(): Promise<void> {
    const budgetMs = this.#options.shutdownTimeoutMs ?? 10_000
    const loops = Promise.all(this.#slots.map((slot) => slot.loop))
    const stopPolling = () => Promise.all(this.#slots.map((slot) => slot.client.stopPolling(STOP)))
    // Polls already sent are aborted only once no invocation is running: until then an
    // invocation the Runtime API hands out on one is served like any other. Aborting at once
    // would race the API's answer — one already on the wire when the poll is aborted is lost.
    const drained = this.#quiet()
      .then(stopPolling)
      .then(() => loops)
    if (await settlesWithin(drained, budgetMs)) return
    const error = new ShutdownTimeoutError(budgetMs)
    this.#budgetSpent = error
    const running = [...this.#inFlight]
    this.#log.log('WARN', 'Shutdown budget spent with invocations still running: failing them', {
      code: 'LMI_SHUTDOWN_TIMEOUT',
      budgetMs,
      requestIds: running.map((invocation) => invocation.requestId),
    })
    for (const invocation of running) invocation.cancel(error)
    this.#quietCheck = undefined
    await stopPolling()
    if (await settlesWithin(loops, SHUTDOWN_ANSWER_MARGIN_MS)) return
    this.#log.log(
      'WARN',
      `Answers still being posted ${SHUTDOWN_ANSWER_MARGIN_MS} ms after the shutdown budget: closing connections`,
      {
        code: 'LMI_SHUTDOWN_ANSWERS_TIMEOUT',
        requestIds: [...this.#inFlight].map((invocation) => invocation.requestId),
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
        this.#log.log('WARN', `GET /runtime/invocation/next failed, retrying: ${describe(error)}`, {
          code: 'LMI_NEXT_RETRY',
          attempt,
        })
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
    const invocation = InvocationState.fromNext(next, this.#options.functionInfo)
    const stats = this.#stats
    this.#inFlight.add(invocation)
    if (this.#inFlight.size > stats.peakInFlight) stats.peakInFlight = this.#inFlight.size
    const left = next.deadlineMs - Date.now()
    this.#learnTimeout(left)
    // Already past its deadline when read (this loop was blocked): it expires at once.
    const timer = rawSetTimeout(() => invocation.expire(this.#timeoutMs), Math.max(0, left))
    let stream: ResponseStream | undefined
    if (this.#sequential) {
      if (next.traceId === undefined) delete process.env._X_AMZN_TRACE_ID
      else process.env._X_AMZN_TRACE_ID = next.traceId
    }
    try {
      let outcome: Outcome | undefined
      let event: unknown
      try {
        event = JSON.parse(next.body.toString('utf8'))
      } catch (error) {
        outcome = { ok: false, error, timedOut: false }
      }
      // Arrived after the shutdown budget: answered at once, the handler not run.
      if (this.#budgetSpent !== undefined) {
        outcome ??= { ok: false, error: this.#budgetSpent, timedOut: false }
      }
      if (outcome === undefined && this.#handler.streaming) {
        stream = this.#createStream(next.requestId)
      }
      outcome ??= await invocation.run(this.#call(event, invocation, stream), this.#onLateSettle)
      // A handler that returned only after its deadline (its loop blocked, so the deadline's
      // timer could not fire first) has timed out: Lambda has given up on it, and a success
      // posted now would be refused or, worse, counted.
      if (outcome.ok && stream === undefined && Date.now() >= next.deadlineMs) {
        outcome = {
          ok: false,
          error: new InvocationTimeoutError(next.requestId, this.#timeoutMs),
          timedOut: true,
        }
      }
      if (outcome.ok) stats.succeeded++
      else if (outcome.timedOut) stats.timedOut++
      else stats.failed++
      if (invocation.lingering) stats.lingering++
      await this.#report(client, invocation, outcome, stream)
    } catch (error) {
      this.#onReportFailure(invocation, error)
    } finally {
      rawClearTimeout(timer)
      this.#inFlight.delete(invocation)
      this.#quietCheck?.()
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
    this.#streamAgent ??= new Agent({ keepAlive: true, maxSockets: this.#options.concurrency })
    const highWaterMark = (this.#handler.fn as unknown as Record<symbol, unknown>)[
      HANDLER_HIGHWATERMARK
    ]
    return new ResponseStream(this.#options.runtimeApi, requestId, this.#streamAgent, {
      highWaterMark: typeof highWaterMark === 'number' ? highWaterMark : undefined,
    })
  }

  readonly #onLateSettle = (invocation: InvocationState) => {
    this.#stats.lingering--
    this.#log.log('WARN', 'Handler settled after its invocation had ended; result discarded', {
      code: 'LMI_LATE_SETTLE',
      requestId: invocation.requestId,
    })
  }

  async #report(
    client: RuntimeApiClient,
    invocation: InvocationState,
    outcome: Outcome,
    stream: ResponseStream | undefined,
  ): Promise<void> {
    const requestId = invocation.requestId
    if (outcome.ok) {
      if (stream !== undefined) {
        this.#checkStatus(requestId, await stream.finished())
        return
      }
      let body: Buffer
      try {
        body = Buffer.from(JSON.stringify(outcome.value === undefined ? null : outcome.value))
      } catch (error) {
        return this.#reportError(client, invocation, new SerializationError(error), stream)
      }
      if (body.length > RESPONSE_LIMIT_BYTES) {
        const error = new ResponseSizeTooLargeError(body.length, RESPONSE_LIMIT_BYTES)
        return this.#reportError(client, invocation, error, stream)
      }
      const status = await client.postResponse(requestId, body)
      if (status === 413) {
        const error = new ResponseSizeTooLargeError(body.length, RESPONSE_LIMIT_BYTES, {
          refused: true,
        })
        return this.#reportError(client, invocation, error, stream)
      }
      this.#checkStatus(requestId, status)
      return
    }
    return this.#reportError(client, invocation, outcome.error, stream)
  }

  async #reportError(
    client: RuntimeApiClient,
    invocation: InvocationState,
    error: unknown,
    stream: ResponseStream | undefined,
  ): Promise<void> {
    const body = toErrorResponse(error)
    // Logged inside the invocation's context so the line carries its request and tenant ids.
    invocationStorage.run(invocation, () =>
      this.#log.log('ERROR', body, { errorType: body.errorType, errorMessage: body.errorMessage }),
    )
    if (stream?.fail(body)) {
      this.#checkStatus(invocation.requestId, await stream.finished().catch(() => 0))
      return
    }
    this.#checkStatus(invocation.requestId, await client.postError(invocation.requestId, body))
  }

  #checkStatus(requestId: string, status: number): void {
    if (status === ALREADY_DELIVERED) {
      // Not a failure: the first attempt arrived, only its acknowledgement was lost.
      this.#log.log(
        'INFO',
        `The answer for ${requestId} had already been delivered: a retry after a lost acknowledgement was refused as a duplicate`,
        { code: 'LMI_ANSWER_DUPLICATE', requestId },
      )
      return
    }
    if (status >= 200 && status < 300) return
    this.#log.log('WARN', `The Runtime API refused the answer for ${requestId} (${status})`, {
      code: 'LMI_ANSWER_REFUSED',
      requestId,
      status,
    })
  }

  #onReportFailure(invocation: InvocationState, error: unknown): void {
    if (error instanceof RuntimeApiFatalError) {
      // Lambda's contract: after a 500 the runtime must exit promptly, without draining.
      this.#log.log('FATAL', describe(error), { code: error.code, requestId: invocation.requestId })
      this.#exit(1)
      return
    }
    this.#log.log(
      'ERROR',
      `Could not answer invocation ${invocation.requestId}: ${describe(error)}`,
      {
        code: 'LMI_ANSWER_FAILED',
        requestId: invocation.requestId,
      },
    )
  }

  /**
   * `uncaughtException` / `unhandledRejection`: the AsyncLocalStorage context current when
   * Node reports the fault is the one of the code that threw (or created the promise), so
   * the fault belongs to that invocation.
   *
   * It must never throw, whatever the value: a throwing `uncaughtException` listener ends the
   * process (exit 7) and a throwing `unhandledRejection` listener turns one invocation's fault
   * into an unattributable one. `describe()` and `toErrorResponse()` read any value safely; the
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
          this.#log.log('WARN', `Fault after the invocation ended: ${describe(error)}`, {
            code: 'LMI_FAULT_AFTER_END',
            kind,
          }),
        )
        return
      }
      this.#log.log('FATAL', `Unattributable ${kind}, draining and exiting: ${describe(error)}`, {
        code: 'LMI_UNATTRIBUTABLE_FAULT',
        ...toErrorResponse(error),
      })
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
    this.#exitCode = 1
    void this.stop()
  }
}
