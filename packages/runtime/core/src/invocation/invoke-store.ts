import { AsyncLocalStorage } from 'node:async_hooks'
import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { processState } from '../process-state.ts'

/** `globalThis.awslambda.InvokeStore`, whoever installed it. */
export function globalInvokeStore(): unknown {
  return (globalThis as { awslambda?: { InvokeStore?: unknown } }).awslambda?.InvokeStore
}

const kLmiInvokeStore = Symbol.for('@lmi/core/LmiInvokeStore')

/**
 * `@aws/lambda-invoke-store`'s store, backed by lmi's own AsyncLocalStorage. Installed on
 * `globalThis.awslambda.InvokeStore` before the handler loads, where every copy of the
 * package (the AWS SDK's, Powertools', the handler's) looks first, so they all read the
 * current invocation's request id, trace id and tenant id without a second
 * AsyncLocalStorage context per invocation.
 */
export class LmiInvokeStore extends InvokeStoreBase {
  // Branded, so a copy of this package bundled with the handler knows the runtime's store for
  // lmi's own rather than AWS's.
  readonly [kLmiInvokeStore] = true

  // `run()` called by other code (tests, a chain running on this runtime) opens a context of
  // its own on top of the invocation's.
  readonly #override = new AsyncLocalStorage<Record<PropertyKey, unknown>>()

  getContext(): Record<PropertyKey, unknown> | undefined {
    return this.#override.getStore() ?? processState.invocationStorage.getStore()?.invokeStore
  }

  hasContext(): boolean {
    return this.getContext() !== undefined
  }

  get<T = unknown>(key: PropertyKey): T | undefined {
    return this.getContext()?.[key] as T | undefined
  }

  set<T = unknown>(key: string | symbol, value: T): void {
    if (this.isProtectedKey(key)) {
      throw new Error(`Cannot modify protected Lambda context field: ${String(key)}`)
    }
    const context = this.getContext()
    if (context === undefined) throw new Error('No context available')
    context[key] = value
  }

  run<T>(context: Record<PropertyKey, unknown>, fn: () => T): T {
    return this.#override.run(context, fn)
  }
}

/** True for lmi's own store (any copy of this package), whose context lmi already binds. */
export function isLmiInvokeStore(store: unknown): store is LmiInvokeStore {
  return (store as { [kLmiInvokeStore]?: unknown } | undefined)?.[kLmiInvokeStore] === true
}

interface AwsLambdaGlobal {
  InvokeStore?: unknown
  [key: string]: unknown
}

/**
 * Puts lmi's InvokeStore on `globalThis.awslambda` (idempotent). Returns the instance.
 */
export function installInvokeStore(): LmiInvokeStore {
  const holder = globalThis as { awslambda?: AwsLambdaGlobal }
  holder.awslambda ??= {}
  const existing = holder.awslambda.InvokeStore
  if (isLmiInvokeStore(existing)) return existing
  const store = new LmiInvokeStore()
  holder.awslambda.InvokeStore = store
  return store
}

/**
 * Installs lmi's InvokeStore only where no runtime installed one: code that scopes its state
 * through `globalThis.awslambda.InvokeStore` (Powertools, the AWS SDK) needs one everywhere.
 */
export function ensureInvokeStore(): void {
  if (globalInvokeStore() === undefined) installInvokeStore()
}
