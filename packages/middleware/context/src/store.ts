import { invocationLocal } from '@lmi/core'

// Values live with the invocation, not in module state: visible to that invocation only, gone
// with it.
const values = invocationLocal<Map<unknown, unknown>>('@lmi/context/store')

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
  // set() on the slot throws NoInvocationError outside an invocation.
  const map = values.get() ?? values.set(new Map())
  map.set(key, value)
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
  return values.get()?.get(key) as T | undefined
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
  return values.get()?.has(key) ?? false
}
