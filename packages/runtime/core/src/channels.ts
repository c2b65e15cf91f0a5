// Every diagnostics channel lmi publishes or listens to, in one place (as undici keeps its
// own in lib/core/diagnostics.js). lmi's channels are subscribed to by name, so every copy of
// `@lmi/core` in a process (a bundle, the `@lmi/source` build beside `dist`) reaches the same
// subscribers.
import diagnosticsChannel from 'node:diagnostics_channel'

/**
 * The names of the channels lmi publishes (`lmi:*`) and of Node's and undici's it reads.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel'
 * import { CHANNELS } from '@lmi/core'
 * diagnosticsChannel.subscribe(CHANNELS.finding, (finding) => console.log(finding))
 * ```
 */
export const CHANNELS = {
  /** lmi: once per invocation, when it is answered ({@link invocationEndChannel}). */
  invocationEnd: 'lmi:invocation:end',
  /** lmi: every shared-state finding, whatever the mode ({@link findingChannel}). */
  finding: 'lmi:shared-state:finding',
  /** undici: a request was created (before it is sent; setting `request.error` stops it). */
  undiciRequestCreate: 'undici:request:create',
  undiciRequestTrailers: 'undici:request:trailers',
  undiciRequestError: 'undici:request:error',
  /** undici ≥ 7: a chunk of a request's streamed body went out (what `lmi check` records). */
  undiciRequestBodyChunkSent: 'undici:request:bodyChunkSent',
  undiciRequestBodySent: 'undici:request:bodySent',
  /** undici: a response's headers arrived (the request's body, if any, is over). */
  undiciRequestHeaders: 'undici:request:headers',
  /** node:http: a client request was created, before anything is written. */
  httpClientRequestCreated: 'http.client.request.created',
  httpClientRequestStart: 'http.client.request.start',
  httpClientResponseFinish: 'http.client.response.finish',
  httpClientRequestError: 'http.client.request.error',
} as const

/**
 * The `diagnostics_channel` named `lmi:invocation:end`: published once per invocation when it
 * is answered — success, error, fault or timeout — by lmi's runtime for every invocation, and
 * by the chain where it owns the invocation (AWS's runtime) for those whose end was asked for
 * with `invocation.watchEnd()`. A subscriber must not throw (Node reports a subscriber's
 * exception as uncaught) and must not block: the response is not yet posted.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel'
 * diagnosticsChannel.subscribe('lmi:invocation:end', (message) => {
 *   const { invocation, ok, timedOut } = message as InvocationEndMessage
 *   if (timedOut) metrics.count('timeouts', { tenant: invocation.tenantId })
 * })
 * ```
 */
export const invocationEndChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  CHANNELS.invocationEnd,
)

/**
 * The `diagnostics_channel` every finding is published on (`lmi:shared-state:finding`, a
 * `Finding` per message), whatever the mode: `lmi check` collects them here.
 *
 * @example
 * ```ts
 * diagnosticsChannel.subscribe('lmi:shared-state:finding', (finding) => findings.push(finding as Finding))
 * ```
 */
export const findingChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  CHANNELS.finding,
)
