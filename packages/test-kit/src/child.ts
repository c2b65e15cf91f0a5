// What a process a test starts (lmi's runtime, `lmi dev`, `lmi check`'s runtimes) runs: the
// packages' built dist/ when every build is current, the TypeScript sources otherwise.
//
// The suite runs its own files from src/ (`--conditions=@lmi/source`), and used to start every
// child that way too. A child from src/ type-strips each module it loads: about 0.7 s of CPU
// to start lmi's runtime against 0.3 s from dist/, for each of the several hundred runtimes
// the suite starts (each `lmi check` starts 7 to 25, each worker thread loads the runtime
// again). `npm test` builds before it tests, so dist/ is the source compiled; a developer who
// edits a source and runs one test file without building gets the sources, as before.
import { readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The folders holding the published packages (each with src/ and a tsc --build output). */
const GROUPS = ['runtime', 'middleware']
const SOURCE_ARGV: readonly string[] = ['--conditions=@lmi/source']

let current: boolean | undefined

/**
 * Node options for a child process of a test that loads lmi's packages: none (dist/) when
 * every package's build is at least as new as each of its sources, `--conditions=@lmi/source`
 * otherwise, or when `LMI_TEST_CHILD_SOURCE=1` asks for the sources.
 *
 * @example
 * ```ts
 * spawn(process.execPath, [...childExecArgv(), runtimeBin], { env })
 * ```
 */
export function childExecArgv(): string[] {
  if (process.env.LMI_TEST_CHILD_SOURCE === '1') return [...SOURCE_ARGV]
  current ??= buildsAreCurrent()
  return current ? [] : [...SOURCE_ARGV]
}

function buildsAreCurrent(): boolean {
  for (const group of GROUPS) {
    for (const name of readdirSync(join(packagesDir, group))) {
      const dir = join(packagesDir, group, name)
      let built: number
      try {
        // tsc --build writes it on every build, and touches it when a source's time changed.
        built = statSync(join(dir, '.tsbuildinfo')).mtimeMs
      } catch {
        return false
      }
      if (newestFile(join(dir, 'src')) > built) return false
    }
  }
  return true
}

function newestFile(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return newest
}
