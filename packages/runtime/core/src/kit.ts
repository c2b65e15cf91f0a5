// The small helpers every lmi package needs — option checking, integer settings, header
// lookup — written once (the error brand helper is `brand` in errors.ts). Reached through `@lmi/core/internal`: the
// middlewares already have `@lmi/core` as a peer, so sharing them adds no dependency a user
// must install or think about.
import { InvalidConfigurationError } from './errors.ts'

/**
 * True for any non-null object (arrays included): a value whose properties can be read.
 *
 * @example
 * ```ts
 * if (isRecord(event.headers)) lookAt(event.headers['x-tenant-id'])
 * ```
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

// --- options --------------------------------------------------------------------------------

/**
 * One option's check: `undefined` when `value` is acceptable, else what it must be, worded to
 * follow "`name` must be …" (`'a boolean'`, `'a positive integer, got 0'`). Checks run only on
 * options that are given (not `undefined`).
 */
export type OptionRule = (value: unknown) => string | undefined

/** Option name → its rule; a name missing here is an unknown option. */
export type OptionSchema = Readonly<Record<string, OptionRule>>

function got(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/**
 * The rules the lmi packages' options are made of.
 *
 * @example
 * ```ts
 * const schema = { limit: is.positiveInteger, strict: is.boolean, mode: is.oneOf('a', 'b') }
 * ```
 */
export const is = {
  boolean: (value: unknown) => (typeof value === 'boolean' ? undefined : 'a boolean'),
  function: (value: unknown) => (typeof value === 'function' ? undefined : 'a function'),
  string: (value: unknown) => (typeof value === 'string' ? undefined : 'a string'),
  /** Blank counts as empty: spaces are no name, no content type. */
  nonEmptyString: (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' ? undefined : 'a non-empty string',
  object: (value: unknown) => (isRecord(value) ? undefined : 'an object'),
  regExp: (value: unknown) => (value instanceof RegExp ? undefined : 'a RegExp'),
  array: (value: unknown) => (Array.isArray(value) ? undefined : 'an array'),
  positiveInteger: (value: unknown) =>
    Number.isSafeInteger(value) && (value as number) > 0
      ? undefined
      : `a positive integer, got ${got(value)}`,
  /** An integer from `min` to `max`, both included. */
  integer:
    (min: number, max = Number.MAX_SAFE_INTEGER): OptionRule =>
    (value) =>
      Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
        ? undefined
        : max === Number.MAX_SAFE_INTEGER
          ? `an integer >= ${min}, got ${got(value)}`
          : `an integer from ${min} to ${max}, got ${got(value)}`,
  /** One of `values` (compared with `===`). */
  oneOf:
    (...values: readonly unknown[]): OptionRule =>
    (value) =>
      values.includes(value)
        ? undefined
        : `${values
            .map((each) => (typeof each === 'string' ? `'${each}'` : String(each)))
            .join(', ')
            .replace(/, ([^,]*)$/, ' or $1')}`,
} as const

/**
 * Checks a middleware's options once, when it is created: `options` is `undefined` or an
 * object, has no key outside `schema`, and each given value passes its rule. Throws
 * `InvalidConfigurationError` worded `<where>: <key> must be <rule>`, with middy's
 * `cause: { package, data }` (`data`: the option's name and value).
 *
 * @example
 * ```ts
 * validateOptions('@lmi/json', 'jsonBody(options)', options, {
 *   limit: is.positiveInteger,
 *   required: is.boolean,
 * })
 * // jsonBody({ limit: 0 }) => InvalidConfigurationError: jsonBody(options): limit must be a positive integer, got 0
 * ```
 */
export function validateOptions(
  pkg: string,
  where: string,
  options: unknown,
  schema: OptionSchema,
): void {
  if (options === undefined) return
  if (!isRecord(options) || Array.isArray(options)) {
    throw invalidOption(pkg, `${where}: options must be an object`, { options })
  }
  for (const key of Object.keys(options)) {
    const rule = Object.hasOwn(schema, key) ? schema[key] : undefined
    if (rule === undefined) {
      throw invalidOption(pkg, `${where}: unknown option ${key}`, { option: key })
    }
    const value = options[key]
    if (value === undefined) continue
    const problem = rule(value)
    if (problem !== undefined) {
      throw invalidOption(pkg, `${where}: ${key} must be ${problem}`, { option: key, value })
    }
  }
}

/**
 * An `InvalidConfigurationError` for a package's options, with middy's
 * `cause: { package, data }`; `data` may be an underlying error (ajv's, for a bad schema).
 *
 * @example
 * ```ts
 * throw invalidOption('@lmi/json', 'jsonBody(options): schema is not valid', ajvError)
 * ```
 */
export function invalidOption(
  pkg: string,
  message: string,
  data?: unknown,
): InvalidConfigurationError {
  return new InvalidConfigurationError(message, { cause: { package: pkg, data } })
}

// --- integer settings -----------------------------------------------------------------------

/**
 * An integer setting from text (an environment variable, a CLI flag): `undefined` when it is
 * absent or blank, the number when it is an integer from `min` to `max`, else the error
 * `fail` makes (default `InvalidConfigurationError`) worded
 * `<name> must be <a positive integer | an integer from min to max>, got "<raw>"`.
 *
 * @example
 * ```ts
 * const concurrency = parseInteger(env.AWS_LAMBDA_MAX_CONCURRENCY, 'AWS_LAMBDA_MAX_CONCURRENCY') ?? 64
 * const rounds = parseInteger(flag, '--rounds', { min: 1, max: 100, fail: (m) => new CheckUsageError(m) })
 * ```
 */
export function parseInteger(
  raw: string | undefined,
  name: string,
  {
    min = 1,
    max = Number.MAX_SAFE_INTEGER,
    fail = (message: string): Error => new InvalidConfigurationError(message),
  }: { min?: number; max?: number; fail?: (message: string) => Error } = {},
): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (Number.isSafeInteger(value) && value >= min && value <= max) return value
  const wanted =
    max !== Number.MAX_SAFE_INTEGER
      ? `an integer from ${min} to ${max}`
      : min === 1
        ? 'a positive integer'
        : min === 0
          ? 'a non-negative integer'
          : `an integer >= ${min}`
  throw fail(`${name} must be ${wanted}, got ${JSON.stringify(raw)}`)
}

// --- headers --------------------------------------------------------------------------------

/**
 * Header `name` (lower case) of an HTTP event or response: `headers[name]` as given, else any
 * other casing of it, else the last value in `multiValueHeaders` (the one API Gateway puts in
 * `headers`). Own properties only; `undefined` when absent or not a string.
 *
 * @example
 * ```ts
 * headerValue(event, 'content-type') // 'application/json' for { headers: { 'Content-Type': 'application/json' } }
 * ```
 */
export function headerValue(event: unknown, name: string): string | undefined {
  const headers = isRecord(event) && Object.hasOwn(event, 'headers') ? event.headers : undefined
  if (isRecord(headers)) {
    const direct = Object.hasOwn(headers, name) ? headers[name] : undefined
    if (typeof direct === 'string') return direct
    for (const key of Object.keys(headers)) {
      const value = headers[key]
      if (typeof value === 'string' && key.toLowerCase() === name) return value
    }
  }
  const multi =
    isRecord(event) && Object.hasOwn(event, 'multiValueHeaders')
      ? event.multiValueHeaders
      : undefined
  if (isRecord(multi)) {
    for (const key of Object.keys(multi)) {
      const values = multi[key]
      if (!Array.isArray(values) || key.toLowerCase() !== name) continue
      const last = values.at(-1)
      if (typeof last === 'string') return last
    }
  }
  return undefined
}
