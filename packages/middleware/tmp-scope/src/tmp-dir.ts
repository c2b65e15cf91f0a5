import { constants, mkdirSync, realpathSync } from 'node:fs'
import { lstat, open, readdir, rm, rmdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { TmpQuotaExceededError, TmpScopeEndedError } from './errors.ts'
import { assertRealInside, joinInside, safeSegment } from './paths.ts'

/**
 * An invocation's own directory, `context.tmp`. Nothing touches the filesystem until `dir`,
 * `path()` or `writeFile()` is first used.
 *
 * @example
 * ```ts
 * const report = context.tmp.path('report.csv')
 * await writeFile(report, rows.join('\n'))
 * ```
 */
export interface TmpDir {
  /**
   * The directory, `<root>/<scope>/<process>/[<tenant>/]<requestId>`, created (mode 0700) on
   * first read.
   */
  readonly dir: string
  /**
   * A path inside the directory. Refuses ({@link TmpEscapeError}) anything that would resolve
   * outside it: `..`, absolute paths, NUL bytes, a symlink on the way that points out.
   * Intermediate directories are not created.
   */
  path(...segments: string[]): string
  /**
   * Writes a file inside the directory (refusing escapes as `path()` does, and a symlink as the
   * file itself), counting it against the quota first: over the quota, nothing is written.
   * Resolves with the file's path.
   */
  writeFile(relativePath: string, data: string | Uint8Array): Promise<string>
  /** Bytes in the directory now (files, recursively; symlinks are not followed). */
  usage(): Promise<number>
  /** True once the directory exists. */
  readonly created: boolean
}

/** Options after defaults, fixed at creation. */
export interface TmpConfig {
  readonly root: string
  readonly scope: string
  readonly keepOnError: boolean
  readonly quotaBytes: number | undefined
  readonly perTenant: boolean
  /** `<root>/<scope>/<process>`: this process's directory. */
  readonly ownerDir: string
}

const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW

/** One invocation's directory: created on first use, removed once by {@link finish}. */
export class InvocationTmpDir implements TmpDir {
  readonly #config: TmpConfig
  readonly #requestId: string
  readonly #tenantId: () => string | undefined
  #dir: string | undefined
  #realDir = ''
  #ended = false
  // Bytes of writeFile() calls not yet on disk, counted against the quota.
  #inFlightBytes = 0

  readonly #onCreate: (() => void) | undefined

  constructor(
    config: TmpConfig,
    requestId: string,
    tenantId: () => string | undefined,
    onCreate?: () => void,
  ) {
    this.#config = config
    this.#requestId = requestId
    this.#tenantId = tenantId
    this.#onCreate = onCreate
  }

  get created(): boolean {
    return this.#dir !== undefined
  }

  get dir(): string {
    if (this.#ended) throw new TmpScopeEndedError(this.#requestId)
    if (this.#dir === undefined) {
      const tenantId = this.#config.perTenant ? this.#tenantId() : undefined
      const { ownerDir } = this.#config
      const dir =
        tenantId === undefined
          ? join(ownerDir, safeSegment(this.#requestId))
          : join(ownerDir, safeSegment(tenantId), safeSegment(this.#requestId))
      makeDir(dir)
      this.#realDir = realpathSync.native(dir)
      this.#dir = dir
      this.#onCreate?.()
    }
    return this.#dir
  }

  path(...segments: string[]): string {
    const dir = this.dir
    if (segments.length === 0) return dir
    const target = joinInside(dir, segments)
    assertRealInside(this.#realDir, target)
    return target
  }

  async writeFile(relativePath: string, data: string | Uint8Array): Promise<string> {
    const target = this.path(relativePath)
    const quota = this.#config.quotaBytes
    if (quota === undefined) {
      await writeNoFollow(target, data)
      return target
    }
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    // Counted before the first await, so concurrent writes of one invocation see each other.
    this.#inFlightBytes += bytes
    try {
      const onDisk = await this.usage()
      const replaced = await fileSize(target)
      const projected = onDisk - replaced + this.#inFlightBytes
      if (projected > quota) throw new TmpQuotaExceededError(quota, projected)
      await writeNoFollow(target, data)
    } finally {
      this.#inFlightBytes -= bytes
    }
    return target
  }

  async usage(): Promise<number> {
    if (this.#dir === undefined) return 0
    return sizeOf(this.#dir)
  }

  /**
   * Ends the directory's life: no further use, and removed unless the invocation failed and
   * `keepOnError` is set. Resolves when removed; `undefined` when there was nothing to do.
   */
  finish(ok: boolean): Promise<void> | undefined {
    if (this.#ended) return undefined
    this.#ended = true
    const dir = this.#dir
    if (dir === undefined) return undefined
    if (!ok && this.#config.keepOnError) {
      process.emitWarning(
        `Kept the tmp directory of failed invocation ${this.#requestId}: ${dir}`,
        {
          code: 'LMI_TMP_KEPT',
        },
      )
      return undefined
    }
    const parent = dirname(dir)
    return rm(dir, { recursive: true, force: true, maxRetries: 2 }).then(
      // A tenant's directory goes with its last invocation (a concurrent one re-creates it).
      () => (parent === this.#config.ownerDir ? undefined : rmdir(parent).catch(() => {})),
      (error: unknown) => {
        process.emitWarning(
          `Could not remove the tmp directory of invocation ${this.#requestId} (${dir}): ${(error as Error).message}`,
          { code: 'LMI_TMP_REMOVE_FAILED' },
        )
      },
    )
  }
}

/**
 * `mkdir -p` that survives the removal of an empty tenant directory by another invocation
 * between its two steps.
 */
function makeDir(dir: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error
    }
  }
}

async function writeNoFollow(path: string, data: string | Uint8Array): Promise<void> {
  // O_NOFOLLOW: the file itself may not be a symlink, even one created after path()'s check.
  const handle = await open(path, WRITE_FLAGS, 0o600)
  try {
    await handle.writeFile(data)
  } finally {
    await handle.close()
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    const stats = await lstat(path)
    return stats.isFile() ? stats.size : 0
  } catch {
    return 0
  }
}

async function sizeOf(path: string): Promise<number> {
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(path, { withFileTypes: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
  let total = 0
  for (const entry of entries) {
    const child = join(path, entry.name)
    if (entry.isDirectory()) total += await sizeOf(child)
    else if (entry.isFile()) {
      try {
        total += (await lstat(child)).size
      } catch {
        // Removed while counting.
      }
    }
  }
  return total
}
