import { LmiError } from '@lmi/core'
import { brand } from '@lmi/core/internal'

/** The package named in `InvalidConfigurationError`'s `cause` (middy's `{ package, data }`). */
export const PACKAGE = '@lmi/tmp-scope'

/**
 * Every code the errors of `@lmi/tmp-scope` carry; stable and never reused.
 *
 * @example
 * ```ts
 * import { CODES } from '@lmi/tmp-scope'
 * if (error.code === CODES.TMP_ESCAPE) return { statusCode: 400 }
 * ```
 */
export const CODES = {
  TMP_ESCAPE: 'LMI_TMP_ESCAPE',
  TMP_QUOTA: 'LMI_TMP_QUOTA',
  TMP_ENDED: 'LMI_TMP_ENDED',
  NO_TMP_SCOPE: 'LMI_NO_TMP_SCOPE',
} as const

/**
 * Base class of the errors `@lmi/tmp-scope` throws.
 *
 * @example
 * ```ts
 * try { context.tmp.path(name) } catch (err) { if (err instanceof TmpScopeError) return badRequest(err.code) }
 * ```
 */
export class TmpScopeError extends LmiError {
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'TmpScopeError'
  }
}
// `instanceof TmpScopeError` also holds for an error made by another copy of this package.
brand(TmpScopeError, '@lmi/tmp-scope/TmpScopeError')

/**
 * Why a path was refused (`TmpEscapeError.reason`).
 *
 * @example
 * ```ts
 * const reason: TmpEscapeReason = 'symlink' // a link on the way points outside
 * ```
 */
export type TmpEscapeReason = 'not-a-string' | 'nul-byte' | 'absolute' | 'parent' | 'symlink'

/**
 * A path given to `tmp.path()` / `tmpPath()` would resolve outside the invocation's directory:
 * `..` segments, an absolute path, a NUL byte, or a symlink on the way that points out.
 * Nothing is created or written.
 *
 * @example
 * ```ts
 * context.tmp.path('../other-request/data.json') // => TmpEscapeError (reason 'parent')
 * ```
 */
export class TmpEscapeError extends TmpScopeError {
  readonly reason: TmpEscapeReason
  constructor(reason: TmpEscapeReason, detail: string) {
    super(`Refused a tmp path that escapes the invocation's directory: ${detail}`, CODES.TMP_ESCAPE)
    this.name = 'TmpEscapeError'
    this.reason = reason
  }

  override toJSON(): { name: string; code: string; message: string; reason: TmpEscapeReason } {
    return { ...super.toJSON(), reason: this.reason }
  }
}

/**
 * A write would take the invocation's directory over its quota (`quotaBytes`). From
 * `tmp.writeFile()` nothing is written; found by the end-of-invocation check (files written
 * with `node:fs` directly), the invocation fails with it.
 *
 * @example
 * ```ts
 * const handler = lmi(fn).use(tmpScope({ quotaBytes: 50 * 1024 * 1024 }))
 * await context.tmp.writeFile('big.bin', hugeBuffer) // => TmpQuotaExceededError
 * ```
 */
export class TmpQuotaExceededError extends TmpScopeError {
  readonly quotaBytes: number
  readonly usedBytes: number
  constructor(quotaBytes: number, usedBytes: number) {
    super(
      `The invocation's tmp directory would hold ${usedBytes} bytes, over its quota of ${quotaBytes}`,
      CODES.TMP_QUOTA,
    )
    this.name = 'TmpQuotaExceededError'
    this.quotaBytes = quotaBytes
    this.usedBytes = usedBytes
  }

  override toJSON(): {
    name: string
    code: string
    message: string
    quotaBytes: number
    usedBytes: number
  } {
    return { ...super.toJSON(), quotaBytes: this.quotaBytes, usedBytes: this.usedBytes }
  }
}

/**
 * The invocation's directory was used after the invocation ended (work that outlived it, such
 * as a timer or a handler still running past its deadline). The directory is already gone and
 * is not created again.
 *
 * @example
 * ```ts
 * setTimeout(() => context.tmp.path('late.txt'), 60_000) // after the response => TmpScopeEndedError
 * ```
 */
export class TmpScopeEndedError extends TmpScopeError {
  constructor(requestId: string) {
    super(
      `The tmp directory of invocation ${requestId} was used after the invocation ended`,
      CODES.TMP_ENDED,
    )
    this.name = 'TmpScopeEndedError'
  }
}

/**
 * `getTmpDir()` / `tmpPath()` were called where no `tmpScope()` middleware runs for the
 * current invocation (at init, outside an invocation, or in a chain without it).
 *
 * @example
 * ```ts
 * getTmpDir() // at module top level => NoTmpScopeError
 * ```
 */
export class NoTmpScopeError extends TmpScopeError {
  constructor() {
    super(
      'No tmp scope in this async context: use tmpScope() in the chain, and call getTmpDir() from code an invocation runs',
      CODES.NO_TMP_SCOPE,
    )
    this.name = 'NoTmpScopeError'
  }
}
