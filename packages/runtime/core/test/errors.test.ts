import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { describeValue, toErrorResponse } from '../src/error-response.ts'

// What the hostile parts throw. It must never reach a description: it is the value's internals,
// not what was thrown.
const INTERNAL = 'internal-failure-never-shown'

function boom(): never {
  throw new Error(INTERNAL)
}

const TRAPS = [
  'get',
  'set',
  'has',
  'deleteProperty',
  'ownKeys',
  'getOwnPropertyDescriptor',
  'defineProperty',
  'getPrototypeOf',
  'setPrototypeOf',
  'isExtensible',
  'preventExtensions',
  'apply',
  'construct',
] as const

class CustomError extends Error {}

const errorClasses = fc.constantFrom<ErrorConstructor>(
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  CustomError as ErrorConstructor,
)

/** Anything fast-check can build, BigInts and null-prototype objects included. */
const anything = fc.anything({
  withBigInt: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withObjectString: true,
})

// fast-check itself looks into the values it generates (to clone and to print them), which the
// hostile ones forbid: arbitraries below generate thunks, and a property builds its value.
type Thunk = () => unknown

/** An error some of whose `name`, `message`, `stack`, `constructor` getters throw. */
const errorWithThrowingGetters = fc
  .record({
    Class: errorClasses,
    message: fc.string(),
    throwing: fc.subarray(['name', 'message', 'stack', 'constructor'] as const),
  })
  .map(
    ({ Class, message, throwing }): Thunk =>
      () => {
        const error = new Class(message)
        for (const key of throwing) Object.defineProperty(error, key, { get: boom })
        return error
      },
  )

/** An error whose `name` and `message` are not strings, and may themselves be hostile. */
const errorWithOddFields = fc
  .record({ Class: errorClasses, name: anything, message: anything })
  .map(
    ({ Class, name, message }): Thunk =>
      () => {
        const error = new Class('x')
        Object.defineProperty(error, 'name', { value: name })
        Object.defineProperty(error, 'message', { value: message })
        return error
      },
  )

/** A proxy over any object (an error too) some or all of whose traps throw. */
const hostileProxy = fc
  .record({
    target: fc.oneof(
      fc.object(),
      fc.string().map((message) => new Error(message)),
      fc.constant(() => 1),
    ),
    throwing: fc.subarray([...TRAPS], { minLength: 1 }),
  })
  .map(
    ({ target, throwing }): Thunk =>
      () => {
        const handler: ProxyHandler<object> = {}
        for (const trap of throwing) (handler as Record<string, unknown>)[trap] = boom
        return new Proxy(target, handler)
      },
  )

const revokedProxy = fc.oneof(fc.object(), fc.string()).map(
  (target): Thunk =>
    () => {
      const { proxy, revoke } = Proxy.revocable(
        typeof target === 'string' ? new Error(target) : target,
        {},
      )
      revoke()
      return proxy
    },
)

/** An object whose conversions (`toJSON`, `toString`, `valueOf`, `Symbol.toPrimitive`) throw. */
const throwingConversions = fc
  .record({
    fields: fc.dictionary(fc.string(), anything),
    conversions: fc.subarray(['toJSON', 'toString', 'valueOf', Symbol.toPrimitive] as const, {
      minLength: 1,
    }),
    nullPrototype: fc.boolean(),
  })
  .map(
    ({ fields, conversions, nullPrototype }): Thunk =>
      () => {
        const value: Record<PropertyKey, unknown> = nullPrototype ? Object.create(null) : {}
        Object.assign(value, fields)
        for (const key of conversions) value[key] = boom
        return value
      },
  )

const thenable = fc.constantFrom<Thunk>(
  // biome-ignore lint/suspicious/noThenProperty: a thrown thenable is the point
  () => ({ then: boom }),
  // biome-ignore lint/suspicious/noThenProperty: a thrown thenable is the point
  () => ({ then() {} }),
  // biome-ignore lint/suspicious/noThenProperty: a thrown thenable is the point
  () => Object.create({ then: boom }),
)

/** An object inheriting from a proxy whose every trap throws. */
const proxyPrototype = fc.constant<Thunk>(() => {
  const handler: ProxyHandler<object> = {}
  for (const trap of TRAPS) (handler as Record<string, unknown>)[trap] = boom
  return Object.create(new Proxy({}, handler))
})

const hostile = fc.oneof(
  errorWithThrowingGetters,
  errorWithOddFields,
  hostileProxy,
  revokedProxy,
  throwingConversions,
  thenable,
  proxyPrototype,
  fc.string().map(
    (description): Thunk =>
      () =>
        Symbol(description),
  ),
  fc.bigInt().map(
    (value): Thunk =>
      () =>
        value,
  ),
)

/** Any value at all: ordinary, hostile, or ordinary values holding hostile ones. */
const anyValue = fc.oneof(
  anything.map(
    (value): Thunk =>
      () =>
        value,
  ),
  hostile,
  fc.array(hostile, { maxLength: 3 }).map(
    (items): Thunk =>
      () =>
        items.map((build) => build()),
  ),
  fc.dictionary(fc.string(), hostile, { maxKeys: 3 }).map(
    (entries): Thunk =>
      () =>
        Object.fromEntries(Object.entries(entries).map(([key, build]) => [key, build()])),
  ),
)

describe('describeValue()', () => {
  it('never throws and always returns a string, whatever the value', () => {
    fc.assert(
      fc.property(anyValue, (build) => {
        const text = describeValue(build())
        assert.equal(typeof text, 'string')
        assert.ok(!text.includes(INTERNAL))
      }),
      { numRuns: 2000 },
    )
  })

  it('describes the examples of issue 12', () => {
    const error = new Error('x')
    Object.defineProperty(error, 'message', { get: boom })
    assert.equal(describeValue(error), 'Error: <message could not be read>')
    const value = Object.create(null)
    value.n = 1n
    assert.equal(describeValue(value), '[Object: null prototype] { n: 1n }')
    assert.equal(describeValue(Symbol('s')), 'Symbol(s)')
    assert.equal(describeValue(10n), '10n')
    assert.equal(describeValue(new TypeError('plain')), 'TypeError: plain')
    assert.equal(describeValue({ a: 1 }), '{"a":1}')
    assert.equal(describeValue('text'), 'text')
  })

  it('names a proxy without opening it, and a function without its source', () => {
    const secret = new Proxy({ secret: 'kept' }, { get: boom, ownKeys: boom })
    assert.equal(describeValue(secret), '[object Proxy]')
    assert.equal(
      describeValue(function handlerSecret() {}),
      '[Function: handlerSecret]',
    )
  })
})

describe('toErrorResponse()', () => {
  it("never throws and always returns Lambda's error shape, whatever the value", () => {
    fc.assert(
      fc.property(anyValue, (build) => {
        const body = toErrorResponse(build())
        assert.equal(typeof body.errorType, 'string')
        assert.notEqual(body.errorType, '')
        assert.equal(typeof body.errorMessage, 'string')
        assert.ok(Array.isArray(body.stackTrace))
        assert.ok(body.stackTrace.every((line) => typeof line === 'string'))
        assert.ok(!body.errorMessage.includes(INTERNAL))
        // It is posted as JSON: that must not throw either.
        assert.equal(typeof JSON.stringify(body), 'string')
      }),
      { numRuns: 2000 },
    )
  })

  it("keeps an ordinary error's own type, message and frames", () => {
    fc.assert(
      fc.property(errorClasses, fc.string(), (Class, message) => {
        const body = toErrorResponse(new Class(message))
        const expected = Class === Error ? 'Error' : Class.name
        assert.equal(body.errorType, expected)
        assert.equal(body.errorMessage, message)
        assert.ok(body.stackTrace.length > 0)
      }),
    )
  })

  it("keeps a multi-line message's lines out of the frames", () => {
    const body = toErrorResponse(new Error('first line\nsecond line'))
    assert.equal(body.errorMessage, 'first line\nsecond line')
    assert.ok(body.stackTrace.length > 0)
    assert.ok(
      body.stackTrace.every((line) => line.startsWith('at ')),
      body.stackTrace.join('|'),
    )
  })

  it('reads around getters that throw, keeping what can be read', () => {
    const noMessage = new CustomError('x')
    Object.defineProperty(noMessage, 'message', { get: boom })
    assert.deepEqual(toErrorResponse(noMessage), {
      errorType: 'CustomError',
      errorMessage: '<message could not be read>',
      stackTrace: [],
    })
    const noName = new TypeError('typed')
    Object.defineProperty(noName, 'name', { get: boom })
    assert.equal(toErrorResponse(noName).errorType, 'TypeError')
    assert.equal(toErrorResponse(noName).errorMessage, 'typed')
    const noStack = new RangeError('ranged')
    Object.defineProperty(noStack, 'stack', { get: boom })
    assert.deepEqual(toErrorResponse(noStack), {
      errorType: 'RangeError',
      errorMessage: 'ranged',
      stackTrace: [],
    })
    const noConstructor = new Error('built')
    Object.defineProperty(noConstructor, 'constructor', { get: boom })
    assert.equal(toErrorResponse(noConstructor).errorType, 'Error')
  })

  it('answers a thrown non-error with errorType Error and a description', () => {
    const value = Object.create(null)
    value.n = 1n
    assert.deepEqual(toErrorResponse(value), {
      errorType: 'Error',
      errorMessage: '[Object: null prototype] { n: 1n }',
      stackTrace: [],
    })
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    assert.equal(toErrorResponse(proxy).errorMessage, '[object Proxy]')
    assert.deepEqual(toErrorResponse({ errorType: 'Custom.Type', errorMessage: 'm' }), {
      errorType: 'Custom.Type',
      errorMessage: 'm',
      stackTrace: [],
    })
  })
})
