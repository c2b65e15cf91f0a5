import { getInvocation, type Invocation, tryGetInvocation } from '@lmi/runtime'

// Values live beside the invocation, not in module state: keyed weakly by the invocation
// object, they are visible to that invocation only and go away with it.
const stores = new WeakMap<Invocation, Map<unknown, unknown>>()

function storeOf(invocation: Invocation): Map<unknown, unknown> {
  let store = stores.get(invocation)
  if (store === undefined) {
    store = new Map()
    stores.set(invocation, store)
  }
  return store
}

/**
 * Stores `value` under `key` for the current invocation only; concurrent invocations never
 * see it. Throws `NoInvocationError` outside an invocation (at init, module state is the
 * right place).
 *
 * @example
 * ```ts
 * import { set } from '@lmi/context'
 * set('user', await loadUser(event))
 * ```
 */
export function set<T>(key: unknown, value: T): T {
  storeOf(getInvocation()).set(key, value)
  return value
}

/**
 * The value the current invocation stored under `key`, or `undefined` (also outside an
 * invocation).
 *
 * @example
 * ```ts
 * import { get } from '@lmi/context'
 * const user = get<User>('user')
 * ```
 */
export function get<T = unknown>(key: unknown): T | undefined {
  const invocation = tryGetInvocation()
  if (invocation === undefined) return undefined
  return stores.get(invocation)?.get(key) as T | undefined
}

/**
 * Whether the current invocation stored something under `key`.
 *
 * @example
 * ```ts
 * if (!has('user')) set('user', await loadUser(event))
 * ```
 */
export function has(key: unknown): boolean {
  const invocation = tryGetInvocation()
  return invocation !== undefined && (stores.get(invocation)?.has(key) ?? false)
}
