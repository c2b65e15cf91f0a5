// One lmi runtime process under `lmi check`: its own emulator, the check's environment
// (detectors on, one thread, output attributed), its output split into detector findings, the
// handler's attributed lines (logs.ts), its recorded requests (requests.ts) and the rest, and a
// stop that always ends (SIGTERM, then SIGKILL). run.ts starts one per solo run and one for the
// concurrent phase.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { RecordedRequest } from '@lmi/runtime'
import { createEmulator, type Emulator, type InvokeResult } from '../../emulator/index.ts'
import { CheckHandlerError } from '../../errors.ts'
import { runtimeBin } from '../shared/runtime.ts'
import { type DetectorFinding, parseFindingLine } from './detectors.ts'
import { parseWriteLine, WriteSplitter, type WrittenLine } from './logs.ts'
import { parseRequestLine } from './requests.ts'

// How long the runtime may take to stop after SIGTERM (LMI_SHUTDOWN_TIMEOUT_MS: drain, answers, hooks),
// and how much longer the check waits for it to exit before SIGKILL.
const SHUTDOWN_MS = 2000
const KILL_AFTER_MS = SHUTDOWN_MS + 3000
// Output a grandchild still holds open must not keep the check waiting after the exit.
const OUTPUT_GRACE_MS = 1000
const TAIL_LINES = 20

// Runtime processes not yet exited, killed if this process exits first (an exception, a
// closed stdout): left alone they would keep polling a Runtime API that is gone. Process-wide
// like the 'exit' event it serves, not per-check state.
const children = new Set<ChildProcess>()
function killChildren(): void {
  for (const child of children) child.kill('SIGKILL')
}

/**
 * Options of {@link RuntimeProcess.start}.
 *
 * @example
 * ```ts
 * const options: RuntimeProcessOptions = {
 *   handler: 'src/app.handler', taskRoot: process.cwd(), concurrency: 1, timeoutMs: 10_000,
 *   initTimeoutMs: 30_000, env: process.env, execArgv: [],
 * }
 * ```
 */
export interface RuntimeProcessOptions {
  /** `_HANDLER`, relative to `taskRoot`. */
  readonly handler: string
  /** `LAMBDA_TASK_ROOT` and the working directory of the runtime. */
  readonly taskRoot: string
  /** `AWS_LAMBDA_MAX_CONCURRENCY` and the emulator's limit; 1 runs classic, one at a time. */
  readonly concurrency: number
  /** Function timeout of each invocation. */
  readonly timeoutMs: number
  /** How long the handler may take to load before the check gives up. */
  readonly initTimeoutMs: number
  /** The environment to start from (the check's own, plus `--env`). */
  readonly env: NodeJS.ProcessEnv
  /** Node options for the runtime process (e.g. `--conditions=@lmi/source`). */
  readonly execArgv: readonly string[]
  /**
   * Every output line of the runtime that is not a finding (`--verbose`); the handler's lines
   * as it wrote them (without the attribution).
   */
  readonly onOutput?: ((line: string, stream: 'stdout' | 'stderr') => void) | undefined
  /** Every line the handler's code wrote, with the invocation it is attributed to. */
  readonly onWrite?: ((line: WrittenLine) => void) | undefined
  /** Every outgoing request the handler's code made, with the invocation that made it. */
  readonly onRequest?: ((request: RecordedRequest) => void) | undefined
  /** Every finding as it arrives. */
  readonly onFinding?: ((finding: DetectorFinding) => void) | undefined
}

/**
 * The environment of a runtime process under `lmi check`: the given one, what Lambda sets for
 * the function (from the emulator), and the check's fixed settings — detectors in `warn` mode,
 * one thread (so every invocation shares one module instance), JSON logs, a short drain on
 * SIGTERM, and Node's compile cache unless the caller set or disabled one.
 */
function runtimeEnv(options: RuntimeProcessOptions, emulator: Emulator): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...options.env }
  // A test runner's child context must not leak into the runtime; a classic run has no limit.
  delete env.NODE_TEST_CONTEXT
  delete env.AWS_LAMBDA_MAX_CONCURRENCY
  if (env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined) {
    // Every solo run is a fresh process: the cache saves most of each one's start-up.
    env.NODE_COMPILE_CACHE = join(tmpdir(), 'lmi-check-compile-cache')
  }
  return {
    ...env,
    ...emulator.env,
    LAMBDA_TASK_ROOT: options.taskRoot,
    _HANDLER: options.handler,
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    LMI_SHARED_STATE: 'warn',
    // Async work left running: a promise hook per promise, affordable here.
    LMI_DETECT_PROMISES: '1',
    // Every invocation on one event loop, sharing one copy of the module's state: what state
    // invocations share shows most often there.
    LMI_WORKERS: '0',
    LMI_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS),
    // The handler's output comes back attributed to the invocation that wrote it (logs.ts),
    // and its outgoing requests recorded with the invocation that made them (requests.ts).
    LMI_CHECK_ATTRIBUTION: '1',
  }
}

/**
 * One lmi runtime process (`bin/lmi-runtime.js`) serving one handler, with its own Runtime API
 * emulator: the unit of both phases of `lmi check`. Findings the detectors write are collected;
 * other output is passed to `onOutput` and kept as a short tail for error messages.
 *
 * @example
 * ```ts
 * const runtime = await RuntimeProcess.start(options)
 * await runtime.ready // rejects with CheckHandlerError if the handler does not load
 * const result = await runtime.invoke({ user: 'alice' }, { requestId: randomUUID() })
 * await runtime.stop()
 * console.log(runtime.findings)
 * ```
 */
export class RuntimeProcess {
  readonly emulator: Emulator
  readonly child: ChildProcess
  readonly findings: DetectorFinding[] = []
  /** Resolves once every slot polls for invocations; rejects with {@link CheckHandlerError}. */
  readonly ready: Promise<void>
  readonly #tail: string[] = []
  readonly #splitter = new WriteSplitter()
  /** An invocation was sent: output read from now on was not written at init. */
  #invoked = false
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #outputDone: Promise<unknown>
  #stopping: Promise<void> | undefined
  #exitDetail: string | undefined

  static async start(options: RuntimeProcessOptions): Promise<RuntimeProcess> {
    const emulator = await createEmulator({
      maxConcurrency: options.concurrency,
      timeoutMs: options.timeoutMs,
    })
    return new RuntimeProcess(options, emulator)
  }

  private constructor(options: RuntimeProcessOptions, emulator: Emulator) {
    this.emulator = emulator
    const waitingFor = options.concurrency
    const { promise: ready, resolve, reject } = Promise.withResolvers<void>()
    this.ready = ready
    // Callers may never await `ready` (a process started ahead and not needed after all).
    ready.catch(() => {})
    function onWaiting(waiting: number): void {
      if (waiting >= waitingFor) resolve()
    }
    function onInitError(error: { errorType: string; errorMessage: string }): void {
      reject(
        new CheckHandlerError(
          `the handler did not load: ${error.errorType}: ${error.errorMessage}`,
          error.errorType,
        ),
      )
    }
    emulator.on('waiting', onWaiting)
    emulator.once('initError', onInitError)

    const child = spawn(process.execPath, [...options.execArgv, runtimeBin()], {
      cwd: options.taskRoot,
      env: runtimeEnv(options, emulator),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    if (children.size === 0) process.on('exit', killChildren)
    children.add(child)
    const outputs: Array<Promise<unknown>> = []
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = child[stream]
      if (input === null) continue
      const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
      lines.on('line', (line) => this.#line(line, stream, options))
      outputs.push(once(lines, 'close'))
    }
    this.#outputDone = Promise.all(outputs).then(() => {
      for (const line of this.#splitter.flush()) this.#written(line, options)
    })

    const initTimer = setTimeout(() => {
      reject(
        new CheckHandlerError(
          `the handler did not finish loading within ${options.initTimeoutMs / 1000} s`,
          undefined,
        ),
      )
      void this.stop()
    }, options.initTimeoutMs)
    this.#exited = new Promise((resolveExit) => {
      child.once('error', (error) => {
        children.delete(child)
        if (children.size === 0) process.off('exit', killChildren)
        this.#exitDetail = `could not start: ${error.message}`
        reject(new CheckHandlerError(`the runtime process ${this.#exitDetail}`, undefined))
        resolveExit({ code: null, signal: null })
      })
      child.once('exit', (code, signal) => {
        children.delete(child)
        if (children.size === 0) process.off('exit', killChildren)
        this.#exitDetail ??= signal === null ? `exit code ${code}` : `signal ${signal}`
        resolveExit({ code, signal })
      })
    })
    void this.#exited.then(async () => {
      clearTimeout(initTimer)
      emulator.off('waiting', onWaiting)
      // The init error, if any, arrived before the exit: the runtime waits for its answer.
      const tail = this.#tail.length === 0 ? '' : `:\n${this.#tail.join('\n')}`
      reject(
        new CheckHandlerError(
          `the runtime process stopped (${this.#exitDetail}) before it polled for invocations${tail}`,
          undefined,
        ),
      )
      // Nothing will answer what is still pending: settle it as crashed (see invoke()).
      await emulator.close()
    })
    void ready.then(
      () => clearTimeout(initTimer),
      () => clearTimeout(initTimer),
    )
  }

  #line(line: string, stream: 'stdout' | 'stderr', options: RuntimeProcessOptions): void {
    const chunk = parseWriteLine(line)
    if (chunk !== undefined) {
      for (const written of this.#splitter.push(chunk)) this.#written(written, options)
      return
    }
    const request = parseRequestLine(line)
    if (request !== undefined) {
      options.onRequest?.(request)
      return
    }
    const finding = parseFindingLine(line)
    if (finding !== undefined) {
      this.findings.push(finding)
      options.onFinding?.(finding)
      return
    }
    if (line.trim() === '') return
    this.#tail.push(line)
    if (this.#tail.length > TAIL_LINES) this.#tail.shift()
    options.onOutput?.(line, stream)
  }

  #written(line: Omit<WrittenLine, 'afterInvocations'>, options: RuntimeProcessOptions): void {
    this.#tail.push(line.text)
    if (this.#tail.length > TAIL_LINES) this.#tail.shift()
    options.onOutput?.(line.text, line.stream)
    options.onWrite?.({ ...line, afterInvocations: this.#invoked })
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Invokes the handler once. Never rejects: an invocation the process could not answer
   * because it exited (or was stopped) resolves as `crashed`.
   */
  async invoke(
    event: unknown,
    ids: { requestId: string; traceId?: string | undefined; tenantId?: string | undefined },
  ): Promise<InvokeResult | { status: 'crashed'; requestId: string; detail: string }> {
    this.#invoked = true
    try {
      return await this.emulator.invoke(event, {
        requestId: ids.requestId,
        ...(ids.traceId === undefined ? {} : { traceId: ids.traceId }),
        ...(ids.tenantId === undefined ? {} : { tenantId: ids.tenantId }),
      })
    } catch (error) {
      const detail =
        this.#exitDetail === undefined
          ? `the runtime was stopped: ${error instanceof Error ? error.message : String(error)}`
          : `the runtime process exited (${this.#exitDetail})`
      return { status: 'crashed', requestId: ids.requestId, detail }
    }
  }

  /**
   * Stops the process — SIGTERM (the runtime drains in-flight invocations for up to 2 s), then
   * SIGKILL if it has not exited 3 s later — waits for its last output, and closes the
   * emulator. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.running) {
        this.child.kill('SIGTERM')
        const killTimer = setTimeout(() => {
          if (this.running) this.child.kill('SIGKILL')
        }, KILL_AFTER_MS)
        await this.#exited
        clearTimeout(killTimer)
      } else {
        await this.#exited
      }
      let graceTimer: NodeJS.Timeout | undefined
      const grace = new Promise((resolve) => {
        graceTimer = setTimeout(resolve, OUTPUT_GRACE_MS)
      })
      await Promise.race([this.#outputDone, grace])
      clearTimeout(graceTimer)
      await this.emulator.close()
    })()
    return this.#stopping
  }
}
