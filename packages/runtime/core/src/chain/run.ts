// One request through the chain: before hooks, handler, after hooks, and the onError hooks
// when anything throws — `@middy/core` 7.9's `runRequest`, with its plugin hooks when given.
//
// Two hook loops, one per way of running: `runHooks` runs hooks while they return plain
// values, for every phase and every chain, so a chain of synchronous hooks around an async
// handler costs no promise of its own. The first hook (or handler) that returns a promise
// hands the rest of the invocation to `runAsync`, one async function with its own loop and
// one `await` per promise, as middy runs it (the onError hooks, rare, continue through
// runHooks). One function, not a `.then()` per step: a continuation registered before the hook ran
// would resume in the async context of that moment and lose what the hook did to it (an
// `AsyncLocalStorage.enterWith()`: Powertools does that in a before hook, and the handler must
// see it).
import type { Writable } from 'node:stream'
import type { LambdaContext } from '../invocation/context.ts'
import type { InvocationState } from '../invocation/state.ts'
import type { Plugin } from './options.ts'
import { writeStreamedResponse } from './streamed.ts'
import type { HandlerOptions, LmiRequest } from './types.ts'

export type Hook = (request: LmiRequest) => unknown
export type AnyHandler = (
  event: unknown,
  context: LambdaContext,
  options: HandlerOptions,
) => unknown

/** A chain as invocations run it; `lmi()` copies it rather than change one in use. */
export interface Chain {
  befores: Hook[]
  afters: Hook[]
  onErrors: Hook[]
  handler: AnyHandler
  internal: Record<string, unknown> | undefined
  /** middy's plugin hooks, when any was given. */
  plugin: Plugin | undefined
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

// --- the hook loop ---------------------------------------------------------------------------

/** {@link runHooks}: every hook ran and none ended the phase. */
const DONE = -1
/** {@link runHooks}: a hook ended the phase with a response. */
const ENDED = -2

/**
 * {@link runHooks}: which hook returned the promise it just returned. Written by runHooks and
 * read by its caller in the same synchronous step, before any other code runs: returning it
 * beside the promise would cost an object per phase, and a small integer is stored without
 * the write barrier a promise kept here would cost.
 */
let pendingAt = 0

/**
 * Runs `hooks` from `from` on while they return plain values. Returns {@link DONE},
 * {@link ENDED}, or the promise a hook returned (its index in {@link pendingAt}): the caller
 * awaits it, gives its value to {@link settleHook}, and goes on from the next index.
 */
function runHooks(
  hooks: Hook[],
  request: LmiRequest,
  from: number,
  plugin: Plugin | undefined,
): number | Promise<unknown> {
  for (let index = from; index < hooks.length; index++) {
    const hook = hooks[index] as Hook
    if (plugin !== undefined) plugin.beforeMiddleware?.(hook.name)
    const result = hook(request)
    if (result instanceof Promise) {
      pendingAt = index
      return result
    }
    // settleHook's checks, its call skipped for the common hook that returns nothing.
    if (
      (result !== undefined || plugin !== undefined || 'earlyResponse' in request) &&
      settleHook(request, hook, result, plugin)
    ) {
      return ENDED
    }
  }
  return DONE
}

/** A hook's value: anything but `undefined` (or an `earlyResponse` it set) ends its phase. */
function settleHook(
  request: LmiRequest,
  hook: Hook,
  result: unknown,
  plugin: Plugin | undefined,
): boolean {
  plugin?.afterMiddleware?.(hook.name)
  if (result !== undefined) request.earlyResponse = result
  if ('earlyResponse' in request) {
    request.response = request.earlyResponse
    return true
  }
  return false
}

// --- the phases ------------------------------------------------------------------------------

/** Where {@link runAsync} takes over: the phase whose hook (or handler) returned a promise. */
const BEFORE = 0
const HANDLER = 1
const AFTER = 2
type Phase = typeof BEFORE | typeof HANDLER | typeof AFTER

/**
 * One request through the chain; rejects with the error no onError hook handled.
 *
 * @param invocation - the invocation the handler's `signal` belongs to.
 */
export function runRequest(
  chain: Chain,
  request: LmiRequest,
  invocation: InvocationState,
): Promise<unknown> {
  try {
    const result = runSync(chain, request, invocation)
    return result instanceof Promise ? result : Promise.resolve(result)
  } catch (error) {
    try {
      const handled = handleError(chain, request, error)
      return handled instanceof Promise ? handled : Promise.resolve(handled)
    } catch (unhandled) {
      return Promise.reject(unhandled)
    }
  }
}

/** The request without a single await while nothing returns a promise. */
function runSync(chain: Chain, request: LmiRequest, invocation: InvocationState): unknown {
  const plugin = chain.plugin
  const at = chain.befores.length === 0 ? DONE : runHooks(chain.befores, request, 0, plugin)
  if (typeof at !== 'number') return runAsync(chain, request, invocation, BEFORE, at, pendingAt)
  if (at === ENDED) return request.response
  plugin?.beforeHandler?.()
  const response = callHandler(chain, request, invocation)
  if (response instanceof Promise) {
    // Nothing left to run after the handler: its promise is the outcome.
    if (chain.afters.length === 0 && chain.onErrors.length === 0 && plugin === undefined) {
      return response
    }
    // One continuation rather than an async function: the common chain (synchronous hooks
    // around an async handler) then costs one promise. It is registered after the handler's
    // synchronous part, so it resumes in the context the handler left, as an await would.
    if (plugin === undefined) {
      // No onError hook: an error goes on as it is, without a handler of its own.
      if (chain.onErrors.length === 0) {
        return response.then((value) => afterHandler(chain, request, invocation, value))
      }
      return response.then(
        (value) => {
          try {
            return afterHandler(chain, request, invocation, value)
          } catch (error) {
            return handleError(chain, request, error)
          }
        },
        (error) => handleError(chain, request, error),
      )
    }
    return runAsync(chain, request, invocation, HANDLER, response, 0)
  }
  return afterHandler(chain, request, invocation, response)
}

/** The handler's value, then the after hooks (a throw is the caller's to handle). */
function afterHandler(
  chain: Chain,
  request: LmiRequest,
  invocation: InvocationState,
  response: unknown,
): unknown {
  request.response = response
  const plugin = chain.plugin
  plugin?.afterHandler?.()
  const at = chain.afters.length === 0 ? DONE : runHooks(chain.afters, request, 0, plugin)
  if (typeof at !== 'number') return runAsync(chain, request, invocation, AFTER, at, pendingAt)
  return request.response
}

/**
 * The rest of the request from `phase`, once something in it returned `pending`: hook `at` of
 * the phase, or the handler. Its own loop over the hooks left, calling and awaiting each in
 * place: going back through {@link runHooks} for each hook cost a few nanoseconds a hook.
 */
async function runAsync(
  chain: Chain,
  request: LmiRequest,
  invocation: InvocationState,
  phase: Phase,
  pending: Promise<unknown>,
  at: number,
): Promise<unknown> {
  const plugin = chain.plugin
  try {
    let afters = phase !== BEFORE
    let hooks = afters ? chain.afters : chain.befores
    if (phase === HANDLER) {
      request.response = await pending
      plugin?.afterHandler?.()
      at = -1
    } else if (settleHook(request, hooks[at] as Hook, await pending, plugin)) {
      return request.response
    }
    for (;;) {
      for (at++; at < hooks.length; at++) {
        const hook = hooks[at] as Hook
        plugin?.beforeMiddleware?.(hook.name)
        let result = hook(request)
        if (result instanceof Promise) result = await result
        // A response (or earlyResponse) ends the request: before the handler, or its after hooks.
        if (settleHook(request, hook, result, plugin)) return request.response
      }
      if (afters) return request.response
      plugin?.beforeHandler?.()
      let response = callHandler(chain, request, invocation)
      if (response instanceof Promise) response = await response
      request.response = response
      plugin?.afterHandler?.()
      afters = true
      hooks = chain.afters
      at = -1
    }
  } catch (error) {
    return handleError(chain, request, error)
  }
}

/**
 * The onError hooks, in the same loop: the first that responds ends them; an error none
 * handled is thrown as it was; a hook's own error ends the invocation (see
 * {@link rethrowFromOnError}).
 */
function handleError(chain: Chain, request: LmiRequest, error: unknown): unknown {
  request.response = undefined
  delete request.earlyResponse
  request.error = error
  let next: number | Promise<unknown>
  try {
    next = runHooks(chain.onErrors, request, 0, chain.plugin)
  } catch (hookError) {
    rethrowFromOnError(request, hookError)
  }
  if (typeof next !== 'number') return finishOnError(chain, request, next, pendingAt)
  return settleError(request)
}

async function finishOnError(
  chain: Chain,
  request: LmiRequest,
  pending: Promise<unknown>,
  at: number,
): Promise<unknown> {
  const { onErrors, plugin } = chain
  let next: number | Promise<unknown> = pending
  try {
    while (typeof next !== 'number') {
      if (settleHook(request, onErrors[at] as Hook, await next, plugin)) break
      next = runHooks(onErrors, request, at + 1, plugin)
      at = pendingAt
    }
  } catch (hookError) {
    rethrowFromOnError(request, hookError)
  }
  return settleError(request)
}

function settleError(request: LmiRequest): unknown {
  if (request.response === undefined) throw request.error
  return request.response
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

// --- the handler -----------------------------------------------------------------------------

function callHandler(chain: Chain, request: LmiRequest, invocation: InvocationState): unknown {
  const plugin = chain.plugin
  const early = plugin === undefined ? undefined : plugin.timeoutEarlyInMillis
  const remaining =
    early === undefined || early === 0
      ? undefined
      : (request.context as Partial<LambdaContext>).getRemainingTimeInMillis
  if (typeof remaining !== 'function') {
    return chain.handler(
      request.event,
      request.context as LambdaContext,
      new LazyHandlerOptions(invocation),
    )
  }
  // middy's early timeout: the handler's signal aborts `early` ms before the deadline (as well
  // as at it), and the invocation ends with the plugin's timeoutEarlyResponse().
  const controller = new AbortController()
  const signal = AbortSignal.any([invocation.signal, controller.signal])
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise((resolve, reject) => {
    timer = setTimeout(
      () => {
        controller.abort()
        try {
          resolve((plugin as Plugin).timeoutEarlyResponse())
        } catch (error) {
          reject(error)
        }
      },
      Math.max(0, remaining.call(request.context) - (early as number)),
    )
  })
  let result: unknown
  try {
    result = chain.handler(request.event, request.context as LambdaContext, { signal })
  } catch (error) {
    clearTimeout(timer)
    throw error
  }
  if (!(result instanceof Promise)) {
    clearTimeout(timer)
    return result
  }
  return Promise.race([result, timedOut]).then(
    (value) => {
      clearTimeout(timer)
      return value
    },
    (error: unknown) => {
      clearTimeout(timer)
      throw error
    },
  )
}

// --- with a plugin ---------------------------------------------------------------------------

/**
 * One request with middy's plugin envelope, as `@middy/core` 7.9 runs it: `requestStart`,
 * the request, then — streaming — the body written, and `requestEnd`, whose error replaces a
 * success and becomes the `cause` of a failure that has none.
 */
export async function runWithPlugin(
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
      response = await runRequest(chain, request, invocation)
    } catch (error) {
      failure = error
      failed = true
    }
  } else {
    // Streaming, as middy streams: a failing chain ends the invocation before requestEnd; the
    // body is written, then requestEnd runs, with its error rules over the write's failure.
    const chainResponse = await runRequest(chain, request, invocation)
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
