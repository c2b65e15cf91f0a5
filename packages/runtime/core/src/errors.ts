// Brands are registered symbols on the prototypes, so `instanceof` also holds for an error
// created by another copy of this package (the `@lmi/source` build and `dist` side by side, a
// bundle with two versions), the way undici brands its errors.
const kLmiError = Symbol.for('@lmi/core/LmiError')

/** True when `value` carries `brand` (set on an error class's prototype). Internal. */
export function hasBrand(value: unknown, brand: symbol): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  )
}

/**
 * Base class of every error lmi throws or reports. `code` is stable and never reused.
 * `instanceof LmiError` holds across duplicated copies of the package; subclasses keep the
 * ordinary prototype check unless they declare a brand of their own.
 *
 * @example
 * ```ts
 * import { LmiError } from '@lmi/core'
 * try { await run() } catch (err) { if (err instanceof LmiError) console.error(err.code) }
 * ```
 */
export class LmiError extends Error {
  readonly code: string

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'LmiError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class `instanceof` was called on, not always LmiError: a subclass must keep
    // the ordinary prototype check, or every LmiError would pass for every subclass.
    // biome-ignore lint/complexity/noThisInStatic: the receiver is the point here
    if (this === LmiError) return hasBrand(value, kLmiError)
    // biome-ignore lint/complexity/noThisInStatic: the receiver is the point here
    return Function.prototype[Symbol.hasInstance].call(this, value)
  }

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message }
  }
}
Object.defineProperty(LmiError.prototype, kLmiError, { value: true })

/**
 * A runtime option or environment variable has a value lmi cannot use.
 *
 * @example
 * ```ts
 * // AWS_LAMBDA_MAX_CONCURRENCY=abc lmi-runtime
 * // => InvalidConfigurationError: AWS_LAMBDA_MAX_CONCURRENCY must be a positive integer, got "abc"
 * ```
 */
export class InvalidConfigurationError extends LmiError {
  constructor(message: string) {
    super(message, 'LMI_INVALID_CONFIGURATION')
    this.name = 'InvalidConfigurationError'
  }
}

/**
 * The invocation passed its deadline. Its `AbortSignal` fires with this error as the reason.
 * Reported with `errorType` `Sandbox.Timedout`, the type Lambda itself uses.
 *
 * @example
 * ```ts
 * export const handler = async (event, context) => {
 *   const signal = context.signal // lmi runtime only; or `getInvocation().signal`
 *   await fetch(url, { signal }) // rejects with InvocationTimeoutError at the deadline
 * }
 * ```
 */
export class InvocationTimeoutError extends LmiError {
  constructor(requestId: string, timeoutMs: number) {
    super(
      `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
      'LMI_INVOCATION_TIMEOUT',
    )
    this.name = 'Sandbox.Timedout'
  }
}

/** A one-line description of any thrown value, for messages. */
export function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * The body Lambda expects for a function error.
 *
 * @example
 * ```ts
 * const body: ErrorResponse = { errorType: 'TypeError', errorMessage: 'x is undefined', stackTrace: [] }
 * ```
 */
export interface ErrorResponse {
  errorType: string
  errorMessage: string
  stackTrace: string[]
}

/**
 * Turns anything thrown into Lambda's error body. `errorType` is the error's own name (so a
 * Step Functions `Catch` on `ValidationError` matches), never a constant.
 *
 * @example
 * ```ts
 * class PaymentDeclinedError extends Error {}
 * toErrorResponse(new PaymentDeclinedError('card declined'))
 * // => { errorType: 'PaymentDeclinedError', errorMessage: 'card declined', stackTrace: ['at …'] }
 * ```
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof Error) {
    const ownName = typeof error.name === 'string' && error.name !== '' ? error.name : 'Error'
    const constructorName = error.constructor?.name
    // `class MyError extends Error {}` keeps name 'Error'; the class name is the real type.
    const errorType =
      ownName === 'Error' && constructorName && constructorName !== 'Error'
        ? constructorName
        : ownName
    return {
      errorType,
      errorMessage: String(error.message),
      stackTrace: stackLines(error),
    }
  }
  if (typeof error === 'object' && error !== null) {
    const record = error as { errorType?: unknown; errorMessage?: unknown }
    if (typeof record.errorType === 'string') {
      return {
        errorType: record.errorType,
        errorMessage: typeof record.errorMessage === 'string' ? record.errorMessage : '',
        stackTrace: [],
      }
    }
  }
  return { errorType: 'Error', errorMessage: describe(error), stackTrace: [] }
}

function stackLines(error: Error): string[] {
  const stack = error.stack
  if (typeof stack !== 'string') return []
  const lines = stack.split('\n')
  // The first line repeats name and message; Lambda's stackTrace holds the frames only.
  return lines.slice(1).map((line) => line.trim())
}
