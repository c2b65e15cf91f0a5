// Type tests: checked by `tsc -p tsconfig.test.json`. Each `Expect<Equal<…>>` fails compilation
// when the inferred type is not exactly the expected one, and each `@ts-expect-error` fails it
// when the line stops being an error. The runtime part only proves the chains run.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { lmi } from '@lmi/core'
import { jsonEvent, lambdaContext } from '@lmi/test-kit'
import middy from '@middy/core'
import {
  type HttpResponse,
  httpErrors,
  jsonBody,
  jsonResponse,
  type WithJsonBody,
} from '../src/index.ts'

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

interface Order {
  sku: string
  qty: number
}

/** An event type of the user's own (say, aws-lambda's APIGatewayProxyEventV2). */
interface HttpApiEvent {
  version: '2.0'
  rawPath: string
  headers: Record<string, string | undefined>
  requestContext: { http: { method: string; path: string } }
  body?: string
  isBase64Encoded: boolean
}

const orderSchema = {
  type: 'object',
  properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
  required: ['sku', 'qty'],
  additionalProperties: false,
} as const

// A schema declared `as const` types the body.
const fromSchema = lmi<HttpApiEvent, HttpResponse>()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody({ schema: orderSchema }))
  .handler(async (event) => {
    type _body = Expect<Equal<typeof event.body, { sku: string; qty: number }>>
    type _raw = Expect<Equal<typeof event.rawBody, string | undefined>>
    const _misuse = () => {
      // @ts-expect-error qty is a number
      event.body.qty.toUpperCase()
    }
    return { ordered: event.body.qty }
  })
type _outerEvent = Expect<Equal<Parameters<typeof fromSchema>[0], HttpApiEvent>>
type _outerResult = Expect<Equal<Awaited<ReturnType<typeof fromSchema>>, HttpResponse>>

// An inline schema needs no `as const` (a const type parameter).
lmi()
  .use(jsonBody({ schema: { type: 'array', items: { type: 'string' } } }))
  .handler((event) => {
    type _inline = Expect<Equal<typeof event.body, string[]>>
  })

// required: false admits a missing body.
lmi()
  .use(jsonBody({ schema: orderSchema, required: false }))
  .handler((event) => {
    type _optional = Expect<Equal<typeof event.body, { sku: string; qty: number } | undefined>>
  })

// Without a schema: the type stated, undefined unless required; unknown when none is stated.
lmi()
  .use(jsonBody<Order>({ required: true }))
  .handler((event) => {
    type _stated = Expect<Equal<typeof event.body, Order>>
  })
lmi()
  .use(jsonBody<Order>())
  .handler((event) => {
    type _maybe = Expect<Equal<typeof event.body, Order | undefined>>
  })
lmi()
  .use(jsonBody())
  .handler((event) => {
    type _unknown = Expect<Equal<typeof event.body, unknown>>
  })

// The second type argument keeps the rest of the event's type.
lmi<HttpApiEvent>()
  .use(jsonBody<typeof orderSchema, HttpApiEvent>({ schema: orderSchema }))
  .handler((event) => {
    type _method = Expect<Equal<typeof event.requestContext.http.method, string>>
    type _kept = Expect<
      Equal<typeof event, WithJsonBody<HttpApiEvent, { sku: string; qty: number }>>
    >
  })
lmi<HttpApiEvent>()
  .use(jsonBody<Order, HttpApiEvent>({ required: true }))
  .handler((event) => {
    type _path = Expect<Equal<typeof event.rawPath, string>>
  })

// A schema TypeScript cannot read literally (from a .json file): unknown, or the type stated.
const wideSchema: { type: string; required: string[] } = { type: 'object', required: ['sku'] }
lmi()
  .use(jsonBody({ schema: wideSchema }))
  .handler((event) => {
    type _wide = Expect<Equal<typeof event.body, unknown>>
  })
lmi()
  .use(jsonBody<Order>({ schema: wideSchema }))
  .handler((event) => {
    type _wideStated = Expect<Equal<typeof event.body, Order>>
  })
lmi()
  .use(jsonBody<Order>({ schema: wideSchema, required: false }))
  .handler((event) => {
    type _wideOptional = Expect<Equal<typeof event.body, Order | undefined>>
  })

// json-schema-to-ts cannot follow a recursive schema: state the type and it is not asked to.
type Tree = Tree[]
const treeSchema = { $id: 'https://example.com/tree', type: 'array', items: { $ref: '#' } } as const
lmi()
  .use(jsonBody<Tree>({ schema: treeSchema }))
  .handler((event) => {
    type _tree = Expect<Equal<typeof event.body, Tree>>
  })

// Without jsonResponse the handler must return the outer result type; with it, anything.
lmi<HttpApiEvent, HttpResponse>()
  // @ts-expect-error a plain object is not an HttpResponse
  .handler(async () => ({ ordered: 1 }))
lmi<HttpApiEvent, HttpResponse>()
  .use(jsonResponse())
  .handler(async () => undefined)

// httpErrors changes no types.
lmi<HttpApiEvent, HttpResponse>()
  .use(httpErrors())
  .handler(async (event) => {
    type _same = Expect<Equal<typeof event, HttpApiEvent>>
    return { statusCode: 204 }
  })

// Options are checked (compiled, never run: each would throw at creation).
export function optionsAreTyped(): void {
  // @ts-expect-error a schema is an object or a boolean
  jsonBody({ schema: 'object' })
  // @ts-expect-error limit is in bytes
  jsonBody({ limit: '1mb' })
  // @ts-expect-error status codes are numbers
  jsonResponse({ statusCode: '201' })
  // @ts-expect-error a logger needs warn and error
  httpErrors({ logger: console.log })
}

// The same middlewares are middy middlewares. middy's .use() intersects event types and
// carries no transforms, so the event type stays the one declared (the parsed body is cast, as
// with middy's own http-json-body-parser).
const viaMiddy = middy<HttpApiEvent, HttpResponse>()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody({ schema: orderSchema }))
  .handler(async (event) => {
    type _declared = Expect<Equal<typeof event, HttpApiEvent>>
    const { body } = event as unknown as WithJsonBody<HttpApiEvent, Order>
    return { statusCode: 200, body: body.sku }
  })

describe('types', () => {
  it('flow through lmi() and type-check in middy() (checked by tsc)', async () => {
    const event = jsonEvent('apigw-v2', '{"sku":"A-1","qty":2}')

    const viaLmi = await fromSchema(
      structuredClone(event) as unknown as HttpApiEvent,
      lambdaContext(),
    )
    const middyResult = await viaMiddy(event as unknown as HttpApiEvent, lambdaContext())

    assert.deepEqual(viaLmi, {
      statusCode: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"ordered":2}',
    })
    assert.deepEqual(middyResult, {
      statusCode: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: 'A-1',
    })
  })
})
