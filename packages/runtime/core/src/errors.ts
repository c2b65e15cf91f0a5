import { inspect, types } from 'node:util'

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
    super(message, 'LMI_INVALID_CONFIGURATION', options)
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

// Captured at load: a handler that patches the prototypes must not reach into our fallbacks.
const symbolToString = Symbol.prototype.toString
const bigintToString = BigInt.prototype.toString
const reflectGet = Reflect.get
const isProxy = types.isProxy

/** `value[key]`, or `undefined` when reading it throws (a getter, a proxy trap, a revoked proxy). */
function read(value: object, key: PropertyKey): unknown {
  try {
    return reflectGet(value, key)
  } catch {
    return undefined
  }
}

/** `instanceof Error` that survives proxies whose `getPrototypeOf` trap throws or is revoked. */
export function isError(value: unknown): value is Error {
  try {
    return value instanceof Error
  } catch {
    return false
  }
}

/** What is shown of an error's message that could not be read or turned into a string. */
const UNREADABLE_MESSAGE = '<message could not be read>'

function primitiveText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value
    case 'symbol':
      return symbolToString.call(value)
    case 'bigint':
      return `${bigintToString.call(value)}n`
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value)
    default:
      return value === null ? 'null' : undefined
  }
}

/**
 * Text for an object that JSON cannot render (a BigInt inside, a throwing `toJSON`, a
 * function). `util.inspect` reads own properties without calling getters, `toString`,
 * `Symbol.toPrimitive` or custom inspectors, so it cannot be made to throw by the value; a proxy
 * is named, never inspected, since inspecting would show the target the proxy hides.
 */
function inspectText(value: object): string {
  if (isProxy(value)) return typeof value === 'function' ? '[Function: Proxy]' : '[object Proxy]'
  try {
    return inspect(value, {
      customInspect: false,
      getters: false,
      showProxy: false,
      depth: 2,
      breakLength: Number.POSITIVE_INFINITY,
      maxArrayLength: 20,
      maxStringLength: 1000,
    })
  } catch {
    return typeof value === 'function' ? '[Function]' : '[object]'
  }
}

function errorName(error: Error): string {
  const name = read(error, 'name')
  return typeof name === 'string' && name !== '' ? name : 'Error'
}

function errorMessage(error: Error): string {
  const message = read(error, 'message')
  if (typeof message === 'string') return message
  if (message === undefined) return UNREADABLE_MESSAGE
  return primitiveText(message) ?? describeValue(message)
}

/**
 * A one-line description of any thrown value, for messages. Never throws, whatever the value:
 * getters, proxy traps, `toJSON`, `toString` and `Symbol.toPrimitive` that throw are read around.
 */
export function describeValue(value: unknown): string {
  const primitive = primitiveText(value)
  if (primitive !== undefined) return primitive
  const object = value as object
  if (isError(object)) return `${errorName(object)}: ${errorMessage(object)}`
  if (typeof object !== 'function') {
    try {
      const json = JSON.stringify(object)
      // '{}' says nothing of a thenable or an object of methods; inspect names their keys.
      if (typeof json === 'string' && json !== '{}') return json
    } catch {
      // A BigInt, a cycle, a throwing toJSON or getter: described below without running its code.
    }
  }
  return inspectText(object)
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
  if (isError(error)) {
    const ownName = errorName(error)
    const errorClass = read(error, 'constructor')
    const constructorName =
      typeof errorClass === 'function' || (typeof errorClass === 'object' && errorClass !== null)
        ? read(errorClass, 'name')
        : undefined
    // `class MyError extends Error {}` keeps name 'Error'; the class name is the real type.
    const errorType =
      ownName === 'Error' && typeof constructorName === 'string' && constructorName !== ''
        ? constructorName
        : ownName
    return { errorType, errorMessage: errorMessage(error), stackTrace: stackLines(error) }
  }
  if (typeof error === 'object' && error !== null) {
    const errorType = read(error, 'errorType')
    if (typeof errorType === 'string' && errorType !== '') {
      const message = read(error, 'errorMessage')
      return {
        errorType,
        errorMessage: typeof message === 'string' ? message : '',
        stackTrace: [],
      }
    }
  }
  return { errorType: 'Error', errorMessage: describeValue(error), stackTrace: [] }
}

function stackLines(error: Error): string[] {
  const stack = read(error, 'stack')
  if (typeof stack !== 'string') return []
  // The stack opens with name and message — as many lines as the message has — then the
  // frames; Lambda's stackTrace holds the frames only. A stack with no V8 frame line (one set
  // by hand) loses its first line only.
  const lines = stack.split('\n')
  const firstFrame = lines.findIndex((line) => /^\s+at /.test(line))
  return lines.slice(firstFrame === -1 ? 1 : firstFrame).map((line) => line.trim())
}
