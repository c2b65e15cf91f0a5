// Type tests for the public API: checked by `tsc -p tsconfig.test.json`. Each
// `Expect<Equal<…>>` fails compilation when the inferred type is not exactly the expected one,
// and each `@ts-expect-error` fails it when the line stops being an error.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { lmi } from '@lmi/core'
import middy from '@middy/core'
import { Pool } from 'undici'
import { installTenantHeader, tenantInterceptor } from '../src/http.ts'
import { type TenantSource, tenant } from '../src/index.ts'

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

interface OrderEvent {
  headers: Record<string, string | undefined>
  body: string
}

describe('types', () => {
  it('gives the handler context.tenantId: string when a tenant is required', () => {
    const required = lmi<OrderEvent>()
      .use(tenant({ from: ['context', { header: 'x-tenant-id' }] }))
      .handler(async (event, context) => {
        type _tenant = Expect<Equal<typeof context.tenantId, string>>
        type _event = Expect<Equal<typeof event, OrderEvent>>
        return context.tenantId.length
      })
    const optional = lmi<OrderEvent>()
      .use(tenant({ required: false }))
      .handler(async (_event, context) => {
        type _tenant = Expect<Equal<typeof context.tenantId, string | undefined>>
        return context.tenantId ?? 'none'
      })
    assert.equal(typeof required, 'function')
    assert.equal(typeof optional, 'function')
  })

  it('accepts typed function sources and is a middy middleware', () => {
    const fromBody: TenantSource = (event: OrderEvent) => JSON.parse(event.body).tenant as string
    const handler = middy(async () => 'ok').use(tenant({ from: [fromBody] }))
    assert.equal(typeof handler, 'function')
    // @ts-expect-error a source is one of the documented shapes
    assert.throws(() => tenant({ from: [{ query: 'tenant' }] }))
  })

  it('composes onto undici dispatchers; the global install requires origins', () => {
    const pool = new Pool('http://127.0.0.1:9').compose(tenantInterceptor({ header: 'x-org' }))
    assert.equal(typeof pool.request, 'function')
    // @ts-expect-error origins is required for the global dispatcher
    assert.throws(() => installTenantHeader({}))
    return pool.close()
  })
})
