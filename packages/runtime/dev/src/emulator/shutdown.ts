import type { ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { EmulatorArgumentError } from '../errors.ts'
import { checkTimeoutMs } from './options.ts'
import type {
  ProcessShutdown,
  ShutdownOptions,
  ShutdownProcesses,
  ShutdownReason,
  ShutdownReport,
} from './types.ts'

const REASONS: ReadonlySet<string> = new Set<ShutdownReason>(['spindown', 'timeout', 'failure'])
const OPTION_NAMES: ReadonlySet<string> = new Set(['reason', 'phaseMs', 'runtimeMs'])
const DEFAULT_PHASE_MS = 2000
const DEFAULT_RUNTIME_MS = 300
const MAX_PHASE_MS = 60_000
// After SIGKILL a process is gone as soon as the kernel reaps it; RAPID gives up waiting for the
// runtime domain after 2 s too, for a process stuck in uninterruptible sleep.
const KILL_WAIT_MS = 2000

/** {@link ShutdownProcesses} and {@link ShutdownOptions}, checked, with defaults applied. */
export interface ShutdownPlan {
  readonly runtime: ChildProcess
  readonly extensions: readonly ChildProcess[]
  readonly reason: ShutdownReason
  readonly phaseMs: number
  readonly runtimeMs: number
}

/** What the sequence needs from the emulator, so this file owns no server state. */
export interface ShutdownHooks {
  /** Stops handing out invocations, closes registration; returns the extensions registered. */
  begin(): number
  /** Releases the `SHUTDOWN` event to the extensions subscribed to it; returns how many. */
  releaseShutdown(reason: ShutdownReason, deadlineMs: number): number
}

// By structure, not `instanceof`: a ChildProcess-like object from execa or a test double works.
function isChildProcess(value: unknown): value is ChildProcess {
  if (typeof value !== 'object' || value === null) return false
  const child = value as Partial<ChildProcess>
  return (
    typeof child.kill === 'function' &&
    typeof child.once === 'function' &&
    typeof child.off === 'function' &&
    'exitCode' in child &&
    'signalCode' in child
  )
}

/** Validates once, before anything is signalled: a bad argument must not half-stop a sandbox. */
export function planShutdown(
  processes: ShutdownProcesses,
  options: ShutdownOptions | undefined,
): ShutdownPlan {
  if (typeof processes !== 'object' || processes === null) {
    throw new EmulatorArgumentError('processes must be an object { runtime, extensions? }')
  }
  const { runtime, extensions = [] } = processes
  if (!isChildProcess(runtime)) {
    throw new EmulatorArgumentError('processes.runtime must be a ChildProcess')
  }
  if (!Array.isArray(extensions) || !extensions.every(isChildProcess)) {
    throw new EmulatorArgumentError('processes.extensions must be an array of ChildProcess')
  }
  const distinct = new Set<ChildProcess>([runtime, ...extensions])
  if (distinct.size !== extensions.length + 1) {
    throw new EmulatorArgumentError('processes must list each process once')
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new EmulatorArgumentError('shutdown options must be an object')
  }
  for (const key of Object.keys(options ?? {})) {
    if (!OPTION_NAMES.has(key)) throw new EmulatorArgumentError(`unknown shutdown option ${key}`)
  }
  const { reason = 'spindown', phaseMs = DEFAULT_PHASE_MS } = options ?? {}
  if (typeof reason !== 'string' || !REASONS.has(reason)) {
    throw new EmulatorArgumentError(
      `reason must be 'spindown', 'timeout' or 'failure', got ${String(reason)}`,
    )
  }
  checkTimeoutMs(phaseMs, 'phaseMs')
  if (phaseMs > MAX_PHASE_MS) {
    throw new EmulatorArgumentError(`phaseMs must be at most ${MAX_PHASE_MS}, got ${phaseMs}`)
  }
  // A runtime share over the default is only meaningful for a phase that can hold it.
  const runtimeMs = options?.runtimeMs ?? Math.min(DEFAULT_RUNTIME_MS, phaseMs)
  checkTimeoutMs(runtimeMs, 'runtimeMs')
  if (runtimeMs > phaseMs) {
    throw new EmulatorArgumentError(`runtimeMs (${runtimeMs}) must not exceed phaseMs (${phaseMs})`)
  }
  return { runtime, extensions: [...extensions], reason, phaseMs, runtimeMs }
}

function hasExited(child: ChildProcess): boolean {
  // No pid: the spawn failed, and such a child may never emit 'exit'.
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined
}

/** One process under watch from the start of the shutdown. */
class Watched {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  exitAt: number | undefined
  terminated = false
  killed = false
  readonly #onExit: () => void

  constructor(child: ChildProcess, start: number) {
    this.child = child
    const { promise, resolve } = Promise.withResolvers<void>()
    this.exited = promise
    const watched = this
    this.#onExit = function onShutdownExit() {
      watched.exitAt = performance.now()
      resolve()
    }
    if (hasExited(child)) {
      this.exitAt = start
      resolve()
      return
    }
    child.once('exit', this.#onExit)
    // kill() reports an undeliverable signal as an 'error' event, which would crash a caller
    // with no listener; the report tells what happened instead.
    child.on('error', ignoreError)
  }

  /** Sends `signal` unless the process is gone; true if it was sent. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.exitAt !== undefined) return false
    try {
      return this.child.kill(signal)
    } catch {
      return false
    }
  }

  dispose(): void {
    this.child.off('exit', this.#onExit)
    this.child.off('error', ignoreError)
  }

  report(start: number): ProcessShutdown {
    return {
      pid: this.child.pid,
      killed: this.killed,
      exitedAfterMs: this.exitAt === undefined ? null : Math.round(this.exitAt - start),
      code: this.child.exitCode,
      signal: this.child.signalCode,
    }
  }
}

function ignoreError(): void {}

/** Resolves true when `promise` settles within `ms`, false at `ms` or on abort; clears its timer. */
function within(promise: Promise<unknown>, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) ms = 0
  const { promise: timeout, resolve } = Promise.withResolvers<boolean>()
  const timer = setTimeout(resolve, Math.max(0, ms), false)
  function onAbort(): void {
    resolve(false)
  }
  signal.addEventListener('abort', onAbort, { once: true })
  return Promise.race([promise.then(() => true), timeout]).finally(function clearWait() {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  })
}

// The waits after SIGKILL are not cut short by close(): the processes are reaped at once, and
// their exit status is what the report is for.
const neverAborted = new AbortController().signal

async function killAll(targets: readonly Watched[]): Promise<void> {
  for (const target of targets) {
    if (target.signal('SIGKILL')) target.killed = true
  }
  await within(Promise.all(targets.map((target) => target.exited)), KILL_WAIT_MS, neverAborted)
}

/**
 * Lambda's shutdown phase as RAPID (`lambda/rapid/shutdown.go` in AWS's runtime interface
 * emulator) runs it: with no extension registered the runtime is SIGKILLed at once; otherwise
 * SIGTERM, SIGKILL at `runtimeMs`, then `SHUTDOWN` to the extensions and SIGKILL to the
 * extension processes still alive at `phaseMs`. `signal` (the emulator closing) cuts every wait
 * short: what is still alive is SIGKILLed at once.
 */
export async function runShutdown(
  plan: ShutdownPlan,
  hooks: ShutdownHooks,
  signal: AbortSignal,
): Promise<ShutdownReport> {
  const start = performance.now()
  const deadlineMs = Date.now() + plan.phaseMs
  const registered = hooks.begin()
  const runtime = new Watched(plan.runtime, start)
  const extensions = plan.extensions.map((child) => new Watched(child, start))
  try {
    if (registered === 0) {
      // Lambda spends no time on a graceful runtime shutdown when no extension could use it:
      // the runtime never sees SIGTERM. Unregistered extension processes failed init anyway.
      await killAll([runtime, ...extensions])
    } else {
      runtime.terminated = runtime.signal('SIGTERM')
      const runtimeLeft = start + plan.runtimeMs - performance.now()
      if (!(await within(runtime.exited, runtimeLeft, signal))) await killAll([runtime])
      // RAPID's order: extensions hear of the shutdown only once the runtime is gone, so they
      // can still flush what the runtime handed them while it stopped.
      const released = hooks.releaseShutdown(plan.reason, deadlineMs)
      // RAPID SIGKILLs the extensions not subscribed to SHUTDOWN at once. The emulator cannot
      // tell which process is which extension, so it does so only when none was subscribed.
      const extensionsLeft = released === 0 ? 0 : start + plan.phaseMs - performance.now()
      const allExited = Promise.all(extensions.map((target) => target.exited))
      if (!(await within(allExited, extensionsLeft, signal))) await killAll(extensions)
    }
  } finally {
    runtime.dispose()
    for (const target of extensions) target.dispose()
  }
  return {
    reason: plan.reason,
    extensionsRegistered: registered,
    runtime: { ...runtime.report(start), terminated: runtime.terminated },
    extensions: extensions.map((target) => target.report(start)),
    durationMs: Math.round(performance.now() - start),
  }
}
