// lmi's handlers against the real `@types/aws-lambda` (a devDependency of this package only):
// checked by `tsc -p tsconfig.test.json`. Every assignment below fails compilation when an lmi
// handler stops fitting the handler type users annotate it with, and each `@ts-expect-error`
// when its line stops being an error. The tests run the handlers once, to show they are real.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import middy from '@middy/core'
import type {
  ALBEvent,
  ALBHandler,
  ALBResult,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyHandler,
  APIGatewayProxyHandlerV2,
  APIGatewayProxyResult,
  APIGatewayProxyResultV2,
  Context,
  Handler,
  SQSBatchResponse,
  SQSEvent,
  SQSHandler,
} from 'aws-lambda'
import { type LambdaContext, lmi, type Middleware, type Transform } from '../src/index.ts'

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

/** A Context as AWS's runtime hands it, mobile SDK identity and client context included. */
function awsContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'orders',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
    memoryLimitInMB: '1024',
    awsRequestId: 'req-1',
    logGroupName: '/aws/lambda/orders',
    logStreamName: 'stream',
    identity: { cognitoIdentityId: 'id', cognitoIdentityPoolId: 'pool' },
    clientContext: {
      client: {
        installationId: 'i',
        appTitle: 't',
        appVersionName: 'v',
        appVersionCode: '1',
        appPackageName: 'p',
      },
      env: { platformVersion: '1', platform: 'ios', make: 'm', model: 'm', locale: 'en' },
    },
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }
}

const httpApiEvent = {
  version: '2.0',
  routeKey: 'GET /orders',
  rawPath: '/orders',
  rawQueryString: '',
  headers: {},
  requestContext: { requestId: 'r', http: { method: 'GET', path: '/orders' } },
  isBase64Encoded: false,
} as unknown as APIGatewayProxyEventV2

// `lmi(handler)`, annotated with the handler types of @types/aws-lambda.
const generic: Handler<{ n: number }, number> = lmi(async (event: { n: number }) => event.n + 1)
const untyped: Handler = lmi(async () => 'ok')

const httpApi: APIGatewayProxyHandlerV2 = lmi(async (event: APIGatewayProxyEventV2) => ({
  statusCode: 200,
  body: event.rawPath,
}))

const restApi: APIGatewayProxyHandler = lmi(
  async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => ({
    statusCode: 200,
    body: event.path,
  }),
)

const alb: ALBHandler = lmi(
  async (event: ALBEvent): Promise<ALBResult> => ({ statusCode: 200, body: event.path }),
)

// SQSHandler returns void: any result goes, a batch response too.
const sqs: SQSHandler = lmi(
  async (event: SQSEvent): Promise<SQSBatchResponse> => ({
    batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })),
  }),
)

// Types first, handler last: the handler sees lmi's context (tenantId, xRayTraceId, signal).
const builder: APIGatewayProxyHandlerV2 = lmi<
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2
>().handler(async (event, context, { signal }) => {
  type _event = Expect<Equal<typeof event, APIGatewayProxyEventV2>>
  type _context = Expect<Equal<typeof context, LambdaContext>>
  type _tenant = Expect<Equal<typeof context.tenantId, string | undefined>>
  return { statusCode: signal.aborted ? 503 : 200, body: `${event.rawPath} ${context.tenantId}` }
})

// A handler written against @types/aws-lambda's Context: into lmi(), and into middy().
const awsTyped = async (event: APIGatewayProxyEventV2, context: Context) => ({
  statusCode: 200,
  body: `${event.rawPath} ${context.awsRequestId} ${context.identity?.cognitoIdentityId}`,
})
const wrapped: APIGatewayProxyHandlerV2 = lmi(awsTyped)
const wrappedTwice = middy(lmi(awsTyped))
const middyFirst: APIGatewayProxyHandlerV2 = lmi(middy(awsTyped))

// The chain's context parameter takes AWS's Context, and lmi's own.
const chain = lmi(async (_event: unknown, context: LambdaContext) => context.awsRequestId)
const viaAwsContext: Promise<string> = chain({}, awsContext())
const viaLmiContext: Promise<string> = chain({}, awsContext() as LambdaContext)

// What stays an error: a result the handler type does not allow.
// @ts-expect-error — an API Gateway v2 handler cannot answer with a number
const wrongResult: APIGatewayProxyHandlerV2 = lmi(async () => 42 as const)
// @ts-expect-error — nor can the handler be given the wrong event type
const wrongEvent: SQSHandler = lmi(async (event: { Records: number }) => event.Records)

describe('lmi() handlers typed with @types/aws-lambda', () => {
  it('are called with AWS runtime arguments, callback included (checked by tsc)', async () => {
    const callback = () => assert.fail('lmi answers with a promise, never the callback')
    assert.equal(await generic({ n: 1 }, awsContext(), callback), 2)
    assert.equal(await untyped({}, awsContext(), callback), 'ok')
    assert.deepEqual(await httpApi(httpApiEvent, awsContext(), callback), {
      statusCode: 200,
      body: '/orders',
    })
    assert.deepEqual(await builder(httpApiEvent, awsContext(), callback), {
      statusCode: 200,
      body: '/orders undefined',
    })
    assert.deepEqual(await wrapped(httpApiEvent, awsContext(), callback), {
      statusCode: 200,
      body: '/orders req-1 id',
    })
    assert.deepEqual(await wrappedTwice(httpApiEvent, awsContext()), {
      statusCode: 200,
      body: '/orders req-1 id',
    })
    assert.deepEqual(await middyFirst(httpApiEvent, awsContext(), callback), {
      statusCode: 200,
      body: '/orders req-1 id',
    })
    assert.equal(await viaAwsContext, 'req-1')
    assert.equal(await viaLmiContext, 'req-1')
    assert.equal(typeof restApi, 'function')
    assert.equal(typeof alb, 'function')
    assert.deepEqual(await sqs({ Records: [] }, awsContext(), callback), { batchItemFailures: [] })
    assert.equal(typeof wrongResult, 'function')
    assert.equal(typeof wrongEvent, 'function')
  })
})

describe('lmi() without type arguments', () => {
  // What `jsonResponse()` declares: the handler returns a value, the chain an HTTP response.
  interface HttpResponse {
    statusCode: number
    headers: Record<string, string>
    body: string
  }
  function respond(): Middleware<Transform<unknown, unknown, { saved: boolean }, HttpResponse>> {
    return {
      after(request) {
        request.response = {
          statusCode: 200,
          headers: {},
          body: JSON.stringify(request.response),
        } as never
      },
    }
  }

  it('returns what its outermost result-declaring middleware returns, or else its handler', async () => {
    const callback = () => assert.fail('lmi answers with a promise, never the callback')
    // The README's style: no type arguments, a response middleware, the handler last.
    const viaMiddleware: APIGatewayProxyHandlerV2 = lmi()
      .use(respond())
      .handler(async () => ({ saved: true }))
    const viaHandler: APIGatewayProxyHandlerV2 = lmi().handler(async () => ({
      statusCode: 204,
      body: '',
    }))
    type Declared = Awaited<ReturnType<typeof viaDeclared>>
    const viaDeclared = lmi<unknown, { ok: true }>()
      .use(respond())
      .handler(async () => ({ saved: true }))
    type _ = Expect<Equal<Declared, { ok: true }>>
    assert.deepEqual(await viaMiddleware(httpApiEvent, awsContext(), callback), {
      statusCode: 200,
      headers: {},
      body: '{"saved":true}',
    })
    assert.deepEqual(await viaHandler(httpApiEvent, awsContext(), callback), {
      statusCode: 204,
      body: '',
    })
  })
})
