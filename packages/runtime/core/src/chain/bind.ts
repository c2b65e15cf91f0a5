// Which invocation a chain's call runs in: the one lmi's runtime (or an outer chain) bound,
// the one the chain opens on the context AWS's runtime gives each invocation, or its own.
import type { Writable } from 'node:stream'
import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { detectorMode } from '../detect/findings.ts'
import { InvalidInvocationError } from '../errors.ts'
import type { LambdaContext } from '../invocation/context.ts'
import { foreignInvokeStore, invocationStorage, kInvocation } from '../invocation/current.ts'
import { InvocationState } from '../invocation/state.ts'
import { type Chain, runRequest, runWithPlugin } from './run.ts'
import { writeStreamedResponse } from './streamed.ts'
import type { LmiRequest } from './types.ts'

const { REQUEST_ID, TENANT_ID, X_RAY_TRACE_ID } = InvokeStoreBase.PROTECTED_KEYS

/**
 * One call of the chain's handler: `responseStream` in streaming mode only (a standard
 * handler's third argument is AWS's callback, never read).
 */
export function invokeChain(
  chain: Chain,
  event: unknown,
  context: LambdaContext,
  responseStream: Writable | undefined,
): Promise<unknown> {
  if (event === undefined) event = {}
  if (context === undefined) context = {} as LambdaContext
  else if (typeof context !== 'object' || context === null) {
    return Promise.reject(
      new InvalidInvocationError(
        `The handler was called with a ${context === null ? 'null' : typeof context} context; Lambda passes the Context object`,
      ),
    )
  }
  const own = invocationStorage.getStore()
  // On lmi's runtime (or inside another chain) the invocation's context is already bound.
  if (own !== undefined && own.context === context) {
    return runChain(chain, own, event, context, false, responseStream)
  }
  // AWS's runtime (its InvokeStore has a context) opened one for this invocation.
  const store = foreignInvokeStore()
  const awsContext = store?.getContext()
  const outer = own ?? (awsContext?.[kInvocation] as InvocationState | undefined)
  if (outer !== undefined && outer.context === context) {
    return runChain(chain, outer, event, context, false, responseStream)
  }
  const invocation = invocationFromContext(context, outer, awsContext)
  invocation.timeItself()
  // With detectors on, the end must be recorded before the caller resumes: an invocation
  // started right after would otherwise see this one's shared() writes as still running.
  if (detectorMode() !== 'off') invocation.watchEnd()
  if (store === undefined || awsContext === undefined) {
    return invocationStorage.run(
      invocation,
      runChain,
      chain,
      invocation,
      event,
      context,
      true,
      responseStream,
    )
  }
  // The chain rides on AWS's context rather than opening a second one of its own.
  if (invocation.tenantId !== undefined && awsContext[TENANT_ID] === undefined) {
    // AWS's runtime seeds request and trace id only: add the tenant id for the SDK and Powertools.
    const withTenant = {
      ...awsContext,
      [TENANT_ID]: invocation.tenantId,
      [kInvocation]: invocation,
    }
    return store.run(withTenant, () =>
      runChain(chain, invocation, event, context, true, responseStream),
    )
  }
  awsContext[kInvocation] = invocation
  return runChain(chain, invocation, event, context, true, responseStream)
}

// What AWS's runtime put in the invocation's InvokeStore context is read from that context,
// already at hand, not through the store's getters: each of those looks the context up again.
function invocationFromContext(
  context: LambdaContext,
  outer: InvocationState | undefined,
  awsContext: Record<PropertyKey, unknown> | undefined,
): InvocationState {
  return new InvocationState({
    requestId:
      (typeof context.awsRequestId === 'string' ? context.awsRequestId : undefined) ??
      (awsContext?.[REQUEST_ID] as string | undefined) ??
      outer?.requestId ??
      'unknown',
    tenantId:
      context.tenantId ?? (awsContext?.[TENANT_ID] as string | undefined) ?? outer?.tenantId,
    traceId:
      context.xRayTraceId ??
      (awsContext?.[X_RAY_TRACE_ID] as string | undefined) ??
      outer?.traceId ??
      process.env._X_AMZN_TRACE_ID,
    context,
  })
}

/** The request through the chain, then — when the chain owns the invocation — its end. */
function runChain(
  chain: Chain,
  invocation: InvocationState,
  event: unknown,
  context: LambdaContext,
  ownsInvocation: boolean,
  responseStream: Writable | undefined,
): Promise<unknown> {
  const request: LmiRequest = {
    event,
    context,
    response: undefined,
    error: undefined,
    internal:
      chain.internal === undefined
        ? Object.create(null)
        : Object.assign(Object.create(null), chain.internal),
  }
  let outcome: Promise<unknown>
  if (chain.plugin !== undefined) {
    outcome = runWithPlugin(chain, chain.plugin, request, invocation, responseStream)
  } else {
    outcome = runRequest(chain, request, invocation)
    if (responseStream !== undefined) outcome = outcome.then(streamTo(responseStream))
  }
  // Where lmi's runtime (or an outer chain) owns the invocation, it ends it.
  return ownsInvocation ? invocation.finish(outcome) : outcome
}

/** Streaming mode: writes the chain's response to the stream; the invocation's value is none. */
function streamTo(responseStream: Writable): (response: unknown) => Promise<undefined> {
  return async function writeResponse(response) {
    await writeStreamedResponse(responseStream, response)
    return undefined
  }
}
