import { randomUUID } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { rmdir } from 'node:fs/promises'
import { isAbsolute, join, normalize } from 'node:path'
import {
  type InvocationEndMessage,
  invocationLocal,
  type LmiRequest,
  type Middleware,
  onShutdown,
  type Transform,
  tryGetInvocation,
} from '@lmi/core'
import { declareTmpScope, is, type OptionSchema, validateOptions } from '@lmi/core/internal'
import { NoTmpScopeError, PACKAGE, TmpQuotaExceededError } from './errors.ts'
import { ownerName, sweepTmpLeftovers } from './owner.ts'
import { InvocationTmpDir, type TmpConfig, type TmpDir } from './tmp-dir.ts'

/**
 * Options of {@link tmpScope}. Checked once, when the middleware is created.
 *
 * @example
 * ```ts
 * tmpScope({ root: '/tmp', scope: 'reports', keepOnError: true, quotaBytes: 256 * 1024 * 1024 })
 * ```
 */
export interface TmpScopeOptions {
  /** Absolute directory the scopes live under. Default `/tmp` (Lambda's writable disk). */
  root?: string
  /** One directory name under `root` for this middleware's scopes. Default `lmi`. */
  scope?: string
  /**
   * Keep the directory of a failed (or timed-out) invocation for debugging, with an
   * `LMI_TMP_KEPT` warning naming it. It stays until the process ends; the next process's
   * init sweep removes it. Default `false`.
   */
  keepOnError?: boolean
  /**
   * Most bytes one invocation's directory may hold. `writeFile()` refuses a write that would
   * pass it (nothing written); files written with `node:fs` directly are counted when the
   * invocation's `after` phase runs, and the invocation fails with `TmpQuotaExceededError`.
   * Default: no quota.
   */
  quotaBytes?: number
  /** At creation, remove what crashed processes left under `<root>/<scope>`. Default `true`. */
  sweep?: boolean
  /**
   * Put each invocation's directory under a directory of its tenant when it has a tenant id
   * (Lambda's tenant isolation mode, or `@lmi/tenant` earlier in the chain). Default `true`.
   */
  perTenant?: boolean
}

/**
 * The `tmpScope()` middleware: `context.tmp` for the handler, plus what tests and shutdown
 * need.
 *
 * @example
 * ```ts
 * const scope = tmpScope()
 * export const handler = lmi(fn).use(scope)
 * await scope.idle() // in a test: every removal done
 * ```
 */
export interface TmpScopeMiddleware
  extends Middleware<Transform<unknown, unknown, unknown, unknown, unknown, { tmp: TmpDir }>> {
  /** Settles when the init sweep is done, with the names of the directories it removed. */
  readonly swept: Promise<string[]>
  /** Resolves once every removal started so far has finished. */
  idle(): Promise<void>
}

const optionSchema: OptionSchema = {
  root: (value) =>
    typeof value === 'string' && isAbsolute(value) && !value.includes('\0')
      ? undefined
      : `an absolute path, got ${JSON.stringify(value)}`,
  scope: (value) =>
    typeof value === 'string' &&
    value !== '' &&
    value !== '.' &&
    value !== '..' &&
    !/[/\\\0]/.test(value)
      ? undefined
      : `one directory name, got ${JSON.stringify(value)}`,
  keepOnError: is.boolean,
  quotaBytes: is.positiveInteger,
  sweep: is.boolean,
  perTenant: is.boolean,
}

function resolveOptions(options: TmpScopeOptions | undefined): TmpConfig & { sweep: boolean } {
  validateOptions(PACKAGE, 'tmpScope(options)', options, optionSchema)
  const { root = '/tmp', scope = 'lmi', keepOnError = false, quotaBytes } = options ?? {}
  const { sweep = true, perTenant = true } = options ?? {}
  const normalized = normalize(root)
  return {
    root: normalized,
    scope,
    keepOnError,
    quotaBytes,
    perTenant,
    sweep,
    ownerDir: join(normalized, scope, ownerName()),
  }
}

// Which directory belongs to the running invocation, for getTmpDir() deep in its call tree:
// a value of the invocation (lmi's, or AWS's InvokeStore context), so it lives as long as it does.
const current = invocationLocal<InvocationTmpDir>('@lmi/tmp-scope/current')

/**
 * The current invocation's {@link TmpDir}, or `undefined` outside an invocation or when no
 * `tmpScope()` middleware runs in it. The shared-state detectors read it too, to report a
 * write to /tmp outside the invocation's own directory.
 *
 * @example
 * ```ts
 * import { tryGetTmp } from '@lmi/tmp-scope'
 * const dir = tryGetTmp()?.dir ?? '/tmp'
 * ```
 */
export function tryGetTmp(): TmpDir | undefined {
  return current.get()
}

/**
 * Gives each invocation its own directory, `context.tmp`: `<root>/<scope>/<process>/<requestId>`
 * (`<process>/<tenantId>/<requestId>` when the invocation has a tenant). Created on first use
 * only; removed — without delaying the response — when the invocation ends: on success, on
 * error, and on timeout under lmi's runtime. At creation, directories that crashed processes
 * left behind are swept.
 *
 * Under lmi (either runtime) the directory is removed when the invocation ends, so outer
 * middlewares and a streamed response can still read it; in `middy()` on AWS's runtime, in
 * the `after` / `onError` hooks.
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { tmpScope } from '@lmi/tmp-scope'
 * import { writeFile } from 'node:fs/promises'
 *
 * export const handler = lmi(async (event, context) => {
 *   const file = context.tmp.path('report.csv') // /tmp/lmi/<process>/<requestId>/report.csv
 *   await writeFile(file, toCsv(event.rows))
 *   return { statusCode: 200, body: await gzipBase64(file), isBase64Encoded: true }
 * }).use(tmpScope())
 * ```
 */
export function tmpScope(options?: TmpScopeOptions): TmpScopeMiddleware {
  const config = resolveOptions(options)
  declareTmpScope(tryGetTmp)
  const pending = new Set<Promise<void>>()
  // This middleware's directory of an invocation, on the invocation when its removal waits for
  // the invocation's end, else on the request (removed in the hooks).
  const kOwn = Symbol('tmpScope')
  type Owner = { [kOwn]?: InvocationTmpDir | undefined }
  const take = (holder: object): InvocationTmpDir | undefined => {
    const tmp = (holder as Owner)[kOwn]
    if (tmp !== undefined) (holder as Owner)[kOwn] = undefined
    return tmp
  }

  const track = (removal: Promise<void> | undefined) => {
    if (removal === undefined) return
    pending.add(removal)
    removal.finally(() => pending.delete(removal))
  }
  diagnosticsChannel.subscribe('lmi:invocation:end', function tmpScopeOnInvocationEnd(message) {
    const { invocation, ok } = message as InvocationEndMessage
    const tmp = take(invocation)
    if (tmp !== undefined) track(tmp.finish(ok))
  })
  const idle = async () => {
    while (pending.size > 0) await Promise.all(pending)
  }
  onShutdown(async function tmpScopeShutdown() {
    await idle()
    // This process's directory, if it is empty (kept directories stay for the next sweep).
    await rmdir(config.ownerDir).catch(() => {})
  })

  const swept = config.sweep
    ? sweepTmpLeftovers(config).catch((error: unknown) => {
        process.emitWarning(
          `tmpScope: could not sweep ${config.root}/${config.scope}: ${(error as Error).message}`,
          { code: 'LMI_TMP_SWEEP_FAILED' },
        )
        return []
      })
    : Promise.resolve([])

  return {
    name: 'tmpScope',
    swept,
    idle,
    before: function tmpScopeBefore(request: LmiRequest<unknown, unknown, object>) {
      const context = request.context as { awsRequestId?: unknown; tenantId?: unknown }
      const invocation = tryGetInvocation()
      const requestId =
        invocation?.requestId ??
        (typeof context.awsRequestId === 'string' ? context.awsRequestId : randomUUID())
      const tmp = new InvocationTmpDir(
        config,
        requestId,
        () => {
          const tenantId = invocation?.tenantId ?? context.tenantId
          return typeof tenantId === 'string' && tenantId !== '' ? tenantId : undefined
        },
        // A directory exists: its removal needs the invocation's end (free until then).
        invocation === undefined ? undefined : () => invocation.watchEnd(),
      )
      ;(request.context as { tmp?: TmpDir }).tmp = tmp
      // Outside any invocation (a unit test calling the hooks) nothing can hold it.
      if (current.active) current.set(tmp)
      if (invocation !== undefined) (invocation as Owner)[kOwn] = tmp
      else (request as Owner)[kOwn] = tmp
    },
    after: function tmpScopeAfter(request: LmiRequest<unknown, unknown, object>) {
      const hooked = (request as Owner)[kOwn]
      const tmp = hooked ?? atEndOf(request)
      if (tmp === undefined) return undefined
      const finish = () => {
        if (hooked !== undefined && take(request) !== undefined) track(tmp.finish(true))
      }
      const quota = config.quotaBytes
      if (quota === undefined || !tmp.created) return finish()
      // Files written with node:fs directly are only counted here.
      return tmp.usage().then((used) => {
        if (used > quota) throw new TmpQuotaExceededError(quota, used)
        finish()
      })
    },
    onError: function tmpScopeOnError(request: LmiRequest<unknown, unknown, object>) {
      const tmp = take(request)
      if (tmp !== undefined) track(tmp.finish(false))
    },
  }

  function atEndOf(request: LmiRequest<unknown, unknown, object>): InvocationTmpDir | undefined {
    const tmp = (request.context as { tmp?: unknown }).tmp
    return tmp instanceof InvocationTmpDir ? tmp : undefined
  }
}

/**
 * The current invocation's tmp directory (created on first use), from anywhere in its async
 * tree. Throws {@link NoTmpScopeError} where no `tmpScope()` runs.
 *
 * @example
 * ```ts
 * import { getTmpDir } from '@lmi/tmp-scope'
 * export function scratchFile(name: string) {
 *   return join(getTmpDir(), name) // prefer tmpPath(name): it refuses escapes
 * }
 * ```
 */
export function getTmpDir(): string {
  const tmp = current.get()
  if (tmp === undefined) throw new NoTmpScopeError()
  return tmp.dir
}

/**
 * A path inside the current invocation's tmp directory, from anywhere in its async tree;
 * refuses escapes as `context.tmp.path()` does.
 *
 * @example
 * ```ts
 * import { tmpPath } from '@lmi/tmp-scope'
 * await pipeline(download, createWriteStream(tmpPath('input.zip')))
 * ```
 */
export function tmpPath(...segments: string[]): string {
  const tmp = current.get()
  if (tmp === undefined) throw new NoTmpScopeError()
  return tmp.path(...segments)
}

/**
 * The current invocation's {@link TmpDir} (for `writeFile()` with the quota), or throws
 * {@link NoTmpScopeError}.
 *
 * @example
 * ```ts
 * import { getTmp } from '@lmi/tmp-scope'
 * await getTmp().writeFile('out.json', JSON.stringify(result))
 * ```
 */
export function getTmp(): TmpDir {
  const tmp = current.get()
  if (tmp === undefined) throw new NoTmpScopeError()
  return tmp
}
