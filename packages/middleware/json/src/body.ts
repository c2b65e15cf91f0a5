import type { LmiRequest, Middleware, Transform } from '@lmi/core'
import { Ajv, type Options as AjvOptions, type ErrorObject, type ValidateFunction } from 'ajv'
import formatsModule, { type FormatName } from 'ajv-formats'
import type { FromSchema, JSONSchema } from 'json-schema-to-ts'
import sjson from 'secure-json-parse'
import {
  BodyRequiredError,
  invalidOptions,
  MalformedJsonError,
  PayloadTooLargeError,
  PrototypePoisoningError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ValidationIssue,
} from './errors.ts'
import { headerValue } from './http.ts'

// ajv-formats is CommonJS with `exports.default`: under NodeNext the default import is the
// module object at type level and the plugin (which also carries `.default`) at run time.
const addFormats = formatsModule.default

/**
 * The default `limit` of {@link jsonBody}, 1 MiB. API Gateway takes bodies up to 10 MB, ALB
 * 1 MB, and a Lambda event is at most 6 MB in all.
 *
 * @example
 * ```ts
 * jsonBody({ limit: 4 * DEFAULT_BODY_LIMIT }) // 4 MiB for an upload route
 * ```
 */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

const DEFAULT_MAX_ERRORS = 20

/**
 * The fields of API Gateway (v1, v2), Function URL and ALB events that `jsonBody` reads; the
 * default event type of the chain after it, when none is given.
 *
 * @example
 * ```ts
 * const event: HttpRequestEvent = { headers: { 'content-type': 'application/json' }, body: '{}' }
 * ```
 */
export interface HttpRequestEvent {
  body?: string | null
  isBase64Encoded?: boolean
  headers?: Record<string, string | undefined> | null
  multiValueHeaders?: Record<string, string[] | undefined> | null
  queryStringParameters?: Record<string, string | undefined> | null
  pathParameters?: Record<string, string | undefined> | null
  requestContext?: object
}

/**
 * `TEvent` with `body` parsed to `TBody`, and the body as it arrived in `rawBody` (still base64
 * when `isBase64Encoded`; `undefined` when there was none).
 *
 * @example
 * ```ts
 * type OrderEvent = WithJsonBody<APIGatewayProxyEventV2, { sku: string }>
 * ```
 */
export type WithJsonBody<TEvent, TBody> = Omit<TEvent, 'body' | 'rawBody'> & {
  body: TBody
  rawBody?: string | undefined
}

/**
 * The middleware {@link jsonBody} returns: in `lmi()` the chain after it sees
 * `WithJsonBody<TEvent, TBody>` (through the phantom transform). Its hook takes any request, so
 * middy's `.use()`, which intersects the event types of its middlewares, keeps yours as it is.
 *
 * @example
 * ```ts
 * const parse: JsonBodyMiddleware<{ sku: string }> = jsonBody<{ sku: string }>({ required: true })
 * ```
 */
export type JsonBodyMiddleware<TBody, TEvent = HttpRequestEvent> = Omit<
  Middleware<Transform<TEvent, WithJsonBody<TEvent, TBody>>>,
  'before' | 'after' | 'onError' | 'name'
> & {
  readonly name: 'jsonBody'
  before(request: LmiRequest<unknown, unknown, unknown>): undefined
}

/**
 * A schema TypeScript cannot read literally (loaded from a `.json` file, built at run time):
 * the body's type is then the one you state, `jsonBody<T>({ schema })`, or `unknown`.
 *
 * @example
 * ```ts
 * import orderSchema from './order.schema.json' with { type: 'json' }
 * const parse = jsonBody<Order>({ schema: orderSchema satisfies JsonSchemaLike })
 * ```
 */
export type JsonSchemaLike = object | boolean

/**
 * Options of {@link jsonBody}.
 *
 * @example
 * ```ts
 * jsonBody({ schema, limit: 64 * 1024, contentTypes: ['text/plain'], allErrors: true })
 * ```
 */
export interface JsonBodyOptions {
  /**
   * A JSON Schema (draft 2020-12 subset ajv 8 supports, draft-07 by default) the parsed body
   * must match; compiled once, when `jsonBody()` is called. Declared `as const`, it also types
   * `event.body`.
   */
  schema?: JSONSchema | JsonSchemaLike
  /**
   * Whether a request without a body (missing, `null`, `''`) fails with `BodyRequiredError`.
   * Default: `true` with a `schema`, else `false` (the body is then `undefined`).
   */
  required?: boolean
  /** Largest body accepted, in bytes after base64 decoding. Default 1 MiB. */
  limit?: number
  /**
   * Whether to check `Content-Type` when there is a body. Default `true`: `application/json`,
   * `application/*+json` and `contentTypes` are accepted, with no charset or UTF-8.
   */
  checkContentType?: boolean
  /** More media types to parse as JSON: exact names (`'text/plain'`) or patterns. */
  contentTypes?: readonly (string | RegExp)[]
  /** `JSON.parse`'s reviver. */
  reviver?: (this: unknown, key: string, value: unknown) => unknown
  /**
   * An ajv instance to compile `schema` with (add your own formats and keywords to it), or
   * options for the one `jsonBody` creates. Default options: ajv's own, with `coerceTypes`
   * off.
   */
  ajv?: Ajv | AjvOptions
  /** Add ajv-formats' formats (`true`, the default) or only those named. Not with an ajv instance. */
  formats?: boolean | readonly FormatName[]
  /**
   * Report every schema violation instead of the first. Default `false`: on a hostile body,
   * validation then stops at the first error instead of doing all its work. Not with an ajv
   * instance.
   */
  allErrors?: boolean
  /** At most this many issues in `ValidationError.details`. Default 20. */
  maxErrors?: number
}

const optionNames = new Set<string>([
  'schema',
  'required',
  'limit',
  'checkContentType',
  'contentTypes',
  'reviver',
  'ajv',
  'formats',
  'allErrors',
  'maxErrors',
])

interface Config {
  required: boolean
  limit: number
  checkContentType: boolean
  contentTypes: readonly (string | RegExp)[]
  reviver: ((this: unknown, key: string, value: unknown) => unknown) | undefined
  validate: ValidateFunction | undefined
  maxErrors: number
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
}

function isAjvInstance(value: unknown): value is Ajv {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { compile?: unknown }).compile === 'function'
  )
}

function resolveOptions(options: JsonBodyOptions | undefined): Config {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidOptions('jsonBody(options): options must be an object')
  }
  const given = options ?? {}
  for (const key of Object.keys(given)) {
    if (!optionNames.has(key)) throw invalidOptions(`jsonBody(options): unknown option ${key}`)
  }
  const {
    schema,
    limit = DEFAULT_BODY_LIMIT,
    checkContentType = true,
    contentTypes = [],
    reviver,
    maxErrors = DEFAULT_MAX_ERRORS,
  } = given
  const required = given.required ?? schema !== undefined
  if (!isPositiveInteger(limit)) {
    throw invalidOptions(
      `jsonBody(options): limit must be a positive integer, got ${String(limit)}`,
    )
  }
  if (!isPositiveInteger(maxErrors)) {
    throw invalidOptions(
      `jsonBody(options): maxErrors must be a positive integer, got ${String(maxErrors)}`,
    )
  }
  for (const [name, value] of [
    ['required', required],
    ['checkContentType', checkContentType],
  ] as const) {
    if (typeof value !== 'boolean') {
      throw invalidOptions(`jsonBody(options): ${name} must be a boolean`)
    }
  }
  if (!Array.isArray(contentTypes)) {
    throw invalidOptions('jsonBody(options): contentTypes must be an array')
  }
  const types = contentTypes.map((type: unknown) => {
    // Matched against the media type alone: parameters (`; charset=…`) are not part of it.
    const name = typeof type === 'string' ? type.split(';', 1)[0]?.trim().toLowerCase() : undefined
    if (name !== undefined && name !== '') return name
    if (type instanceof RegExp) {
      // A global or sticky RegExp keeps `lastIndex` between calls: shared by concurrent
      // invocations, it would match one request and miss the next.
      if (type.global || type.sticky) {
        throw invalidOptions(
          `jsonBody(options): contentTypes pattern ${type} must not be global or sticky`,
        )
      }
      return type
    }
    throw invalidOptions('jsonBody(options): contentTypes entries must be strings or RegExps')
  })
  if (reviver !== undefined && typeof reviver !== 'function') {
    throw invalidOptions('jsonBody(options): reviver must be a function')
  }
  return {
    required,
    limit,
    checkContentType,
    contentTypes: types,
    reviver,
    validate: schema === undefined ? undefined : compileSchema(schema, given),
    maxErrors,
  }
}

function compileSchema(schema: unknown, options: JsonBodyOptions): ValidateFunction {
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null)) {
    throw invalidOptions('jsonBody(options): schema must be a JSON Schema (an object or a boolean)')
  }
  const { ajv: ajvOption, formats = true, allErrors = false } = options
  let ajv: Ajv
  if (isAjvInstance(ajvOption)) {
    if (options.formats !== undefined || options.allErrors !== undefined) {
      throw invalidOptions(
        'jsonBody(options): formats and allErrors configure the ajv jsonBody creates; set them on your own ajv instance instead',
      )
    }
    ajv = ajvOption
  } else {
    if (ajvOption !== undefined && (typeof ajvOption !== 'object' || ajvOption === null)) {
      throw invalidOptions('jsonBody(options): ajv must be an Ajv instance or Ajv options')
    }
    if (typeof allErrors !== 'boolean') {
      throw invalidOptions('jsonBody(options): allErrors must be a boolean')
    }
    try {
      ajv = new Ajv({ allErrors, coerceTypes: false, ...ajvOption })
    } catch (error) {
      throw invalidOptions(
        `jsonBody(options): ajv rejected its options: ${messageOf(error)}`,
        error,
      )
    }
    if (formats === true) addFormats(ajv)
    else if (Array.isArray(formats)) {
      for (const name of formats) {
        try {
          addFormats.get(name)
        } catch (error) {
          throw invalidOptions(`jsonBody(options): formats: unknown format ${String(name)}`, error)
        }
      }
      addFormats(ajv, [...formats])
    } else if (formats !== false) {
      throw invalidOptions('jsonBody(options): formats must be a boolean or a list of format names')
    }
  }
  let validate: ValidateFunction
  try {
    const id = typeof schema === 'object' ? (schema as { $id?: unknown }).$id : undefined
    // The same schema (by $id) given twice to one shared ajv instance: reuse its validator
    // rather than fail with "schema already exists".
    const known = typeof id === 'string' ? ajv.getSchema(id) : undefined
    validate = known ?? ajv.compile(schema as object)
  } catch (error) {
    throw invalidOptions(`jsonBody(options): schema is not valid: ${messageOf(error)}`, error)
  }
  if ((validate as { $async?: unknown }).$async === true) {
    throw invalidOptions('jsonBody(options): $async schemas are not supported')
  }
  return validate
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

const mediaTypeSuffixJson = /^application\/[a-z0-9!#$&^_.+-]+\+json$/
const charsetParameter = /;\s*charset\s*=\s*"?([^";\s]*)"?/i

function acceptsContentType(header: string | undefined, extra: Config['contentTypes']): boolean {
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

// Decoding is stateless when not streaming, so one decoder serves every invocation.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The body as text, within the limit: base64 decoded (and UTF-8 checked) when flagged. */
function bodyText(raw: string, base64: boolean, limit: number): string {
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

function parseJson(text: string, reviver: Config['reviver']): unknown {
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

function toIssues(errors: ErrorObject[] | null | undefined, maxErrors: number): ValidationIssue[] {
  if (!errors) return []
  return errors.slice(0, maxErrors).map((error) => ({
    instancePath: error.instancePath,
    keyword: error.keyword,
    message: error.message ?? 'is invalid',
    params: { ...error.params },
  }))
}

function validateBody(validate: ValidateFunction, body: unknown, maxErrors: number): void {
  let valid: boolean
  try {
    // Synchronous: `validate.errors` (ajv keeps it on the shared function) is read below before
    // any other invocation can run, so concurrent invocations never see each other's errors.
    valid = validate(body) as boolean
  } catch (error) {
    // A recursive schema over a deeply nested body can exhaust the stack: the body's fault.
    if (error instanceof RangeError) {
      throw new ValidationError(
        [{ instancePath: '', keyword: 'depth', message: 'is nested too deeply', params: {} }],
        { cause: error },
      )
    }
    throw error
  }
  if (!valid) throw new ValidationError(toIssues(validate.errors, maxErrors))
}

type BodyEvent = Record<string, unknown>

/**
 * Parses the JSON body of API Gateway (REST v1 and HTTP v2), Function URL and ALB events, in
 * `before`: `event.body` becomes the parsed value and `event.rawBody` keeps the text as it
 * arrived. Base64 bodies (`isBase64Encoded`) are decoded; bodies over `limit` bytes, with a
 * non-JSON `Content-Type`, malformed, or holding prototype-poisoning keys (`__proto__`,
 * `constructor.prototype`, found by `secure-json-parse`) are refused with a typed
 * {@link HttpError}. With a `schema`, the body is validated by ajv, compiled once here; an
 * invalid schema or option throws `InvalidConfigurationError` now, not per request.
 *
 * Types: with a schema declared `as const` the handler's `event.body` is the schema's type
 * (json-schema-to-ts `FromSchema`); `jsonBody<T>()` states it; otherwise it is `unknown`. A
 * second type argument names the event type the chain had (`jsonBody<T, APIGatewayProxyEventV2>()`).
 * Without a schema or `required: true` the body may be `undefined` (no body sent).
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
 *
 * const schema = {
 *   type: 'object',
 *   properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
 *   required: ['sku', 'qty'],
 *   additionalProperties: false,
 * } as const
 *
 * export const handler = lmi()
 *   .use(httpErrors())
 *   .use(jsonResponse())
 *   .use(jsonBody({ schema }))
 *   .handler(async (event) => ({ ordered: event.body.qty })) // body: { sku: string; qty: number }
 * ```
 */
export function jsonBody<const S extends JSONSchema, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: S; required?: true },
): JsonBodyMiddleware<FromSchema<S>, E>
export function jsonBody<const S extends JSONSchema, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: S; required?: boolean },
): JsonBodyMiddleware<FromSchema<S> | undefined, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema?: undefined; required: true },
): JsonBodyMiddleware<T, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options?: JsonBodyOptions & { schema?: undefined },
): JsonBodyMiddleware<T | undefined, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: JsonSchemaLike; required?: true },
): JsonBodyMiddleware<T, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: JsonSchemaLike; required?: boolean },
): JsonBodyMiddleware<T | undefined, E>
export function jsonBody(options?: JsonBodyOptions): JsonBodyMiddleware<unknown> {
  const { required, limit, checkContentType, contentTypes, reviver, validate, maxErrors } =
    resolveOptions(options)

  return {
    name: 'jsonBody',
    before: function jsonBodyBefore(request: LmiRequest<unknown, unknown, unknown>): undefined {
      const event = request.event
      if (typeof event !== 'object' || event === null) {
        if (required) throw new BodyRequiredError()
        return undefined
      }
      const target = event as BodyEvent
      const raw = target.body
      if (raw === undefined || raw === null || raw === '') {
        if (required) throw new BodyRequiredError()
        target.body = undefined
        return undefined
      }
      if (typeof raw !== 'string') {
        throw new MalformedJsonError(`Request body must be a JSON string, got ${typeof raw}`)
      }
      if (checkContentType) {
        const contentType = headerValue(target, 'content-type')
        if (!acceptsContentType(contentType, contentTypes)) {
          throw new UnsupportedMediaTypeError(contentType)
        }
      }
      const text = bodyText(raw, target.isBase64Encoded === true, limit)
      if (text === '') {
        // A base64 body that decodes to nothing is no body.
        if (required) throw new BodyRequiredError()
        target.body = undefined
        return undefined
      }
      const body = parseJson(text, reviver)
      if (validate !== undefined) validateBody(validate, body, maxErrors)
      target.rawBody = raw
      target.body = body
      return undefined
    },
  } as JsonBodyMiddleware<unknown>
}
