import { STATUS_CODES } from 'node:http'
import { LmiError } from '@lmi/core'
import { brand } from '@lmi/core/internal'

/** The package named in `InvalidConfigurationError`'s `cause` (middy's `{ package, data }`). */
export const PACKAGE = '@lmi/json'

/**
 * Every fixed code the errors of `@lmi/json` carry; stable and never reused. An
 * {@link HttpError} made for another status gets `LMI_` + its status phrase (`LMI_NOT_FOUND`)
 * unless given a `code`.
 *
 * @example
 * ```ts
 * import { CODES } from '@lmi/json'
 * if (error.code === CODES.VALIDATION_FAILED) metrics.count('invalid-order')
 * ```
 */
export const CODES = {
  UNSUPPORTED_MEDIA_TYPE: 'LMI_UNSUPPORTED_MEDIA_TYPE',
  PAYLOAD_TOO_LARGE: 'LMI_PAYLOAD_TOO_LARGE',
  MALFORMED_JSON: 'LMI_MALFORMED_JSON',
  PROTOTYPE_POISONING: 'LMI_PROTOTYPE_POISONING',
  BODY_REQUIRED: 'LMI_BODY_REQUIRED',
  VALIDATION_FAILED: 'LMI_VALIDATION_FAILED',
  RESPONSE_SERIALIZATION: 'LMI_RESPONSE_SERIALIZATION',
} as const

/**
 * Options of {@link HttpError} and {@link createHttpError}.
 *
 * @example
 * ```ts
 * const options: HttpErrorOptions = { code: 'ORDER_NOT_FOUND', headers: { 'cache-control': 'no-store' } }
 * ```
 */
export interface HttpErrorOptions extends ErrorOptions {
  /** Stable machine-readable code. Default: `LMI_` + the status phrase (`LMI_NOT_FOUND`). */
  code?: string
  /**
   * Whether the message may be shown to the client. Default: `true` below 500, `false` from
   * 500 (the `http-errors`/middy rule).
   */
  expose?: boolean
  /** Response headers to send with the error (middy's `http-error-handler` reads them too). */
  headers?: Record<string, string>
}

/**
 * One ajv finding, reduced to what is safe to show a client (no `schemaPath`, no data).
 *
 * @example
 * ```ts
 * const issue: ValidationIssue = { instancePath: '/qty', keyword: 'minimum', message: 'must be >= 1', params: { comparison: '>=', limit: 1 } }
 * ```
 */
export interface ValidationIssue {
  /** JSON Pointer to the offending value inside the body (`/items/0/qty`), `''` for the root. */
  instancePath: string
  /** The JSON Schema keyword that failed (`required`, `type`, `format`, …). */
  keyword: string
  /** ajv's message (`must have required property 'name'`). */
  message: string
  /** ajv's params for the keyword (`{ missingProperty: 'name' }`). */
  params: Record<string, unknown>
}

/**
 * What {@link HttpError.toJSON} returns: no stack, no cause.
 *
 * @example
 * ```ts
 * JSON.stringify(new BodyRequiredError())
 * // => {"name":"BodyRequiredError","code":"LMI_BODY_REQUIRED","message":"Request body is required","statusCode":400,"expose":true}
 * ```
 */
export interface HttpErrorJSON {
  name: string
  code: string
  message: string
  statusCode: number
  expose: boolean
  details?: readonly ValidationIssue[]
}

const nonLetters = /[^a-zA-Z]/g
const nonAlphanumerics = /[^A-Z0-9]+/g

function validStatus(statusCode: unknown): number {
  return typeof statusCode === 'number' &&
    Number.isInteger(statusCode) &&
    statusCode >= 400 &&
    statusCode <= 599
    ? statusCode
    : 500
}

/** `NotFoundError` for 404, as middy's `createError` names them. */
function nameFor(statusCode: number): string {
  const phrase = STATUS_CODES[statusCode]
  if (phrase === undefined) return 'HttpError'
  const name = phrase.replace(nonLetters, '')
  return name.endsWith('Error') ? name : `${name}Error`
}

/** `LMI_NOT_FOUND` for 404. */
function codeFor(statusCode: number): string {
  const phrase = STATUS_CODES[statusCode]
  if (phrase === undefined) return `LMI_HTTP_${statusCode}`
  const words = phrase.replaceAll("'", '').toUpperCase().replace(nonAlphanumerics, '_')
  return `LMI_${words.replace(/^_+|_+$/g, '')}`
}

/**
 * Base class of every HTTP error `@lmi/json` throws, and the one to throw from handlers: it
 * carries `statusCode` (and `status`, its `http-errors` alias), `expose`, a stable `code`, an
 * optional `cause` and response `headers`. Its shape is middy's `createError` shape, so
 * `@middy/http-error-handler` answers it as it answers middy's own errors, and
 * {@link httpErrors} turns it into an RFC 9457 problem response.
 *
 * A status outside 400–599 becomes 500. `instanceof HttpError` holds across duplicated copies
 * of this package.
 *
 * @example
 * ```ts
 * import { HttpError } from '@lmi/json'
 * throw new HttpError(409, 'Order already paid', { code: 'ORDER_PAID' })
 * ```
 */
export class HttpError extends LmiError {
  readonly statusCode: number
  /** Alias of `statusCode` (as `http-errors` and middy have it). */
  readonly status: number
  /** Whether `message` may be shown to the client. */
  expose: boolean
  /** Response headers to send with the error. */
  readonly headers: Record<string, string> | undefined

  constructor(statusCode: number, message?: string, options: HttpErrorOptions = {}) {
    const status = validStatus(statusCode)
    const { code, expose, headers, ...errorOptions } = options
    super(message ?? STATUS_CODES[status] ?? 'HTTP error', code ?? codeFor(status), errorOptions)
    this.name = nameFor(status)
    this.statusCode = status
    this.status = status
    this.expose = typeof expose === 'boolean' ? expose : status < 500
    this.headers = headers
  }

  override toJSON(): HttpErrorJSON {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      statusCode: this.statusCode,
      expose: this.expose,
    }
  }
}
// `instanceof HttpError` also holds for an error built by another copy of this package (source
// and dist side by side, two versions in one bundle).
brand(HttpError, '@lmi/json/HttpError')

/**
 * Creates an {@link HttpError}: middy's `createError(statusCode, message?, options?)`, with a
 * stable `code`.
 *
 * @example
 * ```ts
 * import { createHttpError } from '@lmi/json'
 * if (!order) throw createHttpError(404, `No order ${id}`)
 * // => NotFoundError { statusCode: 404, expose: true, code: 'LMI_NOT_FOUND' }
 * ```
 */
export function createHttpError(
  statusCode: number,
  message?: string,
  options?: HttpErrorOptions,
): HttpError {
  return new HttpError(statusCode, message, options)
}

/**
 * 415: the request has a body whose `Content-Type` is not JSON (`application/json`,
 * `application/*+json`, or a type added with `contentTypes`), or names a charset other than
 * UTF-8.
 *
 * @example
 * ```ts
 * // POST with content-type: text/plain  =>  415 { code: 'LMI_UNSUPPORTED_MEDIA_TYPE' }
 * ```
 */
export class UnsupportedMediaTypeError extends HttpError {
  /** The `Content-Type` received (at most 200 characters), for logs. */
  readonly contentType: string | undefined

  constructor(contentType: string | undefined) {
    super(
      415,
      contentType === undefined
        ? 'Request body needs Content-Type: application/json'
        : 'Unsupported Content-Type: expected application/json (UTF-8)',
      { code: CODES.UNSUPPORTED_MEDIA_TYPE },
    )
    this.name = 'UnsupportedMediaTypeError'
    this.contentType = contentType?.slice(0, 200)
  }
}

/**
 * 413: the body (after base64 decoding) is larger than the `limit` of {@link jsonBody}.
 *
 * @example
 * ```ts
 * jsonBody({ limit: 64 * 1024 }) // a 100 KiB body  =>  413 { code: 'LMI_PAYLOAD_TOO_LARGE' }
 * ```
 */
export class PayloadTooLargeError extends HttpError {
  /** The limit in bytes. */
  readonly limit: number

  constructor(limit: number) {
    super(413, `Request body is larger than ${limit} bytes`, { code: CODES.PAYLOAD_TOO_LARGE })
    this.name = 'PayloadTooLargeError'
    this.limit = limit
  }
}

/**
 * 400: the body is not JSON (a syntax error, bytes that are not UTF-8, a body that is not a
 * string). The parser's `SyntaxError` is the `cause`; it is never shown to the client.
 *
 * @example
 * ```ts
 * // body '{"name":'  =>  400 { code: 'LMI_MALFORMED_JSON' }
 * ```
 */
export class MalformedJsonError extends HttpError {
  constructor(message = 'Request body is not valid JSON', options?: ErrorOptions) {
    super(400, message, { ...options, code: CODES.MALFORMED_JSON })
    this.name = 'MalformedJsonError'
  }
}

/**
 * 400: the body is JSON but holds a `__proto__` key or a `constructor` object with a
 * `prototype` key — the shapes of prototype-poisoning attacks. Found by `secure-json-parse`.
 *
 * @example
 * ```ts
 * // body '{"__proto__":{"isAdmin":true}}'  =>  400 { code: 'LMI_PROTOTYPE_POISONING' }
 * ```
 */
export class PrototypePoisoningError extends HttpError {
  constructor(options?: ErrorOptions) {
    super(400, 'Request body contains a forbidden key (__proto__ or constructor.prototype)', {
      ...options,
      code: CODES.PROTOTYPE_POISONING,
    })
    this.name = 'PrototypePoisoningError'
  }
}

/**
 * 400: the request has no body (missing, `null` or empty) where one is required: with a
 * `schema`, or `required: true`.
 *
 * @example
 * ```ts
 * jsonBody({ schema }) // POST without a body  =>  400 { code: 'LMI_BODY_REQUIRED' }
 * ```
 */
export class BodyRequiredError extends HttpError {
  constructor() {
    super(400, 'Request body is required', { code: CODES.BODY_REQUIRED })
    this.name = 'BodyRequiredError'
  }
}

/**
 * 422: the body is JSON but does not match the schema. `details` lists ajv's findings
 * (`instancePath`, `keyword`, `message`, `params`; at most `maxErrors` of them), which
 * {@link httpErrors} sends as the problem's `errors`.
 *
 * @example
 * ```ts
 * // body '{"qty":"many"}' for { qty: { type: 'integer' } }
 * // =>  422 { code: 'LMI_VALIDATION_FAILED', details: [{ instancePath: '/qty', keyword: 'type', message: 'must be integer', params: { type: 'integer' } }] }
 * ```
 */
export class ValidationError extends HttpError {
  readonly details: readonly ValidationIssue[]

  constructor(details: readonly ValidationIssue[], options?: ErrorOptions) {
    super(422, 'Request body failed validation', { ...options, code: CODES.VALIDATION_FAILED })
    this.name = 'ValidationError'
    this.details = details
  }

  override toJSON(): HttpErrorJSON {
    return { ...super.toJSON(), details: this.details }
  }
}

/**
 * 500 (not exposed): {@link jsonResponse} could not serialize what the handler returned (a
 * BigInt, a cycle, a serializer that did not return a string). The serializer's error is the
 * `cause`.
 *
 * @example
 * ```ts
 * lmi(async () => ({ total: 1n })).use(jsonResponse()) // => ResponseSerializationError (500)
 * ```
 */
export class ResponseSerializationError extends HttpError {
  constructor(options?: ErrorOptions) {
    super(500, 'Response body could not be serialized to JSON', {
      ...options,
      code: CODES.RESPONSE_SERIALIZATION,
    })
    this.name = 'ResponseSerializationError'
  }
}

/**
 * Something that is an HTTP error by shape: a `statusCode` from 400 to 599 and, if present, a
 * boolean `expose`. Errors from middy's `createError`, `http-errors` and other lmi packages
 * qualify without being instances of {@link HttpError}.
 *
 * @example
 * ```ts
 * isHttpError(Object.assign(new Error('nope'), { statusCode: 403, expose: true })) // => true
 * ```
 */
export function isHttpError(
  value: unknown,
): value is Error & { statusCode: number; expose?: boolean } {
  if (typeof value !== 'object' || value === null) return false
  const { statusCode, expose } = value as { statusCode?: unknown; expose?: unknown }
  return (
    typeof statusCode === 'number' &&
    Number.isInteger(statusCode) &&
    statusCode >= 400 &&
    statusCode <= 599 &&
    (expose === undefined || typeof expose === 'boolean')
  )
}
