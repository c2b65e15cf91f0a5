// The Runtime API's paths, limits and encodings: one module for the client (undici), the
// streamed response (node:http) and the executors in worker threads, which load no HTTP client.

/**
 * Lambda's limit for a buffered response payload (6 MB).
 *
 * @example
 * ```ts
 * if (body.length > RESPONSE_LIMIT_BYTES) throw new ResponseSizeTooLargeError(body.length, RESPONSE_LIMIT_BYTES)
 * ```
 */
export const RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024

export const API_PREFIX = '/2018-06-01/runtime'
export const NEXT_PATH = `${API_PREFIX}/invocation/next`
export const JSON_CONTENT_TYPE = 'application/json'

/**
 * The path of an invocation's `response` or `error` endpoint. The request id is
 * percent-encoded: it is whatever the Runtime API sent, and a space or a `/` in it would
 * otherwise make an invalid request or another path.
 *
 * @example
 * ```ts
 * invocationPath('a b/c', 'response') // '/2018-06-01/runtime/invocation/a%20b%2Fc/response'
 * ```
 */
export function invocationPath(requestId: string, action: 'response' | 'error'): string {
  return `${API_PREFIX}/invocation/${encodeURIComponent(requestId)}/${action}`
}

/**
 * What `postResponse`/`postError` resolve with when a retry was refused because an earlier
 * attempt had already delivered the answer (its acknowledgement was lost with the connection).
 * HTTP 208 "Already Reported", which the Runtime API never sends itself: a success, not a
 * refusal.
 *
 * @example
 * ```ts
 * if ((await api.postResponse(requestId, body)) === ALREADY_DELIVERED) log('delivered before the retry')
 * ```
 */
export const ALREADY_DELIVERED = 208

/**
 * An error type fit for a header: any name a handler gave its error may hold a newline or a
 * control character, which undici refuses to send (the answer would be lost). Those, and
 * `%` itself, are percent-encoded, as AWS's runtime does for DEL; the body keeps the name as is.
 */
export function headerSafe(value: string): string {
  return value.replace(/[^\t\x20-\x24\x26-\x7e]/gu, percentEncode)
}

function percentEncode(char: string): string {
  // Through UTF-8 bytes rather than encodeURIComponent, which throws on a lone surrogate.
  let encoded = ''
  for (const byte of Buffer.from(char, 'utf8')) {
    encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}
