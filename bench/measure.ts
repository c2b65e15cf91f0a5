// One run of one cell: a fresh emulator process, a fresh runtime process, warm-up, the
// measured window, then the runtime's CPU and peak RSS from /proc, then both stopped.
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { EmulatorStats } from '../packages/runtime/dev/src/emulator/index.ts'
import type { Contender, Launch } from './contenders.ts'
import { benchDir, handlersDir, lambdaEnv } from './contenders.ts'
import { sampleProcess } from './proc.ts'
import type { ChildMessage, ParentMessage, PhaseSummary } from './protocol.ts'
import type { Counts, HandlerName } from './workloads.ts'
import { benchEvent, handlerInfo } from './workloads.ts'

export type CellSpec = { handler: HandlerName; concurrency: number; counts: Counts }

export type RunOptions = {
  emulatorModule: string
  /** Lambda timeout given to the emulator; any timeout counts as an error. */
  timeoutMs: number
  /** How long a runtime may take to answer its first invocation. */
  startTimeoutMs: number
  /** SIGTERM, then SIGKILL after this long. */
  stopGraceMs: number
}

export type RunRecord = {
  contender: string
  handler: HandlerName
  concurrency: number
  round: number
  /** Set when the run produced no measurement. */
  failure?: string
  /** The runtime never answered: pointless to start it again. */
  startFailed?: boolean
  count: number
  errors: number
  errorSamples: string[]
  invPerSec: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  maxMs: number
  cpuMicrosPerInv: number
  /** The load generator's own cost: when runtime + emulator fill both cores, the box is the limit. */
  emulatorCpuMicrosPerInv: number
  peakRssMB: number
  threads: number
  processes: number
  /** Spawn → first answered invocation. */
  startMs: number
  emulatorStats?: EmulatorStats
}

/** Messages from the emulator process, awaited one at a time with a deadline. */
class Channel {
  readonly #queue: ChildMessage[] = []
  #waiter: (() => void) | undefined
  #ended: Error | undefined

  constructor(child: ChildProcess) {
    child.on('message', (message: ChildMessage) => {
      this.#queue.push(message)
      this.#wake()
    })
    child.on('exit', (code, signal) => {
      this.#ended = new Error(`emulator process exited (${signal ?? code})`)
      this.#wake()
    })
  }

  #wake(): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.()
  }

  async expect<T extends ChildMessage['type']>(
    type: T,
    timeoutMs: number,
    abort?: Promise<string>,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const index = this.#queue.findIndex((m) => m.type === type || m.type === 'fatal')
      if (index >= 0) {
        const [message] = this.#queue.splice(index, 1)
        if (message!.type === 'fatal') throw new Error(`emulator: ${message!.message}`)
        return message as Extract<ChildMessage, { type: T }>
      }
      if (this.#ended) throw this.#ended
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`no '${type}' from the emulator within ${timeoutMs} ms`)
      const { promise, resolve } = Promise.withResolvers<void>()
      this.#waiter = resolve
      const timer = setTimeout(resolve, left)
      const aborted = abort?.then((reason) => {
        throw new Error(reason)
      })
      try {
        await (aborted ? Promise.race([promise, aborted]) : promise)
      } finally {
        clearTimeout(timer)
        this.#waiter = undefined
      }
    }
  }
}

function post(child: ChildProcess, message: ParentMessage): void {
  child.send(message)
}

/** Keeps the last few kB a process printed, for failure reports. */
function tail(child: ChildProcess, limit = 4096): () => string {
  let text = ''
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-limit)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return () => text.trim()
}

async function stop(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Every process this bench started and has not yet seen exit. */
const live = new Set<ChildProcess>()

function track(child: ChildProcess): ChildProcess {
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

/** SIGKILLs every process this bench started: for when the bench itself is interrupted. */
export function killStarted(): void {
  for (const child of live) child.kill('SIGKILL')
}

function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

function failed(
  contender: Contender,
  spec: CellSpec,
  round: number,
  failure: string,
  startFailed: boolean,
): RunRecord {
  return {
    contender: contender.name,
    handler: spec.handler,
    concurrency: spec.concurrency,
    round,
    failure,
    startFailed,
    count: 0,
    errors: 0,
    errorSamples: [],
    invPerSec: Number.NaN,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    meanMs: Number.NaN,
    maxMs: Number.NaN,
    cpuMicrosPerInv: Number.NaN,
    emulatorCpuMicrosPerInv: Number.NaN,
    peakRssMB: Number.NaN,
    threads: 0,
    processes: 0,
    startMs: Number.NaN,
  }
}

export async function runCell(
  contender: Contender,
  launch: Launch,
  spec: CellSpec,
  round: number,
  options: RunOptions,
): Promise<RunRecord> {
  const emulator = track(
    fork(join(benchDir, 'emulator-process.ts'), [], {
      execArgv: ['--conditions=@lmi/source'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  )
  const emulatorOutput = tail(emulator)
  const channel = new Channel(emulator)
  let runtime: ChildProcess | undefined
  let phase = 'starting the emulator'
  try {
    post(emulator, {
      type: 'init',
      emulatorModule: options.emulatorModule,
      concurrency: spec.concurrency,
      timeoutMs: options.timeoutMs,
      event: benchEvent,
      expectedPayload: handlerInfo[spec.handler].expectedPayload,
    })
    const { runtimeApi } = await channel.expect('ready', 30_000)

    phase = 'starting the runtime'
    const spawnedAt = epochNow()
    const child = track(
      spawn(launch.command, launch.args, {
        cwd: handlersDir,
        env: {
          ...lambdaEnv({ runtimeApi, handler: spec.handler, concurrency: spec.concurrency }),
          ...launch.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    runtime = child
    const runtimeOutput = tail(child)
    const runtimeExit = once(child, 'exit').then(
      ([code, signal]) =>
        `runtime exited (${signal ?? `code ${code}`}) while ${phase}:\n${runtimeOutput()}`,
      (error: Error) => `runtime could not be started: ${error.message}`,
    )

    post(emulator, { type: 'run', phase: 'warmup', count: spec.counts.warmup })
    let first: { at: number }
    try {
      first = await channel.expect('first', options.startTimeoutMs, runtimeExit)
    } catch (error) {
      const output = runtimeOutput()
      return failed(
        contender,
        spec,
        round,
        `did not answer its first invocation: ${(error as Error).message}${output && !(error as Error).message.includes(output) ? `\n${output}` : ''}`,
        true,
      )
    }
    phase = 'warming up'
    const warm = await channel.expect('done', 600_000, runtimeExit)
    if (warm.summary.errors > 0) {
      return failed(contender, spec, round, describeErrors(warm.summary), false)
    }

    phase = 'measuring'
    const before = sampleProcess(child.pid!)
    const emulatorBefore = sampleProcess(emulator.pid!)
    post(emulator, { type: 'run', phase: 'measure', count: spec.counts.measure })
    const { summary } = await channel.expect('done', 600_000, runtimeExit)
    // Read just before stopping: the measured window has ended, the process is still whole.
    const after = sampleProcess(child.pid!)
    const emulatorAfter = sampleProcess(emulator.pid!)
    phase = 'stopping'
    await stop(child, options.stopGraceMs)
    runtime = undefined

    post(emulator, { type: 'close' })
    const closed = await channel.expect('closed', 10_000).catch(() => undefined)

    return {
      contender: contender.name,
      handler: spec.handler,
      concurrency: spec.concurrency,
      round,
      ...(summary.errors > 0 ? { failure: describeErrors(summary) } : {}),
      count: summary.count,
      errors: summary.errors,
      errorSamples: summary.errorSamples,
      invPerSec: (summary.count / summary.elapsedMs) * 1000,
      p50Ms: summary.p50Ms,
      p99Ms: summary.p99Ms,
      meanMs: summary.meanMs,
      maxMs: summary.maxMs,
      cpuMicrosPerInv: (after.cpuMicros - before.cpuMicros) / summary.count,
      emulatorCpuMicrosPerInv: (emulatorAfter.cpuMicros - emulatorBefore.cpuMicros) / summary.count,
      peakRssMB: after.peakRssBytes / 2 ** 20,
      threads: after.threads,
      processes: after.processes,
      startMs: first.at - spawnedAt,
      ...(closed ? { emulatorStats: closed.stats } : {}),
    }
  } catch (error) {
    const output = emulatorOutput()
    return failed(
      contender,
      spec,
      round,
      `${phase}: ${(error as Error).message}${output ? `\nemulator output:\n${output}` : ''}`,
      false,
    )
  } finally {
    if (runtime) await stop(runtime, options.stopGraceMs)
    if (emulator.connected) emulator.disconnect()
    await stop(emulator, options.stopGraceMs)
  }
}

function describeErrors(summary: PhaseSummary): string {
  return `${summary.errors} of ${summary.count} invocations failed during ${summary.phase}: ${summary.errorSamples.join(' | ')}`
}
