import { tryGetInvocation } from '@lmi/core'
import { invalidOption, is, type OptionSchema, validateOptions } from '@lmi/core/internal'
import type { Dispatcher } from 'undici'
import { tryGetTenantId } from './current.ts'
import { PACKAGE } from './errors.ts'
import { getGlobalDispatcher, setGlobalDispatcher } from './undici.ts'

/**
 * Options of {@link tenantInterceptor} and {@link installTenantHeader}. Checked once, at
 * creation.
 *
 * @example
 * ```ts
 * const options: TenantHeaderOptions = { header: 'x-acme-tenant', origins: ['https://orders.internal'] }
 * ```
 */
export interface TenantHeaderOptions {
  /** The request header that carries the tenant id. Default `x-tenant-id`. */
  header?: string
  /**
   * Where the tenant id may be sent: `'*'` (every origin), or a list of origins
   * (`'https://api.example.com'`; scheme, host and port — no path) and RegExps tested against
   * the whole origin (anchored for you). Default: the origin of the `Client`/`Pool` the
   * interceptor is composed onto; there is none for an `Agent` or the global dispatcher, so
   * there `origins` must be given.
   */
  origins?: '*' | ReadonlyArray<string | RegExp>
  /**
   * When the caller already set the header: `'replace'` its value with the invocation's tenant
   * id (default), or `'keep'` the caller's.
   */
  callerHeader?: 'replace' | 'keep'
}

// An RFC 9110 token: what a header name may be.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

const optionSchema: OptionSchema = {
  header: (value) =>
    typeof value === 'string' && TOKEN.test(value) ? undefined : 'a valid header name',
  // Each entry is checked as it is compiled (compileOrigins).
  origins: (value) =>
    value === '*' || (Array.isArray(value) && value.length > 0)
      ? undefined
      : "'*' or a non-empty array of origins and RegExps",
  callerHeader: is.oneOf('replace', 'keep'),
}
// Headers that frame or route the request, or carry credentials: never the tenant's.
const RESERVED_HEADERS = new Set([
  'authorization',
  'connection',
  'content-length',
  'content-type',
  'cookie',
  'expect',
  'host',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])
// What an HTTP header value can carry unchanged: printable ASCII, no surrounding space.
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

type OriginTest = (origin: unknown) => boolean

/** The tenant id to send from the current async context: none at init or once it ended. */
function outgoingTenantId(): string | undefined {
  const invocation = tryGetInvocation()
  if (invocation?.ended === true) return undefined
  // Have its end recorded, so work that outlives it sends nothing (lmi's runtime always does;
  // the lmi() chain on AWS's runtime only for invocations someone watches).
  invocation?.watchEnd()
  const tenantId = tryGetTenantId()
  return tenantId !== undefined && HEADER_SAFE.test(tenantId) ? tenantId : undefined
}

function anchored(pattern: RegExp): RegExp {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ''))
}

function normalizeOrigin(origin: unknown): string | undefined {
  if (origin instanceof URL) return origin.origin
  if (typeof origin !== 'string') return undefined
  try {
    return new URL(origin).origin
  } catch {
    return undefined
  }
}

function compileOrigins(
  origins: '*' | readonly unknown[] | undefined,
  where: string,
): OriginTest | undefined {
  if (origins === undefined) return undefined
  if (origins === '*') return () => true
  const exact = new Set<string>()
  const patterns: RegExp[] = []
  for (const entry of origins) {
    if (entry instanceof RegExp) {
      patterns.push(anchored(entry))
      continue
    }
    let url: URL | undefined
    try {
      url = typeof entry === 'string' ? new URL(entry) : undefined
    } catch {
      url = undefined
    }
    if (
      url === undefined ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    ) {
      throw invalidOption(
        PACKAGE,
        `${where}: origins entries must be http(s) origins such as 'https://api.example.com' (no path) or RegExps`,
        { option: 'origins', value: entry },
      )
    }
    exact.add(url.origin)
  }
  return function isAllowedOrigin(origin: unknown): boolean {
    if (typeof origin === 'string' && exact.has(origin)) return true
    const normalized = normalizeOrigin(origin)
    if (normalized === undefined) return false
    return exact.has(normalized) || patterns.some((pattern) => pattern.test(normalized))
  }
}

function isName(key: unknown, name: string): boolean {
  return typeof key === 'string' && key.length === name.length && key.toLowerCase() === name
}

// The test undici itself uses to tell an iterable of pairs from a plain record.
function isIterableHeaders(headers: object): headers is Iterable<unknown> {
  const prototype = Object.getPrototypeOf(headers)
  return (
    Object.hasOwn(headers, Symbol.iterator) ||
    (prototype !== null &&
      prototype !== Object.prototype &&
      typeof (headers as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function')
  )
}

/** A flat `[name, value, …]` list. Left as it is when malformed: undici reports that. */
function withHeaderInList(list: unknown[], name: string, value: string, keep: boolean): unknown {
  if (list.length % 2 !== 0) return list
  let matches = 0
  let same = true
  for (let index = 0; index < list.length; index += 2) {
    if (!isName(list[index], name) || list[index + 1] === undefined) continue
    matches++
    if (list[index] !== name || list[index + 1] !== value) same = false
  }
  if (matches > 0 && (keep || (matches === 1 && same))) return list
  const copy: unknown[] = []
  for (let index = 0; index < list.length; index += 2) {
    if (!isName(list[index], name)) copy.push(list[index], list[index + 1])
  }
  copy.push(name, value)
  return copy
}

/** `[name, value]` pairs from any iterable (a `Map`, a `Headers`, a generator). */
function withHeaderInPairs(
  headers: Iterable<unknown>,
  name: string,
  value: string,
  keep: boolean,
): unknown {
  const pairs = Array.from(headers)
  const flat: unknown[] = []
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      // Consumed already: hand undici the same pairs again, for its own error.
      return { [Symbol.iterator]: () => pairs[Symbol.iterator]() }
    }
    flat.push(pair[0], pair[1])
  }
  // The pairs are read: the rest works on the flat form, which undici also accepts.
  const result = withHeaderInList(flat, name, value, keep)
  return result === flat ? { [Symbol.iterator]: () => pairs[Symbol.iterator]() } : result
}

/** A `{ name: value }` record. Copied onto a null prototype: a `__proto__` key stays a key. */
function withHeaderInRecord(
  headers: Record<string, unknown>,
  name: string,
  value: string,
  keep: boolean,
): unknown {
  const keys = Object.keys(headers)
  let matches = 0
  let same = true
  for (const key of keys) {
    if (!isName(key, name) || headers[key] === undefined) continue
    matches++
    if (key !== name || headers[key] !== value) same = false
  }
  if (matches > 0 && (keep || (matches === 1 && same))) return headers
  const copy: Record<string, unknown> = Object.create(null)
  for (const key of keys) {
    if (!isName(key, name)) copy[key] = headers[key]
  }
  copy[name] = value
  return copy
}

/**
 * The request's headers with the tenant header, in any form undici takes (undefined, a
 * record, a flat list, an iterable of pairs). Never mutates the caller's object: returns it
 * as it is, or a new one.
 */
function withTenantHeader(headers: unknown, name: string, value: string, keep: boolean): unknown {
  if (headers === undefined || headers === null) return { [name]: value }
  if (Array.isArray(headers)) return withHeaderInList(headers, name, value, keep)
  if (typeof headers !== 'object') return headers
  if (isIterableHeaders(headers)) return withHeaderInPairs(headers, name, value, keep)
  return withHeaderInRecord(headers as Record<string, unknown>, name, value, keep)
}

interface TenantHeader {
  readonly intercept: Dispatcher.DispatcherComposeInterceptor
  disable(): void
}

function createTenantHeader(options: TenantHeaderOptions | undefined, where: string): TenantHeader {
  validateOptions(PACKAGE, where, options, optionSchema)
  const { header = 'x-tenant-id', origins, callerHeader = 'replace' } = options ?? {}
  const name = header.toLowerCase()
  if (RESERVED_HEADERS.has(name)) {
    throw invalidOption(PACKAGE, `${where}: header ${name} cannot carry the tenant id`, {
      option: 'header',
      value: header,
    })
  }
  const keep = callerHeader === 'keep'
  const allowed = compileOrigins(origins, where)
  let active = true

  function intercept(
    dispatch: Dispatcher.Dispatch,
    dispatcherOrigin?: unknown,
  ): Dispatcher.Dispatch {
    const isAllowed =
      allowed ??
      compileOrigins(typeof dispatcherOrigin === 'string' ? [dispatcherOrigin] : undefined, where)
    if (isAllowed === undefined) {
      throw invalidOption(
        PACKAGE,
        `${where}: origins is required on a dispatcher that serves any origin (an Agent, the global dispatcher): list the origins that may receive the tenant id, or '*'`,
        { option: 'origins' },
      )
    }
    return function dispatchWithTenant(
      opts: Dispatcher.DispatchOptions,
      handler: Dispatcher.DispatchHandler,
    ): boolean {
      const tenantId = active ? outgoingTenantId() : undefined
      if (tenantId === undefined || !isAllowed(opts.origin)) return dispatch(opts, handler)
      const headers = withTenantHeader(opts.headers, name, tenantId, keep)
      if (headers === opts.headers) return dispatch(opts, handler)
      return dispatch(
        { ...opts, headers: headers as Dispatcher.DispatchOptions['headers'] },
        handler,
      )
    }
  }

  return {
    intercept,
    disable() {
      active = false
    },
  }
}

/**
 * An undici interceptor that adds the current invocation's tenant id as a request header
 * (`x-tenant-id` unless `header` says otherwise) — only to requests dispatched inside an
 * invocation that has a tenant id and has not ended, and only to allowed `origins`. Requests
 * made at init, from work that outlived its invocation, or to other origins go out unchanged.
 * The caller's headers object is never mutated.
 *
 * For `dispatcher.compose(...)`; {@link installTenantHeader} puts it on the global dispatcher.
 *
 * @example
 * ```ts
 * import { Pool } from 'undici'
 * import { tenantInterceptor } from '@lmi/tenant/http'
 *
 * // Sent to this pool's origin only (the default for a Client/Pool).
 * const orders = new Pool('https://orders.internal').compose(tenantInterceptor())
 * export const handler = lmi(async () => (await orders.request({ path: '/orders', method: 'GET' })).body.json())
 *   .use(tenant())
 * ```
 */
export function tenantInterceptor(
  options?: TenantHeaderOptions,
): Dispatcher.DispatcherComposeInterceptor {
  return createTenantHeader(options, 'tenantInterceptor(options)').intercept
}

/**
 * Composes {@link tenantInterceptor} into undici's global dispatcher, so `undici.request()`,
 * `undici.fetch()` and Node's built-in `fetch` (Node 22 and 24) send the tenant header.
 * `origins` is required (the global dispatcher serves every origin). Call it once, at init.
 * Returns a function that stops adding the header and restores the previous global dispatcher
 * (unless another one was installed on top since, which it then leaves in place).
 *
 * @example
 * ```ts
 * import { installTenantHeader } from '@lmi/tenant/http'
 * installTenantHeader({ origins: ['https://orders.internal', /^https:\/\/[a-z]+\.svc\.internal$/] })
 *
 * export const handler = lmi(async () => {
 *   const res = await fetch('https://orders.internal/orders') // x-tenant-id: <this invocation's tenant>
 *   return res.json()
 * }).use(tenant({ from: ['context', { claim: 'tenant_id' }] }))
 * ```
 */
export function installTenantHeader(
  options: TenantHeaderOptions & { origins: NonNullable<TenantHeaderOptions['origins']> },
): () => void {
  const tenantHeader = createTenantHeader(options, 'installTenantHeader(options)')
  const previous = getGlobalDispatcher()
  const installed = previous.compose(tenantHeader.intercept)
  setGlobalDispatcher(installed)
  return function uninstallTenantHeader(): void {
    tenantHeader.disable()
    if (getGlobalDispatcher() === installed) setGlobalDispatcher(previous)
  }
}
