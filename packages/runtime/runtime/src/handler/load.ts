import { statSync } from 'node:fs'
import { basename, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isStreamingHandler } from '@lmi/core/internal'
import { CallbackHandlerDeprecatedError, HandlerLoadError } from '../errors.ts'

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

// Lambda's order (AWS's Node runtime): the module as named, then .js, .mjs, .cjs.
const JS_EXTENSIONS = ['.js', '.mjs', '.cjs']
// Tried only when no JavaScript file matches, on a Node that strips types (22.18+, 24): what
// `lmi dev` and `lmi check` run before a build. AWS's runtime loads no TypeScript.
const TS_EXTENSIONS = ['.ts', '.mts', '.cts']

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

/**
 * Which file `_HANDLER`'s module names, as {@link loadHandler} will load it: the module as
 * named when it carries its extension, else the first of `.js`, `.mjs`, `.cjs` that exists
 * (Lambda's order), else `.ts`, `.mts`, `.cts` when this Node runs TypeScript. `others` lists
 * the other candidates present, so tools can say when a stale build shadows a source file.
 *
 * @example
 * ```ts
 * resolveHandlerFile('/work/app', 'app.handler')
 * // => { file: '/work/app/app.js', others: ['/work/app/app.ts'], stale: ['/work/app/app.ts'] }
 * ```
 */
export function resolveHandlerFile(
  taskRoot: string,
  handler: string,
): {
  /** The file that will be loaded; undefined when none exists. */
  file: string | undefined
  /** Other files the module name matches, which are not loaded. */
  others: string[]
  /** Of `others`, those modified after `file`: `file` is probably an old build of them. */
  stale: string[]
  /** Every file name tried, for the error message. */
  tried: string[]
} {
  const { modulePath } = parseHandlerName(handler)
  const base = moduleBase(taskRoot, modulePath)
  const typescript = Boolean((process.features as { typescript?: unknown }).typescript)
  const extensions = typescript ? [...JS_EXTENSIONS, ...TS_EXTENSIONS] : JS_EXTENSIONS
  const tried = extensions.map((extension) => basename(base) + extension)
  const present = extensions.map((extension) => base + extension).filter(isFile)
  // `_HANDLER=app.mjs.handler`-style names already carry an extension.
  if (isFile(base)) present.unshift(base)
  const [file, ...others] = present
  const modified = file === undefined ? 0 : statSync(file).mtimeMs
  const stale = others.filter((other) => statSync(other).mtimeMs > modified)
  return { file, others, stale, tried }
}

/** The module's path, without extension, as the handler name gives it under `taskRoot`. */
function moduleBase(taskRoot: string, modulePath: string): string {
  return isAbsolute(modulePath) ? modulePath : resolve(taskRoot, modulePath)
}

function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true
  } catch {
    return false // unreadable: as good as absent
  }
}

function typeScriptHint(base: string): string {
  const found = TS_EXTENSIONS.map((extension) => base + extension).find(isFile)
  if (found === undefined) return ''
  return (
    `; found ${basename(found)}, but this Node (${process.version}) does not run TypeScript: ` +
    'use Node >= 22.18, or bundle it first (npx esbuild ' +
    `${basename(found)} --bundle --platform=node --outfile=${basename(base)}.js)`
  )
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
  const { file, tried } = resolveHandlerFile(taskRoot, handler)
  if (file === undefined) {
    const base = moduleBase(taskRoot, modulePath)
    throw new HandlerLoadError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}' under ${taskRoot} (tried ${tried.join(', ')})` +
        typeScriptHint(base),
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

// AWS's messages, word for word (aws-lambda-ric 4.0.2), so logs and alarms match.
const CALLBACK_REFUSED_NODE22 =
  'ERROR: AWS Lambda does not support callback-based function handlers when using Node.js 22 with Managed Instances. To use Managed Instances, modify this function to use a supported handler signature. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.'
const CALLBACK_REFUSED_NODE24 =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.'

/**
 * Refuses a callback-style handler where AWS's Node runtime does, with its error type and
 * message: a non-streaming function declaring three or more parameters (async or not, as AWS
 * counts them), in concurrent mode on Node.js 22 and in any mode from Node.js 24. Which Node is
 * read from `AWS_EXECUTION_ENV` (`AWS_Lambda_nodejs22.x`) as AWS does, or from this process
 * when it is unset. `LMI_ALLOW_CALLBACK_HANDLERS=1` runs it anyway: lmi's runtime hands each
 * invocation its own callback, so it is safe with concurrent invocations (what
 * `callbackWaitsForEmptyEventLoop` would mean is not: the answer goes when the callback is
 * called). Returns whether the escape hatch was used.
 *
 * @example
 * ```ts
 * refuseCallbackHandler(await loadHandler(root, 'app.handler'), { concurrent: true, env: process.env })
 * ```
 */
export function refuseCallbackHandler(
  handler: LoadedHandler,
  options: { concurrent: boolean; env: NodeJS.ProcessEnv; nodeMajor?: number },
): boolean {
  if (handler.streaming || handler.fn.length < 3) return false
  const executionEnv = options.env.AWS_EXECUTION_ENV
  const node22 =
    executionEnv === undefined
      ? (options.nodeMajor ?? Number(process.versions.node.split('.')[0])) < 24
      : executionEnv === 'AWS_Lambda_nodejs22.x'
  if (node22 && !options.concurrent) return false
  if (options.env.LMI_ALLOW_CALLBACK_HANDLERS === '1') return true
  throw new CallbackHandlerDeprecatedError(
    `${node22 ? CALLBACK_REFUSED_NODE22 : CALLBACK_REFUSED_NODE24} (${handler.name} declares ${handler.fn.length} parameters. On lmi: make it async and return its result — or wrap it in lmi() from @lmi/core — or set LMI_ALLOW_CALLBACK_HANDLERS=1 to run it with a callback per invocation.)`,
  )
}
