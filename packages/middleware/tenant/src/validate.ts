import { is, type OptionSchema } from '@lmi/core/internal'
import { InvalidTenantError } from './errors.ts'

/**
 * The characters AWS Lambda accepts in a tenant id (`Invoke`'s `TenantId`:
 * `[a-zA-Z0-9\._:\/=+\-@ ]+`, 1 to 256 characters), without `/`: the id becomes a directory
 * name under `/tmp` and a path segment in URLs, where a `/` would split it.
 *
 * @example
 * ```ts
 * import { DEFAULT_TENANT_PATTERN } from '@lmi/tenant'
 * DEFAULT_TENANT_PATTERN.test('acme-eu:prod') // true
 * ```
 */
export const DEFAULT_TENANT_PATTERN: RegExp = /^[A-Za-z0-9._:=+@ -]+$/

/**
 * Lambda's own limit for a tenant id, the default `maxLength`.
 *
 * @example
 * ```ts
 * tenant({ maxLength: DEFAULT_TENANT_MAX_LENGTH / 4 })
 * ```
 */
export const DEFAULT_TENANT_MAX_LENGTH = 256

/**
 * Options that decide which tenant ids are accepted (part of `TenantOptions`).
 *
 * @example
 * ```ts
 * const strict: TenantValidationOptions = { pattern: /^t-[0-9a-f]{8}$/, maxLength: 10, validate: (id) => known.has(id) }
 * ```
 */
export interface TenantValidationOptions {
  /**
   * The whole id must match (the pattern is anchored for you; `g`/`y` flags are dropped).
   * Default {@link DEFAULT_TENANT_PATTERN}. Applied after the built-in checks, which no
   * pattern can loosen: printable ASCII only, no `/` or `\`, not `.` or `..`, no leading or
   * trailing space, at most `maxLength` characters.
   */
  pattern?: RegExp
  /** A last check of your own, on an id that passed all others: return `true` to accept. */
  validate?: (tenantId: string) => boolean
  /** Longest accepted id, in characters. Default 256 (Lambda's limit). */
  maxLength?: number
}

/** Turns a raw value from a source into a checked tenant id, `undefined` when it is absent. */
export type TenantIdCheck = (value: unknown, source: string) => string | undefined

// Outside printable ASCII (control characters, DEL, anything a header cannot carry as is), or
// a path separator of either platform.
const UNSAFE = /[^\x20-\x7e]|[/\\]/

/** The option schema of {@link TenantValidationOptions}, part of `tenant()`'s. */
export const validationOptionSchema: OptionSchema = {
  pattern: is.regExp,
  validate: is.function,
  maxLength: is.positiveInteger,
}

/** Builds the check once, at creation, from options {@link validationOptionSchema} accepted. */
export function createTenantIdCheck(options: TenantValidationOptions): TenantIdCheck {
  const {
    pattern = DEFAULT_TENANT_PATTERN,
    validate,
    maxLength = DEFAULT_TENANT_MAX_LENGTH,
  } = options
  // Anchored so an unanchored pattern cannot accept an id by matching part of it, and without
  // `g`/`y`, whose `lastIndex` would make `test()` answer differently from one call to the next.
  const whole = new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ''))

  return function checkTenantId(value: unknown, source: string): string | undefined {
    if (value === undefined || value === null || value === '') return undefined
    let id: string
    if (typeof value === 'string') id = value
    else if (typeof value === 'number' && Number.isSafeInteger(value)) id = String(value)
    else throw new InvalidTenantError(source, 'type', value)
    if (id.length > maxLength) throw new InvalidTenantError(source, 'too-long', id)
    if (UNSAFE.test(id)) throw new InvalidTenantError(source, 'characters', id)
    // HTTP trims a header value's surrounding whitespace: the receiver would see another id.
    if (id.startsWith(' ') || id.endsWith(' ')) {
      throw new InvalidTenantError(source, 'whitespace', id)
    }
    if (id === '.' || id === '..') throw new InvalidTenantError(source, 'dot-segment', id)
    if (!whole.test(id)) throw new InvalidTenantError(source, 'pattern', id)
    if (validate !== undefined && validate(id) !== true) {
      throw new InvalidTenantError(source, 'validate', id)
    }
    return id
  }
}
