import { getInvocation, type Invocation, tryGetInvocation } from '@lmi/core'

// Values live on the invocation object, not in module state: visible to that invocation only,
// gone with it. A property rather than a WeakMap entry: ephemerons of short-lived keys cost
// ~1 µs of garbage collection per invocation.
const kStore = Symbol.for('@lmi/context/store')
type Holder = { [kStore]?: Map<unknown, unknown> }

function storeOf(invocation: Invocation): Map<unknown, unknown> {
  const holder = invocation as Holder
  holder[kStore] ??= new Map()
  return holder[kStore]
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
  return (invocation as Holder)[kStore]?.get(key) as T | undefined
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
  return invocation !== undefined && ((invocation as Holder)[kStore]?.has(key) ?? false)
}
