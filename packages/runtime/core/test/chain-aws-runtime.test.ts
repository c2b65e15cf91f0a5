// The chain on AWS's own runtime: there, `globalThis.awslambda.InvokeStore` is the package's
// own store (seeded with request and trace id by AWS's runtime, not the tenant id). This file
// runs in its own process, so installing that store here leaves the other tests alone.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import { barrier } from '@lmi/test-kit'
import { getInvocation, type LambdaContext, lmi } from '../src/index.ts'

const { REQUEST_ID, X_RAY_TRACE_ID } = InvokeStoreBase.PROTECTED_KEYS

describe('lmi() on AWS runtime', () => {
  it('adds the tenant id to the InvokeStore AWS seeded, and reads its trace id', async () => {
    // Prepare: what AWS's runtime does around each invocation in LMI mode.
    const store = await InvokeStore.getInstanceAsync(true)
    const handler = lmi(async () => ({
      storeTenant: store.getTenantId(),
      storeRequest: store.getRequestId(),
      invocationTrace: getInvocation().traceId,
      invocationTenant: getInvocation().tenantId,
    }))
    const context = {
      awsRequestId: 'req-aws',
      tenantId: 'acme',
      getRemainingTimeInMillis: () => 1000,
    } as LambdaContext
    // Act
    const result = await store.run(
      { [REQUEST_ID]: 'req-aws', [X_RAY_TRACE_ID]: 'Root=1-abc' },
      () => handler({}, context),
    )
    // Assess
    assert.deepEqual(result, {
      storeTenant: 'acme',
      storeRequest: 'req-aws',
      invocationTrace: 'Root=1-abc',
      invocationTenant: 'acme',
    })
  })

  it('rides on the InvokeStore context of each invocation: 20 interleaved, no bleed', async () => {
    const store = await InvokeStore.getInstanceAsync(true)
    const size = 20
    const wait = barrier(size)
    const handler = lmi(async (event: { n: number }) => {
      const before = getInvocation().requestId
      await wait()
      await new Promise((resolve) => setImmediate(resolve))
      return { n: event.n, before, after: getInvocation().requestId }
    })
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) =>
        store.run({ [REQUEST_ID]: `req-${n}` }, () =>
          handler({ n }, {
            awsRequestId: `req-${n}`,
            getRemainingTimeInMillis: () => 1000,
          } as LambdaContext),
        ),
      ),
    )
    results.forEach((result, n) => {
      assert.deepEqual(result, { n, before: `req-${n}`, after: `req-${n}` })
    })
  })
})
