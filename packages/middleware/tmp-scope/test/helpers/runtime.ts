import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEmulator, type Emulator, type EmulatorOptions } from '@lmi/dev/emulator'
import { childExecArgv } from '@lmi/test-kit'
import { collectLines } from '../../../../../scripts/test-support/processes.ts'

const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')
const runtimeBin = join(
  dirname(fileURLToPath(import.meta.resolve('@lmi/runtime/package.json'))),
  'bin',
  'lmi-runtime.js',
)

/** lmi's runtime in its own process, as Lambda starts it, against an emulated Runtime API. */
export interface RuntimeUnderTest {
  emulator: Emulator
  child: ChildProcess
  /** Every stdout line, parsed when it is JSON (the runtime's and the handler's logs). */
  logs: Array<Record<string, unknown>>
  stderr: string[]
  /** SIGTERM, then resolves with the exit code once the runtime has drained and exited. */
  shutdown(): Promise<number | null>
  /** Kills whatever is left and closes the emulator (for `after`). */
  close(): Promise<void>
}

export async function startRuntime(options: {
  handler: string
  concurrency: number
  env?: Record<string, string>
  emulator?: EmulatorOptions
}): Promise<RuntimeUnderTest> {
  const emulator = await createEmulator({
    maxConcurrency: options.concurrency,
    ...options.emulator,
  })
  const child = spawn(process.execPath, [...childExecArgv(), runtimeBin], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
      LAMBDA_TASK_ROOT: fixturesDir,
      _HANDLER: options.handler,
      AWS_LAMBDA_FUNCTION_NAME: 'tmp-scope-test',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048',
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_MAX_CONCURRENCY: String(options.concurrency),
      // One event loop: every invocation shares the handler's module state and /tmp scope.
      LMI_WORKERS: '0',
      // Not a test of the shutdown budget: the hook that removes the process's directory gets
      // the time a loaded test machine needs, not Lambda's 300 ms.
      LMI_SHUTDOWN_TIMEOUT_MS: '5000',
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
    async shutdown() {
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
