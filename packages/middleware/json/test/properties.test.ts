// Property tests (fast-check): whatever arrives — any body string or bytes, any header map and
// content type, any base64 flag, any event, any handler result, any thrown value — the
// middlewares either succeed or fail with an HttpError, and never touch Object.prototype.
// The seed is fixed so runs are reproducible; change it to explore further.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Middleware } from '@lmi/core'
import { eventKinds, httpEvent } from '@lmi/test-kit'
import fc from 'fast-check'
import {
  HttpError,
  httpErrors,
  httpEventKind,
  jsonBody,
  jsonResponse,
  ResponseSerializationError,
} from '../src/index.ts'
import { recordingLogger, request } from './helpers.ts'

const seed = 20_240_617
const numRuns = 400

const prototypes = [Object.prototype, Array.prototype, Function.prototype, String.prototype]
const before = prototypes.map((proto) => Reflect.ownKeys(proto).length)

function assertPrototypesUntouched(): void {
  prototypes.forEach((proto, index) => {
    assert.equal(Reflect.ownKeys(proto).length, before[index], 'a prototype gained a property')
  })
  for (const key of ['x', 'polluted', 'isAdmin', 'admin']) {
    assert.equal(({} as Record<string, unknown>)[key], undefined)
  }
}

const text = fc.string({ unit: 'binary', maxLength: 200 })

const contentType = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON;CHARSET="UTF-8"',
      'application/vnd.api+json',
    ),
  },
  fc.constantFrom(
    'application/json; charset=latin1',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
    ';',
    'application/json;charset=',
  ),
  text,
  fc.tuple(text, text).map(([subtype, rest]) => `application/${subtype}+json${rest}`),
)

const headerName = fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE', 'cOnTeNt-TyPe')

const poisoned = fc
  .tuple(
    fc.jsonValue(),
    fc.constantFrom('__proto__', 'constructor', '\\u005f_proto__'),
    fc.jsonValue(),
  )
  .map(([value, key, sibling]) =>
    key === 'constructor'
      ? `[${JSON.stringify(sibling)},{"constructor":{"prototype":${JSON.stringify(value)}}}]`
      : `{"a":${JSON.stringify(sibling)},"${key}":${JSON.stringify(value)}}`,
  )

const body = fc.oneof(
  text,
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  fc
    .record(
      { id: fc.oneof(fc.integer(), text), email: fc.oneof(fc.emailAddress(), text) },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  poisoned,
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.constantFrom(null, undefined, '', ' ', '{}', '[]'),
  fc.anything(),
)

/** `null` four times in five, else a value of `arbitrary`. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, arbitrary)
}

/** A real event of each source, with arbitrary body, flag and headers in either map. */
const arbitraryHttpEvent = fc
  .record({
    kind: fc.constantFrom(...eventKinds),
    body,
    isBase64Encoded: fc.oneof(
      { weight: 4, arbitrary: fc.constant(false) },
      fc.boolean(),
      fc.anything(),
    ),
    contentType: fc.option(fc.tuple(headerName, contentType), { freq: 6 }),
    headers: fc.dictionary(text, fc.oneof(text, fc.anything()), { maxKeys: 4 }),
    replaceHeaders: rarely(fc.anything()),
    multiValueHeaders: rarely(
      fc.dictionary(fc.oneof(headerName, text), fc.array(fc.oneof(text, contentType)), {
        maxKeys: 3,
      }),
    ),
  })
  .map((init) => {
    const event = httpEvent(init.kind)
    const headers = (event.headers ?? {}) as Record<string, unknown>
    Object.assign(headers, init.headers)
    if (init.contentType !== null) headers[init.contentType[0]] = init.contentType[1]
    if (event.headers !== undefined) event.headers = headers
    else event.multiValueHeaders = { ...(event.multiValueHeaders as object), ...init.headers }
    if (init.replaceHeaders !== null) event.headers = init.replaceHeaders
    if (init.multiValueHeaders !== null) event.multiValueHeaders = init.multiValueHeaders
    event.body = init.body
    event.isBase64Encoded = init.isBase64Encoded
    return event
  })

const anyEvent = fc.oneof(arbitraryHttpEvent, arbitraryHttpEvent, fc.anything())

const schema = {
  type: 'object',
  properties: { id: { type: 'integer' }, email: { type: 'string', format: 'email' } },
  required: ['id'],
} as const

// Built once: ajv compiles at creation, which is not what is under test here.
const parsers: Middleware[] = [
  jsonBody(),
  jsonBody({ limit: 64 }),
  jsonBody({ schema }),
  jsonBody({
    schema: { type: 'array', items: { type: 'string' } },
    allErrors: true,
    required: false,
  }),
  jsonBody({ checkContentType: false }),
  jsonBody({ contentTypes: ['text/plain', /^application\/x-/] }),
]

describe('jsonBody on arbitrary input', () => {
  it('only ever succeeds or throws an HttpError, and never pollutes a prototype', () => {
    fc.assert(
      fc.property(fc.nat(parsers.length - 1), anyEvent, (which, event) => {
        const parser = parsers[which] as Middleware
        const original =
          typeof event === 'object' && event !== null
            ? (event as { body?: unknown }).body
            : undefined
        try {
          parser.before?.(request(event))
          if (
            typeof original === 'string' &&
            original !== '' &&
            typeof event === 'object' &&
            event !== null
          ) {
            const parsed = event as { body?: unknown; rawBody?: unknown }
            // Accepted: the raw text is kept, unless the body decoded to nothing.
            assert.ok(parsed.rawBody === original || parsed.body === undefined)
          }
        } catch (error) {
          assert.ok(error instanceof HttpError, `not an HttpError: ${String(error)}`)
          assert.ok([400, 413, 415, 422].includes(error.statusCode), String(error.statusCode))
          assert.equal(error.expose, true)
        }
        assertPrototypesUntouched()
      }),
      { seed, numRuns },
    )
  })

  it('parses every JSON value sent as JSON, plain or base64, from every source', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...eventKinds),
        fc.jsonValue(),
        fc.boolean(),
        fc.constantFrom(
          'application/json',
          'application/json; charset=UTF-8',
          'application/ld+json',
        ),
        (kind, value, base64, type) => {
          const raw = JSON.stringify(value)
          const event = httpEvent(kind, { body: raw, contentType: type, base64 })

          try {
            parsers[0]?.before?.(request(event))
          } catch (error) {
            // JSON values are unconstrained: a generated key may well be `__proto__`.
            assert.ok(error instanceof HttpError && error.code === 'LMI_PROTOTYPE_POISONING')
            return
          }

          // JSON.stringify drops -0's sign; compare through the same lens.
          assert.equal(JSON.stringify(event.body), raw)
        },
      ),
      { seed, numRuns },
    )
  })
})

const awkward = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
})

describe('jsonResponse on arbitrary results', () => {
  it('always gives a response with a string body, or throws ResponseSerializationError', () => {
    const serialize = jsonResponse()
    const shaped = fc.record(
      {
        statusCode: fc.integer(),
        body: awkward,
        headers: awkward,
        multiValueHeaders: awkward,
        isBase64Encoded: awkward,
      },
      { requiredKeys: ['statusCode'] },
    )
    fc.assert(
      fc.property(fc.oneof(awkward, shaped), anyEvent, (result, event) => {
        const req = request(event, { response: result })
        try {
          serialize.after?.(req)
        } catch (error) {
          assert.ok(error instanceof ResponseSerializationError, String(error))
          return
        }
        const response = req.response as Record<string, unknown>
        assert.equal(typeof response.statusCode, 'number')
        assert.ok(response.body === undefined || typeof response.body === 'string')
        if (httpEventKind(event) === 'alb')
          assert.equal(typeof response.statusDescription, 'string')
        assertPrototypesUntouched()
      }),
      { seed, numRuns },
    )
  })
})

describe('httpErrors on arbitrary thrown values', () => {
  it('answers HTTP events with a problem, hides what is not exposed, leaves other events alone', () => {
    const logger = recordingLogger()
    const middleware = httpErrors({ logger })
    const thrown = fc.oneof(
      awkward,
      fc
        .record({
          statusCode: fc.oneof(fc.integer({ min: 100, max: 700 }), awkward),
          expose: fc.oneof(fc.boolean(), awkward),
          message: fc.oneof(text, awkward),
          code: fc.oneof(text, awkward),
          headers: awkward,
          details: awkward,
        })
        .map((fields) => Object.assign(new Error(), fields)),
      fc.constantFrom(new HttpError(404), new HttpError(503, 'secret'), new TypeError('secret')),
    )
    fc.assert(
      fc.property(thrown, anyEvent, (error, event) => {
        const req = request(event, { error })

        middleware.onError?.(req)

        assert.equal(req.error, error, 'the error is never replaced')
        if (httpEventKind(event) === undefined) {
          assert.equal(req.response, undefined)
          return
        }
        const response = req.response as {
          statusCode: number
          headers?: Record<string, string>
          multiValueHeaders?: Record<string, string[]>
          body: string
        }
        assert.ok(Number.isInteger(response.statusCode))
        assert.ok(response.statusCode >= 400 && response.statusCode <= 599)
        const type =
          response.headers?.['content-type'] ?? response.multiValueHeaders?.['content-type']?.[0]
        assert.equal(type, 'application/problem+json')
        const problem = JSON.parse(response.body)
        assert.equal(problem.status, response.statusCode)
        assert.equal(typeof problem.title, 'string')
        const exposed =
          typeof error === 'object' &&
          error !== null &&
          (error as { expose?: unknown }).expose === true &&
          response.statusCode === (error as { statusCode?: unknown }).statusCode
        if (!exposed) {
          for (const key of Object.keys(problem)) {
            assert.ok(['type', 'title', 'status', 'requestId'].includes(key), key)
          }
        }
        assertPrototypesUntouched()
      }),
      { seed, numRuns },
    )
  })
})
