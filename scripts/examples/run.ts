// Runs a built example the way Lambda Managed Instances runs it: Lambda's start command handed
// to the layer's exec wrapper, which starts lmi's runtime from the layer, against lmi's Runtime
// API emulator at the function's PerExecutionEnvironmentMaxConcurrency.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createEmulator, type Emulator, type InvokeResult } from '@lmi/dev/emulator'
import { collectLines } from '../test-support/processes.ts'
import { nodePath } from './build.ts'
import type { FunctionBuild } from './template.ts'

/** An example's function, running. */
export interface RunningExample {
  emulator: Emulator
  child: ChildProcess
  /** stdout lines, parsed when JSON (the runtime's and the handler's logs). */
  logs: Array<Record<string, unknown>>
  stderr: string[]
  /** SIGTERM, then the exit code once the runtime has drained. */
  stop(): Promise<number | null>
  /** Kills whatever is left and closes the emulator. */
  close(): Promise<void>
}

/** The function's `Environment.Variables` that are plain values (intrinsics left out). */
export function templateEnvironment(fn: FunctionBuild): Record<string, string> {
  const variables =
    (fn.properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {}
  return Object.fromEntries(
    Object.entries(variables)
      .filter((entry): entry is [string, string | number | boolean] =>
        ['string', 'number', 'boolean'].includes(typeof entry[1]),
      )
      .map(([key, value]) => [key, String(value)]),
  )
}

export async function startExample(options: {
  fn: FunctionBuild
  /** The built function (what `sam build` puts in .aws-sam/build/<Function>). */
  artifactDir: string
  /** The layer's `/opt/lmi/exec-wrapper`. */
  wrapper: string
  concurrency: number
  env?: Record<string, string>
  timeoutMs?: number
}): Promise<RunningExample> {
  const { fn, artifactDir } = options
  const emulator = await createEmulator({
    maxConcurrency: options.concurrency,
    timeoutMs: options.timeoutMs ?? ((fn.properties.Timeout as number | undefined) ?? 3) * 1000,
    functionName: fn.logicalId,
    memorySizeMb: fn.properties.MemorySize as number,
  })
  // Lambda runs `$AWS_LAMBDA_EXEC_WRAPPER <its runtime command>`; the wrapper ignores the latter.
  const child = spawn(options.wrapper, ['/var/lang/bin/node', '/var/runtime/index.mjs'], {
    cwd: artifactDir,
    env: {
      PATH: nodePath(),
      ...templateEnvironment(fn),
      AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
      LAMBDA_TASK_ROOT: artifactDir,
      _HANDLER: fn.handler,
      AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
      AWS_LAMBDA_FUNCTION_VERSION: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.properties.MemorySize),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_MAX_CONCURRENCY: String(options.concurrency),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const { logs, stderr } = collectLines(child)
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return {
    emulator,
    child,
    logs,
    stderr,
    async stop() {
      child.kill('SIGTERM')
      return exited
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      await emulator.close().catch(() => {})
    },
  }
}

/** One invocation to send: an event (by name) and, for tenant isolation, its tenant. */
export interface Invocation {
  name: string
  event: unknown
  tenantId?: string
}

/** What came back, with the time from queueing to the answer. */
export interface Answered {
  invocation: Invocation
  result: InvokeResult
  latencyMs: number
}

/**
 * Sends `total` invocations, cycling through `invocations`, keeping `callers` of them
 * outstanding (more than the function's slots, so the emulator's queue is never empty, as on
 * a busy function). `onAnswer` sees each as it comes back (a progress bar).
 */
export async function drive(
  emulator: Emulator,
  invocations: readonly Invocation[],
  options: {
    total: number
    callers: number
    onAnswer?: (answered: Answered, done: number) => void
  },
): Promise<Answered[]> {
  const answered: Answered[] = []
  let next = 0
  async function caller(): Promise<void> {
    while (next < options.total) {
      const invocation = invocations[next++ % invocations.length] as Invocation
      const result = await emulator.invoke(
        invocation.event,
        invocation.tenantId === undefined ? undefined : { tenantId: invocation.tenantId },
      )
      const entry = { invocation, result, latencyMs: result.endedAt - result.queuedAt }
      answered.push(entry)
      options.onAnswer?.(entry, answered.length)
    }
  }
  await Promise.all(Array.from({ length: options.callers }, caller))
  return answered
}

/** The `p`th percentile (nearest rank) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0
  )
}

/**
 * Resolves once `count` log lines match `predicate` (stdout is read asynchronously, so the
 * last lines of an invocation may arrive after its answer); rejects after `timeoutMs`.
 */
export async function waitForLogs(
  running: RunningExample,
  predicate: (line: Record<string, unknown>) => boolean,
  count: number,
  timeoutMs = 5000,
): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const lines = running.logs.filter(predicate)
    if (lines.length >= count || Date.now() > deadline) return lines
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
