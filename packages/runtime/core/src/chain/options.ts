import type { SharedStateMode } from '../detect/findings.ts'
import { is, type OptionRule, validateOptions } from '../kit.ts'
import { type ExecutionMode, streamsResponse } from './streamed.ts'
import type { LmiRequest } from './types.ts'

/**
 * `@middy/core` 7.9's plugin hooks, for tracing and profiling tools: the same names, called in
 * the same order with the same arguments as middy calls them. `beforePrefetch()` once, when the
 * chain is built; per invocation `requestStart(request)`, then around every middleware hook
 * `beforeMiddleware(name)` / `afterMiddleware(name)` (the hook function's name), around the
 * handler `beforeHandler()` / `afterHandler()` (on success), and `requestEnd(request)` at the
 * end, awaited (its error replaces a success, and becomes the `cause` of a failure that has
 * none). A chain given none of them runs as if this interface did not exist.
 *
 * `timeoutEarlyInMillis` (no default: lmi's handler `signal` aborts at the deadline itself):
 * that long before the invocation's deadline the handler's `signal` aborts and the invocation
 * ends with what `timeoutEarlyResponse()` returns (default: throws middy's `TimeoutError`).
 *
 * @example
 * ```ts
 * const spans = new Map<string, number>()
 * export const handler = lmi(inner, {
 *   beforeMiddleware: (name) => spans.set(name, performance.now()),
 *   afterMiddleware: (name) => console.log(name, performance.now() - (spans.get(name) ?? 0)),
 * })
 * ```
 */
export interface LmiPlugin {
  beforePrefetch?: () => void
  requestStart?: (request: LmiRequest) => void
  beforeMiddleware?: (name: string) => void
  afterMiddleware?: (name: string) => void
  beforeHandler?: () => void
  afterHandler?: () => void
  requestEnd?: (request: LmiRequest) => unknown
  timeoutEarlyInMillis?: number
  timeoutEarlyResponse?: () => unknown
}

/**
 * Options of {@link lmi}.
 *
 * @example
 * ```ts
 * export const handler = lmi(inner, { internal: { region: process.env.AWS_REGION } })
 * ```
 */
export interface LmiOptions extends LmiPlugin {
  /** Copied into every request's `internal` (middy's `internal` plugin option). */
  internal?: Record<string, unknown>
  /**
   * `executionModeStreamifyResponse` makes the chain a response-streaming handler that writes
   * its response to the response stream as middy does; default `executionModeStandard`.
   */
  executionMode?: ExecutionMode
  /**
   * The shared-state detectors' mode: `off`, `warn` (coded warnings) or `throw` (the offending
   * invocation fails with `SharedStateError`). `LMI_SHARED_STATE` overrides it; default
   * {@link DEFAULT_SHARED_STATE_MODE}. The detectors are process-wide: the strictest mode any
   * chain (or the runtime) asks for applies.
   */
  sharedState?: SharedStateMode
}

/**
 * The shared-state detectors' mode when neither `LMI_SHARED_STATE` nor the `sharedState`
 * option says otherwise.
 *
 * @example
 * ```ts
 * DEFAULT_SHARED_STATE_MODE // 'warn'
 * ```
 */
export const DEFAULT_SHARED_STATE_MODE: SharedStateMode = 'warn'

/** The plugin as the chain runs it: only what was given. */
export interface Plugin extends LmiPlugin {
  timeoutEarlyResponse: () => unknown
}

const PACKAGE = '@lmi/core'
const WHERE = 'lmi(handler, options)'

const PLUGIN_HOOKS = [
  'beforePrefetch',
  'requestStart',
  'beforeMiddleware',
  'afterMiddleware',
  'beforeHandler',
  'afterHandler',
  'requestEnd',
  'timeoutEarlyResponse',
] as const

const executionMode: OptionRule = (value) =>
  streamsResponse(value) === undefined
    ? 'executionModeStandard or executionModeStreamifyResponse'
    : undefined

const OPTIONS = {
  ...Object.fromEntries(PLUGIN_HOOKS.map((hook) => [hook, is.function])),
  timeoutEarlyInMillis: is.integer(0),
  internal: is.object,
  sharedState: is.oneOf('off', 'warn', 'throw'),
  executionMode,
}

/** What `lmi()` runs with: its options checked once, when the chain is built. */
export interface ChainSettings {
  plugin: Plugin | undefined
  streaming: boolean
  internal: Record<string, unknown> | undefined
  sharedState: SharedStateMode | undefined
}

/**
 * Checks `lmi()`'s options — middy's plugin hooks and lmi's own — and throws
 * `InvalidConfigurationError` for a bad one, as every lmi middleware does for its options.
 */
export function chainSettings(options: LmiOptions | undefined): ChainSettings {
  validateOptions(PACKAGE, WHERE, options, OPTIONS)
  const given =
    options !== undefined &&
    (PLUGIN_HOOKS.some((hook) => options[hook] !== undefined) ||
      options.timeoutEarlyInMillis !== undefined)
  return {
    plugin: given
      ? { ...options, timeoutEarlyResponse: options.timeoutEarlyResponse ?? timeoutEarlyError }
      : undefined,
    streaming: streamsResponse(options?.executionMode) === true,
    internal: options?.internal,
    sharedState: options?.sharedState,
  }
}

/** middy's default `timeoutEarlyResponse`: its `TimeoutError`, word for word. */
function timeoutEarlyError(): never {
  const error = new Error('[AbortError]: The operation was aborted.', {
    cause: { package: '@middy/core' },
  })
  error.name = 'TimeoutError'
  throw error
}
