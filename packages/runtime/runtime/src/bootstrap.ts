// The main thread's start: the `lmi-runtime` bin, the exec wrapper and the layer run this.
// Worker threads start from scheduler/worker-entry.ts; both read the configuration
// (config.ts) and ready the handler's thread (handler/prepare.ts) the same way.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { toErrorResponse } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'
import { reportInitError } from './client/init-error.ts'
import { startupConfig } from './config.ts'
import { CODES } from './errors.ts'
import { prepareHandler } from './handler/prepare.ts'
import { exitWhenLogsClose, RuntimeLog } from './log/log.ts'
import { onStopSignals } from './scheduler/shutdown.ts'
import {
  canStartWorkers,
  superviseDispatcher,
  type WorkerCount,
  workerCountFromEnv,
} from './scheduler/workers.ts'

export { type RuntimeConfig, runtimeConfigFromEnv } from './config.ts'
export { installAwsLambdaGlobal } from './handler/prepare.ts'

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
 * Starts the runtime from the environment: loads the handler (reporting a failure to
 * `/runtime/init/error`), then serves invocations until SIGTERM/SIGINT. Resolves with the
 * process exit code. With worker threads, this thread only supervises: the dispatcher thread
 * polls and the workers run the handler (`scheduler/worker-entry.ts`).
 *
 * @example
 * ```ts
 * process.exitCode = await bootstrap(process.env, process.argv[2])
 * ```
 */
export async function bootstrap(env: NodeJS.ProcessEnv, handlerArg?: string): Promise<number> {
  const config = await startupConfig(env, handlerArg)
  if (config === undefined) return 1
  exitWhenLogsClose()
  const log = new RuntimeLog(config.log)
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
      { code: CODES.WORKERS_UNAVAILABLE },
    )
    workers = { count: 0, from: workers.from }
  }
  // Once, like the worker-pool line of AWS's runtimes (shown with AWS_LAMBDA_LOG_LEVEL=DEBUG).
  log.log(
    'DEBUG',
    `Starting: ${workers.count} worker thread(s) (${workers.from}), max concurrency ${config.concurrency}, ${config.concurrent ? 'concurrent (LMI)' : 'classic'} mode`,
    {
      code: CODES.RUNTIME_STARTING,
      workers: workers.count,
      workersFrom: workers.from,
      maxConcurrency: config.concurrency,
      concurrent: config.concurrent,
    },
  )
  if (workers.count > 0) {
    return superviseDispatcher({ workers: workers.count, handlerArg, log })
  }
  const handler = await prepareHandler(config, log, env, (error) =>
    reportInitError(config.runtimeApi, error),
  )
  if (handler === undefined) return 1
  // Loaded here, not at the top: a main thread that supervises worker threads never polls, and
  // loads no HTTP client.
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
