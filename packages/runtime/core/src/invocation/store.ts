import { AsyncLocalStorage } from 'node:async_hooks'
import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { invocationEndChannel } from '../channels.ts'
import { rawClearTimeout, rawSetTimeout } from '../detect/raw-timers.ts'
import { InvocationTimeoutError, LmiError } from '../errors.ts'
import { processState } from '../process-state.ts'
import {
  createLambdaContext,
  type FunctionInfo,
  type LambdaContext,
  type NextInvocation,
} from './context.ts'

/**
 * What lmi knows about the invocation that is running the current code. Available from
 * anywhere in the invocation's async tree through {@link getInvocation}.
 *
 * @example
 * ```ts
 * const { requestId, tenantId, signal, deadlineMs } = getInvocation()
 * ```
 */
export interface Invocation {
  readonly requestId: string
  readonly tenantId: string | undefined
  readonly traceId: string | undefined
  /** Epoch milliseconds at which Lambda stops waiting for this invocation. */
  readonly deadlineMs: number
  readonly context: LambdaContext
  /** Aborts at the deadline, with an `InvocationTimeoutError` as its reason. */
  readonly signal: AbortSignal
  /**
   * True once the invocation has been answered (success, error or timeout). Under the chain
   * on AWS's runtime it is kept only for invocations whose end is watched ({@link watchEnd}).
   */
  readonly ended: boolean
  /**
   * Asks for this invocation's end to be recorded (`ended`) and published on
   * `lmi:invocation:end`. lmi's runtime does both for every invocation; the chain, where it
   * owns the invocation (AWS's runtime), only once asked: invocations nobody watches then cost
   * nothing. Idempotent.
   */
  watchEnd(): void
}

/** What an {@link InvocationState} is made from. */
export interface InvocationInit {
  requestId: string
  tenantId: string | undefined
  traceId: string | undefined
  /** Omitted: derived from `context.getRemainingTimeInMillis()` when first needed. */
  deadlineMs?: number | undefined
  context: LambdaContext
}

/**
 * Lambda's longest function timeout (15 min): the time left assumed when nothing says how much
 * there is (a context without `getRemainingTimeInMillis`, a Runtime API answer without a usable
 * deadline), so lmi never ends an invocation the platform would still let run.
 */
export const MAX_FUNCTION_TIMEOUT_MS = 15 * 60 * 1000

/**
 * Installs the check every successful invocation end goes through (internal): the detectors'
 * `throw` mode turns an end with work left running into a failure. Process-wide, so an
 * invocation lmi's runtime runs goes through the check a bundled copy's detectors installed.
 */
export function setEndCheck(check: (invocation: InvocationState) => Error | undefined): void {
  processState.endCheck = check
}

/** The outcome of running the handler, or of whatever ended the invocation first. */
export type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: unknown; timedOut: boolean }

const { REQUEST_ID, X_RAY_TRACE_ID, TENANT_ID } = InvokeStoreBase.PROTECTED_KEYS

/**
 * What {@link invocationEndChannel} publishes when an invocation ends.
 *
 * @example
 * ```ts
 * const message: InvocationEndMessage = { invocation, ok: false, error: new Error('boom'), timedOut: false }
 * ```
 */
export interface InvocationEndMessage {
  readonly invocation: Invocation
  /** False when the invocation failed or timed out. */
  readonly ok: boolean
  /** Why it failed (`undefined` when `ok`). */
  readonly error: unknown
  readonly timedOut: boolean
}

/**
 * One invocation's state. The `AbortController` behind `signal` is created only if someone
 * asks for the signal: most handlers never do, and it is the costliest part of the record.
 */
export class InvocationState implements Invocation {
  readonly requestId: string
  #tenantId: string | undefined
  readonly traceId: string | undefined
  readonly context: LambdaContext
  #deadlineMs: number | undefined
  #invokeStore: Record<PropertyKey, unknown> | undefined
  #controller: AbortController | undefined
  #deadlineReason: Error | undefined
  #selfTimed = false
  #timer: NodeJS.Timeout | undefined
  #outcomePromise: Promise<unknown> | undefined
  #outcome: Outcome | undefined
  #settle: ((outcome: Outcome) => void) | undefined
  #handlerSettled = false
  #endWatched = false

  constructor(init: InvocationInit) {
    this.requestId = init.requestId
    this.#tenantId = init.tenantId
    this.traceId = init.traceId
    this.#deadlineMs = init.deadlineMs
    this.context = init.context
  }

  /**
   * Epoch ms of the deadline. Given by the Runtime API, or (for the chain on another runtime)
   * computed from `context.getRemainingTimeInMillis()` the first time it is needed.
   */
  get deadlineMs(): number {
    if (this.#deadlineMs === undefined) {
      const remaining = this.context.getRemainingTimeInMillis
      this.#deadlineMs =
        Date.now() +
        (typeof remaining === 'function' ? remaining.call(this.context) : MAX_FUNCTION_TIMEOUT_MS)
    }
    return this.#deadlineMs
  }

  get tenantId(): string | undefined {
    return this.#tenantId
  }

  /**
   * Sets the tenant id of an invocation Lambda gave none (see {@link bindTenantId}); the
   * InvokeStore context and the Lambda context follow.
   */
  setTenantId(tenantId: string): void {
    this.#tenantId = tenantId
    if (this.#invokeStore !== undefined) this.#invokeStore[TENANT_ID] = tenantId
    this.context.tenantId = tenantId
  }

  /** The `@aws/lambda-invoke-store` context of this invocation, built when first read. */
  get invokeStore(): Record<PropertyKey, unknown> {
    if (this.#invokeStore === undefined) {
      const store: Record<PropertyKey, unknown> = { [REQUEST_ID]: this.requestId }
      if (this.traceId !== undefined) store[X_RAY_TRACE_ID] = this.traceId
      if (this.tenantId !== undefined) store[TENANT_ID] = this.tenantId
      this.#invokeStore = store
    }
    return this.#invokeStore
  }

  /** The invocation the Runtime API handed out. */
  static fromNext(next: Omit<NextInvocation, 'body'>, info: FunctionInfo): InvocationState {
    return new InvocationState({
      requestId: next.requestId,
      tenantId: next.tenantId,
      traceId: next.traceId,
      deadlineMs: next.deadlineMs,
      context: createLambdaContext(info, next),
    })
  }

  /**
   * Makes `signal` abort at the deadline by a timer of its own, for invocations no lmi runtime
   * times out (the chain on AWS's runtime, tests). The timer starts only if the signal is read;
   * {@link dispose} clears it.
   */
  timeItself(): void {
    this.#selfTimed = true
  }

  /** Clears the deadline timer of a self-timed invocation. */
  dispose(): void {
    if (this.#timer !== undefined) rawClearTimeout(this.#timer)
    this.#timer = undefined
  }

  /**
   * Clears the deadline timer once `outcome` settles — now if the signal has been read, or
   * when it is read later — so no timer outlives the invocation. Costs nothing when the
   * signal is never read.
   */
  disposeWhen(outcome: Promise<unknown>): void {
    this.#outcomePromise = outcome
    if (this.#timer !== undefined) this.#disposeOnSettle(outcome)
    if (this.#endWatched) this.#endOnSettle(outcome)
  }

  watchEnd(): void {
    if (this.#endWatched) return
    this.#endWatched = true
    // Nobody else ends an invocation the chain owns: its outcome does.
    const outcome = this.#outcomePromise
    if (outcome !== undefined && this.#outcome === undefined) this.#endOnSettle(outcome)
  }

  #endOnSettle(outcome: Promise<unknown>): void {
    outcome.then(
      (value) => this.#end({ ok: true, value }),
      (error) => this.#end({ ok: false, error, timedOut: false }),
    )
  }

  #disposeOnSettle(outcome: Promise<unknown>): void {
    const dispose = () => this.dispose()
    outcome.then(dispose, dispose)
  }

  #armDeadline(): void {
    const delay = Math.max(this.deadlineMs - Date.now(), 0)
    this.#timer = rawSetTimeout(() => {
      this.#timer = undefined
      this.#deadlineReason = new InvocationTimeoutError(this.requestId, delay)
      this.#controller?.abort(this.#deadlineReason)
    }, delay)
    if (this.#outcomePromise !== undefined) this.#disposeOnSettle(this.#outcomePromise)
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      // Asked for only after the deadline passed: born aborted.
      if (this.#deadlineReason !== undefined) this.#controller.abort(this.#deadlineReason)
      else if (this.#selfTimed) this.#armDeadline()
    }
    return this.#controller.signal
  }

  get ended(): boolean {
    return this.#outcome !== undefined
  }

  /** The handler's own promise has not settled although the invocation ended. */
  get lingering(): boolean {
    return this.#outcome !== undefined && !this.#handlerSettled
  }

  /**
   * Runs `fn` inside this invocation's AsyncLocalStorage context and resolves with the first
   * of: its result, a fault contained to this invocation ({@link fail}), the deadline
   * ({@link expire}).
   */
  run(fn: () => unknown, onLateSettle: (invocation: InvocationState) => void): Promise<Outcome> {
    const { promise, resolve } = Promise.withResolvers<Outcome>()
    this.#settle = resolve
    let result: unknown
    try {
      result = invocationStorage.run(this, fn)
    } catch (error) {
      this.#handlerSettled = true
      this.#end({ ok: false, error, timedOut: false })
      return promise
    }
    // A hostile result (a `then` getter or method that throws) must still end the invocation:
    // its throw is the handler's failure, unless `then` already settled it.
    try {
      if (isThenable(result)) {
        let once = false
        const settled = (outcome: Outcome) => {
          if (once) return // a thenable may call both callbacks, or one twice
          once = true
          const late = this.#outcome !== undefined
          this.#handlerSettled = true
          if (late) onLateSettle(this)
          else this.#end(outcome)
        }
        try {
          result.then(
            (value) => settled({ ok: true, value }),
            (error) => settled({ ok: false, error, timedOut: false }),
          )
        } catch (error) {
          settled({ ok: false, error, timedOut: false })
        }
      } else {
        this.#handlerSettled = true
        this.#end({ ok: true, value: result })
      }
    } catch (error) {
      this.#handlerSettled = true
      this.#end({ ok: false, error, timedOut: false })
    }
    return promise
  }

  /** Ends the invocation with an error that escaped its promise chain. */
  fail(error: unknown): boolean {
    return this.#end({ ok: false, error, timedOut: false })
  }

  /**
   * Ends the invocation with `error` and aborts its signal with it, as the deadline would: the
   * runtime gives up on it (its shutdown budget is spent).
   */
  cancel(error: Error): boolean {
    const ended = this.#end({ ok: false, error, timedOut: false })
    if (ended) {
      this.#deadlineReason = error
      this.#controller?.abort(error)
    }
    return ended
  }

  /** Ends the invocation at its deadline and aborts its signal. */
  expire(timeoutMs: number): boolean {
    const error = new InvocationTimeoutError(this.requestId, timeoutMs)
    const ended = this.#end({ ok: false, error, timedOut: true })
    if (ended) {
      this.#deadlineReason = error
      this.#controller?.abort(error)
    }
    return ended
  }

  #end(outcome: Outcome): boolean {
    if (this.#outcome !== undefined) return false
    const endCheck = processState.endCheck
    if (outcome.ok && endCheck !== undefined) {
      const error = endCheck(this)
      if (error !== undefined) outcome = { ok: false, error, timedOut: false }
    }
    this.#outcome = outcome
    this.#settle?.(outcome)
    if (invocationEndChannel.hasSubscribers) {
      invocationEndChannel.publish({
        invocation: this,
        ok: outcome.ok,
        error: outcome.ok ? undefined : outcome.error,
        timedOut: !outcome.ok && outcome.timedOut,
      } satisfies InvocationEndMessage)
    }
    return true
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

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

function globalInvokeStore(): unknown {
  return (globalThis as { awslambda?: { InvokeStore?: unknown } }).awslambda?.InvokeStore
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
 * Thrown by {@link getInvocation} outside an invocation (at init, or in work that was not
 * started by one).
 *
 * @example
 * ```ts
 * getInvocation() // at module top level => NoInvocationError
 * ```
 */
export class NoInvocationError extends LmiError {
  constructor() {
    super(
      'No invocation is running in this async context (called at init, or from work not started by an invocation)',
      'LMI_NO_INVOCATION',
    )
    this.name = 'NoInvocationError'
  }
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
 * Thrown by {@link bindTenantId} when the invocation already has another tenant id — the one
 * Lambda's tenant isolation mode gave it, or one bound before. A tenant id is never replaced:
 * an event claiming another tenant than the platform's must not win.
 *
 * @example
 * ```ts
 * // invoked with tenant id 'acme'
 * bindTenantId('globex') // => TenantConflictError
 * ```
 */
export class TenantConflictError extends LmiError {
  readonly requestId: string
  constructor(requestId: string, current: string, attempted: string) {
    super(
      `Invocation ${requestId} already has tenant id ${JSON.stringify(current)}; refusing to rebind it to ${JSON.stringify(attempted)}`,
      'LMI_TENANT_CONFLICT',
    )
    this.name = 'TenantConflictError'
    this.requestId = requestId
  }
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
    return this.#override.getStore() ?? invocationStorage.getStore()?.invokeStore
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

function isLmiInvokeStore(store: unknown): store is LmiInvokeStore {
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
