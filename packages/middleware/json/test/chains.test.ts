// The three middlewares together, through lmi() and through real middy(): same events, same
// responses, same errors for non-HTTP events.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createLogger } from '@lmi/context'
import { type LambdaContext, lmi, toErrorResponse } from '@lmi/core'
import {
  barrier,
  type EventKind,
  eventKinds,
  httpEvent,
  jsonEvent,
  lambdaContext,
} from '@lmi/test-kit'
import middy from '@middy/core'
import {
  createHttpError,
  type HttpErrorsLogger,
  httpErrors,
  jsonBody,
  jsonResponse,
  ValidationError,
} from '../src/index.ts'
import { nonHttpEvents, recordingLogger } from './helpers.ts'

const schema = {
  type: 'object',
  properties: { sku: { type: 'string', minLength: 1 }, qty: { type: 'integer', minimum: 1 } },
  required: ['sku', 'qty'],
  additionalProperties: false,
} as const

type Outcome = { result: unknown } | { error: { name: string; message: string } }
type Handler = (event: { body: { sku: string; qty: number } }) => Promise<unknown>
type Invoke = (event: unknown, context: LambdaContext) => Promise<unknown>

const place: Handler = async (event) => {
  if (event.body.sku === 'gone') throw createHttpError(410, 'Discontinued')
  if (event.body.sku === 'bug')
    throw new TypeError("Cannot read properties of undefined (reading 'price')")
  return { ordered: event.body.qty, sku: event.body.sku }
}

/** The same chain built with lmi() and with middy(). */
function chains(
  handler: Handler,
  logger: HttpErrorsLogger | false = false,
): Record<string, Invoke> {
  const middlewares = () => [httpErrors({ logger }), jsonResponse(), jsonBody({ schema })]
  const viaLmi = lmi<unknown, unknown>()
    .use(middlewares())
    .handler(handler as never)
  let viaMiddy = middy(handler as never)
  for (const middleware of middlewares()) viaMiddy = viaMiddy.use(middleware as never)
  return { lmi: viaLmi, middy: viaMiddy as unknown as Invoke }
}

async function outcome(invoke: Invoke, event: unknown, requestId = 'req-1'): Promise<Outcome> {
  try {
    return { result: await invoke(structuredClone(event), lambdaContext(requestId)) }
  } catch (error) {
    const { name, message } = error as Error
    return { error: { name, message } }
  }
}

/** Runs `event` through both chains; asserts they agree; returns the (shared) outcome. */
async function both(event: unknown, handler: Handler = place): Promise<Outcome> {
  const built = chains(handler)
  const viaLmi = await outcome(built.lmi as Invoke, event)
  const viaMiddy = await outcome(built.middy as Invoke, event)
  assert.deepEqual(viaLmi, viaMiddy, 'lmi() and middy() agree')
  return viaLmi
}

function response(outcome: Outcome) {
  assert.ok('result' in outcome, `expected a response, got ${JSON.stringify(outcome)}`)
  const result = outcome.result as {
    statusCode: number
    headers?: Record<string, string>
    multiValueHeaders?: Record<string, string[]>
    body: string
  }
  const headers =
    result.headers ??
    Object.fromEntries(Object.entries(result.multiValueHeaders ?? {}).map(([k, v]) => [k, v[0]]))
  return {
    statusCode: result.statusCode,
    contentType: headers['content-type'],
    body: JSON.parse(result.body),
  }
}

describe('jsonBody + jsonResponse + httpErrors in lmi() and middy()', () => {
  for (const kind of eventKinds) {
    it(`serve a valid ${kind} order, plain and base64`, async () => {
      for (const base64 of [false, true]) {
        const answer = response(await both(jsonEvent(kind, '{"sku":"A-1","qty":3}', base64)))

        assert.deepEqual(answer, {
          statusCode: 200,
          contentType: 'application/json; charset=utf-8',
          body: { ordered: 3, sku: 'A-1' },
        })
      }
    })
  }

  const refusals: [string, (kind: EventKind) => unknown, number, string][] = [
    [
      'a text/plain body',
      (kind) => httpEvent(kind, { body: '{}', contentType: 'text/plain' }),
      415,
      'LMI_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['a malformed body', (kind) => jsonEvent(kind, '{"sku":'), 400, 'LMI_MALFORMED_JSON'],
    [
      'a poisoned body',
      (kind) => jsonEvent(kind, '{"__proto__":{"admin":true}}'),
      400,
      'LMI_PROTOTYPE_POISONING',
    ],
    ['no body', (kind) => httpEvent(kind, { body: null }), 400, 'LMI_BODY_REQUIRED'],
    [
      'an invalid order',
      (kind) => jsonEvent(kind, '{"sku":"A-1","qty":0}'),
      422,
      'LMI_VALIDATION_FAILED',
    ],
    [
      'a body over 1 MiB',
      (kind) => jsonEvent(kind, `{"sku":"${'x'.repeat(1 << 20)}","qty":1}`),
      413,
      'LMI_PAYLOAD_TOO_LARGE',
    ],
    ['a discontinued sku', (kind) => jsonEvent(kind, '{"sku":"gone","qty":1}'), 410, 'LMI_GONE'],
  ]
  for (const [what, event, status, code] of refusals) {
    it(`answer ${what} with ${status} ${code} for every HTTP source`, async () => {
      for (const kind of eventKinds) {
        const answer = response(await both(event(kind)))

        assert.equal(answer.statusCode, status, kind)
        assert.equal(answer.contentType, 'application/problem+json')
        assert.equal(answer.body.code, code)
        assert.equal(answer.body.requestId, 'req-1')
      }
      assert.equal(({} as { admin?: unknown }).admin, undefined)
    })
  }

  it('answer a handler bug with a bare 500', async () => {
    const answer = response(await both(jsonEvent('apigw-v2', '{"sku":"bug","qty":1}')))

    assert.deepEqual(answer.body, {
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      requestId: 'req-1',
    })
  })

  it('answer a result that cannot be serialized with a bare 500', async () => {
    const answer = response(
      await both(jsonEvent('apigw-v2', '{"sku":"A","qty":1}'), async () => ({ n: 1n })),
    )

    assert.equal(answer.statusCode, 500)
    assert.equal(answer.body.detail, undefined)
  })

  for (const [source, event] of Object.entries(nonHttpEvents)) {
    it(`reject a ${source} event with the error itself, so errorType is its own name`, async () => {
      const thrown = new ValidationError([])
      const handler: Handler = async () => {
        throw thrown
      }
      const built = {
        lmi: lmi(handler as never).use(httpErrors({ logger: false })),
        middy: middy(handler as never).use(httpErrors({ logger: false }) as never),
      }
      for (const invoke of Object.values(built) as Invoke[]) {
        await assert.rejects(invoke(structuredClone(event), lambdaContext()), (error) => {
          assert.equal(error, thrown)
          assert.equal(toErrorResponse(error).errorType, 'ValidationError')
          return true
        })
      }
    })
  }
})

describe('under concurrency in lmi()', () => {
  it('keeps 100 interleaved invocations to their own bodies, responses and log lines', async () => {
    const size = 100
    const wait = barrier(size)
    const logger = recordingLogger()
    const handler = lmi<unknown, unknown>()
      .use(httpErrors({ logger }))
      .use(jsonResponse())
      .use(jsonBody({ schema }))
      .handler(async (event: { body: { sku: string; qty: number } }) => {
        await wait() // every invocation has parsed its body before any answers
        if (event.body.qty % 2 === 0) throw createHttpError(409, `qty ${event.body.qty} is even`)
        return { qty: event.body.qty }
      })

    const results = (await Promise.all(
      Array.from({ length: size }, (_, n) =>
        handler(
          jsonEvent('apigw-v2', JSON.stringify({ sku: `S-${n}`, qty: n + 1 })),
          lambdaContext(`req-${n}`),
        ),
      ),
    )) as { statusCode: number; body: string }[]

    results.forEach((result, n) => {
      const body = JSON.parse(result.body)
      if ((n + 1) % 2 === 0) {
        assert.equal(result.statusCode, 409)
        assert.equal(body.detail, `qty ${n + 1} is even`)
        assert.equal(body.requestId, `req-${n}`)
      } else {
        assert.deepEqual([result.statusCode, body], [200, { qty: n + 1 }])
      }
    })
    assert.equal(logger.entries.length, size / 2)
  })

  it('logs through @lmi/context’s pino logger, stamped with each invocation’s request id', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    })
    const handler = lmi(async () => {
      throw new RangeError('index out of range')
    }).use(httpErrors({ logger }))

    await Promise.all([
      handler(httpEvent('apigw-v2'), lambdaContext('req-a')),
      handler(httpEvent('alb'), lambdaContext('req-b')),
    ])

    assert.deepEqual(
      lines.map(({ level, requestId, errorType, statusCode }) => ({
        level,
        requestId,
        errorType,
        statusCode,
      })),
      [
        { level: 'ERROR', requestId: 'req-a', errorType: 'RangeError', statusCode: 500 },
        { level: 'ERROR', requestId: 'req-b', errorType: 'RangeError', statusCode: 500 },
      ],
    )
    assert.equal(lines[0]?.message, 'HTTP 500: RangeError')
  })

  it('logs an error once when a nested chain already logged it', async () => {
    const logger = recordingLogger()
    const error = createHttpError(404, 'nope')
    const inner = lmi(async () => {
      throw error
    })
      // Answers and logs, then a later onError hook rethrows: the error reaches the outer chain.
      .use({
        onError: (request) => {
          throw request.error
        },
      })
      .use(httpErrors({ logger }))
    const outer = lmi(inner).use(httpErrors({ logger }))

    const result = (await outer(httpEvent('apigw-v2'), lambdaContext('req-n'))) as {
      statusCode: number
    }

    assert.equal(result.statusCode, 404)
    assert.equal(logger.entries.length, 1)
  })
})
