import type { Writable } from 'node:stream'
import { InvokeStoreBase } from '@aws/lambda-invoke-store'
import { escapedWorkError, installDetectors } from '../detect/detectors.ts'
import { detectorMode, type SharedStateMode, sharedStateModeFromEnv } from '../detect/findings.ts'
import { LmiError } from '../errors.ts'
import type { LambdaContext } from '../invocation/context.ts'
import {
  ensureInvokeStore,
  type ForeignInvokeStore,
  foreignInvokeStore,
  InvocationState,
  invocationStorage,
  kInvocation,
} from '../invocation/store.ts'
import { streamifyResponse } from '../streaming/streamify.ts'
import { type ExecutionMode, streamsResponse, writeStreamedResponse } from './streamed.ts'
import type {
  AnyTransform,
  ChainHandler,
  HandlerOptions,
  LmiRequest,
  Middleware,
  MiddlewareFn,
  Passthrough,
  TransformOf,
} from './types.ts'

/**
 * A middleware without any of `before`, `after`, `onError` (with `@middy/core`'s message and
 * `cause`, so code written against middy's error keeps working), a hook that is not a
 * function, or a handler or option of the wrong type.
 *
 * @example
 * ```ts
 * lmi(handler).use({})
 * // => InvalidMiddlewareError: Middleware must be an object containing at least one key among
 * //    "before", "after", "onError"   (cause: { package: '@middy/core' })
 * ```
 */
export class InvalidMiddlewareError extends LmiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'LMI_INVALID_MIDDLEWARE', options)
    this.name = 'InvalidMiddlewareError'
  }
}

/** `@middy/core` 7.9's message for a middleware with no hook, word for word. */
const NO_HOOK_MESSAGE =
  'Middleware must be an object containing at least one key among "before", "after", "onError"'

/**
 * The handler was called in a way Lambda never calls it (a context that is not an object).
 *
 * @example
 * ```ts
 * await handler({}, 'not a context') // => InvalidInvocationError
 * ```
 */
export class InvalidInvocationError extends LmiError {
  constructor(message: string) {
    super(message, 'LMI_INVALID_INVOCATION')
    this.name = 'InvalidInvocationError'
  }
}

/**
 * `@middy/core` 7.9's plugin hooks, for tracing and profiling tools: the same names, called in
 * the same order with the same arguments as middy calls them. `beforePrefetch()` once, when the
 * chain is built; per invocation `requestStart(request)`, then around every middleware hook
 * `beforeMiddleware(name)` / `afterMiddleware(name)` (the hook function's name), around the
 * handler `beforeHandler()` / `afterHandler()` (on success), and `requestEnd(request)` at the
 * end, awaited (its error replaces a success, and becomes the `cause` of a failure that has
 * none). A chain given none of them runs as if this interface did not exist.
 *
 * `timeoutEarlyInMillis` (no default: lmi's handler `signal` aborts at the deadline itself):
 * that long before the invocation's deadline the handler's `signal` aborts and the invocation
 * ends with what `timeoutEarlyResponse()` returns (default: throws middy's `TimeoutError`).
 *
 * @example
 * ```ts
 * const spans = new Map<string, number>()
 * export const handler = lmi(inner, {
 *   beforeMiddleware: (name) => spans.set(name, performance.now()),
 *   afterMiddleware: (name) => console.log(name, performance.now() - (spans.get(name) ?? 0)),
 * })
 * ```
 */
export interface LmiPlugin {
  beforePrefetch?: () => void
  requestStart?: (request: LmiRequest) => void
  beforeMiddleware?: (name: string) => void
  afterMiddleware?: (name: string) => void
  beforeHandler?: () => void
  afterHandler?: () => void
  requestEnd?: (request: LmiRequest) => unknown
  timeoutEarlyInMillis?: number
  timeoutEarlyResponse?: () => unknown
}

const PLUGIN_HOOKS = [
  'beforePrefetch',
  'requestStart',
  'beforeMiddleware',
  'afterMiddleware',
  'beforeHandler',
  'afterHandler',
  'requestEnd',
  'timeoutEarlyResponse',
] as const
const OPTION_KEYS = new Set<string>([
  ...PLUGIN_HOOKS,
  'timeoutEarlyInMillis',
  'internal',
  'sharedState',
  'executionMode',
])

/** The plugin as the chain runs it: only what was given. */
interface Plugin extends LmiPlugin {
  timeoutEarlyResponse: () => unknown
}

/** Checks `options` once, at build time; `undefined` when no plugin hook was given. */
function pluginFrom(options: LmiOptions | undefined): Plugin | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null) {
    throw new InvalidMiddlewareError('lmi(handler, options): options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvalidMiddlewareError(`lmi(handler, options): unknown option ${key}`)
    }
  }
  let given = false
  for (const key of PLUGIN_HOOKS) {
    const hook = options[key]
    if (hook === undefined) continue
    if (typeof hook !== 'function') {
      throw new InvalidMiddlewareError(
        `lmi(handler, { ${key} }): expected a function, got ${typeof hook}`,
      )
    }
    given = true
  }
  const early = options.timeoutEarlyInMillis
  if (early !== undefined) {
    if (!Number.isInteger(early) || early < 0) {
      throw new InvalidMiddlewareError(
        `lmi(handler, { timeoutEarlyInMillis }): expected an integer >= 0, got ${String(early)}`,
      )
    }
    given = true
  }
  if (!given) return undefined
  return { ...options, timeoutEarlyResponse: options.timeoutEarlyResponse ?? timeoutEarlyError }
}

/** middy's default `timeoutEarlyResponse`: its `TimeoutError`, word for word. */
function timeoutEarlyError(): never {
  const error = new Error('[AbortError]: The operation was aborted.', {
    cause: { package: '@middy/core' },
  })
  error.name = 'TimeoutError'
  throw error
}

/**
 * Options of {@link lmi}.
 *
 * @example
 * ```ts
 * export const handler = lmi(inner, { internal: { region: process.env.AWS_REGION } })
 * ```
 */
export interface LmiOptions extends LmiPlugin {
  /** Copied into every request's `internal` (middy's `internal` plugin option). */
  internal?: Record<string, unknown>
  /**
   * `executionModeStreamifyResponse` makes the chain a response-streaming handler that writes
   * its response to the response stream as middy does; default `executionModeStandard`.
   */
  executionMode?: ExecutionMode
  /**
   * The shared-state detectors' mode: `off`, `warn` (coded warnings) or `throw` (the offending
   * invocation fails with `SharedStateError`). `LMI_SHARED_STATE` overrides it; default
   * {@link DEFAULT_SHARED_STATE_MODE}. The detectors are process-wide: the strictest mode any
   * chain (or the runtime) asks for applies.
   */
  sharedState?: SharedStateMode
}

/**
 * The shared-state detectors' mode when neither `LMI_SHARED_STATE` nor the `sharedState`
 * option says otherwise.
 *
 * @example
 * ```ts
 * DEFAULT_SHARED_STATE_MODE // 'warn'
 * ```
 */
export const DEFAULT_SHARED_STATE_MODE: SharedStateMode = 'warn'

/**
 * The handler `lmi()` returns: an ordinary Lambda handler `(event, context) => Promise`, plus
 * middy's builder methods. `TEvent`/`TResult`/`TContext` are the types at the current depth of
 * the chain (what the next middleware or the handler sees).
 *
 * @example
 * ```ts
 * export const handler: LmiHandler<APIGatewayProxyEventV2, Response> = lmi(inner).use(cors())
 * ```
 */
export interface LmiHandler<
  TOuterEvent = unknown,
  TOuterResult = unknown,
  TEvent = TOuterEvent,
  TResult = TOuterResult,
  TContext = LambdaContext,
> {
  (event: TOuterEvent, context: LambdaContext): Promise<TOuterResult>
  /** Adds middlewares: `before` hooks run in `use` order, `after`/`onError` in reverse. */
  use<M extends Middleware>(
    middleware: M,
  ): Apply<TOuterEvent, TOuterResult, TEvent, TResult, TContext, TransformOf<M>>
  use(
    middlewares: readonly Middleware[],
  ): LmiHandler<TOuterEvent, TOuterResult, TEvent, TResult, TContext>
  before(fn: MiddlewareFn<TEvent, TResult, TContext>): this
  after(fn: MiddlewareFn<TEvent, TResult, TContext>): this
  onError(fn: MiddlewareFn<TEvent, TResult, TContext>): this
  /**
   * Sets (or replaces) the handler at the centre of the chain. When neither `lmi<…>()` nor a
   * middleware said what the chain returns, it returns what this handler returns.
   */
  handler<R extends TResult>(
    fn: ChainHandler<TEvent, R, TContext>,
  ): LmiHandler<TOuterEvent, Outward<TOuterResult, TResult, R>, TEvent, TResult, TContext>
}

/**
 * The chain's outward result once a layer declares what it returns (`next`): the outermost
 * declaration wins. It counts only while the chain's result is still undeclared (`outer`, from
 * `lmi<…>()`, and `current`, the result the layers so far pass inward, both `unknown`): a
 * `jsonResponse()` used first makes the chain return `HttpResponse`, so the handler is
 * assignable to `APIGatewayProxyHandlerV2` without type arguments.
 */
type Outward<Outer, Current, Next> = unknown extends Next
  ? Outer
  : unknown extends Outer
    ? unknown extends Current
      ? Next
      : Outer
    : Outer

type Apply<OE, OR, E, R, C, T> = T extends AnyTransform
  ? LmiHandler<
      OE,
      Outward<OR, R, T['resultOut']>,
      Passthrough<E, T['eventOut']>,
      Passthrough<R, T['resultIn']>,
      unknown extends T['contextOut'] ? C : C & T['contextOut']
    >
  : LmiHandler<OE, OR, E, R, C>

type Hook = (request: LmiRequest) => unknown
type AnyHandler = (event: unknown, context: LambdaContext, options: HandlerOptions) => unknown

const { TENANT_ID } = InvokeStoreBase.PROTECTED_KEYS

function noHandler(): undefined {
  return undefined
}

/** `{ signal }` for the handler, created when read. */
class LazyHandlerOptions implements HandlerOptions {
  readonly #invocation: InvocationState
  constructor(invocation: InvocationState) {
    this.#invocation = invocation
  }
  get signal(): AbortSignal {
    return this.#invocation.signal
  }
}

interface Chain {
  befores: Hook[]
  afters: Hook[]
  onErrors: Hook[]
  handler: AnyHandler
  internal: Record<string, unknown> | undefined
  /** middy's plugin hooks, when any was given: the invocation runs {@link runChainWithPlugin}. */
  plugin: Plugin | undefined
  /** A hook has returned a promise: run the chain as one async function from then on. */
  asyncHooks: boolean
}

/**
 * Wraps a handler in a middy-compatible middleware chain that runs inside the invocation's own
 * AsyncLocalStorage context — bound by the chain itself, so `getInvocation()` works on lmi's
 * runtime, on AWS's Node runtime (classic or LMI) and in unit tests alike.
 *
 * Semantics are `@middy/core` 7.9's: a request `{event, context, response, error, internal}`
 * per invocation; `before` hooks in `use` order, `after` and `onError` in reverse; a hook that
 * returns something other than `undefined` (or sets `request.earlyResponse`) ends its phase with
 * that response; the first `onError` hook that responds ends error handling, and an error no
 * hook handled is rethrown as it was. The handler is called as `(event, context, { signal })`;
 * `signal` aborts at the invocation's deadline and costs nothing unless read.
 *
 * For types that follow middlewares which change the event (a body parser), start without the
 * handler and give it last: `lmi<Event>().use(parse()).handler((event) => …)`.
 * As with middy, the options may come first and alone — `lmi({ requestStart })` — with the
 * handler from `.handler()`.
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import cors from '@middy/http-cors'
 *
 * export const handler = lmi(async (event, context, { signal }) => {
 *   const res = await fetch('https://api.example.com', { signal })
 *   return { statusCode: 200, body: await res.text() }
 * }).use(cors())
 * ```
 */
export function lmi<TEvent = unknown, TResult = unknown, TContext = LambdaContext>(
  options: LmiOptions,
): LmiHandler<TEvent, TResult, TEvent, TResult, TContext>
export function lmi<TEvent = unknown, TResult = unknown, TContext = LambdaContext>(
  handler?: ChainHandler<TEvent, TResult, TContext>,
  options?: LmiOptions,
): LmiHandler<TEvent, TResult, TEvent, TResult, TContext>
export function lmi<TEvent = unknown, TResult = unknown, TContext = LambdaContext>(
  handlerOrOptions?: ChainHandler<TEvent, TResult, TContext> | LmiOptions,
  maybeOptions?: LmiOptions,
): LmiHandler<TEvent, TResult, TEvent, TResult, TContext> {
  // middy's `middy(pluginConfig)`: the options first, the handler given later by .handler().
  const optionsFirst =
    typeof handlerOrOptions === 'object' && handlerOrOptions !== null && maybeOptions === undefined
  const handler = optionsFirst ? undefined : handlerOrOptions
  const options = optionsFirst ? (handlerOrOptions as LmiOptions) : maybeOptions
  if (handler !== undefined && typeof handler !== 'function') {
    throw new InvalidMiddlewareError(
      `lmi(handler): handler must be a function, got ${typeof handler}`,
    )
  }
  const plugin = pluginFrom(options)
  const streaming = streamsResponse(options?.executionMode)
  if (streaming === undefined) {
    throw new InvalidMiddlewareError(
      'lmi(handler, { executionMode }): expected executionModeStandard or executionModeStreamifyResponse',
    )
  }
  if (
    options?.internal !== undefined &&
    (typeof options.internal !== 'object' || options.internal === null)
  ) {
    throw new InvalidMiddlewareError('lmi(handler, { internal }): internal must be an object')
  }
  const sharedState = options?.sharedState
  if (sharedState !== undefined && !['off', 'warn', 'throw'].includes(sharedState)) {
    throw new InvalidMiddlewareError(
      `lmi(handler, { sharedState }): expected off, warn or throw, got ${String(sharedState)}`,
    )
  }
  installDetectors(sharedStateModeFromEnv() ?? sharedState ?? DEFAULT_SHARED_STATE_MODE)
  // AWS's runtime and lmi's install their InvokeStore before the handler loads; anywhere else
  // (unit tests, other hosts) lmi's takes that place.
  ensureInvokeStore()
  // The chain every invocation starts with. Once one has started, a change builds a new one
  // (copy on write) instead of editing it: each invocation runs the chain it started with to
  // the end, and the change applies from the next — middy's behaviour for a hook that adds
  // hooks, without an invocation running half of two chains under concurrency.
  let chain: Chain = {
    befores: [],
    afters: [],
    onErrors: [],
    handler: (handler ?? noHandler) as AnyHandler,
    internal: options?.internal,
    asyncHooks: false,
    plugin,
  }
  let served = false
  plugin?.beforePrefetch?.()

  // One invocation; `responseStream` in streaming mode only (a standard handler's third
  // argument is AWS's callback, never read).
  const invoke = (
    event: unknown,
    context: LambdaContext,
    responseStream: Writable | undefined,
  ): Promise<unknown> => {
    served = true
    const current = chain
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
      return runChain(current, own, event, context, false, responseStream)
    }
    // AWS's runtime (its InvokeStore has a context) opened one for this invocation.
    const store = foreignInvokeStore()
    const awsContext = store?.getContext()
    const outer = own ?? (awsContext?.[kInvocation] as InvocationState | undefined)
    if (outer !== undefined && outer.context === context) {
      return runChain(current, outer, event, context, false, responseStream)
    }
    const invocation = invocationFromContext(context, outer, awsContext && store)
    invocation.timeItself()
    // With detectors on, the end must be recorded before the caller resumes: an invocation
    // started right after would otherwise see this one's shared() writes as still running.
    if (detectorMode() !== 'off') invocation.watchEnd()
    if (store === undefined || awsContext === undefined) {
      return invocationStorage.run(
        invocation,
        runChain,
        current,
        invocation,
        event,
        context,
        true,
        responseStream,
      )
    }
    // The chain rides on AWS's context rather than opening a second one of its own.
    if (invocation.tenantId !== undefined && store.getTenantId() === undefined) {
      // AWS's runtime seeds request and trace id only: add the tenant id for the SDK and Powertools.
      const withTenant = {
        ...awsContext,
        [TENANT_ID]: invocation.tenantId,
        [kInvocation]: invocation,
      }
      return store.run(withTenant, () =>
        runChain(current, invocation, event, context, true, responseStream),
      )
    }
    awsContext[kInvocation] = invocation
    return runChain(current, invocation, event, context, true, responseStream)
  }

  /** The chain to change: the current one until an invocation starts, then a copy. */
  const editable = (): Chain => {
    if (served) {
      served = false
      chain = {
        ...chain,
        befores: [...chain.befores],
        afters: [...chain.afters],
        onErrors: [...chain.onErrors],
      }
    }
    return chain
  }
  // Streaming mode: a response-streaming handler `(event, responseStream, context)`, marked as
  // awslambda.streamifyResponse marks it (lmi's runtime and AWS's read the same marks).
  const exported = (
    streaming
      ? streamifyResponse(function lmiStreamingHandler(
          event: unknown,
          responseStream: Writable,
          context: LambdaContext,
        ) {
          return invoke(event, context, responseStream)
        })
      : function lmiHandler(event: unknown, context: LambdaContext) {
          return invoke(event, context, undefined)
        }
  ) as LmiHandler<TEvent, TResult, TEvent, TResult, TContext>
  const self = exported as unknown as Record<string, unknown>
  self.use = function use(input: Middleware | readonly Middleware[]) {
    const middlewares = Array.isArray(input) ? input : [input]
    const befores: Hook[] = []
    const afters: Hook[] = []
    const onErrors: Hook[] = []
    for (const middleware of middlewares as Middleware[]) {
      if (typeof middleware !== 'object' || middleware === null) {
        throw new InvalidMiddlewareError(
          `.use(): a middleware must be an object, got ${middleware === null ? 'null' : typeof middleware}`,
        )
      }
      const { before, after, onError } = middleware
      if (!before && !after && !onError) {
        throw new InvalidMiddlewareError(NO_HOOK_MESSAGE, { cause: { package: '@middy/core' } })
      }
      for (const [hook, name] of [
        [before, 'before'],
        [after, 'after'],
        [onError, 'onError'],
      ] as const) {
        if (hook && typeof hook !== 'function') {
          throw new InvalidMiddlewareError(
            `.use(): ${name} of middleware ${middleware.name ?? '(unnamed)'} is not a function`,
          )
        }
      }
      if (before) befores.push(before as Hook)
      if (after) afters.push(after as Hook)
      if (onError) onErrors.push(onError as Hook)
    }
    const target = editable()
    target.befores.push(...befores)
    target.afters.unshift(...afters.reverse())
    target.onErrors.unshift(...onErrors.reverse())
    return exported
  }
  const inline = (method: 'before' | 'after' | 'onError') =>
    function addHook(fn: Hook) {
      if (typeof fn !== 'function') {
        throw new InvalidMiddlewareError(`.${method}(): expected a function, got ${typeof fn}`)
      }
      const target = editable()
      if (method === 'before') target.befores.push(fn)
      else if (method === 'after') target.afters.unshift(fn)
      else target.onErrors.unshift(fn)
      return exported
    }
  self.before = inline('before')
  self.after = inline('after')
  self.onError = inline('onError')
  self.handler = function setHandler(fn: AnyHandler) {
    if (typeof fn !== 'function') {
      throw new InvalidMiddlewareError(`.handler(): expected a function, got ${typeof fn}`)
    }
    editable().handler = fn
    return exported
  }
  return exported
}

function invocationFromContext(
  context: LambdaContext,
  outer: InvocationState | undefined,
  store: ForeignInvokeStore | undefined,
): InvocationState {
  return new InvocationState({
    requestId:
      (typeof context.awsRequestId === 'string' ? context.awsRequestId : undefined) ??
      store?.getRequestId() ??
      outer?.requestId ??
      'unknown',
    tenantId: context.tenantId ?? store?.getTenantId() ?? outer?.tenantId,
    traceId:
      context.xRayTraceId ??
      store?.getXRayTraceId() ??
      outer?.traceId ??
      process.env._X_AMZN_TRACE_ID,
    context,
  })
}

/**
 * Runs `hooks` from `index` on, synchronously while they return plain values: a promise is
 * awaited only when a hook returns one. True when a hook ended the phase. (The `onError` phase;
 * the others resume in {@link runChainAsync}.)
 */
function runHooks(
  chain: Chain,
  hooks: Hook[],
  request: LmiRequest,
  index: number,
): boolean | Promise<boolean> {
  for (; index < hooks.length; index++) {
    const result = (hooks[index] as Hook)(request)
    if (result instanceof Promise) {
      chain.asyncHooks = true
      return runHooksAsync(hooks, request, index + 1, result)
    }
    if (endsPhase(request, result)) return true
  }
  return false
}

/** The rest of {@link runHooks} once a hook has returned a promise. */
async function runHooksAsync(
  hooks: Hook[],
  request: LmiRequest,
  index: number,
  pending: Promise<unknown>,
): Promise<boolean> {
  if (endsPhase(request, await pending)) return true
  for (; index < hooks.length; index++) {
    let result = (hooks[index] as Hook)(request)
    if (result instanceof Promise) result = await result
    if (endsPhase(request, result)) return true
  }
  return false
}

function endsPhase(request: LmiRequest, result: unknown): boolean {
  if (result !== undefined) request.earlyResponse = result
  if ('earlyResponse' in request) {
    request.response = request.earlyResponse
    return true
  }
  return false
}

/**
 * Where the synchronous path met the first hook that returned a promise: the rest of the
 * invocation — the phase's other hooks, the handler, the after hooks, error handling — runs in
 * {@link runChainAsync} from there, in one async function, as middy runs it. A continuation
 * registered with `.then()` before the hook ran would instead resume in the async context of
 * that moment, losing what the hook did to it (an `AsyncLocalStorage.enterWith()`: Powertools
 * does that in a before hook, and the handler must see it).
 */
interface Resume {
  phase: 'before' | 'after'
  /** The hook that returned `pending`. */
  index: number
  pending: Promise<unknown>
}

/** Requests whose error {@link runChainAsync} has already taken through the onError hooks. */
const errorsHandled = new WeakSet<LmiRequest>()

function callHandler(chain: Chain, request: LmiRequest, invocation: InvocationState): unknown {
  const response = chain.handler(
    request.event,
    request.context as LambdaContext,
    new LazyHandlerOptions(invocation),
  )
  if (chain.afters.length === 0) return response
  if (response instanceof Promise) {
    return response.then((value) => runAfters(chain, request, invocation, value))
  }
  return runAfters(chain, request, invocation, response)
}

function runAfters(
  chain: Chain,
  request: LmiRequest,
  invocation: InvocationState,
  response: unknown,
): unknown {
  request.response = response
  const afters = chain.afters
  for (let index = 0; index < afters.length; index++) {
    const result = (afters[index] as Hook)(request)
    if (result instanceof Promise) {
      chain.asyncHooks = true
      return runChainAsync(chain, request, invocation, { phase: 'after', index, pending: result })
    }
    if (endsPhase(request, result)) break
  }
  return request.response
}

/** Before hooks, handler, after hooks; a value or a promise of the response. */
function proceed(chain: Chain, request: LmiRequest, invocation: InvocationState): unknown {
  const befores = chain.befores
  for (let index = 0; index < befores.length; index++) {
    const result = (befores[index] as Hook)(request)
    if (result instanceof Promise) {
      chain.asyncHooks = true
      return runChainAsync(chain, request, invocation, { phase: 'before', index, pending: result })
    }
    if (endsPhase(request, result)) return request.response
  }
  return callHandler(chain, request, invocation)
}

/** An onError hook threw: that error ends the invocation, the original kept reachable as middy keeps it. */
function rethrowFromOnError(request: LmiRequest, hookError: unknown): never {
  if (hookError !== request.error && typeof hookError === 'object' && hookError !== null) {
    const annotated = hookError as { originalError?: unknown; cause?: unknown }
    annotated.originalError = request.error
    annotated.cause ??= request.error
  }
  request.error = hookError
  throw hookError
}

function handleError(chain: Chain, request: LmiRequest, error: unknown): Promise<unknown> {
  request.response = undefined
  delete request.earlyResponse
  request.error = error
  const rethrow = (hookError: unknown): never => rethrowFromOnError(request, hookError)
  const settle = () => {
    if (request.response === undefined) throw request.error
    return request.response
  }
  let ended: boolean | Promise<boolean>
  try {
    ended = runHooks(chain, chain.onErrors, request, 0)
  } catch (hookError) {
    return Promise.reject(rethrow(hookError))
  }
  if (ended instanceof Promise) return ended.then(settle, rethrow)
  try {
    return Promise.resolve(settle())
  } catch (unhandled) {
    return Promise.reject(unhandled)
  }
}

/**
 * One invocation through the chain. Written without `async`/`await`: inside an
 * AsyncLocalStorage context every await costs, and a chain of synchronous hooks around an
 * async handler then needs none.
 */
function runChain(
  chain: Chain,
  invocation: InvocationState,
  event: unknown,
  context: LambdaContext,
  ownsInvocation: boolean,
  responseStream?: Writable,
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
    outcome = runChainWithPlugin(chain, chain.plugin, request, invocation, responseStream)
    if (detectorMode() === 'throw') outcome = outcome.then(failOnEscapedWork(invocation))
    if (ownsInvocation) invocation.disposeWhen(outcome)
    return outcome
  }
  if (chain.asyncHooks) {
    outcome = runChainAsync(chain, request, invocation)
    if (responseStream !== undefined) outcome = outcome.then(streamTo(responseStream))
    if (detectorMode() === 'throw') outcome = outcome.then(failOnEscapedWork(invocation))
    if (ownsInvocation) invocation.disposeWhen(outcome)
    return outcome
  }
  try {
    const result = proceed(chain, request, invocation)
    if (result instanceof Promise) {
      outcome =
        chain.onErrors.length === 0
          ? result
          : result.then(undefined, (error) =>
              errorsHandled.has(request)
                ? Promise.reject(error)
                : handleError(chain, request, error),
            )
    } else {
      outcome = Promise.resolve(result)
    }
  } catch (error) {
    outcome = handleError(chain, request, error)
  }
  if (responseStream !== undefined) outcome = outcome.then(streamTo(responseStream))
  // In throw mode, work the invocation leaves running fails it (before anyone sees it end).
  if (detectorMode() === 'throw') outcome = outcome.then(failOnEscapedWork(invocation))
  // A self-timed invocation whose signal is read holds a deadline timer: clear it at the end.
  if (ownsInvocation) invocation.disposeWhen(outcome)
  return outcome
}

/** Streaming mode: writes the chain's response to the stream; the invocation's value is none. */
function streamTo(responseStream: Writable): (response: unknown) => Promise<undefined> {
  return async function writeResponse(response) {
    await writeStreamedResponse(responseStream, response)
    return undefined
  }
}

function failOnEscapedWork(invocation: InvocationState): (value: unknown) => unknown {
  return function checkEscapedWork(value) {
    const error = escapedWorkError(invocation)
    if (error !== undefined) throw error
    return value
  }
}

/**
 * The chain as one async function, for chains whose hooks return promises: there one `await`
 * per hook is the least any chain can do. With `resume`, it takes over an invocation the
 * synchronous path started (see {@link Resume}).
 */
async function runChainAsync(
  chain: Chain,
  request: LmiRequest,
  invocation: InvocationState,
  resume?: Resume,
): Promise<unknown> {
  try {
    // The hook loops are inline, not helper calls: each async helper would add a promise per phase.
    let afterFrom = 0
    if (resume?.phase === 'after') {
      if (endsPhase(request, await resume.pending)) return request.response
      afterFrom = resume.index + 1
    } else {
      const befores = chain.befores
      let ended = false
      let index = 0
      if (resume !== undefined) {
        ended = endsPhase(request, await resume.pending)
        index = resume.index + 1
      }
      for (; !ended && index < befores.length; index++) {
        let result = (befores[index] as Hook)(request)
        if (result instanceof Promise) result = await result
        ended = endsPhase(request, result)
      }
      if (ended) return request.response
      let response = chain.handler(
        request.event,
        request.context as LambdaContext,
        new LazyHandlerOptions(invocation),
      )
      if (response instanceof Promise) response = await response
      request.response = response
    }
    const afters = chain.afters
    for (let index = afterFrom; index < afters.length; index++) {
      let result = (afters[index] as Hook)(request)
      if (result instanceof Promise) result = await result
      if (endsPhase(request, result)) break
    }
    return request.response
  } catch (error) {
    errorsHandled.add(request)
    return handleError(chain, request, error)
  }
}

/**
 * One invocation with middy's plugin hooks, as `@middy/core` 7.9 runs it (`executionModeStandard`
 * or `executionModeStreamifyResponse` around `runRequest`): the hooks, their order and arguments, `requestEnd`'s error rules and the
 * early timeout. Only chains given a plugin come here.
 */
async function runChainWithPlugin(
  chain: Chain,
  plugin: Plugin,
  request: LmiRequest,
  invocation: InvocationState,
  responseStream: Writable | undefined,
): Promise<unknown> {
  plugin.requestStart?.(request)
  let failure: unknown
  let failed = false
  let response: unknown
  if (responseStream === undefined) {
    try {
      response = await runPluginRequest(chain, plugin, request, invocation)
    } catch (error) {
      failure = error
      failed = true
    }
  } else {
    // Streaming, as middy streams: a failing chain ends the invocation before requestEnd; the
    // body is written, then requestEnd runs, with its error rules over the write's failure.
    const chainResponse = await runPluginRequest(chain, plugin, request, invocation)
    try {
      await writeStreamedResponse(responseStream, chainResponse)
    } catch (error) {
      failure = error
      failed = true
    }
  }
  try {
    const ended = plugin.requestEnd?.(request)
    if (ended instanceof Promise) await ended
  } catch (hookError) {
    if (!failed) throw hookError
    // The invocation's own error stays the one reported; the hook's becomes its cause.
    if (typeof failure === 'object' && failure !== null) {
      const annotated = failure as { cause?: unknown }
      annotated.cause ??= hookError
    }
  }
  if (failed) throw failure
  return response
}

async function runPluginHooks(
  plugin: Plugin,
  hooks: Hook[],
  request: LmiRequest,
): Promise<boolean> {
  for (let index = 0; index < hooks.length; index++) {
    const hook = hooks[index] as Hook
    plugin.beforeMiddleware?.(hook.name)
    let result = hook(request)
    if (result instanceof Promise) result = await result
    plugin.afterMiddleware?.(hook.name)
    if (endsPhase(request, result)) return true
  }
  return false
}

async function runPluginRequest(
  chain: Chain,
  plugin: Plugin,
  request: LmiRequest,
  invocation: InvocationState,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  try {
    if (!(await runPluginHooks(plugin, chain.befores, request))) {
      plugin.beforeHandler?.()
      const early = plugin.timeoutEarlyInMillis ?? 0
      const remaining = (request.context as Partial<LambdaContext>).getRemainingTimeInMillis
      let options: HandlerOptions = new LazyHandlerOptions(invocation)
      let timedOut: Promise<unknown> | undefined
      if (early > 0 && typeof remaining === 'function') {
        // The handler's signal aborts with the early timeout as well as at the deadline.
        const controller = new AbortController()
        options = { signal: AbortSignal.any([invocation.signal, controller.signal]) }
        timedOut = new Promise((resolve, reject) => {
          timer = setTimeout(
            () => {
              controller.abort()
              try {
                resolve(plugin.timeoutEarlyResponse())
              } catch (error) {
                reject(error)
              }
            },
            Math.max(0, remaining.call(request.context) - early),
          )
        })
      }
      const result = chain.handler(request.event, request.context as LambdaContext, options)
      if (result instanceof Promise) {
        request.response = await (timedOut === undefined
          ? result
          : Promise.race([result, timedOut]))
      } else {
        request.response = result
      }
      clearTimeout(timer)
      plugin.afterHandler?.()
      await runPluginHooks(plugin, chain.afters, request)
    }
  } catch (error) {
    clearTimeout(timer)
    request.response = undefined
    delete request.earlyResponse
    request.error = error
    try {
      await runPluginHooks(plugin, chain.onErrors, request)
    } catch (hookError) {
      rethrowFromOnError(request, hookError)
    }
    if (request.response === undefined) throw request.error
  }
  return request.response
}
