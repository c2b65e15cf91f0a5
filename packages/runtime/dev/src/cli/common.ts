// What `lmi dev` and `lmi check` share: the runtime they start, how they read --env, and what
// they say about the file a handler name resolves to.
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveHandlerFile } from '@lmi/runtime'

/**
 * `bin/lmi-runtime.js` of the installed `@lmi/runtime`, the runtime both commands run as a
 * child process. Resolved on use, not at load, so a bundle of this module whose `import.meta`
 * is empty (CommonJS) still loads.
 */
export function runtimeBin(): string {
  const manifest = fileURLToPath(import.meta.resolve('@lmi/runtime/package.json'))
  return join(dirname(manifest), 'bin', 'lmi-runtime.js')
}

/**
 * `--env KEY=VALUE` flags as an environment; a pair without a key or `=` is refused with the
 * error `invalid` makes (each command has its own usage error).
 */
export function envFromPairs(
  pairs: readonly string[],
  invalid: (message: string) => Error,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw invalid(`--env expects KEY=VALUE, got "${pair}"`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

/**
 * A line saying which file `handler` loads when the name matches more than one (a build
 * beside its source, `app.js` beside `app.cjs`), and whether the loaded one is older than
 * another: the usual sign of a stale build. `undefined` when there is nothing to say.
 */
export function handlerFileNotice(cwd: string, handler: string): string | undefined {
  let resolved: ReturnType<typeof resolveHandlerFile>
  try {
    resolved = resolveHandlerFile(cwd, handler)
  } catch {
    return undefined // a malformed name: the runtime reports it
  }
  const { file, others, stale } = resolved
  if (file === undefined || others.length === 0) return undefined
  const name = (path: string) => relative(cwd, path) || path
  let notice =
    `${handler} loads ${name(file)} (Lambda's order: .js, .mjs, .cjs, then TypeScript); ` +
    `not loaded: ${others.map(name).join(', ')}`
  if (stale.length > 0) {
    notice += `. ${name(file)} is older than ${stale.map(name).join(', ')}: rebuild it, or delete it to run the newer file`
  }
  return notice
}
