// jsonBody's options: what they are, and turning them once, at creation, into what the hook
// needs (a compiled validator, normalized media types).
import { invalidOption, is, isRecord, type OptionSchema, validateOptions } from '@lmi/core/internal'
import type { Ajv, Options as AjvOptions, ValidateFunction } from 'ajv'
import type { FormatName } from 'ajv-formats'
import type { JSONSchema } from 'json-schema-to-ts'
import { PACKAGE } from './errors.ts'
import { compileSchema } from './validate.ts'

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

/** Where option errors say they come from. */
export const WHERE = 'jsonBody(options)'

const optionSchema: OptionSchema = {
  schema: (value) =>
    typeof value === 'boolean' || isRecord(value)
      ? undefined
      : 'a JSON Schema (an object or a boolean)',
  required: is.boolean,
  limit: is.positiveInteger,
  checkContentType: is.boolean,
  contentTypes: is.array,
  reviver: is.function,
  ajv: (value) => (isRecord(value) ? undefined : 'an Ajv instance or Ajv options'),
  formats: (value) =>
    typeof value === 'boolean' || Array.isArray(value)
      ? undefined
      : 'a boolean or a list of format names',
  allErrors: is.boolean,
  maxErrors: is.positiveInteger,
}

/** {@link JsonBodyOptions} resolved once, at creation: what the hook reads per request. */
export interface BodyConfig {
  required: boolean
  limit: number
  checkContentType: boolean
  /** Lower-case media types without parameters, and patterns. */
  contentTypes: readonly (string | RegExp)[]
  reviver: ((this: unknown, key: string, value: unknown) => unknown) | undefined
  validate: ValidateFunction | undefined
  maxErrors: number
}

/** Checks `options` and compiles the schema; throws `InvalidConfigurationError` for bad ones. */
export function resolveOptions(options: JsonBodyOptions | undefined): BodyConfig {
  validateOptions(PACKAGE, WHERE, options, optionSchema)
  const given = options ?? {}
  const {
    schema,
    limit = DEFAULT_BODY_LIMIT,
    checkContentType = true,
    contentTypes = [],
    reviver,
    maxErrors = DEFAULT_MAX_ERRORS,
  } = given
  return {
    required: given.required ?? schema !== undefined,
    limit,
    checkContentType,
    contentTypes: contentTypes.map(mediaType),
    reviver,
    validate: schema === undefined ? undefined : compileSchema(schema, given),
    maxErrors,
  }
}

function mediaType(type: unknown): string | RegExp {
  // Matched against the media type alone: parameters (`; charset=…`) are not part of it.
  const name = typeof type === 'string' ? type.split(';', 1)[0]?.trim().toLowerCase() : undefined
  if (name !== undefined && name !== '') return name
  if (type instanceof RegExp) {
    // A global or sticky RegExp keeps `lastIndex` between calls: shared by concurrent
    // invocations, it would match one request and miss the next.
    if (type.global || type.sticky) {
      throw invalidOption(
        PACKAGE,
        `${WHERE}: contentTypes pattern ${type} must not be global or sticky`,
        { option: 'contentTypes', value: type },
      )
    }
    return type
  }
  throw invalidOption(PACKAGE, `${WHERE}: contentTypes entries must be strings or RegExps`, {
    option: 'contentTypes',
    value: type,
  })
}
