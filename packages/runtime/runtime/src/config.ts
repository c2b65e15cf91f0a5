// What the runtime reads from its environment at start-up, read the same way by every thread
// (the main thread, the dispatcher and the workers that run handlers each read it for itself).
import {
  type FunctionInfo,
  InvalidConfigurationError,
  type SharedStateMode,
  toErrorResponse,
} from '@lmi/core'
import {
  describeValue,
  functionInfoFromEnv,
  parseInteger,
  sharedStateModeFromEnv,
} from '@lmi/core/internal'
import { reportInitError } from './client/init-error.ts'
import { type LogSettings, logSettingsFromEnv } from './log/log.ts'

/**
 * The default of `LMI_SHUTDOWN_TIMEOUT_MS`: the runtime exits at most this long after SIGTERM.
 * Lambda gives the runtime up to 300 ms of its 2,000 ms shutdown phase before SIGKILL (when an
 * extension is registered; without one it sends no SIGTERM at all): 250 ms leaves room for the
 * process to end.
 *
 * @example
 * ```ts
 * shutdownPlan(options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_DEFAULT_MS)
 * ```
 */
export const SHUTDOWN_TIMEOUT_DEFAULT_MS = 250

/**
 * Everything the runtime reads from its environment at start-up.
 *
 * @example
 * ```ts
 * const { concurrency, handler } = runtimeConfigFromEnv(process.env)
 * ```
 */
export interface RuntimeConfig {
  runtimeApi: string
  taskRoot: string
  handler: string
  /** `AWS_LAMBDA_MAX_CONCURRENCY`; 1 when unset (classic Lambda: strictly sequential). */
  concurrency: number
  /**
   * `AWS_LAMBDA_MAX_CONCURRENCY` is set, whatever its value (LMI allows 1 to 1600): concurrent
   * mode, as AWS's runtime and `@aws/lambda-invoke-store` decide it — JSON logs, no
   * `_X_AMZN_TRACE_ID` writes. Unset: classic Lambda.
   */
  concurrent: boolean
  functionInfo: FunctionInfo
  log: LogSettings
  shutdownTimeoutMs: number
  /** `LMI_SHARED_STATE`: the shared-state detectors' mode; `undefined` when unset. */
  sharedState: SharedStateMode | undefined
  /** `LMI_FENCE_REQUESTS`: refuse requests made after an invocation ended (default; `0`: off). */
  fenceRequests: boolean
}

/** `AWS_LAMBDA_RUNTIME_API` as the runtime can use it: `host:port`. */
const RUNTIME_API_FORMAT = /^[^\s/:]+:\d+$/

/**
 * Reads the runtime's configuration the way AWS's Node runtime does: `AWS_LAMBDA_RUNTIME_API`,
 * `_HANDLER` (or the first CLI argument, like `aws-lambda-ric app.handler`), `LAMBDA_TASK_ROOT`
 * (default the working directory), `AWS_LAMBDA_MAX_CONCURRENCY`, `AWS_LAMBDA_FUNCTION_*`,
 * `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`; plus `LMI_SHUTDOWN_TIMEOUT_MS` and
 * `LMI_FENCE_REQUESTS`.
 *
 * @example
 * ```ts
 * const config = runtimeConfigFromEnv(process.env, process.argv[2])
 * ```
 */
export function runtimeConfigFromEnv(env: NodeJS.ProcessEnv, handlerArg?: string): RuntimeConfig {
  const runtimeApi = env.AWS_LAMBDA_RUNTIME_API
  if (runtimeApi === undefined || !RUNTIME_API_FORMAT.test(runtimeApi)) {
    throw new InvalidConfigurationError(
      `AWS_LAMBDA_RUNTIME_API must be "host:port", got ${runtimeApi === undefined ? 'nothing' : `"${runtimeApi}"`}`,
    )
  }
  const handler = handlerArg ?? env._HANDLER
  if (handler === undefined || handler === '') {
    throw new InvalidConfigurationError('No handler: set _HANDLER (e.g. "index.handler")')
  }
  const concurrency =
    parseInteger(env.AWS_LAMBDA_MAX_CONCURRENCY, 'AWS_LAMBDA_MAX_CONCURRENCY') ?? 1
  const concurrent = env.AWS_LAMBDA_MAX_CONCURRENCY !== undefined
  return {
    runtimeApi,
    taskRoot: env.LAMBDA_TASK_ROOT ?? process.cwd(),
    handler,
    concurrency,
    concurrent,
    functionInfo: functionInfoFromEnv(env),
    log: logSettingsFromEnv(env, concurrent),
    shutdownTimeoutMs:
      parseInteger(env.LMI_SHUTDOWN_TIMEOUT_MS, 'LMI_SHUTDOWN_TIMEOUT_MS') ??
      SHUTDOWN_TIMEOUT_DEFAULT_MS,
    sharedState: sharedStateModeFromEnv(env),
    fenceRequests: flag(env, 'LMI_FENCE_REQUESTS', true),
  }
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return fallback
  if (raw === '0' || raw === '1') return raw === '1'
  throw new InvalidConfigurationError(`${name} must be 0 or 1, got "${env[name]}"`)
}

/**
 * {@link runtimeConfigFromEnv}, for a thread of the runtime starting up: a configuration it
 * cannot run with is written to stderr and reported to `/runtime/init/error` (when the Runtime
 * API's address itself is usable), and the thread then exits 1 (`undefined`).
 *
 * @example
 * ```ts
 * const config = await startupConfig(process.env, handlerArg)
 * if (config === undefined) return 1
 * ```
 */
export async function startupConfig(
  env: NodeJS.ProcessEnv,
  handlerArg: string | undefined,
): Promise<RuntimeConfig | undefined> {
  try {
    return runtimeConfigFromEnv(env, handlerArg)
  } catch (error) {
    process.stderr.write(`lmi-runtime: ${describeValue(error)}\n`)
    const runtimeApi = env.AWS_LAMBDA_RUNTIME_API
    if (runtimeApi !== undefined && RUNTIME_API_FORMAT.test(runtimeApi)) {
      await reportInitError(runtimeApi, toErrorResponse(error))
    }
    return undefined
  }
}
