import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { describe, it } from 'node:test'
import { lambdaContext } from '@lmi/test-kit'
import { setDetectorMode } from '../src/detect/findings.ts'
import {
  bindTenantId,
  getInvocation,
  type InvocationEndMessage,
  invocationEndChannel,
  type LambdaContext,
  lmi,
  NoInvocationError,
  TenantConflictError,
} from '../src/index.ts'

const invokeStore = () =>
  (globalThis as { awslambda?: { InvokeStore?: { getTenantId(): string | undefined } } }).awslambda
    ?.InvokeStore

describe('bindTenantId', () => {
  it('gives the invocation a tenant id: getInvocation(), context and InvokeStore follow', async () => {
    const handler = lmi(async (_event, ctx: LambdaContext) => {
      const before = { own: getInvocation().tenantId, store: invokeStore()?.getTenantId() }
      bindTenantId('acme')
      bindTenantId('acme') // the same id again: nothing to do
      await Promise.resolve()
      return {
        before,
        own: getInvocation().tenantId,
        context: ctx.tenantId,
        store: invokeStore()?.getTenantId(),
      }
    })

    const result = await handler({}, lambdaContext('req-1'))

    assert.deepEqual(result, {
      before: { own: undefined, store: undefined },
      own: 'acme',
      context: 'acme',
      store: 'acme',
    })
  })

  it('never replaces a tenant id the invocation has, and needs an invocation', async () => {
    const handler = lmi(async () => {
      try {
        bindTenantId('globex')
        return 'rebound'
      } catch (error) {
        return error
      }
    })

    const error = await handler({}, lambdaContext('req-1', { tenantId: 'acme' }))

    assert.ok(error instanceof TenantConflictError)
    assert.equal(error.code, 'LMI_TENANT_CONFLICT')
    assert.equal(error.requestId, 'req-1')
    assert.throws(() => bindTenantId('acme'), NoInvocationError)
  })
})

describe('invocationEndChannel', () => {
  it('publishes once per watched invocation the chain owns, with its outcome, and nothing for the others', async () => {
    const messages: InvocationEndMessage[] = []
    const onEnd = (message: unknown) => {
      messages.push(message as InvocationEndMessage)
    }
    diagnosticsChannel.subscribe('lmi:invocation:end', onEnd)
    try {
      assert.equal(invocationEndChannel.name, 'lmi:invocation:end')
      const failure = new Error('boom')
      const handler = lmi(async (event: { fail: boolean; watch: boolean }) => {
        if (event.watch) getInvocation().watchEnd()
        if (event.fail) throw failure
        return 'ok'
      })
      // With the shared-state detectors on (lmi() turns them on), the chain watches every end.
      setDetectorMode('off')

      await handler({ fail: false, watch: true }, lambdaContext('req-ok'))
      await assert.rejects(
        handler({ fail: true, watch: true }, lambdaContext('req-failed')),
        failure,
      )
      await handler({ fail: false, watch: false }, lambdaContext('req-unwatched'))
      await Promise.resolve() // the end is published from the outcome's own reaction
    } finally {
      diagnosticsChannel.unsubscribe('lmi:invocation:end', onEnd)
      setDetectorMode('warn')
    }

    assert.deepEqual(
      messages.map(({ invocation, ok, error, timedOut }) => ({
        requestId: invocation.requestId,
        ended: invocation.ended,
        ok,
        error: (error as Error | undefined)?.message,
        timedOut,
      })),
      [
        { requestId: 'req-ok', ended: true, ok: true, error: undefined, timedOut: false },
        { requestId: 'req-failed', ended: true, ok: false, error: 'boom', timedOut: false },
      ],
    )
  })
})
