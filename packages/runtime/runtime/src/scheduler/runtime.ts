import { Agent } from 'node:http'
import { type FunctionInfo, LmiError, toErrorResponse } from '@lmi/core'
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
import { RESPONSE_LIMIT_BYTES, RuntimeApiClient } from '../client/runtime-api.ts'
import {
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
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
  /** How long SIGTERM waits for in-flight invocations before shutdown hooks run. Default 10 s. */
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
  #started = false
  #exitCode = 0
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
    await Promise.all(this.#slots.map((slot) => slot.loop))
    await this.#stopping
  }

  /**
   * Stops polling, lets in-flight invocations finish (up to `shutdownTimeoutMs`), runs the
   * shutdown hooks and releases connections. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown()
    return this.#stopping
  }

  async #shutdown(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.client.stopPolling(STOP)))
    const timeoutMs = this.#options.shutdownTimeoutMs ?? 10_000
    const drained = Promise.all(this.#slots.map((slot) => slot.loop)).then(() => true)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<false>((resolve) => {
      timer = rawSetTimeout(resolve, timeoutMs, false)
    })
    const clean = await Promise.race([drained, timedOut])
    rawClearTimeout(timer)
    if (!clean) {
      this.#log.log('WARN', 'Shutdown deadline reached with invocations still running', {
        code: 'LMI_SHUTDOWN_TIMEOUT',
        requestIds: [...this.#inFlight].map((invocation) => invocation.requestId),
      })
    }
    await runShutdownHooks((error) => {
      this.#log.log('ERROR', `Shutdown hook failed: ${describe(error)}`, {
        code: 'LMI_SHUTDOWN_HOOK',
      })
    })
    await Promise.all(this.#slots.map((slot) => slot.client.close()))
    this.#streamAgent?.destroy()
    process.off('uncaughtException', this.#onUncaught)
    process.off('unhandledRejection', this.#onUnhandled)
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
    const receivedAt = Date.now()
    // Lambda timeouts are whole seconds; the time left at receipt is a little less than that.
    const timer = rawSetTimeout(
      () => invocation.expire(Math.max(1, Math.ceil((next.deadlineMs - receivedAt) / 1000)) * 1000),
      next.deadlineMs - receivedAt,
    )
    let stream: ResponseStream | undefined
    if (this.#sequential) {
      if (next.traceId === undefined) delete process.env._X_AMZN_TRACE_ID
      else process.env._X_AMZN_TRACE_ID = next.traceId
    }
    try {
      let outcome: Outcome
      let event: unknown
      try {
        event = JSON.parse(next.body.toString('utf8'))
      } catch (error) {
        outcome = { ok: false, error, timedOut: false }
      }
      if (this.#handler.streaming) stream = this.#createStream(next.requestId)
      outcome ??= await invocation.run(this.#call(event, invocation, stream), this.#onLateSettle)
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
        const error = new ResponseSizeTooLargeError(body.length, RESPONSE_LIMIT_BYTES)
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
   */
  #contain(error: unknown, kind: 'exception' | 'rejection'): void {
    const invocation = invocationStorage.getStore()
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
    this.#exitCode = 1
    void this.stop()
  }
}
