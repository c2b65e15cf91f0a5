// Packing lmi's public packages as they are published (pnpm pack, from the built dist/), and
// reading a tarball back: its entries with their modes, and its manifest.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { repoRoot } from '../examples/build.ts'
import type { PublicPackage } from './packages.ts'
import { childEnv } from './project.ts'

const run = promisify(execFile)

/**
 * The pnpm to pack with: the one running the tests (`npm_execpath` under `pnpm run`), else
 * the clone's `.tools/` copy (`npm test` puts it there), else `pnpm` from PATH.
 *
 * @example
 * ```ts
 * const { command, prefix } = pnpmCommand() // e.g. node, ['/…/pnpm.cjs']
 * ```
 */
export function pnpmCommand(): { command: string; prefix: string[] } {
  const execPath = process.env.npm_execpath
  if (execPath !== undefined && /pnpm/.test(execPath) && existsSync(execPath)) {
    return /\.c?js$/.test(execPath)
      ? { command: process.execPath, prefix: [execPath] }
      : { command: execPath, prefix: [] }
  }
  const local = join(repoRoot, '.tools', 'node_modules', '.bin', 'pnpm')
  if (existsSync(local)) return { command: local, prefix: [] }
  return { command: 'pnpm', prefix: [] }
}

/**
 * Packs each package with `pnpm pack --pack-destination <dest>` (pnpm applies `publishConfig`
 * and turns `workspace:` and `catalog:` into versions, as `pnpm publish` does), two at a time.
 * Packs what is built: run the build first. Resolves with each package's tarball path.
 *
 * @example
 * ```ts
 * const tarballs = await packPackages(publicPackages(), '/tmp/tarballs')
 * tarballs.get('@lmi/core') // => '/tmp/tarballs/lmi-core-0.1.0.tgz'
 * ```
 */
export async function packPackages(
  packages: readonly PublicPackage[],
  dest: string,
): Promise<Map<string, string>> {
  const { command, prefix } = pnpmCommand()
  const tarballs = new Map<string, string>()
  const queue = [...packages]
  async function worker(): Promise<void> {
    for (let pkg = queue.shift(); pkg !== undefined; pkg = queue.shift()) {
      const { stdout } = await run(
        command,
        [...prefix, 'pack', '--json', '--pack-destination', dest],
        // pnpm itself needs the variables pnpm set; only the Node ones are dropped.
        { cwd: join(repoRoot, pkg.dir), env: childEnv({}, { keepNpm: true }), maxBuffer: 2 ** 26 },
      ).catch((error: Error & { stderr?: string; stdout?: string }) => {
        throw new Error(`pnpm pack failed in ${pkg?.dir}: ${error.stderr || error.stdout || error}`)
      })
      const filename = (JSON.parse(stdout) as { filename: string }).filename
      tarballs.set(pkg.name, filename)
    }
  }
  await Promise.all([worker(), worker()])
  return tarballs
}

/** One entry of a tarball. */
export interface TarEntry {
  /** Path inside the package (`package/` removed). */
  path: string
  /** Permission bits, e.g. `0o755`. */
  mode: number
  type: 'file' | 'directory' | 'symlink' | 'other'
  size: number
  content: Buffer
}

/**
 * The entries of an npm tarball (gzipped ustar, as pnpm and npm write them), read with Node
 * alone so the test needs no `tar` binary.
 *
 * @example
 * ```ts
 * readTarball('lmi-runtime-0.1.0.tgz').find((e) => e.path === 'bin/lmi-exec-wrapper')?.mode // => 0o755
 * ```
 */
export function readTarball(file: string): TarEntry[] {
  const data = gunzipSync(readFileSync(file))
  const entries: TarEntry[] = []
  let offset = 0
  let longName: string | undefined
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '')
    const size = Number.parseInt(field(124, 12).trim() || '0', 8)
    const typeFlag = field(156, 1)
    const prefix = field(345, 155)
    const body = data.subarray(offset + 512, offset + 512 + size)
    offset += 512 + Math.ceil(size / 512) * 512
    if (typeFlag === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '')
      continue
    }
    if (typeFlag === 'x' || typeFlag === 'g') continue
    const name = longName ?? (prefix === '' ? field(0, 100) : `${prefix}/${field(0, 100)}`)
    longName = undefined
    entries.push({
      path: name.replace(/^[^/]+\//, ''),
      mode: Number.parseInt(field(100, 8).trim() || '0', 8) & 0o7777,
      type:
        typeFlag === '0' || typeFlag === ''
          ? 'file'
          : typeFlag === '5'
            ? 'directory'
            : typeFlag === '2'
              ? 'symlink'
              : 'other',
      size,
      content: body,
    })
  }
  return entries
}

/**
 * The `package.json` inside a tarball, as the registry would serve it.
 *
 * @example
 * ```ts
 * tarballManifest('lmi-core-0.1.0.tgz').exports
 * ```
 */
export function tarballManifest(file: string): Record<string, unknown> {
  const entry = readTarball(file).find((e) => e.path === 'package.json')
  if (entry === undefined) throw new Error(`${file} has no package.json`)
  return JSON.parse(entry.content.toString('utf8')) as Record<string, unknown>
}
