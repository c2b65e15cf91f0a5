// Entry of a worker thread: the dispatcher (started by superviseDispatcher()) or a thread that
// runs handlers (started by the dispatcher's WorkerExecutors); workerData says which role.
// The main thread starts from bootstrap.ts; both read the configuration (config.ts) and ready
// the handler's thread (handler/prepare.ts) the same way.
import { parentPort, workerData } from 'node:worker_threads'
import { toErrorResponse } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'
import { reportInitError } from '../client/init-error.ts'
import { type RuntimeConfig, startupConfig } from '../config.ts'
import { prepareHandler } from '../handler/prepare.ts'
import { exitWhenLogsClose, RuntimeLog } from '../log/log.ts'
import { Executor } from './executor.ts'
import {
  type DispatcherData,
  type ExecutorData,
  serveWorker,
  type WorkerData,
  WorkerExecutors,
  type WorkerMessage,
} from './workers.ts'

async function startWorkerThread(env: NodeJS.ProcessEnv, data: WorkerData): Promise<number> {
  const config = await startupConfig(env, data.handlerArg)
  if (config === undefined) return 1
  exitWhenLogsClose()
  const log = new RuntimeLog(config.log)
  if (data.role === 'dispatcher') return serveFromWorkers(config, data, log)
  return serveHandlers(config, data, log, env)
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
  // Loaded here, not at the top: the threads that run handlers start from this module too,
  // and load no HTTP client.
  const { Runtime } = await import('./runtime.ts')
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

/** A thread that runs handlers: loads the handler, then runs the jobs the dispatcher sends. */
async function serveHandlers(
  config: RuntimeConfig,
  data: ExecutorData,
  log: RuntimeLog,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const handler = await prepareHandler(config, log, env, (error) => {
    // The dispatcher reports the init failure once for all workers.
    parentPort?.postMessage({ type: 'init-error', error } satisfies WorkerMessage)
  })
  if (handler === undefined) return 1
  const executor = new Executor({
    runtimeApi: config.runtimeApi,
    handler,
    functionInfo: config.functionInfo,
    log,
    concurrency: config.concurrency,
    sequential: false,
    fenceRequests: config.fenceRequests,
  })
  return serveWorker(executor, log, data)
}

const code = await startWorkerThread(process.env, workerData as WorkerData)
process.exit(code)
