import { once } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { type ErrorResponse, InvalidConfigurationError } from '@lmi/core'
import { RuntimeApiClient } from '../client/runtime-api.ts'
import type { RuntimeLog } from '../log/log.ts'
import { onStopSignals } from './shutdown.ts'

/** Messages a worker sends to the main thread. */
export type WorkerMessage = { type: 'init-error'; error: ErrorResponse } | { type: 'ready' }

/** What the main thread tells a worker at start. */
export interface WorkerData {
  slots: number
  handlerArg: string | undefined
}

/**
 * How many worker threads serve invocations when `LMI_WORKERS` is unset: one per two whole
 * CPUs of the cgroup quota (Lambda sizes an execution environment in vCPUs through it), at
 * least one, never more than the concurrency.
 *
 * Measured on 2 vCPUs (bench/README.md): for I/O-bound handlers one event loop serves the
 * Runtime API at the machine's limit, and a second worker only costs — 1.57× the peak RSS,
 * 1.37× the CPU per invocation, 0.88× the throughput. A CPU-bound handler gains 1.44×
 * throughput from a loop per vCPU; set `LMI_WORKERS` to the vCPU count for those. Half the
 * vCPUs leaves the other half to what an I/O-bound function also needs (GC threads, libuv's
 * pool, the network stack).
 */
export function defaultWorkerCount(cpus: number, concurrency: number): number {
  return Math.max(1, Math.min(Math.floor(cpus / 2), concurrency))
}

/** Reads `LMI_WORKERS` (a positive integer) or falls back to {@link defaultWorkerCount}. */
export function workerCountFromEnv(
  env: NodeJS.ProcessEnv,
  cpus: number,
  concurrency: number,
): number {
  const raw = env.LMI_WORKERS
  if (raw === undefined || raw.trim() === '') return defaultWorkerCount(cpus, concurrency)
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidConfigurationError(`LMI_WORKERS must be a positive integer, got "${raw}"`)
  }
  return Math.min(value, concurrency)
}

/** Splits `concurrency` slots over `workers` as evenly as possible. */
export function splitSlots(concurrency: number, workers: number): number[] {
  const base = Math.floor(concurrency / workers)
  const extra = concurrency % workers
  return Array.from({ length: workers }, (_, index) => base + (index < extra ? 1 : 0))
}

/**
 * `worker-entry` beside this module: `.ts` under src/ in development, `.js` in dist/, `.mjs` in
 * the layer. Resolved when workers start, not at load: a CommonJS bundle of this module has an
 * empty `import.meta`, and that must not stop a runtime that runs without workers.
 */
function workerEntry(): URL {
  const url: unknown = import.meta.url
  if (typeof url !== 'string') {
    throw new InvalidConfigurationError(
      'LMI_WORKERS needs lmi-runtime as an ES module (bin/lmi-runtime.js or the layer); this copy ' +
        'was bundled to CommonJS, where worker threads cannot find their entry',
    )
  }
  return new URL(`./worker-entry${extname(fileURLToPath(url))}`, url)
}

/**
 * Runs the runtime in `workers` worker threads, each with its share of the slots and its own
 * connections, handler instance and fault containment. The main thread only forwards
 * SIGTERM/SIGINT and reports an init failure once. Resolves with the exit code: 0 after a
 * clean shutdown, 1 if a worker failed to initialise or stopped on an unattributable fault
 * (the others are then drained too).
 *
 * @example
 * ```ts
 * process.exitCode = await runWorkers({ runtimeApi, concurrency: 64, workers: 2, log })
 * ```
 */
export async function runWorkers(options: {
  runtimeApi: string
  concurrency: number
  workers: number
  handlerArg: string | undefined
  log: RuntimeLog
}): Promise<number> {
  const { log } = options
  const entry = workerEntry()
  const threads = splitSlots(options.concurrency, options.workers).map((slots) => {
    const data: WorkerData = { slots, handlerArg: options.handlerArg }
    return new Worker(entry, { workerData: data, stdout: false, stderr: false })
  })
  let initReport: Promise<unknown> | undefined
  let exitCode = 0
  const stopAll = () => {
    for (const thread of threads) thread.postMessage({ type: 'stop' })
  }
  for (const thread of threads) {
    thread.on('message', (message: WorkerMessage) => {
      if (message.type !== 'init-error' || initReport !== undefined) return
      exitCode = 1
      const client = new RuntimeApiClient(options.runtimeApi)
      initReport = client
        .postInitError(message.error)
        .catch(() => {})
        .finally(() => client.close())
      stopAll()
    })
    thread.on('error', (error) => {
      log.log('FATAL', `Worker thread failed: ${String(error)}`, { code: 'LMI_WORKER_FAILED' })
    })
  }
  const removeStopSignals = onStopSignals(log, stopAll)
  await Promise.all(
    threads.map(async (thread) => {
      const [code] = (await once(thread, 'exit')) as [number]
      if (code !== 0) {
        exitCode = 1
        stopAll()
      }
    }),
  )
  removeStopSignals()
  // The process exits right after: the init error must have reached the Runtime API first.
  await initReport
  return exitCode
}
