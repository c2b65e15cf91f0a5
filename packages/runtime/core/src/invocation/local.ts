import { NoInvocationError } from '../errors.ts'
import { currentInvocation, foreignInvokeStore } from './current.ts'

/**
 * One typed value per invocation, reached from anywhere in that invocation's async tree: set
 * in one invocation, it is invisible to every other, and it goes away with the invocation.
 * Made by {@link invocationLocal}.
 *
 * @example
 * ```ts
 * const user = invocationLocal<User>('my-app/user')
 * user.set(await loadUser(event))   // in a before hook
 * user.get()?.id                    // anywhere later in the same invocation
 * ```
 */
export interface InvocationLocal<T> {
  /** The name it was made with. */
  readonly name: string
  /** Whether the code runs in an invocation, which can hold a value (`set` would not throw). */
  readonly active: boolean
  /** The current invocation's value; `undefined` when it has none or outside an invocation. */
  get(): T | undefined
  /** Sets the current invocation's value and returns it. Throws `NoInvocationError` outside one. */
  set(value: T): T
  /** Whether the current invocation has a value (set, even to `undefined`). */
  has(): boolean
  /** Removes the current invocation's value; `true` when it had one. */
  delete(): boolean
}

type Holder = Record<symbol, unknown>

/**
 * What holds the current invocation's values: lmi's invocation (lmi's runtime, or an `lmi()`
 * chain on any runtime), else the context AWS's runtime opened for it in its InvokeStore (a
 * plain `middy()` handler on AWS's runtime). Values live on that object rather than in a
 * WeakMap: an ephemeron per short-lived key costs ~1 µs of garbage collection per invocation.
 */
function holder(): Holder | undefined {
  return (currentInvocation() as Holder | undefined) ?? foreignInvokeStore()?.getContext()
}

/**
 * Makes a per-invocation slot for a value of type `T` — the way for a middleware or a library
 * to keep request state without a module-level variable that concurrent invocations would
 * share. Works on lmi's runtime, under an `lmi()` chain on AWS's Node runtime (classic or LMI),
 * and in a plain `middy()` handler on AWS's runtime.
 *
 * `name` is namespaced by you (`'<package>/<what>'`): two copies of the same package in one
 * process (a bundle and `node_modules`) reach the same value through the same name, as every
 * copy of `@lmi/core` agrees on the current invocation. Keep the slot itself private to your
 * module and export functions that use it: that is what makes the state yours.
 *
 * @example
 * ```ts
 * import { invocationLocal } from '@lmi/core'
 *
 * const startedAt = invocationLocal<number>('my-timer/startedAt')
 * export const timer = () => ({
 *   before: () => { startedAt.set(performance.now()) },
 *   after: () => { console.log('took', performance.now() - (startedAt.get() ?? 0)) },
 * })
 * ```
 */
export function invocationLocal<T>(name: string): InvocationLocal<T> {
  const key = Symbol.for(name)
  return {
    name,
    get active() {
      return holder() !== undefined
    },
    get() {
      return holder()?.[key] as T | undefined
    },
    set(value) {
      const target = holder()
      if (target === undefined) throw new NoInvocationError()
      target[key] = value
      return value
    },
    has() {
      const target = holder()
      return target !== undefined && Object.hasOwn(target, key)
    },
    delete() {
      const target = holder()
      return target !== undefined && Object.hasOwn(target, key) && delete target[key]
    },
  }
}
