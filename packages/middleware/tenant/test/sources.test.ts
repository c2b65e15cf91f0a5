// Where tenant() finds the tenant id, in which order, and what wins when the platform already
// gave one. Events are real API Gateway / ALB / Function URL captures (@lmi/test-kit's events/).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  bindTenantId,
  InvalidConfigurationError,
  type LambdaContext,
  LmiError,
  lmi,
  TenantConflictError,
} from '@lmi/core'
import { lambdaContext, loadEvent } from '@lmi/test-kit'
import {
  getTenantId,
  InvalidTenantError,
  TenantError,
  TenantMismatchError,
  type TenantOptions,
  TenantRequiredError,
  tenant,
  tryGetTenantId,
} from '../src/index.ts'

interface Seen {
  context: string | undefined
  current: string | undefined
}

/** Runs `event` through lmi() + tenant(options); resolves with what the handler saw. */
function run(
  options: TenantOptions,
  event: unknown,
  context: LambdaContext = lambdaContext('req-1'),
): Promise<Seen> {
  const handler = lmi(async (_event: unknown, ctx: LambdaContext) => ({
    context: ctx.tenantId,
    current: tryGetTenantId(),
  })).use(tenant(options))
  return handler(event, context) as Promise<Seen>
}

function restEvent(headers: Record<string, string> = {}) {
  const event = loadEvent('apigw-rest.json')
  for (const [name, value] of Object.entries(headers)) {
    event.headers[name] = value
    event.multiValueHeaders[name] = [value]
  }
  return event
}

describe("the platform's tenant id (context)", () => {
  it('binds context.tenantId by default', async () => {
    // Prepare: tenant isolation mode gave the invocation 'acme'.
    const context = lambdaContext('req-1', { tenantId: 'acme' })
    // Act
    const seen = await run({}, restEvent(), context)
    // Assess
    assert.deepEqual(seen, { context: 'acme', current: 'acme' })
  })

  it('refuses an invocation without one by default: the event is not read unless asked', async () => {
    // A client-sent header is ignored by the default sources.
    await assert.rejects(run({}, restEvent({ 'x-tenant-id': 'acme' })), (error) => {
      assert.ok(error instanceof TenantRequiredError)
      assert.equal(error.statusCode, 400)
      assert.equal(error.code, 'LMI_TENANT_REQUIRED')
      assert.deepEqual(error.sources, ['context'])
      return true
    })
  })
})

describe('header source', () => {
  it('reads a REST (v1) header in any case, from headers and multiValueHeaders', async () => {
    const event = restEvent({ 'X-Tenant-Id': 'acme' })
    const seen = await run({ from: [{ header: 'x-tenant-id' }] }, event)
    assert.deepEqual(seen, { context: 'acme', current: 'acme' })
  })

  it('reads the header of HTTP API (v2), ALB and Function URL events', async () => {
    for (const name of ['apigw-http-jwt.json', 'alb.json', 'function-url.json'] as const) {
      const event = loadEvent(name)
      event.headers['x-tenant-id'] = `t-${name.length}`
      const seen = await run({ from: [{ header: 'X-Tenant-ID' }] }, event)
      assert.equal(seen.current, `t-${name.length}`, name)
    }
  })

  it('reads a header present only in multiValueHeaders', async () => {
    const event = loadEvent('apigw-rest.json')
    event.multiValueHeaders['X-TENANT-ID'] = ['acme', 'acme']
    assert.equal((await run({ from: [{ header: 'x-tenant-id' }] }, event)).current, 'acme')
  })

  it('refuses a header sent with several different values', async () => {
    const event = restEvent({ 'x-tenant-id': 'acme' })
    event.multiValueHeaders['x-tenant-id'] = ['acme', 'globex']
    await assert.rejects(run({ from: [{ header: 'x-tenant-id' }] }, event), (error) => {
      assert.ok(error instanceof InvalidTenantError)
      assert.equal(error.reason, 'ambiguous')
      assert.equal(error.source, 'header x-tenant-id')
      return true
    })
  })

  it('refuses the same header under two spellings with different values', async () => {
    const event = { headers: { 'x-tenant-id': 'acme', 'X-Tenant-Id': 'globex' } }
    await assert.rejects(
      run({ from: [{ header: 'x-tenant-id' }] }, event),
      (error) => error instanceof InvalidTenantError && error.reason === 'ambiguous',
    )
  })

  it('refuses a comma-joined header (HTTP API joins repeated headers that way)', async () => {
    const event = loadEvent('apigw-http-jwt.json')
    event.headers['x-tenant-id'] = 'acme,globex'
    await assert.rejects(
      run({ from: [{ header: 'x-tenant-id' }] }, event),
      (error) => error instanceof InvalidTenantError && error.reason === 'pattern',
    )
  })

  it('treats an empty header as absent', async () => {
    await assert.rejects(
      run({ from: [{ header: 'x-tenant-id' }] }, restEvent({ 'x-tenant-id': '' })),
      TenantRequiredError,
    )
  })
})

describe('claim source', () => {
  it('reads an HTTP API JWT authorizer claim (requestContext.authorizer.jwt.claims)', async () => {
    const event = loadEvent('apigw-http-jwt.json')
    event.requestContext.authorizer.jwt.claims['custom:tenant_id'] = 'acme'
    const seen = await run({ from: [{ claim: 'custom:tenant_id' }] }, event)
    assert.equal(seen.current, 'acme')
  })

  it('reads a REST Cognito authorizer claim (requestContext.authorizer.claims)', async () => {
    const event = restEvent()
    event.requestContext.authorizer = { claims: { sub: 'u-1', tenant_id: 'acme' } }
    assert.equal((await run({ from: [{ claim: 'tenant_id' }] }, event)).current, 'acme')
  })

  it('reads an HTTP API Lambda authorizer context (requestContext.authorizer.lambda)', async () => {
    const event = loadEvent('apigw-http-jwt.json')
    event.requestContext.authorizer = { lambda: { tenantId: 42 } }
    // A numeric value (the Lambda authorizer's context keeps JSON types) becomes its string.
    assert.equal((await run({ from: [{ claim: 'tenantId' }] }, event)).current, '42')
  })

  it('reads a REST Lambda authorizer context (requestContext.authorizer[name])', async () => {
    const event = restEvent()
    event.requestContext.authorizer = {
      principalId: 'user',
      tenantId: 'acme',
      integrationLatency: 3,
    }
    assert.equal((await run({ from: [{ claim: 'tenantId' }] }, event)).current, 'acme')
  })

  it('reads own properties only: a claim named constructor is not Object.prototype.constructor', async () => {
    const event = loadEvent('apigw-http-jwt.json')
    await assert.rejects(run({ from: [{ claim: 'constructor' }] }, event), TenantRequiredError)
  })

  it('refuses a claim that is not a string', async () => {
    const event = restEvent()
    event.requestContext.authorizer = { claims: { tenant_id: ['acme', 'globex'] } }
    await assert.rejects(
      run({ from: [{ claim: 'tenant_id' }] }, event),
      (error) => error instanceof InvalidTenantError && error.reason === 'type',
    )
  })
})

describe('path parameter and function sources', () => {
  it('reads pathParameters[name]', async () => {
    const event = restEvent()
    event.pathParameters = { tenantId: 'acme', orderId: '7' }
    assert.equal((await run({ from: [{ pathParameter: 'tenantId' }] }, event)).current, 'acme')
  })

  it('calls a function source with the event and context', async () => {
    const calls: unknown[] = []
    const seen = await run(
      {
        from: [
          function fromBody(event: { body: string }, context) {
            calls.push(context.awsRequestId)
            return JSON.parse(event.body).tenant
          },
        ],
      },
      { body: '{"tenant":"acme"}' },
    )
    assert.equal(seen.current, 'acme')
    assert.deepEqual(calls, ['req-1'])
  })

  it('awaits a function source that returns a promise (a lookup)', async () => {
    const keys = new Map([['key-1', 'acme']])
    const seen = await run(
      {
        from: [
          async (event: { headers: Record<string, string> }) => keys.get(event.headers.k ?? ''),
        ],
      },
      { headers: { k: 'key-1' } },
    )
    assert.equal(seen.current, 'acme')
  })

  it('lets what a function source throws propagate unchanged', async () => {
    const denied = Object.assign(new Error('unknown API key'), { statusCode: 401 })
    await assert.rejects(
      run(
        {
          from: [
            () => {
              throw denied
            },
          ],
        },
        {},
      ),
      (error) => error === denied,
    )
  })
})

describe('order of sources', () => {
  it('takes the first source that has a value and reads no further', async () => {
    // Prepare
    let laterCalls = 0
    const event = restEvent({ 'x-tenant-id': 'from-header' })
    event.pathParameters = { tenantId: 'from-path' }
    // Act
    const seen = await run(
      {
        from: [
          { claim: 'tenant_id' }, // absent in this event
          { pathParameter: 'tenantId' },
          { header: 'x-tenant-id' },
          () => {
            laterCalls++
            return 'from-function'
          },
        ],
      },
      event,
    )
    // Assess
    assert.equal(seen.current, 'from-path')
    assert.equal(laterCalls, 0)
  })

  it('falls through sources that have nothing, in order, to a function', async () => {
    const seen = await run(
      { from: [{ header: 'x-tenant-id' }, { claim: 'tenant_id' }, () => 'fallback'] },
      restEvent(),
    )
    assert.equal(seen.current, 'fallback')
  })
})

describe('platform versus event', () => {
  it('refuses with 403 an event naming another tenant than the platform, wherever context is listed', async () => {
    for (const from of [
      ['context', { header: 'x-tenant-id' }],
      [{ header: 'x-tenant-id' }, 'context'],
      [{ header: 'x-tenant-id' }],
    ] as TenantOptions['from'][]) {
      const context = lambdaContext('req-1', { tenantId: 'acme' })
      await assert.rejects(
        run({ from }, restEvent({ 'x-tenant-id': 'globex' }), context),
        (error) => {
          assert.ok(error instanceof TenantMismatchError)
          assert.equal(error.statusCode, 403)
          assert.equal(error.code, 'LMI_TENANT_MISMATCH')
          assert.equal(error.expose, true)
          assert.equal(error.source, 'header x-tenant-id')
          assert.equal(error.tenantId, 'acme')
          assert.equal(error.claimed, 'globex')
          // Neither id reaches the client.
          assert.doesNotMatch(error.message, /acme|globex/)
          assert.doesNotMatch(JSON.stringify(error), /acme|globex/)
          return true
        },
      )
    }
  })

  it('reads every event source when the platform gave an id, and accepts them when they agree', async () => {
    let functionCalls = 0
    const event = restEvent({ 'x-tenant-id': 'acme' })
    const seen = await run(
      {
        from: [
          'context',
          { header: 'x-tenant-id' },
          () => {
            functionCalls++
            return undefined
          },
        ],
      },
      event,
      lambdaContext('req-1', { tenantId: 'acme' }),
    )
    assert.deepEqual(seen, { context: 'acme', current: 'acme' })
    assert.equal(functionCalls, 1)
  })

  it('checks an async source against the platform too', async () => {
    await assert.rejects(
      run(
        { from: ['context', async () => 'globex'] },
        {},
        lambdaContext('req-1', { tenantId: 'acme' }),
      ),
      TenantMismatchError,
    )
  })

  it('requires the event to carry the tenant when context is not among the sources', async () => {
    await assert.rejects(
      run(
        { from: [{ header: 'x-tenant-id' }] },
        restEvent(),
        lambdaContext('req-1', { tenantId: 'acme' }),
      ),
      TenantRequiredError,
    )
  })

  it("maps bindTenantId's TenantConflictError to a 403 TenantMismatchError", async () => {
    // Prepare: the invocation is 'acme'; a misbehaving middleware rewrites context.tenantId.
    const handler = lmi(async () => getTenantId())
      .before((request) => {
        request.context.tenantId = 'globex'
      })
      .use(tenant({ from: ['context'] }))
    // Act + Assess
    await assert.rejects(handler({}, lambdaContext('req-1', { tenantId: 'acme' })), (error) => {
      assert.ok(error instanceof TenantMismatchError)
      assert.ok(error.cause instanceof TenantConflictError)
      assert.equal(error.tenantId, 'acme')
      return true
    })
  })

  it('accepts an id bound earlier in the chain as the current one', async () => {
    const handler = lmi(async () => getTenantId())
      .before(() => {
        bindTenantId('acme')
      })
      .use(tenant({ from: ['context', { header: 'x-tenant-id' }] }))
    assert.equal(await handler(restEvent({ 'x-tenant-id': 'acme' }), lambdaContext('r')), 'acme')
    await assert.rejects(
      handler(restEvent({ 'x-tenant-id': 'globex' }), lambdaContext('r2')),
      TenantMismatchError,
    )
  })
})

describe('required: false', () => {
  it('lets an invocation without a tenant through, binding nothing', async () => {
    const handler = lmi(async (_event, context: LambdaContext) => ({
      context: context.tenantId ?? null,
      current: tryGetTenantId() ?? null,
      thrown: (() => {
        try {
          getTenantId()
          return null
        } catch (error) {
          return (error as TenantError).code
        }
      })(),
    })).use(tenant({ from: [{ header: 'x-tenant-id' }], required: false }))
    assert.deepEqual(await handler(restEvent(), lambdaContext('req-1')), {
      context: null,
      current: null,
      thrown: 'LMI_NO_TENANT',
    })
  })

  it('still binds and validates a tenant id when there is one', async () => {
    const options: TenantOptions = { from: [{ header: 'x-tenant-id' }], required: false }
    assert.equal((await run(options, restEvent({ 'x-tenant-id': 'acme' }))).current, 'acme')
    await assert.rejects(run(options, restEvent({ 'x-tenant-id': '..' })), InvalidTenantError)
  })
})

describe('options', () => {
  it('are checked once, at creation, with InvalidConfigurationError', () => {
    const bad: unknown[] = [
      null,
      'context',
      { form: ['context'] },
      { from: [] },
      { from: 'context' },
      { from: ['platform'] },
      { from: [{ header: '' }] },
      { from: [{ header: 'x tenant' }] },
      { from: [{ header: 'x-tenant-id', claim: 'tenant_id' }] },
      { from: [{ claim: 7 }] },
      { from: [{ pathParameter: '' }] },
      { from: [null] },
      { required: 'yes' },
      { pattern: '^[a-z]+$' },
      { validate: true },
      { maxLength: 0 },
      { maxLength: 1.5 },
    ]
    for (const options of bad) {
      assert.throws(
        () => tenant(options as TenantOptions),
        InvalidConfigurationError,
        String(options),
      )
    }
  })
})

describe('errors', () => {
  it('are HTTP errors by shape, LmiErrors, with a stable code and a safe toJSON', async () => {
    const errors: TenantError[] = []
    for (const [options, event, context] of [
      [{}, {}, lambdaContext('r')],
      [
        { from: [{ header: 'x-tenant-id' }] },
        restEvent({ 'x-tenant-id': '../x' }),
        lambdaContext('r'),
      ],
      [
        { from: [{ header: 'x-tenant-id' }] },
        restEvent({ 'x-tenant-id': 'b' }),
        lambdaContext('r', { tenantId: 'a' }),
      ],
    ] as const) {
      await run(options, event, context).catch((error: TenantError) => errors.push(error))
    }
    assert.deepEqual(
      errors.map((error) => [error.name, error.code, error.statusCode, error.expose]),
      [
        ['TenantRequiredError', 'LMI_TENANT_REQUIRED', 400, true],
        ['InvalidTenantError', 'LMI_TENANT_INVALID', 400, true],
        ['TenantMismatchError', 'LMI_TENANT_MISMATCH', 403, true],
      ],
    )
    for (const error of errors) {
      assert.ok(error instanceof TenantError)
      assert.ok(error instanceof LmiError)
      const json = JSON.parse(JSON.stringify(error))
      assert.equal(json.code, error.code)
      assert.equal(json.statusCode, error.statusCode)
      assert.equal(json.message, error.message)
      assert.ok(!('stack' in json) && !('cause' in json))
    }
  })
})
