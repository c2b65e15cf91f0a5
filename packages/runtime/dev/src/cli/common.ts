// What `lmi dev` and `lmi check` share: the runtime they start, and how they read --env.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

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
