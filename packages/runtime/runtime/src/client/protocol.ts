// The Runtime API's encodings: error bodies, the X-Ray error cause, header-safe values — for
// the client (undici), the streamed response (node:http) and the executors in worker threads,
// which load no HTTP client. Its paths, header names and limits are @lmi/core's protocol.ts,
// shared with the dev emulator.
import { XRAY_ERROR_CAUSE_LIMIT_BYTES } from '@lmi/core/internal'

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

interface XRayStackFrame {
  path: string
  line: number
  label: string
}

/**
 * The X-Ray error cause AWS's Node runtime sends with an error answer, built from the error
 * body (already read safely from whatever was thrown): `{ working_directory, exceptions: [{
 * type, message, stack: [{ path, line, label }] }], paths }`, as ASCII JSON within
 * {@link XRAY_ERROR_CAUSE_LIMIT_BYTES}, so it is always a valid header value: stack frames are
 * dropped from the end, then the message is cut, until it fits (AWS's runtime sets no bound; a
 * Runtime API behind a usual 8–16 KB header limit would refuse the whole post). `undefined` if
 * even an empty stack and message do not fit.
 *
 * @example
 * ```ts
 * xrayErrorCause({ errorType: 'TypeError', errorMessage: 'x', stackTrace: ['    at f (/var/task/app.js:3:9)'] })
 * // '{"working_directory":"/var/task","exceptions":[{"type":"TypeError","message":"x","stack":[{"path":"/var/task/app.js","line":3,"label":"f"}]}],"paths":["/var/task/app.js"]}'
 * ```
 */
export function xrayErrorCause(
  error: { errorType: string; errorMessage: string; stackTrace: string[] },
  workingDirectory = process.cwd(),
): string | undefined {
  const frames = error.stackTrace.map(parseStackFrame)
  let message = error.errorMessage
  for (;;) {
    const cause = asciiJson({
      working_directory: workingDirectory,
      exceptions: [{ type: error.errorType, message, stack: frames }],
      paths: [...new Set(frames.map((frame) => frame.path))],
    })
    if (cause.length <= XRAY_ERROR_CAUSE_LIMIT_BYTES) return cause
    if (frames.length > 0) frames.pop()
    else if (message.length > 0) message = message.slice(0, Math.floor(message.length / 2))
    else return undefined
  }
}

/** A V8 stack line (`    at label (path:line:column)`) as X-Ray's frame, as AWS's runtime reads it. */
function parseStackFrame(line: string): XRayStackFrame {
  const trimmed = line
    .trim()
    .replace(/[()]/g, '')
    .replace(/^\S*\s/, '')
  const lastSpace = trimmed.lastIndexOf(' ')
  const label = lastSpace >= 0 ? trimmed.slice(0, lastSpace) : 'anonymous'
  const location = lastSpace >= 0 ? trimmed.slice(lastSpace + 1) : trimmed
  // `file:///a/b.js:3:9` or `/a/b.js:3:9`: the path is everything before the last two numbers.
  const match = /^(.*?):(\d+)(?::\d+)?$/.exec(location)
  return {
    path: match?.[1] ?? location,
    line: match?.[2] === undefined ? 0 : Number(match[2]),
    label,
  }
}

/**
 * The error body lmi posts to `/error`, `/init/error` and a stream's error trailer: Lambda's
 * documented `{errorType, errorMessage, stackTrace}` plus `trace`, the field AWS's Node runtime
 * sends instead of `stackTrace` — the stack as `error.stack` prints it, header line(s) then
 * indented frames — so a caller written against either finds its field.
 *
 * @example
 * ```ts
 * errorBody({ errorType: 'TypeError', errorMessage: 'x', stackTrace: ['at f (/var/task/app.js:3:9)'] })
 * // '{"errorType":"TypeError","errorMessage":"x","stackTrace":["at f (/var/task/app.js:3:9)"],
 * //   "trace":["TypeError: x","    at f (/var/task/app.js:3:9)"]}'
 * ```
 */
export function errorBody(error: {
  errorType: string
  errorMessage: string
  stackTrace: string[]
}): string {
  const { errorType, errorMessage, stackTrace } = error
  const trace = `${errorType}: ${errorMessage}`.split('\n')
  for (const frame of stackTrace) trace.push(`    ${frame}`)
  return JSON.stringify({ errorType, errorMessage, stackTrace, trace })
}

/** JSON with every character outside printable ASCII escaped (`\uXXXX`): a valid header value. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
