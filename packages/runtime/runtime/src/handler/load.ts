import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isStreamingHandler } from '@lmi/core/internal'
import { HandlerLoadError } from '../errors.ts'

/**
 * Any function Lambda can call: `(event, context)` async, callback-style, or streaming.
 *
 * @example
 * ```ts
 * const fn: AnyHandler = async (event: unknown) => ({ ok: true })
 * ```
 */
export type AnyHandler = (...args: never[]) => unknown

/**
 * A handler loaded from `_HANDLER`, classified for the scheduler.
 *
 * @example
 * ```ts
 * const { fn, streaming } = await loadHandler('/var/task', 'app.handler')
 * ```
 */
export interface LoadedHandler {
  /** The function as exported. */
  fn: AnyHandler
  /** `awslambda.streamifyResponse(...)` was applied: called as `(event, responseStream, context)`. */
  streaming: boolean
  /** A non-async function with three or more parameters: called with a Node-style callback. */
  callback: boolean
  /** The `_HANDLER` string it came from. */
  name: string
}

const EXTENSIONS = ['.js', '.mjs', '.cjs']

/**
 * Splits `_HANDLER` (`path/to/file.export` or `file.nested.export`) into the module path and
 * the export path, as AWS's runtime does: the module name ends at the first dot after the
 * last slash.
 *
 * @example
 * ```ts
 * parseHandlerName('src/app.handlers.get') // => { modulePath: 'src/app', exportPath: ['handlers', 'get'] }
 * ```
 */
export function parseHandlerName(handler: string): { modulePath: string; exportPath: string[] } {
  const slash = handler.lastIndexOf('/')
  const dot = handler.indexOf('.', slash + 1)
  if (handler === '' || dot <= slash + 1 || dot === handler.length - 1) {
    throw new HandlerLoadError(
      'Runtime.MalformedHandlerName',
      `Bad handler "${handler}": expected "path/to/file.exportName"`,
    )
  }
  return {
    modulePath: handler.slice(0, dot),
    exportPath: handler.slice(dot + 1).split('.'),
  }
}

function resolveModuleFile(taskRoot: string, modulePath: string): string | undefined {
  const base = isAbsolute(modulePath) ? modulePath : resolve(taskRoot, modulePath)
  for (const extension of EXTENSIONS) {
    const candidate = base + extension
    if (existsSync(candidate)) return candidate
  }
  // `_HANDLER=app.mjs.handler`-style names already carry an extension.
  return existsSync(base) ? base : undefined
}

/**
 * Loads `_HANDLER` from `taskRoot`, ESM or CommonJS, the way AWS's Node runtime does, and
 * classifies it. Failures are {@link HandlerLoadError}s whose `name` is the Lambda error
 * type (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`,
 * `Runtime.MalformedHandlerName`), or the error the module threw while loading.
 *
 * @example
 * ```ts
 * const handler = await loadHandler('/var/task', 'src/app.handler')
 * await handler.fn(event, context)
 * ```
 */
export async function loadHandler(taskRoot: string, handler: string): Promise<LoadedHandler> {
  const { modulePath, exportPath } = parseHandlerName(handler)
  const file = resolveModuleFile(taskRoot, modulePath)
  if (file === undefined) {
    throw new HandlerLoadError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}' under ${taskRoot} (tried ${EXTENSIONS.join(', ')})`,
    )
  }
  let namespace: Record<string, unknown>
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new HandlerLoadError('Runtime.UserCodeSyntaxError', String(error), { cause: error })
    }
    if (isModuleNotFound(error)) {
      throw new HandlerLoadError('Runtime.ImportModuleError', String(error), { cause: error })
    }
    // The module's own top-level code threw: report it under its own type.
    throw error
  }
  const fn = resolveExport(namespace, exportPath)
  if (typeof fn !== 'function') {
    throw new HandlerLoadError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`)
  }
  const streaming = isStreamingHandler(fn)
  return {
    fn: fn as AnyHandler,
    streaming,
    callback: !streaming && fn.length >= 3 && fn.constructor.name !== 'AsyncFunction',
    name: handler,
  }
}

function resolveExport(namespace: Record<string, unknown>, path: string[]): unknown {
  const walk = (root: unknown): unknown => {
    let value = root
    for (const key of path) {
      if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
        return undefined
      }
      value = (value as Record<string, unknown>)[key]
    }
    return value
  }
  // CommonJS modules imported from ESM expose module.exports as `default`.
  return walk(namespace) ?? walk(namespace.default)
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
}
