import type { Writable } from 'node:stream'

/** The marks AWS's Node runtime reads on a handler (same `Symbol.for` keys, so they interoperate). */
export const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming')
export const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.highWaterMark')
const STREAM_RESPONSE = 'response'

/**
 * What `awslambda.streamifyResponse` accepts: `(event, responseStream, context)`.
 *
 * @example
 * ```ts
 * const stream: StreamingHandler = async (event, responseStream) => { responseStream.end('ok') }
 * ```
 */
export type StreamingHandler<TEvent = unknown, TContext = unknown> = (
  event: TEvent,
  responseStream: Writable,
  context: TContext,
) => unknown

/**
 * Marks a handler as a response-streaming handler, exactly like
 * `awslambda.streamifyResponse` on AWS's runtime (which lmi also installs as that global).
 *
 * @example
 * ```ts
 * import { streamifyResponse } from '@lmi/core'
 * export const handler = streamifyResponse(async (event, responseStream) => {
 *   responseStream.write('hello ')
 *   responseStream.end('world')
 * })
 * ```
 */
export function streamifyResponse<T extends StreamingHandler<never, never>>(
  handler: T,
  options?: { highWaterMark?: number },
): T {
  const marks = handler as unknown as Record<symbol, unknown>
  marks[HANDLER_STREAMING] = STREAM_RESPONSE
  if (typeof options?.highWaterMark === 'number') {
    marks[HANDLER_HIGHWATERMARK] = options.highWaterMark
  }
  return handler
}

/** True when `fn` was passed through `streamifyResponse` (lmi's or AWS's). */
export function isStreamingHandler(fn: unknown): boolean {
  return (
    typeof fn === 'function' &&
    (fn as unknown as Record<symbol, unknown>)[HANDLER_STREAMING] === STREAM_RESPONSE
  )
}

/**
 * The HTTP status, headers and cookies that precede an HTTP-integration streamed body.
 *
 * @example
 * ```ts
 * const metadata: HttpResponseMetadata = { statusCode: 200, headers: { 'content-type': 'text/plain' } }
 * ```
 */
export interface HttpResponseMetadata {
  statusCode?: number
  headers?: Record<string, string>
  cookies?: string[]
  [key: string]: unknown
}

interface PreludeStream {
  setContentType(contentType: string): void
  _onBeforeFirstWrite?: ((write: (chunk: string | Uint8Array) => void) => void) | undefined
}

const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response'

/**
 * `awslambda.HttpResponseStream`: prefixes a streamed body with the HTTP status and headers
 * for Function URLs / API Gateway (the JSON prelude then eight NUL bytes), as on AWS's runtime.
 *
 * @example
 * ```ts
 * export const handler = streamifyResponse(async (event, responseStream) => {
 *   const http = HttpResponseStream.from(responseStream, { statusCode: 200, headers: { 'content-type': 'text/plain' } })
 *   http.end('streamed')
 * })
 * ```
 */
export const HttpResponseStream = {
  from<T extends Writable>(underlyingStream: T, prelude: HttpResponseMetadata): T {
    const stream = underlyingStream as T & PreludeStream
    stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE)
    const metadata = JSON.stringify(prelude)
    stream._onBeforeFirstWrite = function writePrelude(write) {
      write(metadata)
      write(new Uint8Array(8))
    }
    return underlyingStream
  },
}
