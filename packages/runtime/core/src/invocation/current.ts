import type { AsyncLocalStorage } from 'node:async_hooks'
import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { NoInvocationError, TenantConflictError } from '../errors.ts'
import { processState } from '../process-state.ts'
import { globalInvokeStore, isLmiInvokeStore } from './invoke-store.ts'
import type { Invocation, InvocationState } from './state.ts'

const { REQUEST_ID, TENANT_ID } = InvokeStoreBase.PROTECTED_KEYS

/**
 * The AsyncLocalStorage that tells which invocation runs any piece of code: one per process,
 * shared by every copy of this package, so a chain inlined in a handler bundle sees the
 * invocation lmi's runtime opened.
 */
export const invocationStorage: AsyncLocalStorage<InvocationState> = processState.invocationStorage

/**
 * Where the chain keeps its invocation in AWS's runtime's InvokeStore context: that runtime
 * already opens one AsyncLocalStorage context per invocation, and a second of lmi's own would
 * cost a context copy per invocation for nothing.
 */
export const kInvocation: unique symbol = Symbol.for('@lmi/core/invocation')

/** The part of AWS's runtime's InvokeStore (the package's own) that lmi uses. */
export interface ForeignInvokeStore {
  getRequestId(): string
  getXRayTraceId(): string | undefined
  getTenantId(): string | undefined
  getContext(): Record<PropertyKey, unknown> | undefined
  run<T>(context: Record<PropertyKey, unknown>, fn: () => T): T
}

/** The InvokeStore on `globalThis.awslambda` when it is not lmi's (AWS's runtime's). */
export function foreignInvokeStore(): ForeignInvokeStore | undefined {
  const store = globalInvokeStore()
  if (store === undefined || store === null || isLmiInvokeStore(store)) return undefined
  const candidate = store as Partial<ForeignInvokeStore>
  if (typeof candidate.run !== 'function' || typeof candidate.getContext !== 'function') {
    return undefined
  }
  return store as ForeignInvokeStore
}

/** The invocation running the current code: lmi's own context, else AWS's InvokeStore's. */
export function currentInvocation(): InvocationState | undefined {
  const own = invocationStorage.getStore()
  if (own !== undefined) return own
  return foreignInvokeStore()?.getContext()?.[kInvocation] as InvocationState | undefined
}

/**
 * The invocation running the current code, or `undefined` outside one.
 *
 * @example
 * ```ts
 * import { tryGetInvocation } from '@lmi/core'
 * const requestId = tryGetInvocation()?.requestId ?? 'init'
 * ```
 */
export function tryGetInvocation(): Invocation | undefined {
  return currentInvocation()
}

/**
 * The invocation running the current code. Throws {@link NoInvocationError} outside one.
 *
 * @example
 * ```ts
 * import { getInvocation } from '@lmi/core'
 * export async function loadUser(id: string) {
 *   const { signal, tenantId } = getInvocation()
 *   return fetch(`https://users/${tenantId}/${id}`, { signal })
 * }
 * ```
 */
export function getInvocation(): Invocation {
  const invocation = currentInvocation()
  if (invocation === undefined) throw new NoInvocationError()
  return invocation
}

/**
 * Binds a tenant id to the current invocation — for functions that learn the tenant from the
 * event rather than from Lambda's tenant isolation mode. From then on `getInvocation().tenantId`,
 * `context.tenantId`, `@aws/lambda-invoke-store`'s `getTenantId()` (the AWS SDK, Powertools)
 * and the `@lmi/context` logger give it, in this invocation only. Binding the id it already has
 * is a no-op; another id throws {@link TenantConflictError}; outside an invocation throws
 * {@link NoInvocationError}. `@lmi/tenant` calls this for you.
 *
 * @example
 * ```ts
 * import { bindTenantId } from '@lmi/core'
 * bindTenantId(event.requestContext.authorizer.claims['custom:tenant'])
 * ```
 */
export function bindTenantId(tenantId: string): void {
  const invocation = currentInvocation()
  const store = foreignInvokeStore()
  const awsContext = store?.getContext()
  if (invocation === undefined && awsContext === undefined) throw new NoInvocationError()
  const current =
    invocation?.tenantId ?? (awsContext?.[TENANT_ID] as string | undefined) ?? undefined
  if (current !== undefined) {
    if (current === tenantId) return
    throw new TenantConflictError(
      invocation?.requestId ?? String(awsContext?.[REQUEST_ID]),
      current,
      tenantId,
    )
  }
  invocation?.setTenantId(tenantId)
  // AWS's runtime's context for this invocation (AWS's InvokeStore refuses `set` on protected
  // keys; the context object is this invocation's own, so writing it there is safe).
  if (awsContext !== undefined) awsContext[TENANT_ID] = tenantId
}
