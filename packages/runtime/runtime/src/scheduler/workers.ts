import { once } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parentPort, Worker } from 'node:worker_threads'
import { type ErrorResponse, InvalidConfigurationError, LmiError, toErrorResponse } from '@lmi/core'
import { rawSetImmediate } from '@lmi/core/internal'
import { ShutdownTimeoutError } from '../errors.ts'
import type { RuntimeLog } from '../log/log.ts'
import type { Answer, Executor, Job } from './executor.ts'
import type { DispatchedJob, Executors } from './runtime.ts'
import {
  onStopSignals,
  runShutdownHooksWithin,
  SHUTDOWN_HOOKS_TIMEOUT_MS,
  settlesWithin,
} from './shutdown.ts'

/** What a worker sends to the main thread. */
export type WorkerMessage =
  | { type: 'ready'; streaming: boolean }
  | { type: 'init-error'; error: ErrorResponse }
  | { type: 'started' }
  | { type: 'answers'; answers: Array<[id: number, answer: Answer]>; lingering: number }
  | { type: 'fault' }

/** What the main thread sends to a worker. */
export type MainMessage =
  | { type: 'job'; id: number; job: Job }
  | { type: 'cancel'; budgetMs: number }
  | { type: 'stop' }

/** What a worker thread is told at start: which of the two roles it has. */
export type WorkerData = DispatcherData | ExecutorData

/** The thread that polls, routes and answers (see {@link superviseDispatcher}). */
export interface DispatcherData {
  role: 'dispatcher'
  workers: number
  handlerArg: string | undefined
}

/** A thread that runs handlers (see {@link serveWorker}). */
export interface ExecutorData {
  role: 'executor'
  handlerArg: string | undefined
  /** See {@link Started}. */
  started: SharedArrayBuffer
}

/**
 * How a worker tells the main thread that a job's synchronous part has run, without a message
 * per job: `[STARTED]` counts the jobs it has started; the main thread compares it with the
 * jobs it sent. Only when the main thread has work it cannot place does it set `[WAITING]`,
 * and the next start then also sends a `started` message to wake it.
 */
const STARTED = 0
const WAITING = 1
type Started = Int32Array

/**
 * How many worker threads run handlers when `LMI_WORKERS` is unset.
 *
 * Classic Lambda (concurrency 1): none, the handler runs on the runtime's own loop. Concurrent
 * (LMI): one per two whole CPUs of the cgroup quota, and at least two, never more than the
 * concurrency. Two, because an invocation that blocks its event loop (synchronous CPU work)
 * then blocks only the invocations already on that loop: the runtime's loop, which runs no
 * handler code, routes new ones to the other and answers at their deadline for those it holds.
 * Measured on 2 vCPUs: runtime README, "Worker threads".
 *
 * @example
 * ```ts
 * defaultWorkerCount(2, 64) // 2
 * defaultWorkerCount(8, 64) // 4
 * defaultWorkerCount(2, 1) // 0: classic Lambda, one invocation at a time
 * ```
 */
export function defaultWorkerCount(cpus: number, concurrency: number): number {
  if (concurrency <= 1) return 0
  return Math.min(Math.max(2, Math.floor(cpus / 2)), concurrency)
}

/**
 * Reads `LMI_WORKERS` (0, no worker threads, or a positive integer, at most the concurrency) or
 * falls back to {@link defaultWorkerCount}.
 *
 * @example
 * ```ts
 * workerCountFromEnv({ LMI_WORKERS: '0' }, 2, 64) // 0: handlers on the main thread
 * ```
 */
export function workerCountFromEnv(
  env: NodeJS.ProcessEnv,
  cpus: number,
  concurrency: number,
): number {
  const raw = env.LMI_WORKERS
  if (raw === undefined || raw.trim() === '') return defaultWorkerCount(cpus, concurrency)
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidConfigurationError(`LMI_WORKERS must be 0 or a positive integer, got "${raw}"`)
  }
  return Math.min(value, concurrency)
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
      'Worker threads need lmi-runtime as an ES module (bin/lmi-runtime.js or the layer); this ' +
        'copy was bundled to CommonJS, where they cannot find their entry: set LMI_WORKERS=0',
    )
  }
  return new URL(`./worker-entry${extname(fileURLToPath(url))}`, url)
}

/**
 * The young generation of the dispatcher's V8 heap, in MB. The dispatcher's allocations (HTTP
 * parsing, per-invocation records) die young; left alone, V8 grows a busy isolate's young
 * generation to 64 MB (Node 24), which is most of what the runtime's memory grows by under
 * load. Measured in the runtime README, "Worker threads".
 */
export const DISPATCHER_YOUNG_GENERATION_MB = 8

/**
 * With worker threads, the main thread only supervises: it starts the dispatcher thread
 * (which starts the workers that run handlers), forwards SIGTERM/SIGINT to it and resolves
 * with its exit code. Nothing runs on the main thread that could keep a signal waiting.
 *
 * @example
 * ```ts
 * process.exitCode = await superviseDispatcher({ workers: 2, handlerArg: undefined, log })
 * ```
 */
export async function superviseDispatcher(options: {
  workers: number
  handlerArg: string | undefined
  log: RuntimeLog
}): Promise<number> {
  const data: DispatcherData = {
    role: 'dispatcher',
    workers: options.workers,
    handlerArg: options.handlerArg,
  }
  const worker = new Worker(workerEntry(), {
    workerData: data,
    stdout: false,
    stderr: false,
    resourceLimits: { maxYoungGenerationSizeMb: DISPATCHER_YOUNG_GENERATION_MB },
  })
  worker.on('error', (error) => {
    options.log.log('FATAL', `Dispatcher thread failed: ${String(error)}`, {
      code: 'LMI_WORKER_FAILED',
    })
  })
  const exited = once(worker, 'exit') as Promise<[number]>
  const removeStopSignals = onStopSignals(options.log, () => worker.postMessage({ type: 'stop' }))
  const [code] = await exited
  removeStopSignals()
  return code
}

/**
 * A worker thread failed (crashed, or exited while running invocations): the answer to each
 * invocation it held.
 *
 * @example
 * ```ts
 * // a native addon aborts the worker thread mid-invocation
 * // => { errorType: 'Runtime.WorkerFailed', errorMessage: 'The worker thread running this invocation stopped (exit code 1)' }
 * ```
 */
export class WorkerFailedError extends LmiError {
  constructor(detail: string) {
    super(`The worker thread running this invocation stopped (${detail})`, 'LMI_WORKER_FAILED')
    this.name = 'Runtime.WorkerFailed'
  }
}

interface Thread {
  worker: Worker
  /** Invocations it runs. */
  inFlight: number
  /** Jobs sent to it. */
  sent: number
  /** `[STARTED]`: jobs it has started; `[WAITING]`: the main thread waits for one to start. */
  started: Started
  exited: Promise<void>
  alive: boolean
  /** Its handlers still running after their invocation ended, as it last reported. */
  lingering: number
}

interface Pending {
  id: number
  job: DispatchedJob
  resolve: (answer: Answer) => void
  thread: Thread | undefined
}

/**
 * Handlers in worker threads, the runtime's loop only polling, routing and answering.
 *
 * Routing: a job goes to the first worker whose jobs have all started — a worker counts a job
 * started once the handler's synchronous part has run. A worker whose loop is blocked starts
 * nothing, so it is sent at most one job more; the rest wait on the main thread (where the
 * deadline still answers them) or go to a worker that is free.
 *
 * @example
 * ```ts
 * const started = await WorkerExecutors.start({ workers: 2, concurrency: 64, handlerArg, log })
 * if ('initError' in started) await client.postInitError(started.initError)
 * else await new Runtime({ runtimeApi, concurrency: 64, functionInfo, log, executors: started.executors }).start()
 * ```
 */
export class WorkerExecutors implements Executors {
  readonly isolated = true
  readonly #threads: Thread[]
  readonly #log: RuntimeLog
  readonly #pending = new Map<number, Pending>()
  readonly #queue: Pending[] = []
  #queueHead = 0
  #nextId = 0
  #streaming = false
  #closing = false
  #onFault: () => void = () => {}

  private constructor(threads: Thread[], log: RuntimeLog) {
    this.#threads = threads
    this.#log = log
  }

  /**
   * Starts `workers` threads, each loading the handler, and resolves once all are ready — or
   * with the first one's init error (the others are then stopped).
   */
  static async start(options: {
    workers: number
    handlerArg: string | undefined
    log: RuntimeLog
  }): Promise<{ executors: WorkerExecutors } | { initError: ErrorResponse }> {
    const entry = workerEntry()
    const threads: Thread[] = []
    const executors = new WorkerExecutors(threads, options.log)
    const ready = await Promise.all(
      Array.from({ length: options.workers }, () => {
        const started = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT)
        const data: ExecutorData = { role: 'executor', handlerArg: options.handlerArg, started }
        const worker = new Worker(entry, { workerData: data, stdout: false, stderr: false })
        const thread: Thread = {
          worker,
          inFlight: 0,
          sent: 0,
          started: new Int32Array(started),
          alive: true,
          lingering: 0,
          exited: new Promise((resolve) => worker.once('exit', () => resolve())),
        }
        threads.push(thread)
        return executors.#whenReady(thread)
      }),
    )
    const failure = ready.find((result) => result !== true)
    if (failure === undefined) {
      for (const thread of threads) executors.#serve(thread)
      return { executors }
    }
    for (const thread of threads) void thread.worker.terminate()
    return { initError: failure }
  }

  #whenReady(thread: Thread): Promise<true | ErrorResponse> {
    return new Promise((resolve) => {
      const onMessage = (message: WorkerMessage) => {
        if (message.type === 'ready') {
          this.#streaming = message.streaming
          done(true)
        } else if (message.type === 'init-error') done(message.error)
      }
      const onExit = (code: number) =>
        done(toErrorResponse(new WorkerFailedError(`exit code ${code} while initialising`)))
      const onError = (error: unknown) => done(toErrorResponse(error))
      const done = (result: true | ErrorResponse) => {
        thread.worker.off('message', onMessage)
        thread.worker.off('exit', onExit)
        thread.worker.off('error', onError)
        resolve(result)
      }
      thread.worker.on('message', onMessage)
      thread.worker.on('exit', onExit)
      thread.worker.on('error', onError)
    })
  }

  #serve(thread: Thread): void {
    thread.worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'started':
          this.#pump()
          return
        case 'answers': {
          thread.lingering = message.lingering
          for (const [id, answer] of message.answers) {
            const pending = this.#pending.get(id)
            if (pending === undefined) continue
            this.#pending.delete(id)
            thread.inFlight--
            pending.resolve(answer)
          }
          if (this.#queueHead < this.#queue.length) this.#pump()
          return
        }
        case 'fault':
          this.#onFault()
          return
      }
    })
    thread.worker.on('error', (error) => {
      this.#log.log('FATAL', `Worker thread failed: ${String(error)}`, {
        code: 'LMI_WORKER_FAILED',
      })
    })
    thread.worker.on('exit', (code) => {
      thread.alive = false
      if (this.#closing && code === 0) return
      // Whatever it held is answered now; the runtime stops, as after an unattributable fault.
      const error = new WorkerFailedError(`exit code ${code}`)
      for (const [id, pending] of this.#pending) {
        if (pending.thread !== thread) continue
        this.#pending.delete(id)
        pending.resolve({ type: 'error', error: toErrorResponse(error), timedOut: false })
      }
      if (!this.#closing) this.#onFault()
      this.#pump()
    })
  }

  get streaming(): boolean {
    return this.#streaming
  }

  start(onFault: () => void): void {
    this.#onFault = onFault
  }

  execute(job: DispatchedJob): Promise<Answer> {
    const { promise, resolve } = Promise.withResolvers<Answer>()
    const pending: Pending = { id: this.#nextId++, job, resolve, thread: undefined }
    this.#pending.set(pending.id, pending)
    this.#queue.push(pending)
    this.#pump()
    return promise
  }

  /** Sends queued jobs to free workers, in arrival order. */
  #pump(): void {
    while (this.#queueHead < this.#queue.length) {
      const pending = this.#queue[this.#queueHead] as Pending
      if (pending.job.withdrawn) {
        // The runtime answered it while it waited (its deadline, the shutdown budget).
        this.#dequeue()
        this.#pending.delete(pending.id)
        continue
      }
      const thread = this.#freeThread() ?? this.#waitForStart()
      if (thread === undefined) return
      this.#dequeue()
      this.#send(thread, pending)
    }
  }

  #dequeue(): void {
    this.#queueHead++
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead)
      this.#queueHead = 0
    }
  }

  /**
   * The first worker (in start order) whose jobs have all started: work concentrates on the
   * first workers while they keep up, so the others stay small (an idle V8 heap does not grow),
   * and spreads as soon as one is busy running a job's synchronous part — or blocked.
   */
  #freeThread(): Thread | undefined {
    for (const thread of this.#threads) {
      if (thread.alive && Atomics.load(thread.started, STARTED) === thread.sent) return thread
    }
    return undefined
  }

  /**
   * No worker is free: ask each to send a `started` message at its next start, then look
   * again (a start between the first look and the request would otherwise go unnoticed).
   */
  #waitForStart(): Thread | undefined {
    for (const thread of this.#threads) {
      if (thread.alive) Atomics.store(thread.started, WAITING, 1)
    }
    return this.#freeThread()
  }

  #send(thread: Thread, pending: Pending): void {
    pending.thread = thread
    thread.inFlight++
    thread.sent++
    const { next, payload, timeoutMs } = pending.job
    const message: MainMessage = { type: 'job', id: pending.id, job: { next, payload, timeoutMs } }
    thread.worker.postMessage(message)
  }

  cancelAll(error: Error): void {
    const budgetMs = error instanceof ShutdownTimeoutError ? error.budgetMs : 0
    for (const thread of this.#threads) {
      if (thread.alive)
        thread.worker.postMessage({ type: 'cancel', budgetMs } satisfies MainMessage)
    }
  }

  /**
   * Tells every worker to run its shutdown hooks and end; one that has not ended after the
   * hooks' bound (and a little more, for its own teardown) is terminated.
   */
  async close(): Promise<void> {
    this.#closing = true
    for (const thread of this.#threads) {
      if (thread.alive) thread.worker.postMessage({ type: 'stop' } satisfies MainMessage)
    }
    const exited = Promise.all(this.#threads.map((thread) => thread.exited))
    if (await settlesWithin(exited, SHUTDOWN_HOOKS_TIMEOUT_MS + 500)) return
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()))
  }

  lingering(): number {
    let total = 0
    for (const thread of this.#threads) total += thread.lingering
    return total
  }
}

/**
 * The worker thread's side of {@link WorkerExecutors}: runs the jobs the main thread sends on
 * `executor`, reports each once its synchronous part has run, then its answer. Resolves with
 * the thread's exit code once told to stop (after this thread's shutdown hooks).
 *
 * @example
 * ```ts
 * const code = await serveWorker(new Executor({ runtimeApi, handler, functionInfo, log, concurrency, sequential: false }), log)
 * ```
 */
export function serveWorker(
  executor: Executor,
  log: RuntimeLog,
  data: ExecutorData,
): Promise<number> {
  const port = parentPort
  if (port === null) throw new LmiError('serveWorker() runs in a worker thread', 'LMI_NOT_A_WORKER')
  const started: Started = new Int32Array(data.started)
  const { promise, resolve } = Promise.withResolvers<number>()
  const post = (message: WorkerMessage) => port.postMessage(message)
  // Answers that settle in one turn of the loop (timers due together, I/O read together) go
  // in one message: one wake-up of the dispatcher, not one each.
  let answers: Array<[number, Answer]> = []
  const flush = () => {
    const batch = answers
    answers = []
    post({ type: 'answers', answers: batch, lingering: executor.lingering })
  }
  const answered = (id: number, answer: Answer) => {
    if (answers.push([id, answer]) === 1) rawSetImmediate(flush)
  }
  executor.start(() => post({ type: 'fault' }))
  port.on('message', (message: MainMessage) => {
    switch (message.type) {
      case 'job': {
        const answer = executor.execute(message.job)
        Atomics.add(started, STARTED, 1)
        if (Atomics.load(started, WAITING) === 1) {
          Atomics.store(started, WAITING, 0)
          post({ type: 'started' })
        }
        void answer.then((value) => answered(message.id, value))
        return
      }
      case 'cancel':
        executor.cancelAll(new ShutdownTimeoutError(message.budgetMs))
        return
      case 'stop':
        void runShutdownHooksWithin(log).then(() => {
          executor.close()
          port.close()
          resolve(0)
        })
        return
    }
  })
  post({ type: 'ready', streaming: executor.streaming })
  return promise
}
