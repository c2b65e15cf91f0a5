import { LmiError } from '@lmi/core'
import { brand } from '@lmi/core/internal'

/** The package named in `InvalidConfigurationError`'s `cause` (middy's `{ package, data }`). */
export const PACKAGE = '@lmi/tenant'

/**
 * Every code the errors of `@lmi/tenant` carry; stable and never reused.
 *
 * @example
 * ```ts
 * import { CODES } from '@lmi/tenant'
 * if (error.code === CODES.TENANT_MISMATCH) metrics.count('cross-tenant-attempt')
 * ```
 */
export const CODES = {
  TENANT_REQUIRED: 'LMI_TENANT_REQUIRED',
  TENANT_INVALID: 'LMI_TENANT_INVALID',
  TENANT_MISMATCH: 'LMI_TENANT_MISMATCH',
  NO_TENANT: 'LMI_NO_TENANT',
} as const

/**
 * What `toJSON()` of a {@link TenantError} gives: safe to log and to send to a client.
 *
 * @example
 * ```ts
 * const body: TenantErrorJSON = error.toJSON() // { name, code, message, statusCode }
 * ```
 */
export interface TenantErrorJSON {
  name: string
  code: string
  message: string
  statusCode: number
}

/**
 * Base class of the errors `@lmi/tenant` throws. Each is an HTTP error *by shape* —
 * `statusCode` (number), `expose` (boolean), `name`, `message` — the shape `@lmi/json`'s
 * `httpErrors()` and middy's `http-error-handler` turn into a response, so neither is needed
 * here. Messages never carry a raw value from the event: only escaped previews.
 *
 * @example
 * ```ts
 * import { TenantError } from '@lmi/tenant'
 * try { await handler(event, context) } catch (err) {
 *   if (err instanceof TenantError) return { statusCode: err.statusCode, body: JSON.stringify(err) }
 * }
 * ```
 */
export class TenantError extends LmiError {
  readonly statusCode: number
  /** True for 4xx errors: the message is meant for the client. */
  readonly expose: boolean

  constructor(message: string, code: string, statusCode: number, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'TenantError'
    this.statusCode = statusCode
    this.expose = statusCode < 500
  }

  override toJSON(): TenantErrorJSON {
    return { ...super.toJSON(), statusCode: this.statusCode }
  }
}
// `instanceof TenantError` also holds for an error made by another copy of this package (source
// and dist side by side, two bundled versions).
brand(TenantError, '@lmi/tenant/TenantError')

/**
 * No source gave a tenant id and the middleware was created with `required: true` (the
 * default). HTTP 400, code `LMI_TENANT_REQUIRED`.
 *
 * @example
 * ```ts
 * const handler = lmi(fn).use(tenant({ from: [{ header: 'x-tenant-id' }] }))
 * await handler({ headers: {} }, context) // => TenantRequiredError (400)
 * ```
 */
export class TenantRequiredError extends TenantError {
  /** The sources that were tried, in order (`'header x-tenant-id'`, …). */
  readonly sources: readonly string[]

  constructor(sources: readonly string[]) {
    super(`A tenant id is required (looked in: ${sources.join(', ')})`, CODES.TENANT_REQUIRED, 400)
    this.name = 'TenantRequiredError'
    this.sources = sources
  }
}

/**
 * Why a tenant id was refused ({@link InvalidTenantError}'s `reason`).
 *
 * @example
 * ```ts
 * if (error instanceof InvalidTenantError && error.reason === 'ambiguous') metrics.count('tenant-header-repeated')
 * ```
 */
export type InvalidTenantReason =
  /** Not a string (an object, an array, a boolean, a non-integer number). */
  | 'type'
  /** Longer than `maxLength`. */
  | 'too-long'
  /** A character outside printable ASCII, or `/`, `\`. */
  | 'characters'
  /** Leading or trailing whitespace: an HTTP header would carry another id. */
  | 'whitespace'
  /** `.` or `..`: a path segment that leaves its directory. */
  | 'dot-segment'
  /** Not matched by `pattern`. */
  | 'pattern'
  /** Refused by the `validate` option. */
  | 'validate'
  /** The same source holds several different values (a header sent twice). */
  | 'ambiguous'

/**
 * `toJSON()` of an {@link InvalidTenantError}.
 *
 * @example
 * ```ts
 * const { source, reason }: InvalidTenantErrorJSON = error.toJSON() // 'header x-tenant-id', 'characters'
 * ```
 */
export interface InvalidTenantErrorJSON extends TenantErrorJSON {
  source: string
  reason: InvalidTenantReason
}

/**
 * A source gave a tenant id that fails validation. HTTP 400, code `LMI_TENANT_INVALID`. The
 * message names the source and the reason and quotes at most 32 characters of the value, every
 * character outside `[A-Za-z0-9._:=+@ -]` escaped as `\uXXXX`: safe to log and to return.
 *
 * @example
 * ```ts
 * await handler({ headers: { 'x-tenant-id': '../etc' } }, context)
 * // => InvalidTenantError: Invalid tenant id from header x-tenant-id (characters): "..\u002fetc"
 * ```
 */
export class InvalidTenantError extends TenantError {
  /** Where the value came from (`'header x-tenant-id'`, `'claim tenant_id'`, …). */
  readonly source: string
  readonly reason: InvalidTenantReason

  constructor(source: string, reason: InvalidTenantReason, value: unknown) {
    super(
      `Invalid tenant id from ${source} (${reason}): ${preview(value)}`,
      CODES.TENANT_INVALID,
      400,
    )
    this.name = 'InvalidTenantError'
    this.source = source
    this.reason = reason
  }

  override toJSON(): InvalidTenantErrorJSON {
    return { ...super.toJSON(), source: this.source, reason: this.reason }
  }
}

/**
 * `toJSON()` of a {@link TenantMismatchError}: the source, never the tenant ids.
 *
 * @example
 * ```ts
 * const { source }: TenantMismatchErrorJSON = error.toJSON() // 'claim tenant_id'
 * ```
 */
export interface TenantMismatchErrorJSON extends TenantErrorJSON {
  source: string
}

/**
 * The event names another tenant than the one the invocation already has — the id Lambda's
 * tenant isolation mode gave (`context.tenantId`), or one bound earlier. The platform's id is
 * never overridden. HTTP 403, code `LMI_TENANT_MISMATCH`. Neither id is in the message (the
 * client must not learn the other tenant's id); both are properties, for logs.
 *
 * @example
 * ```ts
 * // invoked with tenant id 'acme' (X-Amz-Tenant-Id), event header x-tenant-id: globex
 * // => TenantMismatchError (403)
 * ```
 */
export class TenantMismatchError extends TenantError {
  /** Where the differing id came from. */
  readonly source: string
  /** The invocation's tenant id. */
  readonly tenantId: string
  /** The id the event claimed (validated). */
  readonly claimed: string

  constructor(source: string, tenantId: string, claimed: string, options?: ErrorOptions) {
    super(
      `The tenant id from ${source} does not match the invocation's tenant`,
      CODES.TENANT_MISMATCH,
      403,
      options,
    )
    this.name = 'TenantMismatchError'
    this.source = source
    this.tenantId = tenantId
    this.claimed = claimed
  }

  override toJSON(): TenantMismatchErrorJSON {
    return { ...super.toJSON(), source: this.source }
  }
}

/**
 * {@link getTenantId} found no tenant id: called outside an invocation, or in one that has
 * none (no tenant isolation mode, no `tenant()` middleware, or `required: false` and no source
 * had one). A programming error, so HTTP 500 with `expose: false`; code `LMI_NO_TENANT`.
 *
 * @example
 * ```ts
 * getTenantId() // at module top level => NoTenantError
 * ```
 */
export class NoTenantError extends TenantError {
  constructor(inInvocation: boolean) {
    super(
      inInvocation
        ? 'The current invocation has no tenant id (use the tenant() middleware, or tryGetTenantId())'
        : 'No invocation is running in this async context, so there is no tenant id',
      CODES.NO_TENANT,
      500,
    )
    this.name = 'NoTenantError'
  }
}

const PREVIEW_LENGTH = 32
const SAFE_CHAR = /^[A-Za-z0-9._:=+@ -]$/

function escapeUnits(char: string): string {
  let escaped = ''
  for (let index = 0; index < char.length; index++) {
    escaped += `\\u${char.charCodeAt(index).toString(16).padStart(4, '0')}`
  }
  return escaped
}

/**
 * A short, escaped rendering of a refused value: only `[A-Za-z0-9._:=+@ -]` stays as it is, so
 * no control character, quote, angle bracket or bidi override reaches a log or a response.
 */
export function preview(value: unknown): string {
  if (typeof value !== 'string') {
    if (value === null || value === undefined) return String(value)
    if (Array.isArray(value)) return 'an array'
    return typeof value === 'object' ? 'an object' : `a ${typeof value}`
  }
  let out = ''
  let count = 0
  for (const char of value) {
    if (count === PREVIEW_LENGTH) {
      out += `… (${value.length} characters)`
      break
    }
    out += SAFE_CHAR.test(char) ? char : escapeUnits(char)
    count++
  }
  return `"${out}"`
}
