import { inspect, types } from 'node:util'

// How any value a handler throws or rejects with is turned into text and into the error
// document Lambda expects — without ever throwing, whatever the value does when read.

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
