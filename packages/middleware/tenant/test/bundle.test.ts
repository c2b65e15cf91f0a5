// Handlers using @lmi/tenant, bundled every way users bundle them, run in a fresh node. undici
// is CommonJS and requires Node's built-ins — at init, and later too (`node:tls` at the first
// HTTPS connection) — which an ESM bundle without a `createRequire` banner cannot do on its
// own. `tenant()` alone does not bring undici in; `@lmi/tenant/http` does.
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { BUNDLE_FORMATS, BundleDir, pick } from '@lmi/test-kit/bundle'
import { type EchoServer, startEchoServer } from './helpers.ts'

const TENANT = `
import { lmi } from '@lmi/core'
import { createLogger } from '@lmi/context'
import { getTenantId, tenant } from '@lmi/tenant'

const log = createLogger()

export const handler = lmi(async () => {
  log.info('listing orders')
  return { tenant: getTenantId() }
}).use(tenant({ from: [{ header: 'x-tenant-id' }] }))
`

const HTTP = `
import { lmi } from '@lmi/core'
import { tenant } from '@lmi/tenant'
import { installTenantHeader } from '@lmi/tenant/http'

installTenantHeader({ origins: [process.env.ECHO_ORIGIN] })

export const handler = lmi(async (event) => {
  const echoed = await (await fetch(process.env.ECHO_ORIGIN + '/orders')).json()
  // A TLS connection undici opens only now, requiring node:tls: refused, as nothing listens.
  const https = await fetch(process.env.CLOSED_HTTPS).then(
    () => 'answered',
    (error) => error.cause?.code ?? String(error.cause ?? error),
  )
  return { sent: echoed.tenant, https }
}).use(tenant({ from: [{ header: 'x-tenant-id' }] }))
`

/** An https origin on a loopback port nothing listens on. */
async function closedHttpsOrigin(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `https://127.0.0.1:${port}`
}

describe('handlers using @lmi/tenant, bundled', () => {
  let dir: BundleDir
  let echo: EchoServer
  let closedHttps: string
  before(async () => {
    dir = new BundleDir()
    echo = await startEchoServer()
    closedHttps = await closedHttpsOrigin()
  })
  after(async () => {
    dir.remove()
    await echo.close()
  })

  for (const format of BUNDLE_FORMATS) {
    it(`tenant() runs as ${format.name}, without undici`, async () => {
      const run = await dir.bundleAndRun(TENANT, format, [
        { headers: { 'x-tenant-id': 'acme' } },
        { headers: { 'x-tenant-id': 'globex' } },
      ])

      assert.deepEqual(run.results, [{ tenant: 'acme' }, { tenant: 'globex' }])
      assert.deepEqual(
        run.logs.map((line) => pick(line, ['message', 'requestId', 'tenantId'])),
        [
          { message: 'listing orders', requestId: 'req-0', tenantId: 'acme' },
          { message: 'listing orders', requestId: 'req-1', tenantId: 'globex' },
        ],
      )
      // undici is neither in the bundle nor loaded beside it.
      assert.doesNotMatch(run.code, /globalDispatcher/)
      assert.ok(!run.commonJsPackages.includes('undici'), String(run.commonJsPackages))
      assert.deepEqual(run.globalRequire, { afterInit: 'undefined', atEnd: 'undefined' })
    })

    it(`@lmi/tenant/http runs as ${format.name}: fetch sends the header, undici loads node:tls later`, async () => {
      const run = await dir.bundleAndRun(
        HTTP,
        format,
        [{ headers: { 'x-tenant-id': 'acme' } }, { headers: { 'x-tenant-id': 'globex' } }],
        { ECHO_ORIGIN: echo.origin, CLOSED_HTTPS: closedHttps },
      )

      assert.deepEqual(run.results, [
        { sent: 'acme', https: 'ECONNREFUSED' },
        { sent: 'globex', https: 'ECONNREFUSED' },
      ])
      // Where undici was inlined with no require of the bundle's, the one it used at init stays
      // on globalThis for its later requires; anywhere else none is left behind.
      const left = format.requireless ? 'function' : 'undefined'
      assert.deepEqual(run.globalRequire, { afterInit: left, atEnd: left })
    })
  }
})
