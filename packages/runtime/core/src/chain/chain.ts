// `lmi()`: builds the chain — middlewares, hooks, handler, options — and hands each call to
// bind.ts (which invocation) and run.ts (the request through the hooks).
import type { Writable } from 'node:stream'
import { installDetectors } from '../detect/detectors.ts'
import { sharedStateModeFromEnv } from '../detect/findings.ts'
import { InvalidMiddlewareError } from '../errors.ts'
import type { LambdaContext } from '../invocation/context.ts'
import { ensureInvokeStore } from '../invocation/invoke-store.ts'
import { streamifyResponse } from '../streaming/streamify.ts'
import { invokeChain } from './bind.ts'
import { chainSettings, DEFAULT_SHARED_STATE_MODE, type LmiOptions } from './options.ts'
import type { AnyHandler, Chain, Hook } from './run.ts'
import type {
  AnyTransform,
  ChainHandler,
  Middleware,
  MiddlewareFn,
  Passthrough,
  TransformOf,
} from './types.ts'

/** `@middy/core` 7.9's message for a middleware with no hook, word for word. */
const NO_HOOK_MESSAGE =
  'Middleware must be an object containing at least one key among "before", "after", "onError"'

function noHandler(): undefined {
  return undefined
}

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
  const { plugin, streaming, internal, sharedState } = chainSettings(options)
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
    internal,
    plugin,
  }
  let served = false
  plugin?.beforePrefetch?.()

  const invoke = (
    event: unknown,
    context: LambdaContext,
    responseStream: Writable | undefined,
  ): Promise<unknown> => {
    served = true
    return invokeChain(chain, event, context, responseStream)
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
