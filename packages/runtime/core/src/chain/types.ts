import type { LambdaContext } from '../invocation/context.ts'

/**
 * The request every hook of an invocation sees, middy's shape: built fresh per invocation.
 * `internal` may be reassigned (Powertools does `request.internal = { ...request.internal, k }`).
 *
 * @example
 * ```ts
 * const stamp = { before: (request: LmiRequest<{ id: string }>) => { request.internal.started = Date.now() } }
 * ```
 */
export interface LmiRequest<
  TEvent = unknown,
  TResult = unknown,
  TContext = LambdaContext,
  TInternal extends Record<string, unknown> = Record<string, unknown>,
> {
  event: TEvent
  context: TContext
  response: TResult | undefined
  /** Set before the `onError` hooks run. */
  error: unknown
  internal: TInternal
  /** Set by a hook to end its phase with this response (also when it is `undefined`). */
  earlyResponse?: TResult | undefined
}

/**
 * One hook. Returning anything but `undefined` ends its phase with that value as the response.
 *
 * @example
 * ```ts
 * const deny: MiddlewareFn<{ user?: string }> = (request) => (request.event.user ? undefined : { statusCode: 401 })
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: hooks of existing middy middlewares return anything
export type MiddlewareFn<TEvent = any, TResult = any, TContext = any> = (
  request: LmiRequest<TEvent, TResult, TContext>,
) => unknown

/**
 * What a middleware does to the types on its way in and out. `eventIn`/`contextIn` are what
 * it receives from outside; `eventOut`/`contextOut` what the inner layers (and the handler)
 * see; `resultIn` what the inner layers return to it; `resultOut` what it returns outward.
 * A body parser maps `eventIn: { body: string }` to `eventOut: { body: Parsed }`. A component
 * left `unknown` is not touched by the middleware: the chain's type passes through.
 *
 * @example
 * ```ts
 * type ParseBody<T> = Transform<{ body: string | null }, { body: T }, unknown, unknown>
 * ```
 */
export interface Transform<
  TEventIn = unknown,
  TEventOut = TEventIn,
  TResultIn = unknown,
  TResultOut = TResultIn,
  TContextIn = unknown,
  TContextOut = TContextIn,
> {
  eventIn: TEventIn
  eventOut: TEventOut
  resultIn: TResultIn
  resultOut: TResultOut
  contextIn: TContextIn
  contextOut: TContextOut
}

/** The phantom key that carries a middleware's {@link Transform} in its type only. */
export declare const transform: unique symbol

/**
 * A middy-shaped middleware: `{ before?, after?, onError?, name? }`. Any `@middy/*` middleware
 * is one. A middleware that changes types declares a {@link Transform} under the phantom
 * `[transform]` key (never present at run time), and `.use()` carries it into the chain's types.
 *
 * @example
 * ```ts
 * function parseBody<T>(): Middleware<Transform<{ body: string }, { body: T }>> {
 *   return { before: (request) => { request.event.body = JSON.parse(request.event.body) } }
 * }
 * ```
 */
// Method syntax on purpose: parameters stay bivariant, so middy's own `MiddlewareObj` types
// (whose `request.error` is typed `Error`) are accepted as they are.
export interface Middleware<
  // biome-ignore lint/suspicious/noExplicitAny: an untyped middleware accepts any request
  T extends Transform<any, any, any, any, any, any> = Transform<any, any, any, any, any, any>,
> {
  before?(request: LmiRequest<T['eventIn'], T['resultOut'], T['contextIn']>): unknown
  after?(request: LmiRequest<T['eventOut'], T['resultIn'], T['contextOut']>): unknown
  onError?(request: LmiRequest<T['eventIn'], T['resultOut'], T['contextIn']>): unknown
  name?: string
  readonly [transform]?: T
}

/**
 * The `{ signal }` third argument of the handler.
 *
 * @example
 * ```ts
 * lmi(async (event, context, { signal }: HandlerOptions) => fetch(url, { signal }))
 * ```
 */
export interface HandlerOptions {
  /** Aborts at the invocation's deadline. */
  readonly signal: AbortSignal
}

/**
 * The function at the centre of the chain.
 *
 * @example
 * ```ts
 * const inner: ChainHandler<{ id: string }, { ok: boolean }> = async (event, context, { signal }) => ({ ok: true })
 * ```
 */
export type ChainHandler<TEvent = unknown, TResult = unknown, TContext = LambdaContext> = (
  event: TEvent,
  context: TContext,
  options: HandlerOptions,
) => TResult | Promise<TResult>

/** Any transform (for constraints). */
// biome-ignore lint/suspicious/noExplicitAny: matching any transform
export type AnyTransform = Transform<any, any, any, any, any, any>

/** The transform a middleware declares, or `undefined` when it declares none. */
export type TransformOf<M> = M extends { readonly [transform]?: infer T }
  ? T extends AnyTransform
    ? T
    : undefined
  : undefined

/**
 * `Next` when a transform gives it, else `Current`: a component left `unknown` (or `any`, as
 * in an untyped middleware) means "passed through unchanged".
 */
export type Passthrough<Current, Next> = unknown extends Next ? Current : Next
