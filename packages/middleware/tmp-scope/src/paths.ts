import { createHash } from 'node:crypto'
import { lstatSync, readlinkSync, realpathSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { TmpEscapeError } from './errors.ts'

/** Symlinks followed before a path is treated as a loop (Linux's own limit). */
const MAX_SYMLINKS = 40
const MAX_SEGMENT_BYTES = 200
// A separator of either platform, NUL, or another control character.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const UNSAFE = /[/\\\0-\x1f\x7f]/

/**
 * A request or tenant id as one directory name. Ids that could not be one as they are (a `/`,
 * `..`, a NUL, too long) become a hash of themselves: the directory stays unique per id and
 * can never point elsewhere.
 */
export function safeSegment(id: string): string {
  if (
    id.length > 0 &&
    Buffer.byteLength(id) <= MAX_SEGMENT_BYTES &&
    id !== '.' &&
    id !== '..' &&
    !UNSAFE.test(id)
  ) {
    return id
  }
  return `h-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`
}

/** True when `path` is `dir` or inside it (both absolute and normalized). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/**
 * Joins `segments` under `dir`, refusing anything that would leave it lexically: a segment that
 * is not a string, holds a NUL byte, is absolute, or climbs above `dir` with `..`.
 */
export function joinInside(dir: string, segments: readonly unknown[]): string {
  for (const segment of segments) {
    if (typeof segment !== 'string') {
      throw new TmpEscapeError('not-a-string', `a path segment is ${typeof segment}, not a string`)
    }
    if (segment.includes('\0')) throw new TmpEscapeError('nul-byte', 'a path segment holds NUL')
    if (isAbsolute(segment)) {
      throw new TmpEscapeError('absolute', `${JSON.stringify(segment)} is an absolute path`)
    }
  }
  const target = resolve(dir, ...(segments as string[]))
  if (!isInside(dir, target)) {
    throw new TmpEscapeError('parent', `${JSON.stringify(segments.join('/'))} climbs out with ..`)
  }
  return target
}

/**
 * Where `path` really is on the filesystem: every symlink on the way followed — also a
 * dangling one, whose target a write would create — and the part that does not exist yet
 * appended to the real location of the part that does.
 */
export function realLocation(path: string, hops = 0): string {
  if (hops > MAX_SYMLINKS) throw new TmpEscapeError('symlink', 'too many levels of symlinks')
  try {
    return realpathSync.native(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new TmpEscapeError('symlink', 'a symlink loop')
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
  }
  let isLink = false
  try {
    isLink = lstatSync(path).isSymbolicLink()
  } catch {
    // Does not exist: its real location is its parent's plus its name.
  }
  const parent = dirname(path)
  if (isLink) {
    return realLocation(resolve(realLocation(parent, hops), readlinkSync(path)), hops + 1)
  }
  if (parent === path) return path
  return join(realLocation(parent, hops), basename(path))
}

/**
 * Refuses `target` (already lexically inside the scope) when a symlink on the way takes it
 * outside `realScope`, the scope directory's own real location.
 */
export function assertRealInside(realScope: string, target: string): void {
  const real = realLocation(target)
  if (!isInside(realScope, real)) {
    throw new TmpEscapeError('symlink', 'a symlink on the way points outside the directory')
  }
}
