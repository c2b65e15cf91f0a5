import { once } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parentPort, Worker } from 'node:worker_threads'
import { type ErrorResponse, InvalidConfigurationError, LmiError, toErrorResponse } from '@lmi/core'
import { parseInteger, rawClearTimeout, rawSetImmediate, rawSetTimeout } from '@lmi/core/internal'
import type { Answer } from '../client/answer.ts'
import { CODES, ShutdownTimeoutError, WorkerFailedError } from '../errors.ts'
import type { RuntimeLog } from '../log/log.ts'
import type { Executor, Job, LateWork } from './executor.ts'
import type { DispatchedJob, Executors } from './runtime.ts'
import {
  onStopSignals,
  runShutdownHooksWithin,
  type ShutdownPlan,
  settlesWithin,
} from './shutdown.ts'

/** What a worker thread running handlers sends to the dispatcher. */
export type WorkerMessage =
  | { type: 'ready'; streaming: boolean }
  | { type: 'init-error'; error: ErrorResponse }
  | { type: 'answers'; answers: Array<[id: number, answer: Answer]>; late: LateWork }
  | { type: 'fault' }

/** What the dispatcher sends to a worker thread running handlers. */
export type MainMessage =
  | { type: 'jobs'; jobs: Array<[claim: number, id: number, job: Job]> }
  | { type: 'cancel'; budgetMs: number; totalMs: number }
  | { type: 'stop'; hooksMs: number }

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
  /** See {@link Shared}. */
  shared: SharedArrayBuffer
}

/**
 * Memory a worker shares with the dispatcher, as an `Int32Array`:
 *
 * - `[PROCESSED]`: `jobs` messages the worker has handled — how the dispatcher sees that its
 *   loop is alive;
 * - `[STARTED]`: jobs it has started;
 * - from `[CLAIMS]` on, one cell per job sent and not yet answered: the job's id while it waits
 *   in the worker's queue, {@link CLAIM_STARTED} once the worker has claimed it. The dispatcher
 *   takes a waiting job back by swapping its id for {@link CLAIM_FREE}; the worker starts one
 *   only by swapping its id for {@link CLAIM_STARTED}. One of the two wins: a job runs once.
 */
type Shared = Int32Array
const PROCESSED = 0
const STARTED = 1
const CLAIMS = 2
const CLAIM_FREE = 0
const CLAIM_STARTED = -1

/**
 * How often the dispatcher looks for a worker whose loop is blocked: one that has handled none
 * of the job messages it was sent since the last look. Its waiting jobs are then taken back
 * and run elsewhere.
 */
export const STALL_CHECK_MS = 10

/**
 * A worker stalled this long is logged (`LMI_WORKER_BLOCKED`): shorter stalls are a busy
 * loop's ordinary work (a large event to parse), handled by moving jobs, not worth a line.
 */
export const BLOCKED_LOG_MS = 1000

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
 * The worker count the runtime uses, and where it comes from.
 *
 * @example
 * ```ts
 * const { count, from } = workerCountFromEnv(process.env, cpuQuota(), 64)
 * ```
 */
export interface WorkerCount {
  count: number
  from: 'LMI_WORKERS' | 'AWS_LAMBDA_NODEJS_WORKER_COUNT' | 'default'
}

/**
 * Reads `LMI_WORKERS` (0, no worker threads, or a positive integer), else AWS's
 * `AWS_LAMBDA_NODEJS_WORKER_COUNT` (a positive integer: a template written for AWS's runtime
 * keeps its setting), else {@link defaultWorkerCount}; never more than the concurrency.
 *
 * @example
 * ```ts
 * workerCountFromEnv({ LMI_WORKERS: '0' }, 2, 64) // { count: 0, from: 'LMI_WORKERS' }
 * workerCountFromEnv({ AWS_LAMBDA_NODEJS_WORKER_COUNT: '4' }, 2, 64) // { count: 4, from: 'AWS_LAMBDA_NODEJS_WORKER_COUNT' }
 * ```
 */
export function workerCountFromEnv(
  env: NodeJS.ProcessEnv,
  cpus: number,
  concurrency: number,
): WorkerCount {
  const lmi = parseInteger(env.LMI_WORKERS, 'LMI_WORKERS', {
    min: 0,
    // Worded as the setting is documented: 0 is "no worker threads", not just a number.
    fail: () =>
      new InvalidConfigurationError(
        `LMI_WORKERS must be 0 or a positive integer, got "${env.LMI_WORKERS}"`,
      ),
  })
  if (lmi !== undefined) return { count: Math.min(lmi, concurrency), from: 'LMI_WORKERS' }
  const aws = parseInteger(env.AWS_LAMBDA_NODEJS_WORKER_COUNT, 'AWS_LAMBDA_NODEJS_WORKER_COUNT')
  if (aws !== undefined) {
    return { count: Math.min(aws, concurrency), from: 'AWS_LAMBDA_NODEJS_WORKER_COUNT' }
  }
  return { count: defaultWorkerCount(cpus, concurrency), from: 'default' }
}

/**
 * Whether this copy of the runtime can start worker threads: not when bundled to CommonJS,
 * where `import.meta` is empty and the worker entry cannot be found.
 *
 * @example
 * ```ts
 * if (!canStartWorkers()) workers = 0
 * ```
 */
export function canStartWorkers(): boolean {
  return typeof import.meta.url === 'string'
}

/**
 * `worker-entry` beside this module: `.ts` under src/ in development, `.js` in dist/, `.mjs` in
 * the layer. Resolved when workers start, not at load: a CommonJS bundle of this module has an
 * empty `import.meta`, and that must not stop a runtime that runs without workers.
 */
function workerEntry(): URL {
  const url: unknown = import.meta.url
  if (!canStartWorkers()) {
    throw new InvalidConfigurationError(
      'Worker threads need lmi-runtime as an ES module (bin/lmi-runtime.js or the layer); this ' +
        'copy was bundled to CommonJS, where they cannot find their entry: set LMI_WORKERS=0',
    )
  }
  return new URL(`./worker-entry${extname(fileURLToPath(url as string))}`, url as string)
}

/**
 * The young generation of the dispatcher's V8 heap, in MB. The dispatcher's allocations (HTTP
 * parsing, per-invocation records) die young; left alone, V8 grows a busy isolate's young
 * generation to 64 MB (Node 24), which is most of what the runtime's memory grows by under
 * load. Measured in the runtime README, "Worker threads".
 */
export const DISPATCHER_YOUNG_GENERATION_MB = 8

/**
 * The young generation of each worker's V8 heap, in MB. Left to V8, a busy isolate's young
 * generation grows to 64 MB (Node 24) and its old generation fills with promoted garbage long
 * before a full collection: in `pnpm bench:soak` the process grew past AWS's runtime (from
 * 180 to 400 MB over 400,000 invocations, still growing) with two workers. With 16 MB it stays
 * flat (232 MB from 280,000 on), the live heap unchanged. The old generation is not limited.
 */
export const WORKER_YOUNG_GENERATION_MB = 16

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
      code: CODES.WORKER_FAILED,
    })
  })
  const exited = once(worker, 'exit') as Promise<[number]>
  const removeStopSignals = onStopSignals(options.log, () => worker.postMessage({ type: 'stop' }))
  const [code] = await exited
  removeStopSignals()
  return code
}

interface Thread {
  worker: Worker
  shared: Shared
  /** Free claim cells. */
  free: number[]
  /** Jobs queued for its next `jobs` message (sent at the end of this turn of the loop). */
  outbox: Array<[claim: number, id: number, job: Job]>
  /** Its jobs not answered yet, by id: claim cell and whom to answer. */
  held: Map<number, Pending>
  /** Jobs sent to it (ever), and of those taken back. */
  sent: number
  reclaimed: number
  /** `jobs` messages posted to it; at the last stall check, those and `[PROCESSED]`. */
  posted: number
  postedAtCheck: number
  processedAtCheck: number
  /** Handled no message between two stall checks: sent no job until it handles one. */
  stalled: boolean
  /** When it was first seen stalled, and whether that was logged (after {@link BLOCKED_LOG_MS}). */
  stalledAt: number
  reported: boolean
  alive: boolean
  exited: Promise<void>
  /** Its handlers' work after their invocation ended, as it last reported. */
  late: LateWork
}

interface Pending {
  id: number
  job: DispatchedJob
  resolve: (answer: Answer) => void
  claim: number
  /** Taken back once from a stalled worker: it stays where it goes next. */
  moved: boolean
}

/**
 * Handlers in worker threads, the dispatcher's loop only polling, routing and answering.
 *
 * Routing: a job goes to the worker with the fewest jobs sent but not started (the first one
 * on a tie, so light traffic stays on one worker), in one `jobs` message per worker per turn
 * of the loop. A worker whose loop is blocked starts nothing: every {@link STALL_CHECK_MS} the
 * dispatcher takes back the jobs a worker has not started if it has handled none of its
 * messages since the last look, runs them elsewhere, and sends it nothing until it handles one.
 * Only the invocations a loop had already started when it blocked wait for it — and those the
 * dispatcher answers at their deadline.
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
  /** Jobs no worker could take yet (all stalled), oldest first. */
  #queue: Pending[] = []
  #nextId = 1
  #streaming = false
  #closing = false
  #flushScheduled = false
  #stallTimer: NodeJS.Timeout | undefined
  #onFault: () => void = () => {}

  private constructor(threads: Thread[], log: RuntimeLog) {
    this.#threads = threads
    this.#log = log
  }

  /**
   * Starts `workers` threads, each loading the handler, and resolves once all are ready — or
   * with the first one's init error (the others are then stopped). `concurrency` bounds the
   * jobs a worker can hold.
   */
  static async start(options: {
    workers: number
    concurrency: number
    handlerArg: string | undefined
    log: RuntimeLog
  }): Promise<{ executors: WorkerExecutors } | { initError: ErrorResponse }> {
    const entry = workerEntry()
    const threads: Thread[] = []
    const executors = new WorkerExecutors(threads, options.log)
    // Every slot's job on one worker, and as many again that it holds after the dispatcher
    // answered them itself (their deadline passed while its loop was blocked).
    const cells = 2 * options.concurrency
    const ready = await Promise.all(
      Array.from({ length: options.workers }, () => {
        const shared = new SharedArrayBuffer((CLAIMS + cells) * Int32Array.BYTES_PER_ELEMENT)
        const data: ExecutorData = { role: 'executor', handlerArg: options.handlerArg, shared }
        const worker = new Worker(entry, {
          workerData: data,
          stdout: false,
          stderr: false,
          resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
        })
        const thread: Thread = {
          worker,
          shared: new Int32Array(shared),
          free: Array.from({ length: cells }, (_, index) => CLAIMS + cells - 1 - index),
          outbox: [],
          held: new Map(),
          sent: 0,
          reclaimed: 0,
          posted: 0,
          postedAtCheck: 0,
          processedAtCheck: 0,
          stalled: false,
          stalledAt: 0,
          reported: false,
          alive: true,
          exited: new Promise((resolve) => worker.once('exit', () => resolve())),
          late: { lingering: 0, oldestEndedAt: 0, lateSettled: 0, fencedRequests: 0 },
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
      if (message.type === 'answers') {
        thread.late = message.late
        for (const [id, answer] of message.answers) {
          const pending = thread.held.get(id)
          if (pending === undefined) continue
          thread.held.delete(id)
          Atomics.store(thread.shared, pending.claim, CLAIM_FREE)
          thread.free.push(pending.claim)
          pending.resolve(answer)
        }
        if (this.#queue.length > 0) this.#route()
      } else if (message.type === 'fault') {
        this.#onFault()
      }
    })
    thread.worker.on('error', (error) => {
      this.#log.log('FATAL', `Worker thread failed: ${String(error)}`, {
        code: CODES.WORKER_FAILED,
      })
    })
    thread.worker.on('exit', (code) => {
      thread.alive = false
      if (this.#closing && code === 0) return
      // What it had not started runs elsewhere; what it had started is answered now. The
      // runtime then stops, as after an unattributable fault.
      const error = new WorkerFailedError(`exit code ${code}`)
      const waiting = this.#takeBack(thread, true)
      for (const pending of thread.held.values()) {
        pending.resolve({ type: 'error', error: toErrorResponse(error), timedOut: false })
      }
      thread.held.clear()
      this.#queue.unshift(...waiting)
      if (!this.#closing) this.#onFault()
      this.#route()
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
    this.#queue.push({ id: this.#nextId++, job, resolve, claim: 0, moved: false })
    this.#route()
    return promise
  }

  /** Places queued jobs on workers, oldest first; what no worker can take stays queued. */
  #route(): void {
    let placed = 0
    for (const pending of this.#queue) {
      if (pending.job.withdrawn) {
        placed++ // answered by the runtime while it waited: never started
        continue
      }
      const thread = this.#pick()
      if (thread === undefined) break
      placed++
      this.#place(thread, pending)
    }
    if (placed > 0) this.#queue.splice(0, placed)
  }

  /** The live, unstalled worker with a free cell and the fewest jobs sent but not started. */
  #pick(): Thread | undefined {
    let best: Thread | undefined
    let bestWaiting = 0
    for (const thread of this.#threads) {
      if (!thread.alive || thread.stalled || thread.free.length === 0) continue
      const waiting = thread.sent - thread.reclaimed - Atomics.load(thread.shared, STARTED)
      if (best === undefined || waiting < bestWaiting) {
        best = thread
        bestWaiting = waiting
      }
    }
    return best
  }

  #place(thread: Thread, pending: Pending): void {
    const claim = thread.free.pop() as number
    pending.claim = claim
    Atomics.store(thread.shared, claim, pending.id)
    thread.held.set(pending.id, pending)
    thread.sent++
    const { next, payload, timeoutMs } = pending.job
    thread.outbox.push([claim, pending.id, { next, payload, timeoutMs }])
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      rawSetImmediate(this.#flush)
    }
  }

  /** One `jobs` message per worker for what this turn of the loop placed on it. */
  readonly #flush = () => {
    this.#flushScheduled = false
    for (const thread of this.#threads) {
      if (thread.outbox.length === 0) continue
      const jobs = thread.outbox
      thread.outbox = []
      if (!thread.alive) continue // its exit handler takes the jobs back
      thread.posted++
      thread.worker.postMessage({ type: 'jobs', jobs } satisfies MainMessage)
    }
    this.#armStallCheck()
  }

  #armStallCheck(): void {
    if (this.#stallTimer !== undefined || this.#closing) return
    // Looking is needed while a message waits to be handled, or a worker is stalled (to see it
    // handle its messages again).
    const watch = this.#threads.some(
      (thread) =>
        thread.alive && (thread.stalled || Atomics.load(thread.shared, PROCESSED) < thread.posted),
    )
    if (!watch) return
    this.#stallTimer = rawSetTimeout(this.#checkStalls, STALL_CHECK_MS)
  }

  readonly #checkStalls = () => {
    this.#stallTimer = undefined
    for (const thread of this.#threads) {
      if (!thread.alive) continue
      // Stalled: a message that was already waiting at the last look (at least STALL_CHECK_MS
      // ago) is still not handled, and none was handled since.
      const processed = Atomics.load(thread.shared, PROCESSED)
      const stalled = processed === thread.processedAtCheck && processed < thread.postedAtCheck
      thread.processedAtCheck = processed
      thread.postedAtCheck = thread.posted
      if (!stalled) {
        if (thread.stalled && thread.reported) {
          this.#log.log('INFO', 'A worker thread whose event loop was blocked is serving again', {
            code: CODES.WORKER_RESUMED,
            threadId: thread.worker.threadId,
            blockedMs: Date.now() - thread.stalledAt,
          })
        }
        thread.stalled = false
        continue
      }
      if (!thread.stalled) {
        thread.stalled = true
        thread.stalledAt = Date.now()
        thread.reported = false
      } else if (!thread.reported && Date.now() - thread.stalledAt >= BLOCKED_LOG_MS) {
        thread.reported = true
        this.#log.log(
          'WARN',
          `A worker thread's event loop has been blocked for over ${BLOCKED_LOG_MS} ms (synchronous code in a handler?): invocations run on the other workers meanwhile`,
          { code: CODES.WORKER_BLOCKED, threadId: thread.worker.threadId },
        )
      }
      this.#queue.unshift(...this.#takeBack(thread, false))
    }
    this.#route()
    this.#armStallCheck()
  }

  /**
   * Takes back the jobs a worker has not started (each cell swapped from the job's id to free:
   * the worker skips it then), oldest first. From a stalled worker, a job moves once: a job
   * slow to hand over (a 6 MB event) is never chased from worker to worker. `all` (the worker
   * is gone): every job it has not started, its outbox included.
   */
  #takeBack(thread: Thread, all: boolean): Pending[] {
    const waiting: Pending[] = []
    if (all) thread.outbox = []
    for (const [id, pending] of thread.held) {
      if (!all && pending.moved) continue
      if (Atomics.compareExchange(thread.shared, pending.claim, id, CLAIM_FREE) !== id) continue
      pending.moved = true
      thread.held.delete(id)
      thread.free.push(pending.claim)
      thread.reclaimed++
      waiting.push(pending)
    }
    return waiting
  }

  cancelAll(error: ShutdownTimeoutError): void {
    const message: MainMessage = {
      type: 'cancel',
      budgetMs: error.budgetMs,
      totalMs: error.totalMs,
    }
    for (const thread of this.#threads) {
      if (thread.alive) thread.worker.postMessage(message)
    }
  }

  /**
   * Tells every worker to run its shutdown hooks and end; one that has not ended after the
   * hooks' bound and the plan's teardown share is terminated.
   */
  async close(plan: ShutdownPlan): Promise<void> {
    this.#closing = true
    rawClearTimeout(this.#stallTimer)
    const stop: MainMessage = { type: 'stop', hooksMs: plan.hooksMs }
    for (const thread of this.#threads) {
      if (thread.alive) thread.worker.postMessage(stop)
    }
    const exited = Promise.all(this.#threads.map((thread) => thread.exited))
    if (await settlesWithin(exited, plan.hooksMs + plan.teardownMs)) return
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()))
  }

  lingering(): number {
    let total = 0
    for (const thread of this.#threads) total += thread.late.lingering
    return total
  }

  lateWork(): LateWork {
    const sum: LateWork = { lingering: 0, oldestEndedAt: 0, lateSettled: 0, fencedRequests: 0 }
    for (const { late } of this.#threads) {
      sum.lingering += late.lingering
      sum.lateSettled += late.lateSettled
      sum.fencedRequests += late.fencedRequests
      if (
        late.lingering > 0 &&
        (sum.oldestEndedAt === 0 || late.oldestEndedAt < sum.oldestEndedAt)
      ) {
        sum.oldestEndedAt = late.oldestEndedAt
      }
    }
    return sum
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
  if (port === null) throw new LmiError('serveWorker() runs in a worker thread', CODES.NOT_A_WORKER)
  const shared: Shared = new Int32Array(data.shared)
  const { promise, resolve } = Promise.withResolvers<number>()
  const post = (message: WorkerMessage) => port.postMessage(message)
  // Answers that settle in one turn of the loop (timers due together, I/O read together) go
  // in one message: one wake-up of the dispatcher, not one each.
  // Late work changes without an answer (a late settle, a fenced request): the same message,
  // empty, carries it, so the dispatcher's stats are at most one turn behind.
  let answers: Array<[number, Answer]> = []
  let flushing = false
  const flush = () => {
    flushing = false
    const batch = answers
    answers = []
    post({ type: 'answers', answers: batch, late: executor.lateWork })
  }
  const scheduleFlush = () => {
    if (flushing) return
    flushing = true
    rawSetImmediate(flush)
  }
  const answered = (id: number, answer: Answer) => {
    answers.push([id, answer])
    scheduleFlush()
  }
  executor.onLateWork(scheduleFlush)
  executor.start(() => post({ type: 'fault' }))
  port.on('message', (message: MainMessage) => {
    switch (message.type) {
      case 'jobs':
        for (const [claim, id, job] of message.jobs) {
          // Taken back by the dispatcher (this loop was blocked): it runs elsewhere.
          if (Atomics.compareExchange(shared, claim, id, CLAIM_STARTED) !== id) continue
          const answer = executor.execute(job)
          Atomics.add(shared, STARTED, 1)
          void answer.then((value) => answered(id, value))
        }
        Atomics.add(shared, PROCESSED, 1)
        return
      case 'cancel':
        executor.cancelAll(new ShutdownTimeoutError(message.budgetMs, message.totalMs))
        return
      case 'stop':
        void runShutdownHooksWithin(log, message.hooksMs).then(() => {
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
