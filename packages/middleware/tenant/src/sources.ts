import type { LambdaContext } from '@lmi/core'
import { invalidOption, isRecord } from '@lmi/core/internal'
import { InvalidTenantError, PACKAGE } from './errors.ts'

/**
 * A function that finds the tenant id in the event (or anywhere): a string, or `undefined`
 * (also `null` or `''`) when it has none. It may return a promise (a lookup); the middleware
 * then awaits it. What it throws propagates unchanged.
 *
 * @example
 * ```ts
 * const fromApiKey: TenantSourceFunction = async (event) => tenants.byApiKey(event.headers['x-api-key'])
 * ```
 */
export type TenantSourceFunction = (
  // biome-ignore lint/suspicious/noExplicitAny: the event is whatever the function is invoked with
  event: any,
  context: LambdaContext,
) => string | null | undefined | PromiseLike<string | null | undefined>

/**
 * Where `tenant()` looks for the tenant id:
 *
 * - `'context'`: `context.tenantId`, set by Lambda's tenant isolation mode (the
 *   `Lambda-Runtime-Aws-Tenant-Id` of the invocation) — or a tenant id bound earlier.
 * - `{ header }`: a request header, any case, in `headers` and `multiValueHeaders`
 *   (API Gateway v1/v2, ALB, Function URL). Client-controlled unless your API sets it.
 * - `{ claim }`: a claim an API Gateway authorizer verified — HTTP API JWT
 *   (`requestContext.authorizer.jwt.claims`), REST Cognito (`requestContext.authorizer.claims`),
 *   HTTP API Lambda (`requestContext.authorizer.lambda`), REST Lambda
 *   (`requestContext.authorizer`), first found in that order.
 * - `{ pathParameter }`: `pathParameters[name]`.
 * - a {@link TenantSourceFunction}.
 *
 * @example
 * ```ts
 * const from: TenantSource[] = ['context', { claim: 'custom:tenant_id' }, { pathParameter: 'tenant' }]
 * ```
 */
export type TenantSource =
  | 'context'
  | { readonly header: string }
  | { readonly claim: string }
  | { readonly pathParameter: string }
  | TenantSourceFunction

/** A source compiled at creation. `read` gives the raw value (validation comes after). */
export interface CompiledSource {
  /** For messages: `'context'`, `'header x-tenant-id'`, `'claim tenant_id'`, … */
  readonly label: string
  /** `undefined` for `'context'`: the middleware supplies the invocation's id. */
  readonly read: ((event: unknown, context: LambdaContext) => unknown) | undefined
}

// An RFC 9110 token: what a header name may be.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** An own property only: `{ claim: 'constructor' }` must not find `Object.prototype.constructor`. */
function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined
}

// Not the kit's `headerValue`, which picks one value (`headers` first, else the last of
// `multiValueHeaders`) and skips what is not a string: a tenant id must be unambiguous, so
// every value under any casing in both is collected, two different ones refuse the request
// rather than let the lookup order pick a tenant, and a value that is not a string is refused.
function readHeader(event: unknown, name: string, label: string): string | undefined {
  const found = new Set<string>()
  const single = own(event, 'headers')
  if (isRecord(single)) {
    for (const key of Object.keys(single)) {
      if (key.toLowerCase() !== name) continue
      const value = single[key]
      if (value === undefined || value === null || value === '') continue
      if (typeof value !== 'string') throw new InvalidTenantError(label, 'type', value)
      found.add(value)
    }
  }
  const multi = own(event, 'multiValueHeaders')
  if (isRecord(multi)) {
    for (const key of Object.keys(multi)) {
      if (key.toLowerCase() !== name) continue
      const values = multi[key]
      if (values === undefined || values === null) continue
      if (!Array.isArray(values)) throw new InvalidTenantError(label, 'type', values)
      for (const value of values) {
        if (value === undefined || value === null || value === '') continue
        if (typeof value !== 'string') throw new InvalidTenantError(label, 'type', value)
        found.add(value)
      }
    }
  }
  if (found.size > 1) throw new InvalidTenantError(label, 'ambiguous', [...found])
  for (const value of found) return value
  return undefined
}

function readClaim(event: unknown, name: string): unknown {
  const authorizer = own(own(event, 'requestContext'), 'authorizer')
  if (!isRecord(authorizer)) return undefined
  return (
    own(own(own(authorizer, 'jwt'), 'claims'), name) ??
    own(own(authorizer, 'claims'), name) ??
    own(own(authorizer, 'lambda'), name) ??
    own(authorizer, name)
  )
}

function describeFunction(fn: TenantSourceFunction): string {
  return fn.name === '' ? 'function (anonymous)' : `function ${fn.name}`
}

function checkName(value: unknown, kind: string, where: string): string {
  if (typeof value !== 'string' || value === '') {
    throw invalidOption(PACKAGE, `${where}: { ${kind} } must be a non-empty string`, {
      option: 'from',
      value,
    })
  }
  return value
}

/**
 * Compiles each entry of `from` (a non-empty array: `tenant()`'s option schema checked it),
 * once, at creation; throws `InvalidConfigurationError` for an entry it cannot use.
 */
export function compileSources(from: readonly unknown[], where: string): CompiledSource[] {
  return from.map(function compileSource(source: unknown, index: number): CompiledSource {
    if (source === 'context') return { label: 'context', read: undefined }
    if (typeof source === 'function') {
      const fn = source as TenantSourceFunction
      return { label: describeFunction(fn), read: (event, context) => fn(event, context) }
    }
    if (isRecord(source) && !Array.isArray(source)) {
      const keys = Object.keys(source)
      const kind = keys[0]
      if (keys.length === 1 && kind === 'header') {
        const name = checkName(source.header, 'header', where)
        if (!TOKEN.test(name)) {
          throw invalidOption(PACKAGE, `${where}: { header } must be a valid header name`, {
            option: 'from',
            value: name,
          })
        }
        const lower = name.toLowerCase()
        const label = `header ${lower}`
        return { label, read: (event) => readHeader(event, lower, label) }
      }
      if (keys.length === 1 && kind === 'claim') {
        const name = checkName(source.claim, 'claim', where)
        return { label: `claim ${name}`, read: (event) => readClaim(event, name) }
      }
      if (keys.length === 1 && kind === 'pathParameter') {
        const name = checkName(source.pathParameter, 'pathParameter', where)
        return {
          label: `path parameter ${name}`,
          read: (event) => own(own(event, 'pathParameters'), name),
        }
      }
    }
    throw invalidOption(
      PACKAGE,
      `${where}: from[${index}] must be 'context', { header }, { claim }, { pathParameter } or a function`,
      { option: 'from', value: source },
    )
  })
}
