import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createEmulator, type Emulator, type EmulatorOptions } from '@lmi/dev/emulator'
import { childExecArgv } from '@lmi/test-kit'

const here = dirname(fileURLToPath(import.meta.url))
export const fixturesDir = join(here, '..', 'fixtures')
const runtimeBin = join(here, '..', '..', 'bin', 'lmi-runtime.js')
let runtimesStarted = 0

export interface RuntimeUnderTest {
  emulator: Emulator
  child: ChildProcess
  /** Every stdout line the runtime printed, parsed when it is JSON. */
  logs: Array<Record<string, unknown>>
  stderr: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once `count` log records match `predicate`. */
  waitForLogs(predicate: (record: Record<string, unknown>) => boolean, count: number): Promise<void>
  /** Lets handlers waiting in `fixtures/cross-thread.mjs`'s `released()` end. */
  release(): Promise<void>
  /** Resolves with the first log record matching `predicate` (already seen or future). */
  waitForLog(
    predicate: (record: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>>
  stop(): Promise<void>
}

export interface StartOptions {
  handler: string
  concurrency?: number
  env?: Record<string, string>
  emulator?: EmulatorOptions
  /** The runtime's entry script; default `bin/lmi-runtime.js` (from src/, `@lmi/source`). */
  bin?: string
}

/**
 * Runs lmi's runtime as Lambda would: a separate process started with the standard
 * environment, talking HTTP to a real (emulated) Runtime API on loopback.
 */
export async function startRuntime(options: StartOptions): Promise<RuntimeUnderTest> {
  const emulator = await createEmulator({
    maxConcurrency: options.concurrency ?? 1,
    ...options.emulator,
  })
  const releaseFile = join(tmpdir(), `lmi-release-${process.pid}-${++runtimesStarted}`)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
    LAMBDA_TASK_ROOT: fixturesDir,
    _HANDLER: options.handler,
    AWS_LAMBDA_FUNCTION_NAME: 'test-function',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    LMI_SHUTDOWN_TIMEOUT_MS: '5000',
    RELEASE_FILE: releaseFile,
    // One event loop unless a test is about worker threads: fixtures count invocations in module state.
    LMI_WORKERS: '0',
    ...options.env,
  }
  if (options.concurrency !== undefined) {
    env.AWS_LAMBDA_MAX_CONCURRENCY = String(options.concurrency)
  }
  const child = spawn(process.execPath, [...childExecArgv(), options.bin ?? runtimeBin], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  const stderr: string[] = []
  const waiters: Array<{
    predicate: (record: Record<string, unknown>) => boolean
    resolve: (record: Record<string, unknown>) => void
  }> = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let record: Record<string, unknown>
    try {
      record = JSON.parse(line) as Record<string, unknown>
    } catch {
      record = { raw: line }
    }
    logs.push(record)
    for (let index = waiters.length - 1; index >= 0; index--) {
      const waiter = waiters[index]
      if (waiter?.predicate(record)) {
        waiters.splice(index, 1)
        waiter.resolve(record)
      }
    }
  })
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line)
  })
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }))
  return {
    emulator,
    child,
    logs,
    stderr,
    exited,
    waitForLogs(predicate, count) {
      let remaining = count - logs.filter(predicate).length
      if (remaining <= 0) return Promise.resolve()
      return new Promise((resolve) => {
        const counting = (record: Record<string, unknown>) => predicate(record) && --remaining <= 0
        waiters.push({ predicate: counting, resolve: () => resolve() })
      })
    },
    waitForLog(predicate) {
      const seen = logs.find(predicate)
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve) => waiters.push({ predicate, resolve }))
    },
    async release() {
      await writeFile(releaseFile, '')
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      await emulator.close().catch(() => {})
      await rm(releaseFile, { force: true })
    },
  }
}

/**
 * What a handler's `console.log(JSON.stringify(...))` printed: the runtime's JSON line's
 * `message`, parsed; `{}` for any other line.
 */
export function logged(record: Record<string, unknown>): Record<string, unknown> {
  const message = record.message
  if (typeof message !== 'string' || !message.startsWith('{')) return {}
  try {
    return JSON.parse(message) as Record<string, unknown>
  } catch {
    return {}
  }
}

/** A fixture handler's `{ started: requestId }` line (fixtures/hostile.mjs). */
export const started = (record: Record<string, unknown>): boolean =>
  typeof logged(record).started === 'string'

/** Parses an invocation's JSON payload. */
export function json<T = Record<string, unknown>>(payload: Buffer): T {
  return JSON.parse(payload.toString('utf8')) as T
}

/**
 * The `start` of a test file: starts a runtime under test ({@link startRuntime}) and stops it
 * once the test that started it has ended (an `afterEach` of the calling file).
 *
 * @example
 * ```ts
 * const start = runtimePerTest()
 * it('answers', async () => { const runtime = await start({ handler: 'handlers.echo' }) })
 * ```
 */
export function runtimePerTest(
  env: Record<string, string> = {},
): (options: StartOptions) => Promise<RuntimeUnderTest> {
  let current: RuntimeUnderTest | undefined
  afterEach(async () => {
    await current?.stop()
    current = undefined
  })
  return async function start(options: StartOptions): Promise<RuntimeUnderTest> {
    current = await startRuntime({ ...options, env: { ...env, ...options.env } })
    return current
  }
}

/**
 * The two ways the runtime runs handlers, for suites that must hold in both: on its own event
 * loop (`LMI_WORKERS=0`, and classic concurrency 1) and in worker threads (the default in
 * concurrent mode). Fixtures that coordinate invocations use `fixtures/cross-thread.mjs`.
 *
 * @example
 * ```ts
 * for (const mode of RUNTIME_MODES) describe(mode.name, () => { const start = runtimePerTest(mode.env) })
 * ```
 */
export const RUNTIME_MODES = [
  { name: 'handlers on the main thread (LMI_WORKERS=0)', env: { LMI_WORKERS: '0' } },
  { name: 'handlers in worker threads (the default)', env: { LMI_WORKERS: '' } },
] as const

/**
 * Resolves once at least `count` `/next` polls are parked in the emulator (the runtime's idle
 * slots, waiting for invocations).
 *
 * @example
 * ```ts
 * await pollsParked(runtime.emulator, 16)
 * ```
 */
export function pollsParked(emulator: Emulator, count: number): Promise<void> {
  if (emulator.stats().waiting >= count) return Promise.resolve()
  return new Promise((resolve) => {
    emulator.on('waiting', function onWaiting(waiting) {
      if (waiting < count) return
      emulator.off('waiting', onWaiting)
      resolve()
    })
  })
}
