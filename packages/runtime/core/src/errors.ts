import type { Finding } from './detect/findings.ts'

// Every error @lmi/core throws is in this file: its class, its code in CODES, one brand for
// all (`instanceof LmiError` across copies of the package).

/**
 * The codes of the errors `@lmi/core` throws, stable and never reused. (A `SharedStateError`
 * carries its finding's code, one of `FINDING_CODES`.)
 *
 * @example
 * ```ts
 * import { CODES } from '@lmi/core'
 * if (error.code === CODES.NO_INVOCATION) return fallback()
 * ```
 */
export const CODES = {
  INVALID_CONFIGURATION: 'LMI_INVALID_CONFIGURATION',
  INVOCATION_TIMEOUT: 'LMI_INVOCATION_TIMEOUT',
  NO_INVOCATION: 'LMI_NO_INVOCATION',
  TENANT_CONFLICT: 'LMI_TENANT_CONFLICT',
  INVALID_MIDDLEWARE: 'LMI_INVALID_MIDDLEWARE',
  INVALID_INVOCATION: 'LMI_INVALID_INVOCATION',
  STREAMED_RESPONSE: 'LMI_STREAMED_RESPONSE',
  RUNTIME_CONFLICT: 'LMI_RUNTIME_CONFLICT',
} as const

/** True when `value` carries `brand` (set on an error class's prototype by {@link brand}). */
export function hasBrand(value: unknown, brand: symbol): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  )
}

/**
 * Marks an error class with the registered symbol `key`, so `instanceof` holds for an error
 * made by another copy of its package (the `@lmi/source` build and `dist` side by side, a
 * bundle with two versions), as undici brands its errors. Subclasses keep the ordinary
 * prototype check: only `instanceof Base` looks at the brand.
 *
 * @example
 * ```ts
 * export class TenantError extends LmiError { … }
 * brand(TenantError, '@lmi/tenant/TenantError')
 * ```
 */
export function brand(base: abstract new (...args: never[]) => Error, key: string): void {
  const symbol = Symbol.for(key)
  Object.defineProperty(base.prototype, symbol, { value: true })
  Object.defineProperty(base, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      // `this` is the class `instanceof` was called on: a subclass inherits this function
      // and must keep the prototype check, or every base error would pass for it.
      if (this === base) return hasBrand(value, symbol)
      return Function.prototype[Symbol.hasInstance].call(this, value)
    },
  })
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

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message }
  }
}
brand(LmiError, '@lmi/core/LmiError')

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
  constructor(message: string, options?: ErrorOptions) {
    super(message, CODES.INVALID_CONFIGURATION, options)
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
      CODES.INVOCATION_TIMEOUT,
    )
    this.name = 'Sandbox.Timedout'
  }
}

/**
 * Thrown by {@link getInvocation} outside an invocation (at init, or in work that was not
 * started by one).
 *
 * @example
 * ```ts
 * getInvocation() // at module top level => NoInvocationError
 * ```
 */
export class NoInvocationError extends LmiError {
  constructor() {
    super(
      'No invocation is running in this async context (called at init, or from work not started by an invocation)',
      CODES.NO_INVOCATION,
    )
    this.name = 'NoInvocationError'
  }
}

/**
 * Thrown by {@link bindTenantId} when the invocation already has another tenant id — the one
 * Lambda's tenant isolation mode gave it, or one bound before. A tenant id is never replaced:
 * an event claiming another tenant than the platform's must not win.
 *
 * @example
 * ```ts
 * // invoked with tenant id 'acme'
 * bindTenantId('globex') // => TenantConflictError
 * ```
 */
export class TenantConflictError extends LmiError {
  readonly requestId: string
  constructor(requestId: string, current: string, attempted: string) {
    super(
      `Invocation ${requestId} already has tenant id ${JSON.stringify(current)}; refusing to rebind it to ${JSON.stringify(attempted)}`,
      CODES.TENANT_CONFLICT,
    )
    this.name = 'TenantConflictError'
    this.requestId = requestId
  }
}

/**
 * A middleware without any of `before`, `after`, `onError` (with `@middy/core`'s message and
 * `cause`, so code written against middy's error keeps working), a hook that is not a
 * function, or a handler or option of the wrong type.
 *
 * @example
 * ```ts
 * lmi(handler).use({})
 * // => InvalidMiddlewareError: Middleware must be an object containing at least one key among
 * //    "before", "after", "onError"   (cause: { package: '@middy/core' })
 * ```
 */
export class InvalidMiddlewareError extends LmiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, CODES.INVALID_MIDDLEWARE, options)
    this.name = 'InvalidMiddlewareError'
  }
}

/**
 * The handler was called in a way Lambda never calls it (a context that is not an object).
 *
 * @example
 * ```ts
 * await handler({}, 'not a context') // => InvalidInvocationError
 * ```
 */
export class InvalidInvocationError extends LmiError {
  constructor(message: string) {
    super(message, CODES.INVALID_INVOCATION)
    this.name = 'InvalidInvocationError'
  }
}

/**
 * The chain's response, in streaming mode, is neither a string nor something to pipe; or a
 * response in streaming mode could not be written.
 *
 * @example
 * ```ts
 * // executionMode: executionModeStreamifyResponse, the handler returns { statusCode: 200, body: 42 }
 * // => StreamedResponseError: handler response not a Readable or ReadableStream
 * ```
 */
export class StreamedResponseError extends LmiError {
  constructor() {
    // @middy/core's message and cause, so checks written against middy's error still match.
    super('handler response not a Readable or ReadableStream', CODES.STREAMED_RESPONSE, {
      cause: { package: '@middy/core' },
    })
    this.name = 'StreamedResponseError'
  }
}

/**
 * The error a detector throws in `throw` mode, failing the offending invocation; its `code` is
 * the finding's.
 *
 * @example
 * ```ts
 * await assert.rejects(handler(event, context), (error) => error instanceof SharedStateError && error.code === 'LMI_SHARED_ENV_WRITE')
 * ```
 */
export class SharedStateError extends LmiError {
  readonly finding: Finding
  constructor(finding: Finding) {
    super(finding.message, finding.code)
    this.name = 'SharedStateError'
    this.finding = finding
  }

  override toJSON(): { name: string; code: string; message: string; finding: Finding } {
    return { ...super.toJSON(), finding: this.finding }
  }
}
