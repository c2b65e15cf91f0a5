// The popular @middy/* middlewares, unchanged, through lmi() and through middy(): same events,
// same results, same logs. Events are real API Gateway captures (test/fixtures/events).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import middy from '@middy/core'
import errorLogger from '@middy/error-logger'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpEventNormalizer from '@middy/http-event-normalizer'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import httpResponseSerializer from '@middy/http-response-serializer'
import inputOutputLogger from '@middy/input-output-logger'
import validator from '@middy/validator'
import { transpileSchema } from '@middy/validator/transpile'
import { type LambdaContext, lmi, type Middleware } from '../src/index.ts'

const eventsDir = new URL('./fixtures/events/', import.meta.url)
function loadEvent(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, eventsDir), 'utf8')) as Record<string, unknown>
}

function context(requestId: string): LambdaContext {
  const deadline = Date.now() + 30_000
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'orders',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/orders',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
}

function httpApiEvent(body: string | undefined, headers: Record<string, string> = {}) {
  const event = loadEvent('apigw-http-jwt.json')
  return {
    ...event,
    headers: { ...(event.headers as Record<string, string>), ...headers },
    body,
    isBase64Encoded: false,
  }
}

type Handler = (event: never, context: LambdaContext) => unknown
// biome-ignore lint/suspicious/noExplicitAny: both builders take any middy middleware
type Chainable = { use(middleware: any): Chainable } & ((
  event: unknown,
  context: LambdaContext,
) => Promise<unknown>)

/**
 * Builds the chain twice (fresh middleware instances each time) and runs the same event
 * through middy() and lmi(). Returns both outcomes for comparison.
 */
async function compare(
  handler: Handler,
  middlewares: () => unknown[],
  event: unknown,
): Promise<{ middy: unknown; lmi: unknown }> {
  const outcome = async (chain: Chainable) => {
    for (const middleware of middlewares()) chain = chain.use(middleware)
    try {
      return { result: await chain(structuredClone(event), context('req-compat')) }
    } catch (error) {
      const { name, message, statusCode } = error as Error & { statusCode?: number }
      return { error: { name, message, statusCode } }
    }
  }
  return {
    middy: await outcome(middy(handler as never) as unknown as Chainable),
    lmi: await outcome(lmi(handler as never) as unknown as Chainable),
  }
}

const echo: Handler = async (event: {
  body?: unknown
  headers?: unknown
  queryStringParameters?: unknown
}) => ({
  statusCode: 200,
  body: JSON.stringify({ body: event.body, query: event.queryStringParameters ?? null }),
})

describe('middy middlewares in lmi()', () => {
  it('http-header-normalizer + http-json-body-parser parse a JSON body', async () => {
    const outcomes = await compare(
      echo,
      () => [httpHeaderNormalizer(), httpJsonBodyParser()],
      httpApiEvent('{"name":"ada","qty":2}', { 'Content-Type': 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { body: string } }).result
    assert.deepEqual(JSON.parse(result.body).body, { name: 'ada', qty: 2 })
  })

  it('http-error-handler turns a malformed body into the same 4xx response', async () => {
    const outcomes = await compare(
      echo,
      () => [httpErrorHandler({ logger: false }), httpHeaderNormalizer(), httpJsonBodyParser()],
      httpApiEvent('{"name":', { 'content-type': 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { statusCode: number } }).result
    assert.ok(result.statusCode >= 400 && result.statusCode < 500)
  })

  it('http-event-normalizer fills the missing collections of a REST API event', async () => {
    const rest = {
      ...loadEvent('apigw-rest.json'),
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
    }
    const outcomes = await compare(echo, () => [httpEventNormalizer()], rest)
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { body: string } }).result
    assert.deepEqual(JSON.parse(result.body).query, {})
  })

  it('http-cors adds the same headers', async () => {
    const outcomes = await compare(
      echo,
      () => [httpCors({ origins: ['https://app.example.com'], credentials: true })],
      httpApiEvent(undefined, { origin: 'https://app.example.com' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { headers: Record<string, string> } }).result
    assert.equal(result.headers['Access-Control-Allow-Origin'], 'https://app.example.com')
  })

  it('http-response-serializer negotiates and serializes the same way', async () => {
    const outcomes = await compare(
      async () => ({ statusCode: 200, body: { total: 42 } }),
      () => [
        httpHeaderNormalizer(),
        httpResponseSerializer({
          serializers: [
            {
              regex: /^application\/json$/,
              serializer: ({ body }: { body?: unknown }) => JSON.stringify(body),
            },
          ],
          defaultContentType: 'application/json',
        }),
      ],
      httpApiEvent(undefined, { accept: 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    assert.equal((outcomes.lmi as { result: { body: string } }).result.body, '{"total":42}')
  })

  it('validator rejects an invalid event with the same error, and http-error-handler answers it', async () => {
    const eventSchema = transpileSchema({
      type: 'object',
      required: ['body'],
      properties: {
        body: { type: 'object', required: ['qty'], properties: { qty: { type: 'integer' } } },
      },
    })
    const invalid = httpApiEvent('{"qty":"many"}', { 'content-type': 'application/json' })
    const bare = await compare(
      echo,
      () => [httpHeaderNormalizer(), httpJsonBodyParser(), validator({ eventSchema })],
      invalid,
    )
    assert.deepEqual(bare.lmi, bare.middy)
    assert.equal((bare.lmi as { error: { statusCode: number } }).error.statusCode, 400)
    const handled = await compare(
      echo,
      () => [
        httpErrorHandler({ logger: false }),
        httpHeaderNormalizer(),
        httpJsonBodyParser(),
        validator({ eventSchema }),
      ],
      invalid,
    )
    assert.deepEqual(handled.lmi, handled.middy)
  })

  it('input-output-logger and error-logger log the same records', async () => {
    const logs: Record<string, unknown[]> = { middy: [], lmi: [] }
    let target: unknown[] = []
    const logger = (message: unknown) => target.push(structuredClone(message))
    const failing: Handler = async () => {
      throw new RangeError('out of stock')
    }
    for (const which of ['middy', 'lmi'] as const) {
      target = logs[which] as unknown[]
      const chain = (which === 'middy'
        ? middy(failing as never)
        : lmi(failing as never)) as unknown as Chainable
      const built = chain.use(inputOutputLogger({ logger })).use(
        errorLogger({
          logger: (request: { error: unknown }) => logger({ error: String(request.error) }),
        }),
      )
      await assert.rejects(built({ orderId: 7 }, context('req-logs')), RangeError)
    }
    assert.deepEqual(logs.lmi, logs.middy)
    assert.ok((logs.lmi as unknown[]).length >= 2)
  })

  it('accepts middy middlewares where the types ask for an lmi Middleware', () => {
    const asLmi: Middleware[] = [
      httpCors(),
      httpErrorHandler({ logger: false }),
      httpJsonBodyParser(),
    ]
    assert.equal(asLmi.length, 3)
  })
})
