// What `lmi dev` and `lmi check` both know about the runtime they start: where its bin is, and
// what to say about the file a handler name resolves to. Under `cli/shared/` so that the
// commands (`cli/dev.ts`, `cli/check/`) and the entry (`cli/index.ts`) import it without a cycle.
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveHandlerFile } from '@lmi/runtime'

/**
 * `bin/lmi-runtime.js` of the installed `@lmi/runtime`, the runtime both commands run as a
 * child process. Resolved on use, not at load, so a bundle of this module whose `import.meta`
 * is empty (CommonJS) still loads.
 *
 * @example
 * ```ts
 * spawn(process.execPath, [runtimeBin()], { env: { ...process.env, _HANDLER: 'app.handler' } })
 * ```
 */
export function runtimeBin(): string {
  const manifest = fileURLToPath(import.meta.resolve('@lmi/runtime/package.json'))
  return join(dirname(manifest), 'bin', 'lmi-runtime.js')
}

/**
 * A line saying which file `handler` loads when the name matches more than one (a build
 * beside its source, `app.js` beside `app.cjs`), and whether the loaded one is older than
 * another: the usual sign of a stale build. `undefined` when there is nothing to say.
 *
 * @example
 * ```ts
 * const notice = handlerFileNotice(process.cwd(), 'app.handler')
 * if (notice !== undefined) process.stderr.write(`lmi dev: ${notice}\n`)
 * ```
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
