import {
  bindTenantId,
  CODES as CORE_CODES,
  type LambdaContext,
  type LmiRequest,
  type Middleware,
  type Transform,
} from '@lmi/core'
import { is, isRecord, type OptionSchema, validateOptions } from '@lmi/core/internal'
import { tryGetTenantId } from './current.ts'
import { PACKAGE, TenantMismatchError, TenantRequiredError } from './errors.ts'
import { type CompiledSource, compileSources, type TenantSource } from './sources.ts'
import {
  createTenantIdCheck,
  type TenantValidationOptions,
  validationOptionSchema,
} from './validate.ts'

/**
 * Options of {@link tenant}. Checked once, when the middleware is created.
 *
 * @example
 * ```ts
 * tenant({ from: ['context', { claim: 'custom:tenant_id' }], pattern: /^t-[a-z0-9]{8}$/ })
 * ```
 */
export interface TenantOptions extends TenantValidationOptions {
  /**
   * Where to look, in order; the first source with a value gives the tenant id. When the
   * invocation already has a tenant id (Lambda's tenant isolation mode), that id is the
   * tenant wherever `'context'` is listed, and every other source is still read: one that
   * names another tenant fails with `TenantMismatchError` (403). Without `'context'` in the
   * list, such an invocation must also carry its tenant in the event. Default `['context']`.
   */
  from?: readonly TenantSource[]
  /** Fail with `TenantRequiredError` (400) when no source has a tenant id. Default `true`. */
  required?: boolean
}

/**
 * The type of `tenant()` with a required tenant: the handler's `context.tenantId` is a `string`.
 *
 * @example
 * ```ts
 * const mw: RequiredTenant = tenant()
 * lmi<Event>().use(mw).handler(async (event, context) => context.tenantId.toUpperCase())
 * ```
 */
export type RequiredTenant = Middleware<
  Transform<unknown, unknown, unknown, unknown, unknown, { tenantId: string }>
>

/**
 * The type of `tenant({ required: false })`: the handler's `context.tenantId` may be `undefined`.
 *
 * @example
 * ```ts
 * const mw: OptionalTenant = tenant({ required: false })
 * lmi<Event>().use(mw).handler(async (event, context) => context.tenantId ?? 'shared')
 * ```
 */
export type OptionalTenant = Middleware<
  Transform<unknown, unknown, unknown, unknown, unknown, { tenantId?: string | undefined }>
>

const WHERE = 'tenant(options)'
const DEFAULT_FROM: readonly TenantSource[] = ['context']

const optionSchema: OptionSchema = {
  // Each entry is checked as it is compiled (sources.ts).
  from: (value) =>
    Array.isArray(value) && value.length > 0 ? undefined : 'a non-empty array of sources',
  required: is.boolean,
  ...validationOptionSchema,
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

function hasCode(error: unknown, code: string): boolean {
  return isRecord(error) && error.code === code
}

/**
 * The `tenant()` middleware: finds the invocation's tenant id, validates it and binds it, so
 * that `context.tenantId`, {@link getTenantId} anywhere in the invocation, the InvokeStore the
 * AWS SDK and Powertools read, the `@lmi/context` logger, `@lmi/tmp-scope`'s per-tenant
 * directories and outgoing requests through `@lmi/tenant/http`'s `installTenantHeader()` all
 * carry it — for this invocation only, however many run at once.
 *
 * Errors (HTTP-shaped, for `@lmi/json`'s `httpErrors()` or middy's `http-error-handler`):
 * `TenantRequiredError` (400), `InvalidTenantError` (400), `TenantMismatchError` (403).
 * Bad options throw `InvalidConfigurationError` here, at creation.
 *
 * Works in `lmi()` and in `middy()`; a `before` hook only, synchronous unless a function
 * source returns a promise.
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { getTenantId, tenant } from '@lmi/tenant'
 *
 * export const handler = lmi(async (event, context) => {
 *   return { tenant: context.tenantId, same: getTenantId() === context.tenantId }
 * }).use(tenant({ from: ['context', { claim: 'tenant_id' }] }))
 * ```
 */
export function tenant(options?: TenantOptions & { required?: true }): RequiredTenant
export function tenant(options: TenantOptions): OptionalTenant
export function tenant(options: TenantOptions = {}): RequiredTenant | OptionalTenant {
  validateOptions(PACKAGE, WHERE, options, optionSchema)
  const { from = DEFAULT_FROM, required = true } = options
  const sources = compileSources(from, WHERE)
  const labels = sources.map((source) => source.label)
  const check = createTenantIdCheck(options)

  /** The id the invocation already has: the platform's, or one bound before this middleware. */
  function currentTenantId(context: unknown): string | undefined {
    const given = isRecord(context) ? context.tenantId : undefined
    return check(
      given === undefined || given === null || given === '' ? tryGetTenantId() : given,
      'context',
    )
  }

  function accept(raw: unknown, label: string, current: string | undefined): string | undefined {
    const id = check(raw, label)
    if (id !== undefined && current !== undefined && id !== current) {
      throw new TenantMismatchError(label, current, id)
    }
    return id
  }

  /**
   * Reads the sources from `index` on. Without a current id the first value wins and the rest
   * is not read; with one, every source is read and must agree with it.
   */
  function resolve(
    event: unknown,
    context: LambdaContext,
    current: string | undefined,
    index: number,
    found: boolean,
  ): string | undefined | Promise<string | undefined> {
    for (; index < sources.length; index++) {
      const source = sources[index] as CompiledSource
      const raw = source.read === undefined ? current : source.read(event, context)
      if (isThenable(raw)) {
        const next = index + 1
        return Promise.resolve(raw).then(function afterAsyncSource(value) {
          const id = accept(value, source.label, current)
          if (id !== undefined && current === undefined) return id
          return resolve(event, context, current, next, found || id !== undefined)
        })
      }
      const id = accept(raw, source.label, current)
      if (id === undefined) continue
      if (current === undefined) return id
      found = true
    }
    return found ? current : undefined
  }

  function bind(context: LambdaContext, tenantId: string | undefined): undefined {
    if (tenantId === undefined) {
      if (required) throw new TenantRequiredError(labels)
      return undefined
    }
    try {
      bindTenantId(tenantId)
    } catch (error) {
      if (hasCode(error, CORE_CODES.TENANT_CONFLICT)) {
        throw new TenantMismatchError('the event', tryGetTenantId() ?? '', tenantId, {
          cause: error,
        })
      }
      // No invocation bound anywhere (plain middy in a unit test, no lmi runtime, no AWS
      // InvokeStore): `context.tenantId` is all there is to set.
      if (!hasCode(error, CORE_CODES.NO_INVOCATION)) throw error
    }
    if (isRecord(context) && context.tenantId !== tenantId) {
      context.tenantId = tenantId
    }
    return undefined
  }

  return {
    name: 'tenant',
    before: function tenantBefore(request: LmiRequest<unknown, unknown, LambdaContext>) {
      const { event, context } = request
      const resolved = resolve(event, context, currentTenantId(context), 0, false)
      if (isThenable(resolved)) {
        return resolved.then(function bindResolved(tenantId) {
          return bind(context, tenantId)
        })
      }
      return bind(context, resolved)
    },
  }
}
