// Plain middy + tenant() on AWS's own Node runtime, without lmi(): there the invocation lives
// only in `@aws/lambda-invoke-store`'s context, which AWS's runtime opens per invocation on
// `globalThis.awslambda.InvokeStore` (seeded with request and trace id, not the tenant id).
// A stand-in with the same surface plays that store; this file runs in its own process.
import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { after, before, describe, it } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { LambdaContext } from '@lmi/core'
import { barrier, lambdaContext } from '@lmi/test-kit'
import middy from '@middy/core'
import { request } from 'undici'
import { installTenantHeader } from '../src/http.ts'
import { getTenantId, TenantMismatchError, tenant } from '../src/index.ts'
import { type EchoServer, startEchoServer } from './helpers.ts'

const REQUEST_ID = Symbol.for('_AWS_LAMBDA_REQUEST_ID')
const TENANT_ID = Symbol.for('_AWS_LAMBDA_TENANT_ID')

/** The part of `@aws/lambda-invoke-store`'s multi-concurrency store that callers use. */
class AwsInvokeStore {
  readonly #storage = new AsyncLocalStorage<Record<PropertyKey, unknown>>()
  getContext(): Record<PropertyKey, unknown> | undefined {
    return this.#storage.getStore()
  }
  hasContext(): boolean {
    return this.getContext() !== undefined
  }
  get(key: PropertyKey): unknown {
    return this.getContext()?.[key]
  }
  getRequestId(): string {
    return (this.get(REQUEST_ID) as string | undefined) ?? '-'
  }
  getXRayTraceId(): string | undefined {
    return undefined
  }
  getTenantId(): string | undefined {
    return this.get(TENANT_ID) as string | undefined
  }
  run<T>(context: Record<PropertyKey, unknown>, fn: () => T): T {
    return this.#storage.run(context, fn)
  }
}

const store = new AwsInvokeStore()
;(globalThis as { awslambda?: Record<string, unknown> }).awslambda = { InvokeStore: store }

let server: EchoServer
let uninstall: () => void

before(async () => {
  server = await startEchoServer()
  uninstall = installTenantHeader({ origins: [server.origin] })
})

after(async () => {
  uninstall()
  await server.close()
})

/** What AWS's runtime does around each invocation. */
function invoke<T>(
  handler: (event: unknown, context: LambdaContext) => Promise<T>,
  event: unknown,
  context: LambdaContext,
) {
  return store.run({ [REQUEST_ID]: context.awsRequestId }, () => handler(event, context))
}

describe('plain middy on AWS runtime', () => {
  it('binds the tenant into InvokeStore: getTenantId(), the SDK-visible store and outgoing requests see it', async () => {
    // Prepare
    const size = 20
    const bound = barrier(size)
    const handler = middy(async (event: { n: number }, context: LambdaContext) => {
      await bound()
      await nextTurn()
      const res = await request(`${server.origin}/aws/${event.n}`)
      return {
        n: event.n,
        context: context.tenantId,
        current: getTenantId(),
        store: store.getTenantId(),
        outgoing: ((await res.body.json()) as { tenant: string }).tenant,
      }
    }).use(tenant({ from: ['context', { header: 'x-tenant-id' }] }))
    // Act
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) =>
        invoke(
          handler,
          { n, headers: { 'x-tenant-id': `tenant-${n}` } },
          lambdaContext(`req-${n}`),
        ),
      ),
    )
    // Assess
    results.forEach((result, n) => {
      const expected = `tenant-${n}`
      assert.deepEqual(result, {
        n,
        context: expected,
        current: expected,
        store: expected,
        outgoing: expected,
      })
    })
  })

  it("refuses an event naming another tenant than AWS's context.tenantId", async () => {
    const handler = middy(async () => 'unreachable').use(
      tenant({ from: ['context', { header: 'x-tenant-id' }] }),
    )
    await assert.rejects(
      invoke(
        handler,
        { headers: { 'x-tenant-id': 'globex' } },
        lambdaContext('req-x', { tenantId: 'acme' }),
      ),
      TenantMismatchError,
    )
  })
})
