import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidConfigurationError, type Middleware } from '@lmi/core'
import { httpEvent } from '@lmi/test-kit'
import { HttpError, jsonResponse, ResponseSerializationError } from '../src/index.ts'
import { request } from './helpers.ts'

/** Runs the `after` hook of `middleware` with `response` as the handler's result. */
function runAfter(middleware: Middleware, response: unknown, event: unknown = {}): unknown {
  const req = request(event, { response })
  const result = middleware.after?.(req)
  assert.equal(result, undefined, 'jsonResponse never ends the phase early')
  return req.response
}

const json = { 'content-type': 'application/json; charset=utf-8' }

describe('jsonResponse serializes', () => {
  for (const [what, value, body] of [
    ['an object', { id: 42, tags: ['a'] }, '{"id":42,"tags":["a"]}'],
    ['an array', [1, 2], '[1,2]'],
    ['a string', 'hello', '"hello"'],
    ['a number', 7, '7'],
    ['a boolean', false, 'false'],
    ['null', null, 'null'],
    [
      'an object with a statusCode that is not a number',
      { statusCode: '200' },
      '{"statusCode":"200"}',
    ],
  ] as const) {
    it(`${what} into a 200 JSON response`, () => {
      const response = runAfter(jsonResponse(), value, httpEvent('apigw-v2'))

      assert.deepEqual(response, { statusCode: 200, headers: json, body })
    })
  }

  it('nothing into an empty 204', () => {
    assert.deepEqual(runAfter(jsonResponse(), undefined), {
      statusCode: 204,
      headers: {},
      body: '',
    })
  })

  it('with the status code, content type and replacer given', () => {
    const middleware = jsonResponse({
      statusCode: 201,
      contentType: 'application/vnd.orders+json',
      replacer: (key, value) => (key === 'secret' ? undefined : value),
    })

    const response = runAfter(middleware, { id: 1, secret: 's' })

    assert.deepEqual(response, {
      statusCode: 201,
      headers: { 'content-type': 'application/vnd.orders+json' },
      body: '{"id":1}',
    })
  })

  it('with the serializer given', () => {
    const middleware = jsonResponse({
      serializer: (value) => `${JSON.stringify(value, null, 2)}\n`,
    })

    const response = runAfter(middleware, { a: 1 }) as { body: string }

    assert.equal(response.body, '{\n  "a": 1\n}\n')
  })
})

describe('jsonResponse with an already-shaped response', () => {
  it('keeps it, adding only a missing content type, on a copy', () => {
    const shaped = Object.freeze({
      statusCode: 201,
      headers: Object.freeze({ location: '/orders/1' }),
      body: '{"id":1}',
      cookies: ['a=b'],
    })

    const response = runAfter(jsonResponse(), shaped, httpEvent('apigw-v2'))

    assert.deepEqual(response, {
      statusCode: 201,
      headers: { location: '/orders/1', ...json },
      body: '{"id":1}',
      cookies: ['a=b'],
    })
    assert.notEqual(response, shaped)
  })

  it('serializes a body that is not a string', () => {
    const response = runAfter(jsonResponse(), { statusCode: 202, body: { queued: true } })

    assert.deepEqual(response, { statusCode: 202, headers: json, body: '{"queued":true}' })
  })

  it('keeps the content type it has, in any case, in headers or multiValueHeaders', () => {
    for (const shaped of [
      { statusCode: 200, headers: { 'Content-Type': 'text/html' }, body: '<p>hi</p>' },
      { statusCode: 200, multiValueHeaders: { 'content-type': ['text/csv'] }, body: 'a,b' },
    ]) {
      assert.deepEqual(runAfter(jsonResponse(), shaped), shaped)
    }
  })

  it('adds no content type to an empty or base64 body', () => {
    for (const shaped of [
      { statusCode: 204 },
      { statusCode: 304, body: '' },
      { statusCode: 200, body: 'iVBORw0KGgo=', isBase64Encoded: true },
    ]) {
      assert.deepEqual(runAfter(jsonResponse(), shaped), shaped)
    }
  })
})

describe('jsonResponse for ALB', () => {
  it('adds statusDescription and isBase64Encoded', () => {
    const response = runAfter(jsonResponse(), { ok: true }, httpEvent('alb'))

    assert.deepEqual(response, {
      statusCode: 200,
      statusDescription: '200 OK',
      isBase64Encoded: false,
      headers: json,
      body: '{"ok":true}',
    })
  })

  it('answers with multiValueHeaders when the event came with them', () => {
    const shaped = {
      statusCode: 201,
      statusDescription: '201 Created',
      headers: { location: '/orders/1' },
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
      body: { id: 1 },
    }

    const response = runAfter(jsonResponse(), shaped, httpEvent('alb-multi'))

    assert.deepEqual(response, {
      statusCode: 201,
      statusDescription: '201 Created',
      isBase64Encoded: false,
      multiValueHeaders: {
        'set-cookie': ['a=1', 'b=2'],
        location: ['/orders/1'],
        'content-type': ['application/json; charset=utf-8'],
      },
      body: '{"id":1}',
    })
  })
})

describe('jsonResponse refuses', () => {
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  for (const [what, value] of [
    ['a BigInt', { total: 1n }],
    ['a cycle', cyclic],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['a shaped response whose body is a BigInt', { statusCode: 200, body: 1n }],
  ] as const) {
    it(`${what} with ResponseSerializationError (500, not exposed)`, () => {
      assert.throws(
        () => runAfter(jsonResponse(), value),
        (error) => {
          assert.ok(error instanceof ResponseSerializationError)
          assert.ok(error instanceof HttpError)
          assert.equal(error.statusCode, 500)
          assert.equal(error.expose, false)
          assert.equal(error.code, 'LMI_RESPONSE_SERIALIZATION')
          assert.ok(error.cause instanceof Error)
          return true
        },
      )
    })
  }

  it('a serializer that does not return a string', () => {
    assert.throws(
      () => runAfter(jsonResponse({ serializer: () => 42 as unknown as string }), { a: 1 }),
      ResponseSerializationError,
    )
  })

  const cases: [string, () => unknown, RegExp][] = [
    ['options that are not an object', () => jsonResponse(1 as never), /options must be an object/],
    ['an unknown option', () => jsonResponse({ status: 201 } as never), /unknown option status/],
    ['a status code out of range', () => jsonResponse({ statusCode: 99 }), /statusCode must be/],
    ['a fractional status code', () => jsonResponse({ statusCode: 200.5 }), /statusCode must be/],
    ['an empty content type', () => jsonResponse({ contentType: ' ' }), /contentType must be/],
    [
      'a replacer that is not a function',
      () => jsonResponse({ replacer: [] as never }),
      /replacer/,
    ],
    [
      'a serializer that is not a function',
      () => jsonResponse({ serializer: 'x' as never }),
      /serializer/,
    ],
    [
      'both replacer and serializer',
      () => jsonResponse({ replacer: (_k, v) => v, serializer: String }),
      /not both/,
    ],
  ]
  for (const [what, create, message] of cases) {
    it(`${what} at creation with InvalidConfigurationError`, () => {
      assert.throws(create, (error) => {
        assert.ok(error instanceof InvalidConfigurationError)
        assert.match(error.message, message)
        return true
      })
    })
  }
})
