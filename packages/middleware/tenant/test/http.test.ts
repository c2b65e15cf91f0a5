// The undici interceptor, against real loopback servers: the tenant header goes out only from
// inside a live invocation with a tenant, only to allowed origins, whatever form the caller's
// headers take, and the caller's headers are never touched.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { InvalidConfigurationError, type LambdaContext, lmi } from '@lmi/core'
import { lambdaContext } from '@lmi/test-kit'
import fc from 'fast-check'
import { Agent, Dispatcher, getGlobalDispatcher, interceptors, Pool, request } from 'undici'
import { installTenantHeader, type TenantHeaderOptions, tenantInterceptor } from '../src/http.ts'
import { tenant } from '../src/index.ts'
import { type EchoServer, startEchoServer } from './helpers.ts'

let serverA: EchoServer
let serverB: EchoServer
const dispatchers: Dispatcher[] = []

function track<T extends Dispatcher>(dispatcher: T): T {
  dispatchers.push(dispatcher)
  return dispatcher
}

// Created at init, before any invocation: it must know when invocations end.
const poolA = (origin: string, options?: TenantHeaderOptions) =>
  track(new Pool(origin)).compose(tenantInterceptor(options))

before(async () => {
  serverA = await startEchoServer()
  serverB = await startEchoServer()
})

after(async () => {
  await Promise.all(dispatchers.map((dispatcher) => dispatcher.close()))
  await Promise.all([serverA.close(), serverB.close()])
})

async function tenantSeen(
  dispatcher: Dispatcher,
  origin: string,
  path: string,
  headers?: Dispatcher.DispatchOptions['headers'],
): Promise<string | null> {
  const res = await dispatcher.request({ origin, path, method: 'GET', headers })
  return ((await res.body.json()) as { tenant: string | null }).tenant
}

/** An lmi handler bound to `tenantId` (tenant isolation mode) that runs `fn`. */
function inInvocation<T>(tenantId: string | undefined, fn: () => Promise<T>): Promise<T> {
  const handler = lmi(async () => fn()).use(tenant({ required: false }))
  return handler({}, lambdaContext(`req-${tenantId}`, { tenantId })) as Promise<T>
}

describe('tenantInterceptor() on a Pool', () => {
  it('adds the header inside an invocation and never outside one (at init)', async () => {
    // Prepare
    const pool = poolA(serverA.origin)
    // Act
    const atInit = await tenantSeen(pool, serverA.origin, '/init')
    const inside = await inInvocation('acme', () => tenantSeen(pool, serverA.origin, '/inside'))
    const noTenant = await inInvocation(undefined, () => tenantSeen(pool, serverA.origin, '/none'))
    // Assess
    assert.deepEqual([atInit, inside, noTenant], [null, 'acme', null])
  })

  it('does not add it to requests made after the invocation ended (escaped work)', async () => {
    // Prepare: the handler leaves work behind that sends a request once released.
    const pool = poolA(serverA.origin)
    const release = Promise.withResolvers<void>()
    let escaped: Promise<string | null> | undefined
    const handler = lmi(async (_event: unknown, context: LambdaContext) => {
      escaped = release.promise.then(() => tenantSeen(pool, serverA.origin, '/escaped'))
      return tenantSeen(pool, serverA.origin, `/during/${context.tenantId}`)
    }).use(tenant())
    // Act
    const during = await handler({}, lambdaContext('req-escape', { tenantId: 'acme' }))
    release.resolve() // only now, after the invocation answered
    const afterwards = await escaped
    // Assess
    assert.equal(during, 'acme')
    assert.equal(afterwards, null)
  })

  it("leaves the caller's headers untouched, in every form undici takes", async () => {
    // Prepare
    const pool = poolA(serverA.origin)
    const record = Object.freeze({ accept: 'application/json' })
    const flat = Object.freeze(['accept', 'application/json'])
    const map = new Map([['accept', 'application/json']])
    const nullProto = Object.assign(Object.create(null), { accept: 'text/plain' })
    function* generated(): Generator<[string, string]> {
      yield ['accept', 'application/json']
    }
    // Act
    const seen = await inInvocation('acme', async () => [
      await tenantSeen(pool, serverA.origin, '/record', record),
      await tenantSeen(pool, serverA.origin, '/flat', flat as unknown as string[]),
      await tenantSeen(pool, serverA.origin, '/map', map),
      await tenantSeen(pool, serverA.origin, '/null-proto', nullProto),
      await tenantSeen(pool, serverA.origin, '/generator', generated()),
      await tenantSeen(pool, serverA.origin, '/headers', new Headers({ accept: 'text/html' })),
      await tenantSeen(pool, serverA.origin, '/none', undefined),
    ])
    // Assess
    assert.deepEqual(seen, Array(7).fill('acme'))
    assert.deepEqual(record, { accept: 'application/json' })
    assert.deepEqual(flat, ['accept', 'application/json'])
    assert.deepEqual([...map], [['accept', 'application/json']])
    assert.deepEqual(Object.keys(nullProto), ['accept'])
    const accepts = serverA.seen.slice(-7).map((request) => request.headers.accept)
    assert.deepEqual(accepts.slice(0, 6), [
      'application/json',
      'application/json',
      'application/json',
      'text/plain',
      'application/json',
      'text/html',
    ])
  })

  it('leaves malformed headers for undici to refuse, with the error it gives without the interceptor', async () => {
    const plain = track(new Pool(serverA.origin))
    const pool = poolA(serverA.origin)
    const malformed = () => [
      ['accept'], // odd flat list
      (function* generated() {
        yield ['accept']
      })(),
    ]
    const errorsOf = async (dispatcher: Dispatcher) => {
      const messages: string[] = []
      for (const headers of malformed()) {
        await tenantSeen(dispatcher, serverA.origin, '/bad', headers as never).catch(
          (error: Error) => messages.push(`${error.name}: ${error.message}`),
        )
      }
      return messages
    }
    const expected = await errorsOf(plain)
    assert.equal(expected.length, 2)
    assert.deepEqual(await inInvocation('acme', () => errorsOf(pool)), expected)
  })

  it("replaces a caller-set tenant header by default, in any case and form, without touching the caller's object", async () => {
    const pool = poolA(serverA.origin)
    const record = { 'X-Tenant-Id': 'globex' }
    const flat = ['x-TENANT-id', 'globex']
    const seen = await inInvocation('acme', async () => [
      await tenantSeen(pool, serverA.origin, '/r', record),
      await tenantSeen(pool, serverA.origin, '/f', flat),
      await tenantSeen(pool, serverA.origin, '/m', new Map([['x-tenant-id', 'globex']])),
    ])
    assert.deepEqual(seen, ['acme', 'acme', 'acme'])
    assert.deepEqual(record, { 'X-Tenant-Id': 'globex' })
    assert.deepEqual(flat, ['x-TENANT-id', 'globex'])
  })

  it("keeps a caller-set tenant header with callerHeader: 'keep'", async () => {
    const pool = poolA(serverA.origin, { callerHeader: 'keep' })
    const seen = await inInvocation('acme', async () => [
      await tenantSeen(pool, serverA.origin, '/kept', { 'X-Tenant-Id': 'globex' }),
      await tenantSeen(pool, serverA.origin, '/added', { accept: '*/*' }),
    ])
    assert.deepEqual(seen, ['globex', 'acme'])
  })

  it('uses the configured header name', async () => {
    const server = await startEchoServer('x-acme-tenant')
    try {
      const pool = track(new Pool(server.origin)).compose(
        tenantInterceptor({ header: 'X-Acme-Tenant' }),
      )
      assert.equal(await inInvocation('acme', () => tenantSeen(pool, server.origin, '/')), 'acme')
    } finally {
      await server.close()
    }
  })

  it('sends no header for a tenant id a header cannot carry (bound without tenant())', async () => {
    const pool = poolA(serverA.origin)
    const handler = lmi(async () => tenantSeen(pool, serverA.origin, '/unsafe'))
    assert.equal(await handler({}, lambdaContext('req-unsafe', { tenantId: 'caf\u00e9' })), null)
  })
})

describe('origins allow-list', () => {
  it('sends the tenant id only to the listed origins (strings and anchored RegExps)', async () => {
    // Prepare: one Agent for both servers; only A is allowed, by string or by pattern.
    const port = new URL(serverA.origin).port
    for (const origins of [[serverA.origin], [new RegExp(`http://127\\.0\\.0\\.1:${port}`)]]) {
      const agent = track(new Agent()).compose(tenantInterceptor({ origins }))
      // Act
      const seen = await inInvocation('acme', async () => [
        await tenantSeen(agent, serverA.origin, '/allowed'),
        await tenantSeen(agent, serverB.origin, '/third-party'),
      ])
      // Assess
      assert.deepEqual(seen, ['acme', null], String(origins))
    }
  })

  it('checks every redirect hop when composed before the redirect interceptor', async () => {
    // Prepare: an allowed origin that redirects to a third party (serverB).
    const redirecting = createServer((req, res) => {
      res.writeHead(302, { location: `${serverB.origin}/landed` }).end()
      req.resume()
    })
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`
    try {
      const agent = track(new Agent()).compose(
        tenantInterceptor({ origins: [origin] }),
        interceptors.redirect({ maxRedirections: 1 }),
      )
      // Act
      const landed = await inInvocation('acme', () => tenantSeen(agent, origin, '/go'))
      // Assess
      assert.equal(landed, null)
      assert.equal(serverB.seen.at(-1)?.path, '/landed')
    } finally {
      redirecting.closeAllConnections()
      await new Promise((resolve) => redirecting.close(resolve))
    }
  })

  it("sends it everywhere with origins: '*'", async () => {
    const agent = track(new Agent()).compose(tenantInterceptor({ origins: '*' }))
    const seen = await inInvocation('acme', async () => [
      await tenantSeen(agent, serverA.origin, '/'),
      await tenantSeen(agent, serverB.origin, '/'),
    ])
    assert.deepEqual(seen, ['acme', 'acme'])
  })

  it("defaults to the Pool's own origin, and requires origins on an Agent", () => {
    assert.throws(() => new Agent().compose(tenantInterceptor()), InvalidConfigurationError)
  })

  it('rejects bad options at creation', () => {
    const bad: unknown[] = [
      'x',
      { headers: 'x-tenant-id' },
      { header: 'x tenant' },
      { header: 'Host' },
      { header: 'authorization' },
      { origins: [] },
      { origins: 'https://api.example.com' },
      { origins: ['https://api.example.com/v1'] },
      { origins: ['ftp://files.example.com'] },
      { origins: ['not a url'] },
      { origins: [42] },
      { callerHeader: 'merge' },
    ]
    for (const options of bad) {
      assert.throws(
        () => tenantInterceptor(options as TenantHeaderOptions),
        InvalidConfigurationError,
        JSON.stringify(options),
      )
    }
  })
})

describe('installTenantHeader()', () => {
  it("makes undici.request and Node's global fetch carry the header, and uninstalls cleanly", async () => {
    // Prepare
    const previous = getGlobalDispatcher()
    const uninstall = installTenantHeader({ origins: [serverA.origin] })
    const fetchTenant = async (path: string) =>
      ((await (await fetch(`${serverA.origin}${path}`)).json()) as { tenant: string | null }).tenant
    const requestTenant = async (path: string) =>
      ((await (await request(`${serverA.origin}${path}`)).body.json()) as { tenant: string | null })
        .tenant
    try {
      // Act
      const inside = await inInvocation('acme', async () => [
        await fetchTenant('/fetch'),
        await requestTenant('/request'),
      ])
      const outside = [await fetchTenant('/fetch-init'), await requestTenant('/request-init')]
      // Assess
      assert.deepEqual(inside, ['acme', 'acme'])
      assert.deepEqual(outside, [null, null])
    } finally {
      uninstall()
    }
    assert.equal(getGlobalDispatcher(), previous)
    const afterUninstall = await inInvocation('acme', () => fetchTenant('/after'))
    assert.equal(afterUninstall, null)
  })

  it('requires origins', () => {
    const previous = getGlobalDispatcher()
    assert.throws(
      () => installTenantHeader({} as Parameters<typeof installTenantHeader>[0]),
      InvalidConfigurationError,
    )
    assert.equal(getGlobalDispatcher(), previous)
  })

  it('stops adding the header on uninstall even when another dispatcher was installed on top', async () => {
    const uninstall = installTenantHeader({ origins: '*' })
    const { setGlobalDispatcher } = await import('undici')
    const onTop = getGlobalDispatcher().compose((dispatch) => dispatch)
    setGlobalDispatcher(onTop)
    uninstall()
    assert.equal(getGlobalDispatcher(), onTop) // left in place
    const seen = await inInvocation('acme', async () => {
      const res = await fetch(`${serverA.origin}/stacked`)
      return ((await res.json()) as { tenant: string | null }).tenant
    })
    assert.equal(seen, null)
  })
})

/** A dispatcher that only records what reaches it. */
class Recorder extends Dispatcher {
  readonly seen: Dispatcher.DispatchOptions[] = []
  override dispatch(options: Dispatcher.DispatchOptions): boolean {
    this.seen.push(options)
    return true
  }
  override close(): Promise<void> {
    return Promise.resolve()
  }
  override destroy(): Promise<void> {
    return Promise.resolve()
  }
}

/** Header entries of any form undici takes, or undefined when the form is malformed. */
function entriesOf(headers: unknown): Array<[unknown, unknown]> | undefined {
  if (headers === undefined || headers === null) return []
  if (Array.isArray(headers)) {
    if (headers.length % 2 !== 0) return undefined
    const entries: Array<[unknown, unknown]> = []
    for (let index = 0; index < headers.length; index += 2) {
      entries.push([headers[index], headers[index + 1]])
    }
    return entries
  }
  if (typeof headers === 'object' && Symbol.iterator in headers) {
    const entries: Array<[unknown, unknown]> = []
    for (const pair of headers as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) return undefined
      entries.push([pair[0], pair[1]])
    }
    return entries
  }
  return Object.entries(headers as object)
}

const headerName = fc.oneof(
  fc.constantFrom(
    'x-tenant-id',
    'X-Tenant-Id',
    'X-TENANT-ID',
    'accept',
    '__proto__',
    'constructor',
  ),
  fc.string({ minLength: 1, maxLength: 10 }),
)
const headerValue = fc.oneof(
  fc.constantFrom('acme', 'globex'),
  fc.string({ maxLength: 10 }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
)
const headerForms = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(headerName, headerValue, { maxKeys: 5 }),
  fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }).map((pairs) => pairs.flat()),
  fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }).map((pairs) => new Map(pairs)),
  fc.array(fc.anything(), { maxLength: 5 }), // odd lengths, non-strings: malformed for undici
)

describe('header forms (fast-check)', () => {
  it('adds exactly one tenant header to any well-formed headers, mutates nothing, leaves malformed ones malformed', async () => {
    const recorder = new Recorder()
    const dispatcher = recorder.compose(tenantInterceptor({ origins: '*' }))
    const handler = lmi(async () => {
      fc.assert(
        fc.property(headerForms, (headers) => {
          const before = structuredClone(entriesOf(headers))
          dispatcher.dispatch(
            { origin: serverA.origin, path: '/', method: 'GET', headers: headers as never },
            {},
          )
          const sent = recorder.seen.at(-1)?.headers
          // The caller's headers are as they were.
          if (!(headers instanceof Map)) assert.deepEqual(entriesOf(headers), before)
          else assert.deepEqual([...headers], before)
          const after = entriesOf(sent)
          if (before === undefined) {
            assert.equal(after, undefined)
            return
          }
          assert.ok(after !== undefined)
          // undici skips a header whose value is undefined: it is not sent.
          const tenantEntries = after.filter(
            ([key, value]) =>
              typeof key === 'string' && key.toLowerCase() === 'x-tenant-id' && value !== undefined,
          )
          assert.deepEqual(tenantEntries, [['x-tenant-id', 'acme']])
          // Every other header passes through as it was.
          const others = (entries: Array<[unknown, unknown]>) =>
            entries.filter(
              ([key]) => !(typeof key === 'string' && key.toLowerCase() === 'x-tenant-id'),
            )
          assert.deepEqual(others(after), others(before))
        }),
        { numRuns: 500 },
      )
    })
    await handler({}, lambdaContext('req-forms', { tenantId: 'acme' }))
  })

  it('passes the very same headers object through outside an invocation', () => {
    const recorder = new Recorder()
    const dispatcher = recorder.compose(tenantInterceptor({ origins: '*' }))
    fc.assert(
      fc.property(headerForms, (headers) => {
        dispatcher.dispatch(
          { origin: serverA.origin, path: '/', method: 'GET', headers: headers as never },
          {},
        )
        assert.equal(recorder.seen.at(-1)?.headers, headers)
      }),
    )
  })
})
