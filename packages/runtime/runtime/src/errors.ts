import { LmiError } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'

/**
 * Every code `@lmi/runtime` uses — its errors' `code`s, then the `code` field of its log
 * lines (warnings and notices a reader can search for) — stable and never reused.
 *
 * @example
 * ```ts
 * if (error instanceof LmiError && error.code === CODES.REQUEST_FENCED) log('refused: its invocation was over')
 * ```
 */
export const CODES = {
  // Errors.
  UNCAUGHT_EXCEPTION: 'LMI_UNCAUGHT_EXCEPTION',
  UNHANDLED_REJECTION: 'LMI_UNHANDLED_REJECTION',
  RESPONSE_TOO_LARGE: 'LMI_RESPONSE_TOO_LARGE',
  SHUTDOWN_TIMEOUT: 'LMI_SHUTDOWN_TIMEOUT',
  SERIALIZATION: 'LMI_SERIALIZATION',
  HANDLER_LOAD: 'LMI_HANDLER_LOAD',
  RUNTIME_API_FATAL: 'LMI_RUNTIME_API_FATAL',
  CALLBACK_HANDLER: 'LMI_CALLBACK_HANDLER',
  REQUEST_FENCED: 'LMI_REQUEST_FENCED',
  WORKER_FAILED: 'LMI_WORKER_FAILED',
  STOPPING: 'LMI_STOPPING',
  ALREADY_STARTED: 'LMI_ALREADY_STARTED',
  INVALID_CONFIGURATION: 'LMI_INVALID_CONFIGURATION',
  NOT_A_WORKER: 'LMI_NOT_A_WORKER',
  // Log lines.
  NEXT_RETRY: 'LMI_NEXT_RETRY',
  DEADLINE_BACKSTOP: 'LMI_DEADLINE_BACKSTOP',
  SHUTDOWN_ANSWERS_TIMEOUT: 'LMI_SHUTDOWN_ANSWERS_TIMEOUT',
  ANSWER_DUPLICATE: 'LMI_ANSWER_DUPLICATE',
  ANSWER_REFUSED: 'LMI_ANSWER_REFUSED',
  ANSWER_FAILED: 'LMI_ANSWER_FAILED',
  LATE_SETTLE: 'LMI_LATE_SETTLE',
  ZOMBIE_INVOCATIONS: 'LMI_ZOMBIE_INVOCATIONS',
  FAULT_AFTER_END: 'LMI_FAULT_AFTER_END',
  UNATTRIBUTABLE_FAULT: 'LMI_UNATTRIBUTABLE_FAULT',
  WORKER_BLOCKED: 'LMI_WORKER_BLOCKED',
  WORKER_RESUMED: 'LMI_WORKER_RESUMED',
  WORKERS_UNAVAILABLE: 'LMI_WORKERS_UNAVAILABLE',
  RUNTIME_STARTING: 'LMI_RUNTIME_STARTING',
  CALLBACK_HANDLER_ALLOWED: 'LMI_CALLBACK_HANDLER_ALLOWED',
  SHUTDOWN: 'LMI_SHUTDOWN',
  SHUTDOWN_SIGNAL_IGNORED: 'LMI_SHUTDOWN_SIGNAL_IGNORED',
  SHUTDOWN_HOOK: 'LMI_SHUTDOWN_HOOK',
  SHUTDOWN_HOOKS_TIMEOUT: 'LMI_SHUTDOWN_HOOKS_TIMEOUT',
} as const

/**
 * An exception thrown outside the handler's own promise chain (in a timer, an event emitter,
 * a `setImmediate`) while an invocation was running. It fails that invocation only; the
 * original error is the `cause`.
 *
 * Reported with `errorType` `Runtime.UncaughtException`.
 *
 * @example
 * ```ts
 * export const handler = async () => {
 *   setTimeout(() => { throw new TypeError('boom') }, 1)
 *   await new Promise(() => {}) // this invocation fails with UncaughtExceptionError
 * }
 * ```
 */
export class UncaughtExceptionError extends LmiError {
  constructor(cause: unknown) {
    super(`Uncaught exception in invocation: ${describeValue(cause)}`, CODES.UNCAUGHT_EXCEPTION, {
      cause,
    })
    this.name = 'Runtime.UncaughtException'
  }
}

/**
 * A promise created during an invocation was rejected and nothing handled it. It fails that
 * invocation only; the rejection reason is the `cause`.
 *
 * Reported with `errorType` `Runtime.UnhandledPromiseRejection`, as AWS's runtime does.
 *
 * @example
 * ```ts
 * export const handler = async () => {
 *   Promise.reject(new Error('forgotten')) // fails this invocation, no other
 *   await new Promise(() => {})
 * }
 * ```
 */
export class UnhandledRejectionError extends LmiError {
  constructor(cause: unknown) {
    super(`Unhandled promise rejection: ${describeValue(cause)}`, CODES.UNHANDLED_REJECTION, {
      cause,
    })
    this.name = 'Runtime.UnhandledPromiseRejection'
  }
}

/**
 * The handler's result is larger than Lambda's 6 MB limit for buffered responses. Reported
 * with `errorType` `Function.ResponseSizeTooLarge` instead of the response.
 *
 * @example
 * ```ts
 * export const handler = async () => 'x'.repeat(7 * 1024 * 1024) // => Function.ResponseSizeTooLarge
 * ```
 */
export class ResponseSizeTooLargeError extends LmiError {
  readonly size: number
  readonly limit: number

  /**
   * `refused`: the Runtime API answered 413 to a body under lmi's own limit; the message then
   * says so instead of comparing the size with a limit it did not exceed.
   */
  constructor(size: number, limit: number, options: { refused?: boolean } = {}) {
    super(
      options.refused === true && size <= limit
        ? `Response payload (${size} bytes) refused by the Runtime API as too large (HTTP 413).`
        : `Response payload size (${size} bytes) exceeded maximum allowed payload size (${limit} bytes).`,
      CODES.RESPONSE_TOO_LARGE,
    )
    this.name = 'Function.ResponseSizeTooLarge'
    this.size = size
    this.limit = limit
  }
}

/**
 * The invocation was still running when the drain part of the runtime's shutdown budget ran
 * out (`LMI_SHUTDOWN_TIMEOUT_MS`, from the signal to the exit; see `shutdownPlan`): the
 * runtime answers it with this error, aborts its `signal`, and goes on shutting down. Also the
 * answer to an invocation that reaches the runtime after that; its handler is then not run.
 *
 * Reported with `errorType` `Runtime.ShutdownTimeout`.
 *
 * @example
 * ```ts
 * // LMI_SHUTDOWN_TIMEOUT_MS=1000, SIGTERM, a handler still running 660 ms later
 * // => Runtime.ShutdownTimeout: Invocation still running 660 ms into the runtime's shutdown
 * //    (LMI_SHUTDOWN_TIMEOUT_MS=1000 ms from SIGTERM to exit)
 * ```
 */
export class ShutdownTimeoutError extends LmiError {
  /** How long in-flight invocations were given to finish (the plan's `drainMs`). */
  readonly budgetMs: number
  /** `LMI_SHUTDOWN_TIMEOUT_MS`: the whole shutdown, from the signal to the exit. */
  readonly totalMs: number

  constructor(budgetMs: number, totalMs: number = budgetMs) {
    super(
      `Invocation still running ${budgetMs} ms into the runtime's shutdown (LMI_SHUTDOWN_TIMEOUT_MS=${totalMs} ms from SIGTERM to exit)`,
      CODES.SHUTDOWN_TIMEOUT,
    )
    this.name = 'Runtime.ShutdownTimeout'
    this.budgetMs = budgetMs
    this.totalMs = totalMs
  }
}

/**
 * The handler result could not be serialised to JSON (a cycle, a BigInt).
 *
 * @example
 * ```ts
 * export const handler = async () => ({ n: 1n }) // => Runtime.SerializationError
 * ```
 */
export class SerializationError extends LmiError {
  constructor(cause: unknown) {
    super(`Unable to serialize the handler result: ${describeValue(cause)}`, CODES.SERIALIZATION, {
      cause,
    })
    this.name = 'Runtime.SerializationError'
  }
}

/**
 * `_HANDLER` could not be turned into a function: malformed name, missing module, missing
 * export, or the module threw while loading. `name` is the Lambda error type AWS's runtime
 * uses for the same case (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, …).
 *
 * @example
 * ```ts
 * // _HANDLER=app.nope  =>  Runtime.HandlerNotFound: app.nope is undefined or not exported
 * ```
 */
export class HandlerLoadError extends LmiError {
  constructor(errorType: string, message: string, options?: ErrorOptions) {
    super(message, CODES.HANDLER_LOAD, options)
    this.name = errorType
  }
}

/**
 * The Runtime API answered in a way the runtime cannot recover from (a 500 from a response or
 * error endpoint): Lambda asks runtimes to exit promptly.
 *
 * @example
 * ```ts
 * // POST /runtime/invocation/{id}/error => 500  =>  RuntimeApiFatalError, process exits 1
 * ```
 */
export class RuntimeApiFatalError extends LmiError {
  readonly statusCode: number

  constructor(message: string, statusCode: number) {
    super(message, CODES.RUNTIME_API_FATAL)
    this.name = 'RuntimeApiFatalError'
    this.statusCode = statusCode
  }
}

/**
 * A callback-style handler (three or more parameters, not streaming) where AWS's Node runtime
 * refuses one: in concurrent mode (Lambda Managed Instances), and on Node.js 24 and later at all.
 * Reported at init to `/runtime/init/error` with `errorType` `Runtime.CallbackHandlerDeprecated`
 * and AWS's message, plus what to do on lmi.
 *
 * @example
 * ```ts
 * export const handler = (event, context, callback) => callback(null, 'ok')
 * // AWS_LAMBDA_MAX_CONCURRENCY=64 => Runtime.CallbackHandlerDeprecated at init
 * ```
 */
export class CallbackHandlerDeprecatedError extends LmiError {
  constructor(message: string) {
    super(message, CODES.CALLBACK_HANDLER)
    this.name = 'Runtime.CallbackHandlerDeprecated'
  }
}

/**
 * Why a request was fenced: its invocation's deadline had passed (`lateMs` ago), or its
 * invocation had already been answered (returned, failed, or cut short by the shutdown budget).
 */
export type FenceReason = { kind: 'deadline'; lateMs: number } | { kind: 'answered' }

/**
 * An outgoing HTTP request (`fetch`, undici, `node:http`/`node:https`, so the AWS SDK's default
 * handler too) refused before a byte of it was sent, because the invocation that made it is
 * over: Lambda has already told the caller the outcome (often "Task timed out"), and a write to
 * a database or a queue now would act on an invocation reported as failed. `fetch` rejects with
 * `TypeError: fetch failed` whose `cause` is this error; undici's `request()` rejects with it;
 * a `node:http` request emits it as its `'error'`.
 *
 * `url` is the origin and path only: a query string may hold secrets. Requests made outside any
 * invocation (at init, from module-level timers) are never fenced. `LMI_FENCE_REQUESTS=0`
 * turns the fence off.
 *
 * @example
 * ```ts
 * export const handler = async (event, { signal }) => {
 *   await new Promise((resolve) => signal.addEventListener('abort', resolve)) // the deadline
 *   await fetch('https://api.example.com/orders', { method: 'POST' })
 *   // => TypeError: fetch failed, cause RequestFencedError (code LMI_REQUEST_FENCED)
 * }
 * ```
 */
export class RequestFencedError extends LmiError {
  readonly method: string
  /** Origin and path of the refused request, without its query string. */
  readonly url: string
  readonly requestId: string
  readonly reason: FenceReason

  constructor(method: string, url: string, requestId: string, reason: FenceReason) {
    const why =
      reason.kind === 'deadline'
        ? `its deadline passed ${reason.lateMs} ms ago`
        : 'it has already been answered'
    super(
      `${method} ${url} refused: invocation ${requestId} is over (${why}), and Lambda has already reported its outcome. Pass the invocation's signal to your I/O so work stops with it, or set LMI_FENCE_REQUESTS=0 to let late requests through.`,
      CODES.REQUEST_FENCED,
    )
    this.name = 'RequestFencedError'
    this.method = method
    this.url = url
    this.requestId = requestId
    this.reason = reason
  }
}

/**
 * A worker thread failed (crashed, or exited while running invocations): the answer to each
 * invocation it held.
 *
 * @example
 * ```ts
 * // a native addon aborts the worker thread mid-invocation
 * // => { errorType: 'Runtime.WorkerFailed', errorMessage: 'The worker thread running this invocation stopped (exit code 1)' }
 * ```
 */
export class WorkerFailedError extends LmiError {
  constructor(detail: string) {
    super(`The worker thread running this invocation stopped (${detail})`, CODES.WORKER_FAILED)
    this.name = 'Runtime.WorkerFailed'
  }
}
