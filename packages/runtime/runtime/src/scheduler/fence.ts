import diagnosticsChannel from 'node:diagnostics_channel'
import type { Agent, ClientRequest } from 'node:http'
import { CHANNELS, currentInvocation, type InvocationState } from '@lmi/core/internal'
import { CODES, type FenceReason, RequestFencedError } from '../errors.ts'
import type { RuntimeLog } from '../log/log.ts'

/**
 * Published by undici for every request it creates — the npm package and the copy inside
 * Node that runs the global `fetch` alike — synchronously, in the caller's async context,
 * before the request is queued on a connection. A request whose `error` is set by then is
 * aborted with that error at the moment undici would start writing it (`onRequestStart` /
 * `onConnect` in `lib/core/request.js`): no byte is sent, the caller's promise rejects with it
 * (`fetch` wraps it as the `cause` of `TypeError: fetch failed`).
 *
 * @example
 * ```ts
 * diagnosticsChannel.subscribe(UNDICI_REQUEST_CREATE, (message) => count((message as { request: { origin: string } }).request.origin))
 * ```
 */
export const UNDICI_REQUEST_CREATE = CHANNELS.undiciRequestCreate

/**
 * Published by `node:http` (and so `node:https` and every client built on them: the AWS SDK's
 * default handler, axios, got) at the end of the `ClientRequest` constructor (Node ≥ 22.12),
 * before anything is written: a request destroyed then sends nothing and emits the error as its
 * `'error'` event, which the caller has had a tick to listen to.
 *
 * @example
 * ```ts
 * diagnosticsChannel.subscribe(HTTP_CLIENT_REQUEST_CREATED, (message) => count((message as { request: ClientRequest }).request.host))
 * ```
 */
export const HTTP_CLIENT_REQUEST_CREATED = CHANNELS.httpClientRequestCreated

/** The part of undici's `Request` the fence reads and writes (both copies agree on it). */
interface UndiciRequest {
  method: string
  origin: string
  path: string
  error: Error | null
}

/**
 * Options of {@link RequestFence}.
 *
 * @example
 * ```ts
 * const options: RequestFenceOptions = { runtimeApi: '127.0.0.1:9001', log }
 * ```
 */
export interface RequestFenceOptions {
  /** `host:port` of the Runtime API: undici requests to it are the runtime's own, never fenced. */
  runtimeApi: string
  log: RuntimeLog
  /** Called after each fenced request (the counter changed). */
  onFenced?: () => void
}

/**
 * Refuses the outgoing HTTP requests an invocation makes once it is over — its deadline passed,
 * or it has been answered — with {@link RequestFencedError}, before a byte is sent. Lambda has
 * told the caller the outcome by then ("Task timed out"), and Node cannot stop the handler: the
 * fence keeps its late work from reaching databases and APIs.
 *
 * Through `diagnostics_channel` only ({@link UNDICI_REQUEST_CREATE},
 * {@link HTTP_CLIENT_REQUEST_CREATED}): nothing is patched, and every copy of undici in the
 * process reports to the same channels. The invocation is the one current where the request is
 * created (the channels publish synchronously in the caller's context); requests made outside
 * any invocation (init, module-level timers) are never fenced. One per thread that runs
 * handlers: the channels are per thread.
 *
 * The runtime's own traffic is exempt: undici requests to the Runtime API's origin (its
 * client), and `node:http` requests sent through an agent given to {@link exempt} (streamed
 * answers, whose request starts at the handler's first write, inside its invocation), so an
 * answer sent from inside an invocation's context is never refused, however late.
 *
 * @example
 * ```ts
 * const fence = new RequestFence({ runtimeApi: '127.0.0.1:9001', log })
 * fence.install()
 * // … later, from a handler whose deadline passed:
 * await fetch('https://example.com/') // TypeError: fetch failed, cause RequestFencedError
 * fence.uninstall()
 * ```
 */
export class RequestFence {
  readonly #log: RuntimeLog
  /** `http://host:port` as undici writes a request's `origin`. */
  readonly #runtimeOrigin: string
  readonly #exemptAgents = new WeakSet<Agent>()
  /** Invocations already logged: a retry loop gets one line, not one per attempt. */
  readonly #logged = new WeakSet<InvocationState>()
  readonly #onFenced: () => void
  #fenced = 0
  #installed = false

  constructor(options: RequestFenceOptions) {
    this.#log = options.log
    this.#runtimeOrigin = new URL(`http://${options.runtimeApi}`).origin
    this.#onFenced = options.onFenced ?? (() => {})
  }

  /** Requests refused so far on this thread. */
  get fenced(): number {
    return this.#fenced
  }

  /** Subscribes to the channels. Idempotent. */
  install(): void {
    if (this.#installed) return
    this.#installed = true
    diagnosticsChannel.subscribe(UNDICI_REQUEST_CREATE, this.#onUndiciRequest)
    diagnosticsChannel.subscribe(HTTP_CLIENT_REQUEST_CREATED, this.#onHttpRequest)
  }

  /** Unsubscribes. Idempotent. */
  uninstall(): void {
    if (!this.#installed) return
    this.#installed = false
    diagnosticsChannel.unsubscribe(UNDICI_REQUEST_CREATE, this.#onUndiciRequest)
    diagnosticsChannel.unsubscribe(HTTP_CLIENT_REQUEST_CREATED, this.#onHttpRequest)
  }

  /** `node:http` requests through `agent` are the runtime's own: never fenced. */
  exempt(agent: Agent): void {
    this.#exemptAgents.add(agent)
  }

  // A subscriber that throws is reported by Node as an uncaught exception: neither may throw.
  // undici's request carries no reference to the client that dispatches it, so the runtime's
  // own requests are told by their origin; node:http's carry their agent, a precise mark.
  readonly #onUndiciRequest = (message: unknown): void => {
    try {
      const request = (message as { request: UndiciRequest }).request
      const invocation = currentInvocation()
      if (invocation === undefined) return
      const reason = this.#reason(invocation)
      if (reason === undefined || request.origin === this.#runtimeOrigin) return
      request.error = this.#refuse(invocation, reason, request.method, request.origin, request.path)
    } catch {
      // An undici whose request has another shape: its requests go through unfenced.
    }
  }

  readonly #onHttpRequest = (message: unknown): void => {
    try {
      const request = (message as { request: ClientRequest }).request
      const invocation = currentInvocation()
      if (invocation === undefined) return
      const reason = this.#reason(invocation)
      // `agent` is set on every ClientRequest, though @types/node does not declare it.
      const { agent } = request as ClientRequest & { agent?: Agent }
      if (reason === undefined || (agent !== undefined && this.#exemptAgents.has(agent))) return
      const host = request.getHeader('host')
      const origin = `${request.protocol}//${typeof host === 'string' ? host : request.host}`
      request.destroy(this.#refuse(invocation, reason, request.method, origin, request.path))
    } catch {
      // Never break a request the fence cannot read.
    }
  }

  #reason(invocation: InvocationState): FenceReason | undefined {
    const lateMs = Date.now() - invocation.deadlineMs
    if (lateMs >= 0) return { kind: 'deadline', lateMs }
    if (invocation.ended) return { kind: 'answered' }
    return undefined
  }

  #refuse(
    invocation: InvocationState,
    reason: FenceReason,
    method: string,
    origin: string,
    path: string,
  ): RequestFencedError {
    const query = path.indexOf('?')
    const url = origin + (query === -1 ? path : path.slice(0, query))
    const error = new RequestFencedError(method, url, invocation.requestId, reason)
    this.#fenced++
    if (!this.#logged.has(invocation)) {
      this.#logged.add(invocation)
      this.#log.log('WARN', error.message, {
        code: CODES.REQUEST_FENCED,
        requestId: invocation.requestId,
        method,
        url,
      })
    }
    this.#onFenced()
    return error
  }
}
