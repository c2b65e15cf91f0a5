import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ReadableStream } from 'node:stream/web'
import { StreamedResponseError } from '../errors.ts'
import { type HttpResponseMetadata, HttpResponseStream } from '../streaming/streamify.ts'

/**
 * `lmi()`'s execution modes, the values of its `executionMode` option: `@middy/core`'s
 * `executionModeStandard` and `executionModeStreamifyResponse` (middy's own functions are
 * accepted too, by name, so a chain ported from middy keeps its import).
 *
 * @example
 * ```ts
 * export const handler = lmi(inner, { executionMode: executionModeStreamifyResponse })
 * ```
 */
export const executionModeStandard = Object.freeze({ executionMode: 'standard' as const })

/**
 * The streaming execution mode: the chain becomes a response-streaming handler
 * (`awslambda.streamifyResponse`'s marks, read by lmi's runtime and AWS's), and the response
 * the hooks and handler produce is written to the response stream as middy writes it: a
 * response with a `statusCode` gets the HTTP prelude (`HttpResponseStream`) and its `body` is
 * what is streamed; a string is written (in 16 KB chunks, minding backpressure), a Readable,
 * web `ReadableStream` or async iterable is piped.
 *
 * @example
 * ```ts
 * export const handler = lmi(async () => ({ statusCode: 200, body: Readable.from(rows()) }), {
 *   executionMode: executionModeStreamifyResponse,
 * })
 * ```
 */
export const executionModeStreamifyResponse = Object.freeze({
  executionMode: 'streamifyResponse' as const,
})

/**
 * A value of {@link executionModeStandard} or {@link executionModeStreamifyResponse}, or
 * middy's function of the same name.
 *
 * @example
 * ```ts
 * const mode: ExecutionMode = executionModeStreamifyResponse
 * ```
 */
export type ExecutionMode =
  | typeof executionModeStandard
  | typeof executionModeStreamifyResponse
  | ((...args: never[]) => unknown)

/** Whether `mode` streams; `undefined` for a mode lmi does not run (middy's durable context). */
export function streamsResponse(mode: unknown): boolean | undefined {
  if (mode === undefined || mode === executionModeStandard) return false
  if (mode === executionModeStreamifyResponse) return true
  if (typeof mode === 'function') {
    if (mode.name === 'executionModeStandard') return false
    if (mode.name === 'executionModeStreamifyResponse') return true
  }
  return undefined
}

const CHUNK = 16 * 1024

function isPipeable(body: unknown): body is NodeJS.ReadableStream | AsyncIterable<unknown> {
  if (body instanceof ReadableStream) return true
  if (typeof body !== 'object' || body === null) return false
  return (
    '_readableState' in body ||
    typeof (body as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function'
  )
}

/**
 * Writes the chain's response to the response stream, as `@middy/core` 7.9's streaming mode
 * does; resolves once the stream has finished.
 */
export async function writeStreamedResponse(
  responseStream: Writable,
  response: unknown,
): Promise<void> {
  let stream = responseStream
  let body: unknown = response ?? ''
  const http = response as { statusCode?: unknown; body?: unknown } | null | undefined
  if (typeof http === 'object' && http !== null && http.statusCode) {
    const { body: httpBody, ...prelude } = http as HttpResponseMetadata & { body?: unknown }
    body = httpBody ?? ''
    stream = HttpResponseStream.from(stream, prelude)
    // The prelude goes out at once, before the body is ready, as middy sends it.
    stream.write('')
  }
  if (typeof body === 'string') {
    for (let position = 0; position < body.length; position += CHUNK) {
      const ok = stream.write(body.slice(position, position + CHUNK))
      if (!ok && position + CHUNK < body.length) await once(stream, 'drain')
    }
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject)
      stream.end(resolve)
    })
    return
  }
  if (isPipeable(body)) {
    await pipeline(body as NodeJS.ReadableStream, stream)
    return
  }
  throw new StreamedResponseError()
}
