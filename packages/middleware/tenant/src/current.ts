import { tryGetInvocation } from '@lmi/core'
import { NoTenantError } from './errors.ts'

interface InvokeStoreLike {
  getTenantId?: () => unknown
  getContext?: () => unknown
}

function invokeStore(): InvokeStoreLike | undefined {
  const store = (globalThis as { awslambda?: { InvokeStore?: unknown } }).awslambda?.InvokeStore
  return typeof store === 'object' && store !== null ? (store as InvokeStoreLike) : undefined
}

/**
 * The current invocation's tenant id, or `undefined` (outside an invocation, or in one without
 * a tenant). Reads lmi's invocation record, else `@aws/lambda-invoke-store` — where AWS's
 * runtime keeps the invocation when the function uses plain middy without `lmi()`.
 *
 * @example
 * ```ts
 * import { tryGetTenantId } from '@lmi/tenant'
 * const prefix = `${tryGetTenantId() ?? 'shared'}/reports/`
 * ```
 */
export function tryGetTenantId(): string | undefined {
  const own = tryGetInvocation()?.tenantId
  if (own !== undefined) return own
  const store = invokeStore()
  const fromStore = typeof store?.getTenantId === 'function' ? store.getTenantId() : undefined
  return typeof fromStore === 'string' && fromStore !== '' ? fromStore : undefined
}

/**
 * The current invocation's tenant id, from anywhere in its async call tree. Throws
 * {@link NoTenantError} outside an invocation or when the invocation has none.
 *
 * @example
 * ```ts
 * import { getTenantId } from '@lmi/tenant'
 * export async function loadOrders() {
 *   return db.query('SELECT * FROM orders WHERE tenant = $1', [getTenantId()])
 * }
 * ```
 */
export function getTenantId(): string {
  const tenantId = tryGetTenantId()
  if (tenantId !== undefined) return tenantId
  const store = invokeStore()
  const inInvocation =
    tryGetInvocation() !== undefined ||
    (typeof store?.getContext === 'function' && store.getContext() !== undefined)
  throw new NoTenantError(inInvocation)
}
