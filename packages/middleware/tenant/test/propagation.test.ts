// Where the bound tenant id shows up: getTenantId() deep in async code, context.tenantId,
// `globalThis.awslambda.InvokeStore` (AWS SDK, Powertools), the @lmi/context logger and
// outgoing requests — in lmi() and in middy(), for each of 100 interleaved invocations.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { createLogger } from '@lmi/context'
import { getInvocation, type LambdaContext, lmi } from '@lmi/core'
import { barrier, lambdaContext } from '@lmi/test-kit'
import middy from '@middy/core'
import { request } from 'undici'
import { installTenantHeader } from '../src/http.ts'
import { getTenantId, NoTenantError, tenant, tryGetTenantId } from '../src/index.ts'
import { type EchoServer, startEchoServer } from './helpers.ts'

interface AwsLambdaGlobal {
  awslambda?: { InvokeStore?: { getTenantId(): string | undefined } }
}

function invokeStoreTenant(): string | undefined {
  return (globalThis as AwsLambdaGlobal).awslambda?.InvokeStore?.getTenantId()
}

/** Code far from the handler: several async hops, a timer, a promise chain. */
async function deepInTheCallTree(): Promise<string> {
  await nextTurn()
  const fromTimer = await new Promise<string>((resolve) =>
    setTimeout(() => resolve(getTenantId()), 1),
  )
  return Promise.resolve().then(() => `${fromTimer}|${getTenantId()}`)
}

function capture() {
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger({
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  })
  return { lines, log }
}

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

describe('in lmi()', () => {
  it('gives every place the same tenant id: getTenantId() deep down, context, InvokeStore, logger', async () => {
    // Prepare
    const { lines, log } = capture()
    const handler = lmi(async (_event: unknown, context: LambdaContext) => {
      log.info('handling')
      return {
        deep: await deepInTheCallTree(),
        context: context.tenantId,
        invocation: getInvocation().tenantId,
        store: invokeStoreTenant(),
      }
    }).use(tenant({ from: ['context', { header: 'x-tenant-id' }] }))
    // Act
    const result = await handler({ headers: { 'X-Tenant-Id': 'acme' } }, lambdaContext('req-1'))
    // Assess
    assert.deepEqual(result, {
      deep: 'acme|acme',
      context: 'acme',
      invocation: 'acme',
      store: 'acme',
    })
    assert.equal(lines.length, 1)
    assert.equal(lines[0]?.tenantId, 'acme')
    assert.equal(lines[0]?.requestId, 'req-1')
  })

  it('has no tenant outside an invocation: getTenantId() throws NoTenantError', () => {
    assert.equal(tryGetTenantId(), undefined)
    assert.throws(
      () => getTenantId(),
      (error) => {
        assert.ok(error instanceof NoTenantError)
        assert.equal(error.code, 'LMI_NO_TENANT')
        assert.equal(error.statusCode, 500)
        assert.equal(error.expose, false)
        return true
      },
    )
  })
})

describe('in middy()', () => {
  it('binds the tenant when middy runs inside an lmi invocation (lmi(middy(handler).use(tenant())))', async () => {
    // Prepare
    const { lines, log } = capture()
    const inner = middy(async (_event: unknown, context: LambdaContext) => {
      log.info('handling')
      const res = await request(`${server.origin}/middy`)
      return {
        deep: await deepInTheCallTree(),
        context: context.tenantId,
        store: invokeStoreTenant(),
        outgoing: ((await res.body.json()) as { tenant: string | null }).tenant,
      }
    }).use(tenant({ from: [{ claim: 'tenant_id' }] }))
    const handler = lmi(inner)
    const event = { requestContext: { authorizer: { jwt: { claims: { tenant_id: 'acme' } } } } }
    // Act
    const result = await handler(event, lambdaContext('req-middy'))
    // Assess
    assert.deepEqual(result, {
      deep: 'acme|acme',
      context: 'acme',
      store: 'acme',
      outgoing: 'acme',
    })
    assert.equal(lines[0]?.tenantId, 'acme')
  })

  it('turns tenant errors into responses with an onError that reads their HTTP shape', async () => {
    const handler = lmi(
      middy(async () => 'unreachable')
        .use(tenant({ from: [{ header: 'x-tenant-id' }] }))
        .use({
          onError: (request) => {
            const error = request.error as {
              statusCode?: number
              expose?: boolean
              message: string
            }
            if (typeof error.statusCode === 'number' && error.expose === true) {
              request.response = { statusCode: error.statusCode, body: error.message }
            }
          },
        }),
    )
    const response = await handler({ headers: { 'x-tenant-id': '../x' } }, lambdaContext('r'))
    assert.deepEqual(response, {
      statusCode: 400,
      body: 'Invalid tenant id from header x-tenant-id (characters): "..\\u002fx"',
    })
  })

  it('with no invocation anywhere (plain middy, no runtime) sets context.tenantId only', async () => {
    const handler = middy(async (_event: unknown, context: LambdaContext) => ({
      context: context.tenantId,
      current: tryGetTenantId() ?? null,
    })).use(tenant({ from: [{ header: 'x-tenant-id' }] }))
    const result = await handler({ headers: { 'x-tenant-id': 'acme' } }, lambdaContext('r'))
    assert.deepEqual(result, { context: 'acme', current: null })
  })
})

describe('under concurrency', () => {
  it('keeps each of 100 interleaved invocations to its own tenant: getTenantId(), logger, outgoing header', async () => {
    // Prepare: every invocation binds its tenant, then waits until all 100 have, before reading.
    const size = 100
    const bound = barrier(size)
    const { lines, log } = capture()
    const handler = lmi(async (event: { n: number }) => {
      await bound()
      await nextTurn()
      log.info({ n: event.n }, 'after the barrier')
      const viaFetch = await fetch(`${server.origin}/fetch/${event.n}`)
      const viaUndici = await request(`${server.origin}/undici/${event.n}`)
      return {
        n: event.n,
        tenant: getTenantId(),
        fetched: ((await viaFetch.json()) as { tenant: string }).tenant,
        requested: ((await viaUndici.body.json()) as { tenant: string }).tenant,
      }
    }).use(tenant({ from: [{ pathParameter: 'tenant' }] }))
    // Act
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) =>
        handler(
          { n, pathParameters: { tenant: `tenant-${n}` } } as never,
          lambdaContext(`req-${n}`),
        ),
      ),
    )
    // Assess
    results.forEach((result, n) => {
      const expected = `tenant-${n}`
      assert.deepEqual(result, { n, tenant: expected, fetched: expected, requested: expected })
    })
    assert.equal(lines.length, size)
    for (const line of lines) {
      assert.equal(line.tenantId, `tenant-${line.n}`)
      assert.equal(line.requestId, `req-${line.n}`)
    }
  })
})
