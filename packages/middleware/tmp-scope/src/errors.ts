import { LmiError } from '@lmi/core'

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
    super(`Refused a tmp path that escapes the invocation's directory: ${detail}`, 'LMI_TMP_ESCAPE')
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
      'LMI_TMP_QUOTA',
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
      'LMI_TMP_ENDED',
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
      'LMI_NO_TMP_SCOPE',
    )
    this.name = 'NoTmpScopeError'
  }
}
