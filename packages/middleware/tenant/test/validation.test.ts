// Which tenant ids are accepted, and proof (fast-check) that whatever the event holds, tenant()
// either binds a safe id or fails with a typed TenantError — never another exception.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type LambdaContext, lmi } from '@lmi/core'
import { lambdaContext } from '@lmi/test-kit'
import fc from 'fast-check'
import {
  DEFAULT_TENANT_MAX_LENGTH,
  DEFAULT_TENANT_PATTERN,
  getTenantId,
  InvalidTenantError,
  type InvalidTenantReason,
  TenantError,
  type TenantOptions,
  tenant,
} from '../src/index.ts'

const fromHeader: TenantOptions = { from: [{ header: 'x-tenant-id' }] }

function handlerFor(options: TenantOptions) {
  return lmi(async (_event: unknown, context: LambdaContext) => ({
    bound: getTenantId(),
    context: context.tenantId,
  })).use(tenant(options))
}

async function outcome(
  options: TenantOptions,
  id: unknown,
): Promise<{ ok: string } | { reason: InvalidTenantReason }> {
  try {
    const result = await handlerFor(options)({ headers: { 'x-tenant-id': id } }, lambdaContext('r'))
    return { ok: result.bound }
  } catch (error) {
    if (error instanceof InvalidTenantError) return { reason: error.reason }
    throw error
  }
}

/** What every accepted id must be, whatever the options: safe as a path segment and a header. */
function assertSafe(id: string): void {
  assert.ok(id.length >= 1)
  assert.doesNotMatch(id, /[^\x20-\x7e]|[/\\]/)
  assert.ok(id !== '.' && id !== '..')
  assert.ok(!id.startsWith(' ') && !id.endsWith(' '))
}

describe('default validation', () => {
  it("accepts ids in Lambda's TenantId alphabet, up to 256 characters", async () => {
    for (const id of [
      'acme',
      'tenant_1',
      'a:b=c+d@e.f g-h',
      'A'.repeat(256),
      '..a',
      'a..b',
      '42',
    ]) {
      assert.deepEqual(await outcome(fromHeader, id), { ok: id }, id)
    }
    assert.equal(DEFAULT_TENANT_MAX_LENGTH, 256)
    assert.ok(DEFAULT_TENANT_PATTERN.test('acme'))
  })

  it('refuses path separators, dot segments, control characters, CR/LF, NUL and overlong ids', async () => {
    const cases: Array<[string, InvalidTenantReason]> = [
      ['a/b', 'characters'],
      ['a\\b', 'characters'],
      ['../etc', 'characters'],
      ['.', 'dot-segment'],
      ['..', 'dot-segment'],
      ['acme\r\nx-admin: true', 'characters'],
      ['acme\n', 'characters'],
      ['ac\0me', 'characters'],
      ['\x7f', 'characters'],
      ['caf\u00e9', 'characters'],
      ['acme\u202e', 'characters'],
      [' acme', 'whitespace'],
      ['acme ', 'whitespace'],
      ['A'.repeat(257), 'too-long'],
      ['acme,globex', 'pattern'],
      ['<script>', 'pattern'],
      ['50%', 'pattern'],
    ]
    for (const [id, reason] of cases) {
      assert.deepEqual(await outcome(fromHeader, id), { reason }, JSON.stringify(id))
    }
  })

  it('never echoes a refused value raw: the message escapes all but [A-Za-z0-9._:=+@ -]', async () => {
    const hostile = '<img src=x onerror=alert(1)>\r\nSet-Cookie: a=b\u202e\u0000'
    const error = await handlerFor(fromHeader)(
      { headers: { 'x-tenant-id': hostile } },
      lambdaContext('r'),
    ).then(
      () => assert.fail('accepted'),
      (thrown: unknown) => thrown as InvalidTenantError,
    )
    assert.ok(error instanceof InvalidTenantError)
    assert.doesNotMatch(error.message, /[<>\r\n\0\u202e]/)
    assert.match(error.message, /\\u003cimg/)
    assert.match(error.message, /^Invalid tenant id from header x-tenant-id \(characters\): "/)
    // Long values are cut.
    const long = await outcome(fromHeader, 'x'.repeat(10_000))
    assert.deepEqual(long, { reason: 'too-long' })
  })
})

describe('configured validation', () => {
  it('applies pattern to the whole id, even unanchored, and ignores g/y state', async () => {
    const options: TenantOptions = { ...fromHeader, pattern: /t-[0-9]+/gy }
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await outcome(options, 't-42'), { ok: 't-42' })
    }
    assert.deepEqual(await outcome(options, 'xt-42'), { reason: 'pattern' })
    assert.deepEqual(await outcome(options, 't-42x'), { reason: 'pattern' })
  })

  it('keeps the built-in checks under a pattern that would allow anything', async () => {
    const options: TenantOptions = { ...fromHeader, pattern: /[\s\S]*/ }
    assert.deepEqual(await outcome(options, 'a/b'), { reason: 'characters' })
    assert.deepEqual(await outcome(options, '..'), { reason: 'dot-segment' })
    assert.deepEqual(await outcome(options, '50%'), { ok: '50%' })
  })

  it('runs validate last and honours maxLength', async () => {
    const known = new Set(['acme'])
    const options: TenantOptions = { ...fromHeader, validate: (id) => known.has(id), maxLength: 8 }
    assert.deepEqual(await outcome(options, 'acme'), { ok: 'acme' })
    assert.deepEqual(await outcome(options, 'globex'), { reason: 'validate' })
    assert.deepEqual(await outcome(options, 'acme-acme'), { reason: 'too-long' })
  })

  it('validates the platform id as well', async () => {
    const handler = handlerFor({ pattern: /t-[0-9]+/ })
    await assert.rejects(handler({}, lambdaContext('r', { tenantId: 'acme' })), (error) => {
      return error instanceof InvalidTenantError && error.source === 'context'
    })
  })
})

// Characters that matter most, mixed with any code unit (lone surrogates included).
const tricky = fc.oneof(
  fc.constantFrom(
    '/',
    '\\',
    '.',
    '..',
    ' ',
    '\r',
    '\n',
    '\0',
    '\t',
    '\x7f',
    ',',
    '%',
    'é',
    '\u2028',
  ),
  fc.constantFrom('a', 'Z', '7', '-', '_', ':', '=', '+', '@'),
  fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
)
const tenantIds = fc.oneof(
  fc.string({ unit: tricky, maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('.', '..', '', ' ', 'x'.repeat(256), 'x'.repeat(257)),
)
const headerValues = fc.oneof(
  tenantIds,
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(tenantIds, { maxLength: 3 }),
  fc.object(),
)
const headerNames = fc.oneof(
  fc.constantFrom('x-tenant-id', 'X-Tenant-Id', 'X-TENANT-ID', '__proto__', 'constructor'),
  fc.string({ maxLength: 12 }),
)

/** Runs `event` with every kind of source; resolves with the bound id or a TenantError. */
async function attempt(event: unknown, context: LambdaContext): Promise<string | TenantError> {
  const handler = lmi(async () => getTenantId()).use(
    tenant({
      from: [
        'context',
        { header: 'x-tenant-id' },
        { claim: 'tenant_id' },
        { pathParameter: 'tenantId' },
      ],
    }),
  )
  try {
    return await handler(event, context)
  } catch (error) {
    if (error instanceof TenantError) return error
    throw error
  }
}

describe('properties (fast-check)', () => {
  it('an arbitrary string as a tenant id: bound as it is and safe, or refused with InvalidTenantError', async () => {
    await fc.assert(
      fc.asyncProperty(tenantIds, async (id) => {
        const result = await outcome(fromHeader, id).catch((error: unknown) => error)
        if ('ok' in (result as object)) {
          const { ok } = result as { ok: string }
          assert.equal(ok, id)
          assertSafe(ok)
          assert.ok(DEFAULT_TENANT_PATTERN.test(ok))
        } else if (id === '') {
          // Absent, so required: refused with TenantRequiredError (thrown by outcome()).
          assert.ok(result instanceof TenantError)
        } else {
          assert.ok('reason' in (result as object), String(result))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('arbitrary header maps (v1 and v2 shapes): a safe bound id or a TenantError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(headerNames, headerValues, { maxKeys: 6 }),
        fc.option(fc.dictionary(headerNames, fc.oneof(fc.array(headerValues), headerValues)), {
          nil: undefined,
        }),
        fc.option(tenantIds, { nil: undefined }),
        async (headers, multiValueHeaders, platform) => {
          const event = { headers, multiValueHeaders }
          const result = await attempt(event, lambdaContext('r', { tenantId: platform }))
          if (typeof result === 'string') {
            assertSafe(result)
          } else {
            assert.ok(result instanceof TenantError)
            assert.equal(typeof result.statusCode, 'number')
            assert.equal(result.expose, true)
            // Safe to log and to return: printable ASCII (and the cut mark) only.
            assert.match(result.message, /^[\x20-\x7e…]*$/)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('arbitrary events and contexts: a safe bound id or a TenantError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.anything({ withNullPrototype: true, withBoxedValues: true, maxDepth: 4 }),
        fc.oneof(fc.anything(), tenantIds),
        async (event, tenantId) => {
          const context = { ...lambdaContext('r'), tenantId } as LambdaContext
          const result = await attempt(event, context)
          if (typeof result === 'string') assertSafe(result)
          else assert.ok(result instanceof TenantError)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('events that carry a tenant id in every source: bound only when all agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(tenantIds, { nil: undefined }), { minLength: 4, maxLength: 4 }),
        async ([platform, header, claim, path]) => {
          const event = {
            headers: header === undefined ? {} : { 'X-Tenant-Id': header },
            requestContext: {
              authorizer: { jwt: { claims: claim === undefined ? {} : { tenant_id: claim } } },
            },
            pathParameters: path === undefined ? null : { tenantId: path },
          }
          const result = await attempt(event, lambdaContext('r', { tenantId: platform }))
          if (typeof result === 'string') {
            assertSafe(result)
            if (platform !== undefined && platform !== '') assert.equal(result, platform)
            for (const value of [header, claim, path]) {
              if (
                platform !== undefined &&
                platform !== '' &&
                value !== undefined &&
                value !== ''
              ) {
                assert.equal(value, result)
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
