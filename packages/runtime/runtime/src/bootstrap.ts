import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import {
  type ErrorResponse,
  type FunctionInfo,
  HttpResponseStream,
  InvalidConfigurationError,
  type SharedStateMode,
  streamifyResponse,
  toErrorResponse,
} from '@lmi/core'
import {
  describeValue,
  functionInfoFromEnv,
  installDetectors,
  installInvokeStore,
  setFindingSink,
  sharedStateModeFromEnv,
} from '@lmi/core/internal'
import { loadHandler, refuseCallbackHandler } from './handler/load.ts'
import { type LogSettings, logSettingsFromEnv, RuntimeLog } from './log/log.ts'
import { Executor } from './scheduler/executor.ts'
import { onStopSignals, SHUTDOWN_TIMEOUT_DEFAULT_MS } from './scheduler/shutdown.ts'
import {
  canStartWorkers,
  type DispatcherData,
  serveWorker,
  superviseDispatcher,
  type WorkerCount,
  type WorkerData,
  WorkerExecutors,
  type WorkerMessage,
  workerCountFromEnv,
} from './scheduler/workers.ts'

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

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidConfigurationError(`${name} must be a positive integer, got "${raw}"`)
  }
  return value
}

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
  if (runtimeApi === undefined || !/^[^\s/:]+:\d+$/.test(runtimeApi)) {
    throw new InvalidConfigurationError(
      `AWS_LAMBDA_RUNTIME_API must be "host:port", got ${runtimeApi === undefined ? 'nothing' : `"${runtimeApi}"`}`,
    )
  }
  const handler = handlerArg ?? env._HANDLER
  if (handler === undefined || handler === '') {
    throw new InvalidConfigurationError('No handler: set _HANDLER (e.g. "index.handler")')
  }
  const concurrency = positiveInteger(env, 'AWS_LAMBDA_MAX_CONCURRENCY', 1)
  const concurrent = env.AWS_LAMBDA_MAX_CONCURRENCY !== undefined
  return {
    runtimeApi,
    taskRoot: env.LAMBDA_TASK_ROOT ?? process.cwd(),
    handler,
    concurrency,
    concurrent,
    functionInfo: functionInfoFromEnv(env),
    log: logSettingsFromEnv(env, concurrent),
    shutdownTimeoutMs: positiveInteger(env, 'LMI_SHUTDOWN_TIMEOUT_MS', SHUTDOWN_TIMEOUT_DEFAULT_MS),
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
 * The CPUs this process may use: the cgroup v2 quota (`cpu.max`) when one is set, else the
 * machine's parallelism. Lambda sizes execution environments by vCPU through this quota.
 *
 * @example
 * ```ts
 * cpuQuota() // 2 on a 2-vCPU execution environment ("200000 100000" in cpu.max)
 * ```
 */
export function cpuQuota(): number {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/)
    if (quota !== undefined && quota !== 'max' && period !== undefined) {
      const cpus = Number(quota) / Number(period)
      if (Number.isFinite(cpus) && cpus > 0) return cpus
    }
  } catch {
    // No cgroup v2 file (macOS, older kernels): fall back to the machine.
  }
  return availableParallelism()
}

/**
 * Installs what AWS's runtime puts on `globalThis.awslambda` (`streamifyResponse`,
 * `HttpResponseStream`, `InvokeStore`), so handlers written for it run unchanged. Idempotent.
 *
 * @example
 * ```ts
 * installAwsLambdaGlobal()
 * const handler = awslambda.streamifyResponse(async (event, stream) => stream.end('ok'))
 * ```
 */
export function installAwsLambdaGlobal(): void {
  installInvokeStore()
  const holder = globalThis as { awslambda?: Record<string, unknown> }
  holder.awslambda ??= {}
  holder.awslambda.streamifyResponse = streamifyResponse
  holder.awslambda.HttpResponseStream = HttpResponseStream
}

/**
 * Starts the runtime from the environment: loads the handler (reporting a failure to
 * `/runtime/init/error`), then serves invocations until SIGTERM/SIGINT. Resolves with the
 * process exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await bootstrap(process.env, process.argv[2])
 * ```
 */
export async function bootstrap(env: NodeJS.ProcessEnv, handlerArg?: string): Promise<number> {
  let config: RuntimeConfig
  try {
    config = runtimeConfigFromEnv(env, handlerArg)
  } catch (error) {
    process.stderr.write(`lmi-runtime: ${describeValue(error)}\n`)
    const runtimeApi = env.AWS_LAMBDA_RUNTIME_API
    if (runtimeApi !== undefined && /^[^\s/:]+:\d+$/.test(runtimeApi)) {
      await reportInitError(runtimeApi, toErrorResponse(error))
    }
    return 1
  }
  exitWhenLogsClose()
  const log = new RuntimeLog(config.log)
  const role = isMainThread ? undefined : (workerData as WorkerData)
  if (role === undefined) {
    let workers: WorkerCount
    try {
      workers = workerCountFromEnv(env, cpuQuota(), config.concurrency)
    } catch (error) {
      process.stderr.write(`lmi-runtime: ${describeValue(error)}\n`)
      await reportInitError(config.runtimeApi, toErrorResponse(error))
      return 1
    }
    if (workers.count > 0 && workers.from === 'default' && !canStartWorkers()) {
      // The default, in a copy bundled to CommonJS: the handler runs on this thread instead.
      log.log(
        'WARN',
        'This copy of lmi-runtime is a CommonJS bundle and cannot start worker threads: handlers run on the main thread (LMI_WORKERS=0)',
        { code: 'LMI_WORKERS_UNAVAILABLE' },
      )
      workers = { count: 0, from: workers.from }
    }
    // Once, like the worker-pool line of AWS's runtimes (shown with AWS_LAMBDA_LOG_LEVEL=DEBUG).
    log.log(
      'DEBUG',
      `Starting: ${workers.count} worker thread(s) (${workers.from}), max concurrency ${config.concurrency}, ${config.concurrent ? 'concurrent (LMI)' : 'classic'} mode`,
      {
        code: 'LMI_RUNTIME_STARTING',
        workers: workers.count,
        workersFrom: workers.from,
        maxConcurrency: config.concurrency,
        concurrent: config.concurrent,
      },
    )
    if (workers.count > 0) {
      return superviseDispatcher({ workers: workers.count, handlerArg, log })
    }
  } else if (role.role === 'dispatcher') {
    return serveFromWorkers(config, role, log)
  }
  installAwsLambdaGlobal()
  log.patchConsole()
  // Findings go to the runtime's log, whoever installs the detectors (this, or an lmi() chain).
  setFindingSink(function logFinding({ message, ...fields }) {
    log.log('WARN', message, withoutUndefined(fields))
  })
  if (config.sharedState !== undefined) installDetectors(config.sharedState)
  let handler: Awaited<ReturnType<typeof loadHandler>>
  try {
    handler = await loadHandler(config.taskRoot, config.handler)
    const allowed = refuseCallbackHandler(handler, { concurrent: config.concurrent, env })
    if (allowed) {
      log.log(
        'WARN',
        `${config.handler} is a callback-style handler, which AWS's runtime refuses here; run anyway (LMI_ALLOW_CALLBACK_HANDLERS=1), each invocation with its own callback`,
        { code: 'LMI_CALLBACK_HANDLER_ALLOWED' },
      )
    }
  } catch (error) {
    const body = toErrorResponse(error)
    log.log('ERROR', body, { errorType: body.errorType, errorMessage: body.errorMessage })
    if (parentPort !== null) {
      // In a worker thread: the dispatcher reports the init failure once for all workers.
      parentPort.postMessage({ type: 'init-error', error: body } satisfies WorkerMessage)
    } else {
      await reportInitError(config.runtimeApi, body)
    }
    return 1
  }
  if (role !== undefined) {
    const executor = new Executor({
      runtimeApi: config.runtimeApi,
      handler,
      functionInfo: config.functionInfo,
      log,
      concurrency: config.concurrency,
      sequential: false,
      fenceRequests: config.fenceRequests,
    })
    return serveWorker(executor, log, role)
  }
  // Loaded here, not at the top: worker threads that run handlers never poll, and load no
  // HTTP client.
  const { Runtime } = await import('./scheduler/runtime.ts')
  const runtime = new Runtime({
    runtimeApi: config.runtimeApi,
    handler,
    concurrency: config.concurrency,
    sequential: !config.concurrent,
    functionInfo: config.functionInfo,
    log,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    fenceRequests: config.fenceRequests,
  })
  const removeStopSignals = onStopSignals(log, () => runtime.stop())
  await runtime.start()
  removeStopSignals()
  return runtime.exitCode
}

/**
 * The dispatcher thread: it loads no handler and runs no handler code; it starts the workers
 * that do, polls the Runtime API, routes each invocation to a worker and posts the answers.
 * The main thread tells it to stop.
 */
async function serveFromWorkers(
  config: RuntimeConfig,
  data: DispatcherData,
  log: RuntimeLog,
): Promise<number> {
  const { Runtime } = await import('./scheduler/runtime.ts')
  let started: Awaited<ReturnType<typeof WorkerExecutors.start>>
  try {
    started = await WorkerExecutors.start({
      workers: data.workers,
      concurrency: config.concurrency,
      handlerArg: data.handlerArg,
      log,
    })
  } catch (error) {
    process.stderr.write(`lmi-runtime: ${describeValue(error)}\n`)
    await reportInitError(config.runtimeApi, toErrorResponse(error))
    return 1
  }
  if ('initError' in started) {
    await reportInitError(config.runtimeApi, started.initError)
    return 1
  }
  const runtime = new Runtime({
    runtimeApi: config.runtimeApi,
    executors: started.executors,
    concurrency: config.concurrency,
    functionInfo: config.functionInfo,
    log,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  })
  parentPort?.on('message', (message: { type?: string }) => {
    if (message.type === 'stop') void runtime.stop()
  })
  await runtime.start()
  return runtime.exitCode
}

/**
 * Entry point of the `lmi-runtime` bin: starts the runtime from the environment and exits
 * with its exit code once it has stopped.
 *
 * @example
 * ```ts
 * // AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 _HANDLER=index.handler node bin/lmi-runtime.js
 * await runRuntime()
 * ```
 */
export async function runRuntime(handlerArg?: string): Promise<never> {
  const code = await bootstrap(process.env, handlerArg)
  // Handlers that ignored their deadline may still hold timers; the runtime is done with them.
  process.exit(code)
}

async function reportInitError(runtimeApi: string, error: ErrorResponse): Promise<void> {
  const { RuntimeApiClient } = await import('./client/runtime-api.ts')
  const client = new RuntimeApiClient(runtimeApi)
  try {
    await client.postInitError(error)
  } catch (postError) {
    process.stderr.write(
      `lmi-runtime: could not report the init error: ${describeValue(postError)}\n`,
    )
  } finally {
    await client.close()
  }
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out
}

/**
 * A closed stdout or stderr (EPIPE: whoever read the logs is gone — a parent `lmi dev` or
 * `lmi check` that died) ends the process. Left alone, the write error becomes an uncaught
 * exception whose report is another write to the same closed pipe, in a loop.
 */
function exitWhenLogsClose(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', function onLogStreamError(error: NodeJS.ErrnoException) {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') process.exit(1)
    })
  }
}
