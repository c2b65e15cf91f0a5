// Type tests for lmi(): checked by `tsc -p tsconfig.test.json` (part of `npm test`). Each
// `Expect<Equal<…>>` fails compilation when the inferred type is not exactly the expected one,
// and each `@ts-expect-error` fails it when the line stops being an error.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MiddlewareObj } from '@middy/core'
import { type LambdaContext, lmi, type Middleware, type Transform } from '../src/index.ts'

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

interface HttpEvent {
  body: string | null
  headers: Record<string, string | undefined>
}
interface HttpResponse {
  statusCode: number
  body: string
}

/** A body parser: the handler sees `body: T` where the outside had `body: string | null`. */
function parseBody<T>(): Middleware<Transform<HttpEvent, Omit<HttpEvent, 'body'> & { body: T }>> {
  return {
    before(request) {
      ;(request.event as { body: unknown }).body = JSON.parse(request.event.body ?? 'null')
    },
  }
}

/** A serializer: the handler returns `{ data }`, the outside gets an HTTP response. */
function serialize<T>(): Middleware<Transform<unknown, unknown, { data: T }, HttpResponse>> {
  return {
    after(request) {
      const data = (request.response as { data: T } | undefined)?.data
      ;(request as { response: unknown }).response = { statusCode: 200, body: JSON.stringify(data) }
    },
  }
}

/** Adds `context.tmp`, as a tmp-scope middleware does. */
function withTmp(): Middleware<
  Transform<unknown, unknown, unknown, unknown, LambdaContext, { tmp: { dir: string } }>
> {
  return {
    before(request) {
      ;(request.context as unknown as { tmp: { dir: string } }).tmp = { dir: '/tmp/x' }
    },
  }
}

const typed = lmi<HttpEvent, HttpResponse>()
  .use(serialize<number>())
  .use(parseBody<{ name: string }>())
  .use(withTmp())
  .handler(async (event, context) => {
    type _body = Expect<Equal<typeof event.body, { name: string }>>
    type _tmp = Expect<Equal<typeof context.tmp, { dir: string }>>
    type _request = Expect<Equal<typeof context.awsRequestId, string>>
    return { data: event.body.name.length }
  })

// The outside keeps Lambda's shapes.
type _outer = Expect<Equal<Parameters<typeof typed>[0], HttpEvent>>
type _result = Expect<Equal<Awaited<ReturnType<typeof typed>>, HttpResponse>>

lmi<HttpEvent, HttpResponse>()
  .use(serialize<number>())
  // @ts-expect-error the serializer wants `{ data: number }` back, not a string
  .handler(async () => ({ data: 'not a number' }))

lmi<HttpEvent, HttpResponse>()
  .use(parseBody<{ name: string }>())
  // @ts-expect-error `name` is a string after parsing
  .handler(async (event) => ({ statusCode: 200, body: event.body.name.toFixed(2) }))

// An ordinary middy middleware (typed with @middy/core's MiddlewareObj) changes no types.
const middyStyle: MiddlewareObj<HttpEvent, HttpResponse> = {
  before: async (request) => {
    request.event.headers['x-seen'] = 'yes'
  },
}
lmi<HttpEvent, HttpResponse>()
  .use(middyStyle)
  .use([middyStyle, middyStyle])
  .handler(async (event) => {
    type _unchanged = Expect<Equal<typeof event, HttpEvent>>
    return { statusCode: 204, body: '' }
  })

// The handler-first form: the handler's own types are the function's.
const handlerFirst = lmi(async (event: { id: string }, _context, { signal }) => {
  type _signal = Expect<Equal<typeof signal, AbortSignal>>
  return { id: event.id }
})
type _first = Expect<Equal<Parameters<typeof handlerFirst>[0], { id: string }>>

describe('lmi() types', () => {
  it('flow through transforming middlewares into the handler (checked by tsc)', async () => {
    const response = await typed({ body: '{"name":"ada"}', headers: {} }, {
      awsRequestId: 'req-types',
      getRemainingTimeInMillis: () => 1000,
    } as LambdaContext)
    assert.deepEqual(response, { statusCode: 200, body: '3' })
  })
})
