import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidConfigurationError, type Middleware } from '@lmi/core'
import { eventKinds, httpEvent, jsonEvent } from '@lmi/test-kit'
import { Ajv } from 'ajv'
import {
  BodyRequiredError,
  HttpError,
  jsonBody,
  MalformedJsonError,
  PayloadTooLargeError,
  PrototypePoisoningError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../src/index.ts'
import { request } from './helpers.ts'

/** Runs the `before` hook of `middleware` on `event`; returns the event it changed. */
function runBefore(middleware: Middleware, event: unknown): Record<string, unknown> {
  const result = middleware.before?.(request(event))
  assert.equal(result, undefined, 'jsonBody never ends the chain early')
  return event as Record<string, unknown>
}

/** Asserts `fn` throws an instance of `Class` with this status and code. */
function throwsHttp(
  fn: () => unknown,
  Class: abstract new (...args: never[]) => HttpError,
  statusCode: number,
  code: string,
): HttpError {
  let caught: unknown
  assert.throws(fn, (error) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof Class, `expected ${Class.name}, got ${String(caught)}`)
  assert.ok(caught instanceof HttpError)
  assert.equal(caught.statusCode, statusCode)
  assert.equal(caught.status, statusCode)
  assert.equal(caught.code, code)
  assert.equal(caught.expose, statusCode < 500)
  return caught
}

function throwsInvalidOptions(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof InvalidConfigurationError)
    assert.equal(error.code, 'LMI_INVALID_CONFIGURATION')
    assert.match(error.message, message)
    return true
  })
}

const order = { sku: 'A-1', qty: 2, note: 'naïve café ☕' }
const orderText = JSON.stringify(order)

describe('jsonBody parses', () => {
  for (const kind of eventKinds) {
    for (const base64 of [false, true]) {
      it(`a ${base64 ? 'base64 ' : ''}JSON body of a ${kind} event, keeping the raw body`, () => {
        const event = jsonEvent(kind, orderText, base64)
        const raw = event.body

        runBefore(jsonBody(), event)

        assert.deepEqual(event.body, order)
        assert.equal(event.rawBody, raw)
      })
    }
  }

  it('a REST event whose content type is only in multiValueHeaders', () => {
    const event = jsonEvent('apigw-v1', orderText)
    event.headers = null

    runBefore(jsonBody(), event)

    assert.deepEqual(event.body, order)
  })

  for (const contentType of [
    'application/json',
    'Application/JSON',
    'application/json; charset=utf-8',
    'application/json;charset="UTF-8"',
    'application/json; charset=utf8',
    'application/vnd.api+json',
    'application/problem+json; charset=utf-8',
    'application/merge-patch+json',
  ]) {
    it(`content type ${contentType}`, () => {
      const event = httpEvent('apigw-v2', { body: '[1,2]', contentType })

      runBefore(jsonBody(), event)

      assert.deepEqual(event.body, [1, 2])
    })
  }

  it('headers named in any case', () => {
    const event = httpEvent('alb', { body: '{}', headers: { 'CONTENT-TYPE': 'application/json' } })

    runBefore(jsonBody(), event)

    assert.deepEqual(event.body, {})
  })

  it('scalars and a leading byte-order mark', () => {
    for (const [text, value] of [
      ['42', 42],
      ['"hi"', 'hi'],
      ['null', null],
      ['true', true],
      ['\uFEFF{"a":1}', { a: 1 }],
    ] as const) {
      const event = jsonEvent('apigw-v2', text)
      runBefore(jsonBody(), event)
      assert.deepEqual(event.body, value)
    }
  })

  it('the extra content types given, as names or patterns', () => {
    const middleware = jsonBody({
      contentTypes: ['Text/Plain; charset=utf-8', /^application\/x-amz-json-1\.\d$/],
    })
    for (const contentType of [
      'text/plain',
      'TEXT/PLAIN; charset=utf-8',
      'application/x-amz-json-1.1',
    ]) {
      const event = httpEvent('apigw-v2', { body: '{"ok":true}', contentType })
      runBefore(middleware, event)
      assert.deepEqual(event.body, { ok: true })
    }
  })

  it('any content type with checkContentType: false', () => {
    const event = httpEvent('apigw-v2', { body: '{"ok":true}', contentType: 'text/plain' })

    runBefore(jsonBody({ checkContentType: false }), event)

    assert.deepEqual(event.body, { ok: true })
  })

  it('with the reviver given, whose own errors go through unchanged', () => {
    const revived = jsonEvent('apigw-v2', '{"at":"2024-06-17T15:49:29.000Z"}')
    runBefore(
      jsonBody({ reviver: (key, value) => (key === 'at' ? new Date(value as string) : value) }),
      revived,
    )
    assert.ok((revived.body as { at: unknown }).at instanceof Date)

    const failure = new TypeError('reviver bug')
    assert.throws(
      () =>
        runBefore(
          jsonBody({
            reviver: () => {
              throw failure
            },
          }),
          jsonEvent('apigw-v2', '{"a":1}'),
        ),
      (error) => error === failure,
    )
  })
})

describe('jsonBody without a body', () => {
  for (const kind of eventKinds) {
    for (const body of [undefined, null, '']) {
      it(`gives undefined for a ${kind} event with body ${JSON.stringify(body)}, whatever the content type`, () => {
        const event = httpEvent(kind, { body })

        runBefore(jsonBody(), event)

        assert.equal(event.body, undefined)
        assert.equal(event.rawBody, undefined)
      })
    }
  }

  it('treats a base64 body that decodes to nothing as no body', () => {
    const event = httpEvent('alb', { body: '', contentType: 'application/json', base64: true })
    event.body = '===='

    runBefore(jsonBody(), event)

    assert.equal(event.body, undefined)
  })

  it('fails with BodyRequiredError (400) when required, or when a schema is given', () => {
    for (const middleware of [
      jsonBody({ required: true }),
      jsonBody({ schema: { type: 'object' } }),
    ]) {
      for (const body of [undefined, null, '']) {
        throwsHttp(
          () => runBefore(middleware, httpEvent('apigw-v1', { body })),
          BodyRequiredError,
          400,
          'LMI_BODY_REQUIRED',
        )
      }
    }
  })

  it('accepts no body with a schema and required: false', () => {
    const event = httpEvent('apigw-v2', { body: undefined })

    runBefore(jsonBody({ schema: { type: 'object' }, required: false }), event)

    assert.equal(event.body, undefined)
  })

  it('leaves an event that is not an object alone, or refuses it when a body is required', () => {
    runBefore(jsonBody(), 'not an event')
    throwsHttp(
      () => runBefore(jsonBody({ required: true }), null),
      BodyRequiredError,
      400,
      'LMI_BODY_REQUIRED',
    )
  })
})

describe('jsonBody refuses', () => {
  for (const contentType of [
    undefined,
    'text/plain',
    'application/jsonx',
    'application/json-seq',
    'text/json+xml',
    'application/json; charset=iso-8859-1',
    'application/json; charset=utf-16',
    'multipart/form-data; boundary=x',
    '',
  ]) {
    it(`a body with content type ${String(contentType)}: 415`, () => {
      const event = httpEvent('apigw-v2', { body: '{}', contentType })

      const error = throwsHttp(
        () => runBefore(jsonBody(), event),
        UnsupportedMediaTypeError,
        415,
        'LMI_UNSUPPORTED_MEDIA_TYPE',
      )

      assert.equal((error as UnsupportedMediaTypeError).contentType, contentType)
      assert.equal(event.body, '{}', 'the event is unchanged')
    })
  }

  it('a body over the limit, counted in UTF-8 bytes: 413', () => {
    const limit = 16
    const middleware = jsonBody({ limit })
    // 16 bytes exactly passes; 17 ASCII bytes, or 10 characters of 19 bytes, do not.
    runBefore(middleware, jsonEvent('apigw-v2', `"${'a'.repeat(14)}"`))
    for (const text of [`"${'a'.repeat(15)}"`, `"${'é'.repeat(8)}"`, `"${'€'.repeat(5)}"`]) {
      const error = throwsHttp(
        () => runBefore(middleware, jsonEvent('apigw-v2', text)),
        PayloadTooLargeError,
        413,
        'LMI_PAYLOAD_TOO_LARGE',
      )
      assert.equal((error as PayloadTooLargeError).limit, limit)
    }
  })

  it('a base64 body whose decoded bytes are over the limit: 413', () => {
    const middleware = jsonBody({ limit: 16 })
    runBefore(middleware, jsonEvent('alb', `"${'a'.repeat(14)}"`, true))
    throwsHttp(
      () => runBefore(middleware, jsonEvent('alb', `"${'é'.repeat(8)}"`, true)),
      PayloadTooLargeError,
      413,
      'LMI_PAYLOAD_TOO_LARGE',
    )
    throwsHttp(
      () => runBefore(middleware, jsonEvent('alb', JSON.stringify('x'.repeat(10_000)), true)),
      PayloadTooLargeError,
      413,
      'LMI_PAYLOAD_TOO_LARGE',
    )
  })

  it('a body over the 1 MiB default limit: 413', () => {
    const big = JSON.stringify({ data: 'x'.repeat(1024 * 1024) })

    throwsHttp(
      () => runBefore(jsonBody(), jsonEvent('apigw-v1', big)),
      PayloadTooLargeError,
      413,
      'LMI_PAYLOAD_TOO_LARGE',
    )
  })

  for (const text of [
    '{"name":',
    '{name: "x"}',
    '   ',
    "{'a':1}",
    'undefined',
    '[1,]',
    '{"a":1}}',
  ]) {
    it(`malformed JSON ${JSON.stringify(text)}: 400, the syntax error as cause`, () => {
      const event = jsonEvent('apigw-v2', text)

      const error = throwsHttp(
        () => runBefore(jsonBody(), event),
        MalformedJsonError,
        400,
        'LMI_MALFORMED_JSON',
      )

      assert.ok(error.cause instanceof SyntaxError)
      assert.equal(event.body, text, 'the event is unchanged')
      assert.equal(event.rawBody, undefined)
    })
  }

  it('a base64 body that is not UTF-8: 400', () => {
    const event = httpEvent('alb', { contentType: 'application/json', base64: true })
    event.body = Buffer.from([0x22, 0xff, 0xfe, 0x22]).toString('base64')

    const error = throwsHttp(
      () => runBefore(jsonBody(), event),
      MalformedJsonError,
      400,
      'LMI_MALFORMED_JSON',
    )

    assert.match(error.message, /UTF-8/)
  })

  it('a body that is not a string: 400', () => {
    const event = httpEvent('apigw-v2', { contentType: 'application/json' })
    event.body = { already: 'parsed' }

    throwsHttp(() => runBefore(jsonBody(), event), MalformedJsonError, 400, 'LMI_MALFORMED_JSON')
  })
})

describe('jsonBody against prototype poisoning', () => {
  for (const text of [
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '{"constructor":{"prototype":{}}}',
    '{"a":[{"b":{"__proto__":{"x":1}}}]}',
    '{"\\u005f_proto__":{"x":1}}',
    '{"\\u0063onstructor":{"prototype":{"x":1}}}',
    '[{"__proto__":null}]',
  ]) {
    it(`refuses ${text} (400) and leaves Object.prototype untouched`, () => {
      for (const base64 of [false, true]) {
        const event = jsonEvent('apigw-v1', text, base64)

        const error = throwsHttp(
          () => runBefore(jsonBody(), event),
          PrototypePoisoningError,
          400,
          'LMI_PROTOTYPE_POISONING',
        )

        assert.ok(error.cause instanceof SyntaxError)
        assert.equal(({} as { x?: unknown }).x, undefined)
        assert.equal(Object.hasOwn(Object.prototype, 'x'), false)
        assert.equal(typeof event.body, 'string', 'the event is unchanged')
      }
    })
  }

  it('accepts a constructor key without a prototype, and the word __proto__ as a value', () => {
    const event = jsonEvent('apigw-v2', '{"constructor":{"name":"x"},"note":"__proto__"}')

    runBefore(jsonBody(), event)

    assert.deepEqual(event.body, { constructor: { name: 'x' }, note: '__proto__' })
  })
})

describe('jsonBody with a schema', () => {
  const schema = {
    type: 'object',
    properties: {
      sku: { type: 'string', minLength: 1 },
      qty: { type: 'integer', minimum: 1 },
      email: { type: 'string', format: 'email' },
      at: { type: 'string', format: 'date-time' },
    },
    required: ['sku', 'qty'],
    additionalProperties: false,
  } as const

  it('accepts a body that matches, formats included', () => {
    const body = { sku: 'A-1', qty: 2, email: 'ada@example.com', at: '2024-06-17T15:49:29Z' }
    const event = jsonEvent('function-url', JSON.stringify(body))

    runBefore(jsonBody({ schema }), event)

    assert.deepEqual(event.body, body)
  })

  it('refuses one that does not (422) with safe details, first error only by default', () => {
    const event = jsonEvent('apigw-v2', '{"sku":"","qty":"2"}')

    const error = throwsHttp(
      () => runBefore(jsonBody({ schema }), event),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    ) as ValidationError

    assert.deepEqual(error.details, [
      {
        instancePath: '/sku',
        keyword: 'minLength',
        message: 'must NOT have fewer than 1 characters',
        params: { limit: 1 },
      },
    ])
    assert.equal(event.body, '{"sku":"","qty":"2"}', 'the event is unchanged')
    assert.deepEqual(error.toJSON().details, error.details)
  })

  it('does not coerce types', () => {
    const error = throwsHttp(
      () => runBefore(jsonBody({ schema }), jsonEvent('apigw-v2', '{"sku":"A","qty":"2"}')),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    ) as ValidationError

    assert.equal(error.details[0]?.instancePath, '/qty')
    assert.equal(error.details[0]?.keyword, 'type')
  })

  it('checks formats', () => {
    for (const [field, value] of [
      ['email', 'not-an-email'],
      ['at', '17/06/2024'],
    ] as const) {
      const event = jsonEvent('apigw-v2', JSON.stringify({ sku: 'A', qty: 1, [field]: value }))
      const error = throwsHttp(
        () => runBefore(jsonBody({ schema }), event),
        ValidationError,
        422,
        'LMI_VALIDATION_FAILED',
      ) as ValidationError
      assert.deepEqual(
        { path: error.details[0]?.instancePath, keyword: error.details[0]?.keyword },
        { path: `/${field}`, keyword: 'format' },
      )
    }
  })

  it('reports every error with allErrors, at most maxErrors of them', () => {
    const bad = '{"sku":"","qty":0,"email":"x","extra":1}'

    const all = throwsHttp(
      () => runBefore(jsonBody({ schema, allErrors: true }), jsonEvent('apigw-v2', bad)),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    ) as ValidationError
    const capped = throwsHttp(
      () =>
        runBefore(jsonBody({ schema, allErrors: true, maxErrors: 2 }), jsonEvent('apigw-v2', bad)),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    ) as ValidationError

    assert.deepEqual(all.details.map((issue) => issue.keyword).sort(), [
      'additionalProperties',
      'format',
      'minLength',
      'minimum',
    ])
    assert.equal(capped.details.length, 2)
    for (const issue of all.details) {
      assert.deepEqual(Object.keys(issue).sort(), ['instancePath', 'keyword', 'message', 'params'])
    }
  })

  it('uses the ajv options given, and the ajv instance given', () => {
    const withDefaults = jsonEvent('apigw-v2', '{}')
    runBefore(
      jsonBody({
        schema: { type: 'object', properties: { qty: { type: 'integer', default: 1 } } },
        ajv: { useDefaults: true },
      }),
      withDefaults,
    )
    assert.deepEqual(withDefaults.body, { qty: 1 })

    const ajv = new Ajv()
    ajv.addFormat('sku', /^[A-Z]-\d+$/)
    const middleware = jsonBody({ schema: { type: 'string', format: 'sku' }, ajv })
    runBefore(middleware, jsonEvent('apigw-v2', '"A-1"'))
    throwsHttp(
      () => runBefore(middleware, jsonEvent('apigw-v2', '"a1"')),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    )
  })

  it('reuses the validator of a schema $id already compiled on a shared ajv instance', () => {
    const ajv = new Ajv()
    const shared = { $id: 'https://example.com/order', type: 'object', required: ['id'] } as const

    const first = jsonBody({ schema: shared, ajv })
    const second = jsonBody({ schema: shared, ajv })

    runBefore(first, jsonEvent('apigw-v2', '{"id":1}'))
    throwsHttp(
      () => runBefore(second, jsonEvent('apigw-v2', '{}')),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    )
  })

  it('answers a body too deep for a recursive schema with 422, not a RangeError', () => {
    const depth = 100_000
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`
    // Typed wide on purpose: json-schema-to-ts cannot derive a type from a recursive schema.
    const recursive: object = {
      $id: 'https://example.com/tree',
      type: 'array',
      items: { $ref: '#' },
    }

    const error = throwsHttp(
      () => runBefore(jsonBody({ schema: recursive }), jsonEvent('apigw-v2', nested)),
      ValidationError,
      422,
      'LMI_VALIDATION_FAILED',
    ) as ValidationError

    assert.equal(error.details[0]?.keyword, 'depth')
  })
})

describe('jsonBody options', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['options that are not an object', () => jsonBody('big' as never), /options must be an object/],
    ['an unknown option', () => jsonBody({ limt: 10 } as never), /unknown option limt/],
    ['a zero limit', () => jsonBody({ limit: 0 }), /limit must be a positive integer/],
    ['a fractional limit', () => jsonBody({ limit: 1.5 }), /limit must be a positive integer/],
    [
      'a string limit',
      () => jsonBody({ limit: '1mb' as never }),
      /limit must be a positive integer/,
    ],
    ['a zero maxErrors', () => jsonBody({ maxErrors: 0 }), /maxErrors must be a positive integer/],
    [
      'a non-boolean required',
      () => jsonBody({ required: 'yes' as never }),
      /required must be a boolean/,
    ],
    [
      'a non-boolean checkContentType',
      () => jsonBody({ checkContentType: 1 as never }),
      /checkContentType must be a boolean/,
    ],
    [
      'contentTypes not an array',
      () => jsonBody({ contentTypes: 'text/plain' as never }),
      /must be an array/,
    ],
    [
      'a contentTypes entry of another type',
      () => jsonBody({ contentTypes: [42 as never] }),
      /strings or RegExps/,
    ],
    [
      'a global contentTypes pattern',
      () => jsonBody({ contentTypes: [/json/g] }),
      /global or sticky/,
    ],
    [
      'a reviver that is not a function',
      () => jsonBody({ reviver: 'x' as never }),
      /reviver must be a function/,
    ],
    [
      'a schema that is a string',
      () => jsonBody({ schema: 'object' as never }),
      /schema must be a JSON Schema/,
    ],
    [
      'an invalid schema',
      () => jsonBody({ schema: { type: 'objekt' } as never }),
      /schema is not valid/,
    ],
    [
      'a schema with an unknown keyword',
      () => jsonBody({ schema: { type: 'object', foo: 1 } as never }),
      /unknown keyword/,
    ],
    [
      'a format missing from formats',
      () => jsonBody({ schema: { type: 'string', format: 'email' }, formats: ['date'] }),
      /unknown format "email"/,
    ],
    [
      'a format with formats: false',
      () => jsonBody({ schema: { type: 'string', format: 'email' }, formats: false }),
      /unknown format "email"/,
    ],
    [
      'an unknown format name',
      () => jsonBody({ schema: true, formats: ['nope' as never] }),
      /unknown format nope/,
    ],
    [
      'formats of another type',
      () => jsonBody({ schema: true, formats: 'all' as never }),
      /formats must be/,
    ],
    [
      'a non-boolean allErrors',
      () => jsonBody({ schema: true, allErrors: 'yes' as never }),
      /allErrors must be a boolean/,
    ],
    [
      'ajv of another type',
      () => jsonBody({ schema: true, ajv: 'fast' as never }),
      /ajv must be an Ajv instance/,
    ],
    [
      'ajv options ajv rejects',
      () => jsonBody({ schema: true, ajv: { schemas: [{ type: 'nope' }] } }),
      /ajv rejected its options/,
    ],
    [
      'allErrors with an ajv instance',
      () => jsonBody({ schema: true, ajv: new Ajv(), allErrors: true }),
      /set them on your own ajv instance/,
    ],
    [
      'an $async schema',
      () => jsonBody({ schema: { $async: true, type: 'object' } as never }),
      /\$async schemas are not supported/,
    ],
  ]
  for (const [what, create, message] of cases) {
    it(`refuses ${what} at creation with InvalidConfigurationError`, () => {
      throwsInvalidOptions(create, message)
    })
  }

  it('keeps ajv’s error as the cause of an invalid schema', () => {
    assert.throws(
      () => jsonBody({ schema: { type: 'objekt' } as never }),
      (error: Error) =>
        error.cause instanceof Error && /schema is invalid/.test(error.cause.message),
    )
  })
})
