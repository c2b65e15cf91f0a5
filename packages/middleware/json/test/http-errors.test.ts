import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidConfigurationError, LmiError, type LmiRequest, type Middleware } from '@lmi/core'
import { eventKinds, httpEvent, lambdaContext } from '@lmi/test-kit'
import httpErrorHandler from '@middy/http-error-handler'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import {
  BodyRequiredError,
  createHttpError,
  HttpError,
  httpErrors,
  httpEventKind,
  isHttpError,
  MalformedJsonError,
  PayloadTooLargeError,
  type ProblemDetails,
  PrototypePoisoningError,
  ResponseSerializationError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../src/index.ts'
import { nonHttpEvents, recordingLogger, request } from './helpers.ts'

interface Answer {
  statusCode: number
  statusDescription?: string
  isBase64Encoded?: boolean
  headers?: Record<string, string>
  multiValueHeaders?: Record<string, string[]>
  body: string
}

/** Runs the `onError` hook of `middleware` for `error` thrown on `event`. */
function runOnError(middleware: Middleware, error: unknown, event: unknown): LmiRequest<unknown> {
  const req = request(event, { error, context: lambdaContext('req-42') })
  const result = middleware.onError?.(req)
  assert.equal(result, undefined, 'httpErrors lets later onError hooks run')
  return req
}

function answer(middleware: Middleware, error: unknown, event: unknown = httpEvent('apigw-v2')) {
  const response = runOnError(middleware, error, event).response as Answer
  return { response, problem: JSON.parse(response.body) as ProblemDetails }
}

const quiet = () => httpErrors({ logger: false })

describe('HttpError', () => {
  it('has middy’s createError shape, a stable code and a toJSON without stack', () => {
    const cause = new Error('db down')

    const error = createHttpError(404, 'No order 7', {
      cause,
      headers: { 'cache-control': 'no-store' },
    })

    assert.ok(error instanceof HttpError)
    assert.ok(error instanceof LmiError)
    assert.deepEqual(
      {
        name: error.name,
        statusCode: error.statusCode,
        status: error.status,
        expose: error.expose,
        code: error.code,
        message: error.message,
        cause: error.cause,
        headers: error.headers,
      },
      {
        name: 'NotFoundError',
        statusCode: 404,
        status: 404,
        expose: true,
        code: 'LMI_NOT_FOUND',
        message: 'No order 7',
        cause,
        headers: { 'cache-control': 'no-store' },
      },
    )
    assert.deepEqual(error.toJSON(), {
      name: 'NotFoundError',
      code: 'LMI_NOT_FOUND',
      message: 'No order 7',
      statusCode: 404,
      expose: true,
    })
    assert.ok(!JSON.stringify(error).includes('at '), 'no stack in JSON')
  })

  it('defaults message, name, code and expose from the status', () => {
    for (const [status, name, code, expose] of [
      [400, 'BadRequestError', 'LMI_BAD_REQUEST', true],
      [418, 'ImaTeapotError', 'LMI_IM_A_TEAPOT', true],
      [429, 'TooManyRequestsError', 'LMI_TOO_MANY_REQUESTS', true],
      [500, 'InternalServerError', 'LMI_INTERNAL_SERVER_ERROR', false],
      [503, 'ServiceUnavailableError', 'LMI_SERVICE_UNAVAILABLE', false],
      [499, 'HttpError', 'LMI_HTTP_499', true],
    ] as const) {
      const error = new HttpError(status)
      assert.deepEqual([error.name, error.code, error.expose], [name, code, expose])
      assert.ok(error.message.length > 0)
    }
    assert.equal(new HttpError(503, 'Try later', { expose: true, code: 'BUSY' }).expose, true)
    assert.equal(new HttpError(503, 'Try later', { code: 'BUSY' }).code, 'BUSY')
  })

  it('turns a status outside 400–599 into 500', () => {
    for (const status of [200, 302, 600, 404.5, Number.NaN]) {
      assert.equal(new HttpError(status).statusCode, 500)
    }
  })

  it('holds instanceof across copies by brand; subclasses keep the prototype check', () => {
    const foreign = Object.create(Object.getPrototypeOf(new HttpError(400)))
    assert.ok(foreign instanceof HttpError)
    assert.ok(new ValidationError([]) instanceof ValidationError)
    assert.ok(!(new MalformedJsonError() instanceof ValidationError))
    assert.ok(!(new Error('x') instanceof HttpError))
  })

  it('gives every class its own name, status and code', () => {
    for (const [error, name, status, code] of [
      [
        new UnsupportedMediaTypeError('text/plain'),
        'UnsupportedMediaTypeError',
        415,
        'LMI_UNSUPPORTED_MEDIA_TYPE',
      ],
      [new PayloadTooLargeError(10), 'PayloadTooLargeError', 413, 'LMI_PAYLOAD_TOO_LARGE'],
      [new MalformedJsonError(), 'MalformedJsonError', 400, 'LMI_MALFORMED_JSON'],
      [new PrototypePoisoningError(), 'PrototypePoisoningError', 400, 'LMI_PROTOTYPE_POISONING'],
      [new BodyRequiredError(), 'BodyRequiredError', 400, 'LMI_BODY_REQUIRED'],
      [new ValidationError([]), 'ValidationError', 422, 'LMI_VALIDATION_FAILED'],
      [
        new ResponseSerializationError(),
        'ResponseSerializationError',
        500,
        'LMI_RESPONSE_SERIALIZATION',
      ],
    ] as const) {
      assert.deepEqual([error.name, error.statusCode, error.code], [name, status, code])
    }
  })

  it('is recognised by shape by isHttpError', () => {
    assert.ok(isHttpError(new BodyRequiredError()))
    assert.ok(isHttpError(Object.assign(new Error('x'), { statusCode: 403, expose: true })))
    assert.ok(isHttpError({ statusCode: 502 }))
    for (const value of [
      new Error('x'),
      { statusCode: 302 },
      { statusCode: '404' },
      { statusCode: 404, expose: 'yes' },
      null,
      'error',
    ]) {
      assert.equal(isHttpError(value), false)
    }
  })
})

describe('httpErrors answers HTTP events', () => {
  for (const kind of eventKinds) {
    it(`with a problem+json response for a ${kind} event`, () => {
      const { response, problem } = answer(
        quiet(),
        createHttpError(404, 'No order 7'),
        httpEvent(kind),
      )

      assert.equal(response.statusCode, 404)
      const headers =
        kind === 'alb-multi'
          ? Object.fromEntries(
              Object.entries(response.multiValueHeaders ?? {}).map(([k, v]) => [k, v.join(',')]),
            )
          : response.headers
      assert.deepEqual(headers, { 'content-type': 'application/problem+json' })
      assert.deepEqual(problem, {
        type: 'about:blank',
        title: 'Not Found',
        status: 404,
        detail: 'No order 7',
        code: 'LMI_NOT_FOUND',
        requestId: 'req-42',
      })
      if (kind === 'alb' || kind === 'alb-multi') {
        assert.equal(response.statusDescription, '404 Not Found')
        assert.equal(response.isBase64Encoded, false)
      }
      if (kind === 'alb-multi') assert.equal(response.headers, undefined)
    })
  }

  it('with the validation issues as errors', () => {
    const details = [
      {
        instancePath: '/qty',
        keyword: 'type',
        message: 'must be integer',
        params: { type: 'integer' },
      },
    ]

    const { response, problem } = answer(quiet(), new ValidationError(details))

    assert.equal(response.statusCode, 422)
    assert.deepEqual(problem.errors, details)
    assert.equal(problem.code, 'LMI_VALIDATION_FAILED')
  })

  it('with the exposed error’s headers, the problem content type winning', () => {
    const error = createHttpError(429, 'Slow down', {
      headers: { 'retry-after': '5', 'Content-Type': 'text/plain' },
    })

    const { response } = answer(quiet(), error)

    assert.deepEqual(response.headers, {
      'retry-after': '5',
      'content-type': 'application/problem+json',
    })
  })

  it('hiding the message, code, stack and cause of 5xx and unexposed errors', () => {
    const secret = 'password=hunter2 at db.internal'
    for (const error of [
      new TypeError(secret),
      new HttpError(500, secret, { cause: new Error(secret) }),
      new HttpError(400, secret, { expose: false }),
      new ResponseSerializationError({ cause: new Error(secret) }),
      Object.assign(new Error(secret), { statusCode: 502 }),
      'a thrown string',
      undefined,
    ]) {
      const { response, problem } = answer(quiet(), error)

      const expected = isHttpError(error) ? error.statusCode : 500
      assert.equal(response.statusCode, expected)
      assert.deepEqual(Object.keys(problem).sort(), ['requestId', 'status', 'title', 'type'])
      assert.ok(!response.body.includes('hunter2'))
      assert.ok(!response.body.includes('at '))
    }
  })

  it('showing a 5xx message only when the error says expose: true', () => {
    const { problem } = answer(
      quiet(),
      createHttpError(503, 'Maintenance until 10:00', { expose: true }),
    )

    assert.equal(problem.detail, 'Maintenance until 10:00')
  })

  it('with the fallback message and status given for hidden errors', () => {
    const middleware = httpErrors({
      logger: false,
      fallbackMessage: 'Something went wrong',
      fallbackStatusCode: 502,
    })

    const unknown = answer(middleware, new Error('boom'))
    const http500 = answer(middleware, new HttpError(500))

    assert.equal(unknown.response.statusCode, 502)
    assert.equal(unknown.problem.title, 'Bad Gateway')
    assert.equal(unknown.problem.detail, 'Something went wrong')
    assert.equal(http500.response.statusCode, 500)
    assert.equal(http500.problem.detail, 'Something went wrong')
  })

  it('mapping errors that are HTTP errors only by shape', () => {
    // As another package (say @lmi/tenant) throws them, or middy's createError does.
    class TenantRequiredError extends Error {
      readonly statusCode = 400
      readonly expose = true
      readonly code = 'LMI_TENANT_REQUIRED'
      override name = 'TenantRequiredError'
    }
    const shaped = answer(quiet(), new TenantRequiredError('x-tenant-id header missing'))
    const noExpose = answer(quiet(), { name: 'Forbidden', statusCode: 403, message: 'denied' })
    const hidden = answer(quiet(), {
      name: 'Forbidden',
      statusCode: 403,
      expose: false,
      message: 'x',
    })

    assert.equal(shaped.response.statusCode, 400)
    assert.deepEqual(
      { detail: shaped.problem.detail, code: shaped.problem.code },
      { detail: 'x-tenant-id header missing', code: 'LMI_TENANT_REQUIRED' },
    )
    assert.equal(noExpose.response.statusCode, 403)
    assert.equal(noExpose.problem.detail, 'denied')
    assert.equal(hidden.response.statusCode, 403)
    assert.equal(hidden.problem.detail, undefined)
  })

  it('mapping the errors of middy’s own http-json-body-parser', () => {
    let thrown: unknown
    try {
      const before = httpJsonBodyParser().before as (request: unknown) => unknown
      before({ event: httpEvent('apigw-v2', { body: '{', contentType: 'text/plain' }) })
    } catch (error) {
      thrown = error
    }

    const { response, problem } = answer(quiet(), thrown)

    assert.equal(response.statusCode, 415)
    assert.equal(problem.title, 'Unsupported Media Type')
    assert.equal(problem.detail, undefined, 'a message that repeats the title is not repeated')
  })

  it('without a request id when neither the context nor an invocation has one', () => {
    const req = request(httpEvent('apigw-v2'), {
      error: new BodyRequiredError(),
      context: {} as never,
    })

    quiet().onError(req)

    const problem = JSON.parse((req.response as Answer).body) as ProblemDetails
    assert.equal('requestId' in problem, false)
  })

  it('dropping validation issues that cannot be serialized rather than failing', () => {
    const odd = new ValidationError([
      {
        instancePath: '',
        keyword: 'const',
        message: 'must be equal to constant',
        params: { allowedValue: 1n },
      },
    ])

    const { response, problem } = answer(quiet(), odd)

    assert.equal(response.statusCode, 422)
    assert.equal(problem.errors, undefined)
    assert.equal(problem.code, 'LMI_VALIDATION_FAILED')
  })

  it('doing nothing when a response is already set', () => {
    const logger = recordingLogger()
    const req = request(httpEvent('apigw-v2'), {
      error: new Error('x'),
      response: { statusCode: 418, body: '' },
    })

    httpErrors({ logger }).onError?.(req)

    assert.deepEqual(req.response, { statusCode: 418, body: '' })
    assert.equal(logger.entries.length, 0)
  })
})

describe('httpEventKind', () => {
  it('tells each HTTP source apart, and everything else from them', () => {
    assert.deepEqual(
      eventKinds.map((kind) => httpEventKind(httpEvent(kind))),
      ['apigw-v1', 'apigw-v2', 'function-url', 'alb', 'alb'],
    )
    const websocket = {
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId: 'c' },
    }
    const v1WithoutStage = { httpMethod: 'GET', requestContext: { resourceId: 'r1' } }
    assert.equal(httpEventKind(v1WithoutStage), 'apigw-v1')
    for (const event of [
      ...Object.values(nonHttpEvents),
      websocket,
      null,
      'GET /',
      { requestContext: null },
    ]) {
      assert.equal(httpEventKind(event), undefined)
    }
  })
})

describe('httpErrors for other events', () => {
  for (const [source, event] of Object.entries(nonHttpEvents)) {
    it(`leaves the error of a ${source} event to the runtime, unchanged and unlogged`, () => {
      const logger = recordingLogger()
      const error = new ValidationError([])

      const req = runOnError(httpErrors({ logger }), error, event)

      assert.equal(req.response, undefined)
      assert.equal(req.error, error)
      assert.equal(logger.entries.length, 0)
    })
  }
})

describe('httpErrors logging', () => {
  it('warns for 4xx and logs 5xx as errors with the stack', () => {
    const logger = recordingLogger()
    const middleware = httpErrors({ logger })

    answer(middleware, new MalformedJsonError())
    answer(middleware, new TypeError('x is undefined'))

    assert.deepEqual(
      logger.entries.map(({ level, record }) => ({ level, ...record, stackTrace: undefined })),
      [
        {
          level: 'warn',
          message: 'HTTP 400: MalformedJsonError',
          statusCode: 400,
          errorType: 'MalformedJsonError',
          errorMessage: 'Request body is not valid JSON',
          code: 'LMI_MALFORMED_JSON',
          stackTrace: undefined,
        },
        {
          level: 'error',
          message: 'HTTP 500: TypeError',
          statusCode: 500,
          errorType: 'TypeError',
          errorMessage: 'x is undefined',
          stackTrace: undefined,
        },
      ],
    )
    assert.equal(logger.entries[0]?.record.stackTrace, undefined)
    assert.ok((logger.entries[1]?.record.stackTrace?.length ?? 0) > 0)
  })

  it('logs an error once per invocation, however many httpErrors see it', () => {
    const logger = recordingLogger()
    const error = new Error('once')
    const event = httpEvent('apigw-v2')

    answer(httpErrors({ logger }), error, event)
    answer(httpErrors({ logger }), error, event)
    const other = request(event, { error, context: lambdaContext('req-43') })
    httpErrors({ logger }).onError?.(other)

    assert.equal(logger.entries.length, 2, 'once for req-42, once for req-43')
  })

  it('logs a frozen error and survives a logger that throws', () => {
    const frozen = Object.freeze(new Error('frozen'))
    const logger = recordingLogger()
    answer(httpErrors({ logger }), frozen)
    assert.equal(logger.entries.length, 1)

    const broken = {
      warn: () => {
        throw new Error('log sink down')
      },
      error: () => {
        throw new Error('log sink down')
      },
    }
    const { response } = answer(httpErrors({ logger: broken }), new Error('x'))
    assert.equal(response.statusCode, 500)
  })
})

describe('httpErrors options', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'options that are not an object',
      () => httpErrors(true as never),
      /options must be an object/,
    ],
    ['an unknown option', () => httpErrors({ log: false } as never), /unknown option log/],
    ['a logger without warn', () => httpErrors({ logger: { error() {} } as never }), /logger must/],
    ['a logger that is true', () => httpErrors({ logger: true as never }), /logger must/],
    [
      'a fallback message that is not a string',
      () => httpErrors({ fallbackMessage: 1 as never }),
      /fallbackMessage/,
    ],
    ['a 4xx fallback status', () => httpErrors({ fallbackStatusCode: 400 }), /fallbackStatusCode/],
  ]
  for (const [what, create, message] of cases) {
    it(`refuses ${what} at creation with InvalidConfigurationError`, () => {
      assert.throws(create, (error) => {
        assert.ok(error instanceof InvalidConfigurationError)
        assert.match(error.message, message)
        return true
      })
    })
  }
})

/** middy's own HttpError class (from @middy/util), caught from its JSON body parser. */
function middyHttpErrorClass(): new (
  status: number,
  message: string,
  options: { expose?: boolean },
) => Error {
  try {
    const before = httpJsonBodyParser().before as (request: unknown) => unknown
    before({ event: { headers: {}, body: '{}' } })
  } catch (error) {
    return (error as Error).constructor as never
  }
  throw new Error('http-json-body-parser did not throw')
}

describe('@middy/http-error-handler', () => {
  it('answers lmi’s errors as it answers middy’s own', () => {
    const handler = httpErrorHandler
    const MiddyHttpError = middyHttpErrorClass()
    const errors: HttpError[] = [
      new UnsupportedMediaTypeError('text/plain'),
      new PayloadTooLargeError(1024),
      new MalformedJsonError(),
      new PrototypePoisoningError(),
      new BodyRequiredError(),
      new ValidationError([]),
      new ResponseSerializationError(),
      createHttpError(404, 'No order 7'),
      createHttpError(503, 'Maintenance', { expose: true, headers: { 'retry-after': '60' } }),
      createHttpError(400, 'hidden', { expose: false }),
    ]
    for (const error of errors) {
      const middyError = new MiddyHttpError(error.statusCode, error.message, {
        expose: error.expose,
      })
      if (error.headers) Object.assign(middyError, { headers: error.headers })

      const ours = request(httpEvent('apigw-v2'), { error })
      const theirs = request(httpEvent('apigw-v2'), { error: middyError })
      handler({ logger: false }).onError?.(ours as never)
      handler({ logger: false }).onError?.(theirs as never)

      assert.deepEqual(ours.response, theirs.response, error.name)
      assert.equal((ours.response as Answer).statusCode, error.expose ? error.statusCode : 500)
    }
  })
})
