// From the event's body string to a JSON value: the Content-Type check, base64 and the size
// limit, then secure-json-parse. Each step refuses with its own HttpError.
import { headerValue } from '@lmi/core/internal'
import sjson from 'secure-json-parse'
import {
  MalformedJsonError,
  PayloadTooLargeError,
  PrototypePoisoningError,
  UnsupportedMediaTypeError,
} from './errors.ts'
import type { BodyConfig } from './options.ts'

const mediaTypeSuffixJson = /^application\/[a-z0-9!#$&^_.+-]+\+json$/
const charsetParameter = /;\s*charset\s*=\s*"?([^";\s]*)"?/i

function acceptsContentType(
  header: string | undefined,
  extra: BodyConfig['contentTypes'],
): boolean {
  if (header === undefined) return false
  const semicolon = header.indexOf(';')
  const type = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase()
  const isJson =
    type === 'application/json' ||
    mediaTypeSuffixJson.test(type) ||
    extra.some((accepted) =>
      typeof accepted === 'string' ? accepted === type : accepted.test(type),
    )
  if (!isJson) return false
  if (semicolon === -1) return true
  // RFC 8259: JSON between systems is UTF-8. A body declared in another charset would be misread.
  const charset = charsetParameter.exec(header.slice(semicolon))?.[1]?.toLowerCase()
  return charset === undefined || charset === 'utf-8' || charset === 'utf8'
}

/** Throws `UnsupportedMediaTypeError` unless the event's `Content-Type` is JSON in UTF-8. */
export function assertJsonContentType(event: unknown, extra: BodyConfig['contentTypes']): void {
  const contentType = headerValue(event, 'content-type')
  if (!acceptsContentType(contentType, extra)) throw new UnsupportedMediaTypeError(contentType)
}

// Decoding is stateless when not streaming, so one decoder serves every invocation.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The body as text, within the limit: base64 decoded (and UTF-8 checked) when flagged. */
export function bodyText(raw: string, base64: boolean, limit: number): string {
  if (base64) {
    // Lambda's sources send canonical base64: 4 characters for every 3 bytes. Refuse what
    // cannot fit before allocating, then check the decoded bytes themselves.
    if (raw.length > Math.ceil(limit / 3) * 4 + 4) throw new PayloadTooLargeError(limit)
    const bytes = Buffer.from(raw, 'base64')
    if (bytes.length > limit) throw new PayloadTooLargeError(limit)
    try {
      return utf8.decode(bytes)
    } catch (error) {
      throw new MalformedJsonError('Request body is not valid UTF-8', { cause: error })
    }
  }
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes: count bytes only between the two bounds.
  if (raw.length > limit) throw new PayloadTooLargeError(limit)
  if (raw.length * 3 > limit && Buffer.byteLength(raw, 'utf8') > limit) {
    throw new PayloadTooLargeError(limit)
  }
  return raw
}

/** Wraps a user reviver's own errors so they are not mistaken for syntax errors. */
class ReviverFailure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

const parseOptions = { protoAction: 'error', constructorAction: 'error' } as const

/** Parses `text` (a leading BOM dropped), refusing prototype-poisoning keys. */
export function parseJson(text: string, reviver: BodyConfig['reviver']): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const revive =
    reviver === undefined
      ? undefined
      : function guardedReviver(this: unknown, key: string, value: unknown) {
          try {
            return reviver.call(this, key, value)
          } catch (error) {
            throw new ReviverFailure(error)
          }
        }
  try {
    return sjson.parse(source, revive, parseOptions)
  } catch (error) {
    if (error instanceof ReviverFailure) throw error.error
    // secure-json-parse throws SyntaxError for both bad syntax and forbidden keys. Telling them
    // apart by message would break with its wording; plain JSON.parse (error path only) cannot
    // fail on a forbidden key, so it settles which one it was.
    let wellFormed = false
    try {
      JSON.parse(source)
      wellFormed = true
    } catch {}
    throw wellFormed
      ? new PrototypePoisoningError({ cause: error })
      : new MalformedJsonError(undefined, { cause: error })
  }
}
