import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { invocationEndChannel } from '../channels.ts'
import { InvocationTimeoutError } from '../errors.ts'
import { processState } from '../process-state.ts'
import { rawClearTimeout, rawSetTimeout } from '../timers.ts'
import {
  createLambdaContext,
  type FunctionInfo,
  type LambdaContext,
  type NextInvocation,
} from './context.ts'
import { invocationStorage } from './current.ts'

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
export type InvocationOutcome =
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
  /** Set by {@link expireAtDeadline}: a success after the deadline is a timeout. */
  #lateSuccessTimeoutMs: number | undefined
  #timer: NodeJS.Timeout | undefined
  #outcomePromise: Promise<unknown> | undefined
  #outcome: InvocationOutcome | undefined
  #settle: ((outcome: InvocationOutcome) => void) | undefined
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

  /**
   * lmi's runtime: ends the invocation at its deadline — timed out, its signal aborted — by a
   * timer armed now (at once when the deadline has already passed). A success that arrives
   * after the deadline anyway (its event loop was blocked, so the timer could not fire first)
   * is a timeout too: Lambda has given up on it, and a success posted now would be refused or,
   * worse, counted. Not for a streamed response, which went out as it was written.
   * {@link dispose} clears the timer.
   */
  expireAtDeadline(timeoutMs: number, options: { streamed: boolean }): void {
    if (!options.streamed) this.#lateSuccessTimeoutMs = timeoutMs
    this.#timer = rawSetTimeout(
      () => {
        this.#timer = undefined
        this.expire(timeoutMs)
      },
      Math.max(0, this.deadlineMs - Date.now()),
    )
  }

  /** Clears the deadline timer. */
  dispose(): void {
    if (this.#timer !== undefined) rawClearTimeout(this.#timer)
    this.#timer = undefined
  }

  /**
   * Ends an invocation the chain owns (on AWS's runtime, in tests) with the chain's outcome:
   * a success goes through the end check first — in the detectors' `throw` mode, work the
   * invocation left running fails it before anyone sees it end — and the deadline timer is
   * cleared, and the end recorded if watched, once it settles. Returns the checked outcome.
   */
  finish(outcome: Promise<unknown>): Promise<unknown> {
    const check = processState.endCheck
    if (check !== undefined && processState.detectors.mode === 'throw') {
      outcome = outcome.then((value) => {
        const error = check(this)
        if (error !== undefined) throw error
        return value
      })
    }
    this.disposeWhen(outcome)
    return outcome
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
  run(
    fn: () => unknown,
    onLateSettle: (invocation: InvocationState) => void,
  ): Promise<InvocationOutcome> {
    const { promise, resolve } = Promise.withResolvers<InvocationOutcome>()
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
        const settled = (outcome: InvocationOutcome) => {
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

  #end(outcome: InvocationOutcome): boolean {
    if (this.#outcome !== undefined) return false
    const lateMs = this.#lateSuccessTimeoutMs
    if (outcome.ok && lateMs !== undefined && Date.now() >= this.deadlineMs) {
      outcome = {
        ok: false,
        error: new InvocationTimeoutError(this.requestId, lateMs),
        timedOut: true,
      }
    }
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
