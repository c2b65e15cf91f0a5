// Running a bundle the way the installed product runs it: the project's own
// node_modules/.bin/lmi-runtime (or an exec wrapper) against the Runtime API emulator of the
// project's own @lmi/dev — nothing from the workspace.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Emulator, InvokeResult } from '@lmi/dev/emulator'
import { collectLines } from '../test-support/processes.ts'
import { childEnv } from './project.ts'

/** The installed `@lmi/dev/emulator` module. */
export type EmulatorModule = typeof import('@lmi/dev/emulator')

/**
 * Imports `@lmi/dev/emulator` as the project resolves it (its `exports`, its dist/).
 *
 * @example
 * ```ts
 * const { createEmulator } = await importInstalledEmulator('/tmp/app')
 * ```
 */
export async function importInstalledEmulator(projectDir: string): Promise<EmulatorModule> {
  const path = createRequire(join(projectDir, 'package.json')).resolve('@lmi/dev/emulator')
  return (await import(pathToFileURL(path).href)) as EmulatorModule
}

/** A runtime process serving one emulator. */
export interface RunningRuntime {
  emulator: Emulator
  child: ChildProcess
  /** stdout lines, parsed when JSON (the runtime's and the handler's logs). */
  logs: Array<Record<string, unknown>>
  stderr: string[]
  /** Every `/runtime/init/error` the runtime posted. */
  initErrors: Array<{ errorType: string; errorMessage: string }>
  /** Kills the runtime (SIGTERM, then SIGKILL after 5 s) and closes the emulator. */
  close(): Promise<void>
}

/**
 * Starts `command` (the installed `node_modules/.bin/lmi-runtime`, or an exec wrapper) with Lambda's environment for `handler` in
 * `taskRoot`, against a new emulator of `emulatorModule` with `concurrency` slots; resolves
 * once every slot polls. Rejects with the runtime's init error or stderr when it does not
 * get there.
 *
 * @example
 * ```ts
 * const running = await startRuntime({ emulatorModule, command: '/tmp/app/node_modules/.bin/lmi-runtime',
 *   taskRoot: '/tmp/bundles/app', handler: 'app.handler', concurrency: 64 })
 * const result = await running.emulator.invoke({ body: '{}' })
 * await running.close()
 * ```
 */
export async function startRuntime(options: {
  emulatorModule: EmulatorModule
  command: string
  /** Arguments of `command`: for an exec wrapper, the runtime command Lambda passes it. */
  args?: readonly string[]
  taskRoot: string
  handler: string
  concurrency: number
  env?: Record<string, string>
  timeoutMs?: number
}): Promise<RunningRuntime> {
  const emulator = await options.emulatorModule.createEmulator({
    maxConcurrency: options.concurrency,
    timeoutMs: options.timeoutMs ?? 10_000,
    functionName: 'installed',
  })
  const initErrors: RunningRuntime['initErrors'] = []
  emulator.on('initError', (error) => initErrors.push(error))
  const child = spawn(options.command, [...(options.args ?? [])], {
    cwd: options.taskRoot,
    env: childEnv({
      ...emulator.env,
      AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
      LAMBDA_TASK_ROOT: options.taskRoot,
      _HANDLER: options.handler,
      AWS_LAMBDA_MAX_CONCURRENCY: String(options.concurrency),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const { logs, stderr } = collectLines(child)
  const exited = once(child, 'exit')
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    await emulator.close().catch(() => {})
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const onWaiting = (waiting: number) => {
        if (waiting >= options.concurrency) done(undefined)
      }
      const timer = setTimeout(
        () => done(new Error(`the runtime did not poll ${options.concurrency} slots in 20 s`)),
        20_000,
      )
      const done = (error: Error | undefined) => {
        clearTimeout(timer)
        emulator.off('waiting', onWaiting)
        if (error === undefined) resolve()
        else reject(error)
      }
      emulator.on('waiting', onWaiting)
      exited.then(([code, signal]) =>
        done(
          new Error(
            `the runtime exited (${code ?? signal}) before it was ready` +
              (initErrors.length > 0
                ? `; init error: ${initErrors.map((e) => `${e.errorType}: ${e.errorMessage}`).join('; ')}`
                : '') +
              `\n${stderr.slice(-20).join('\n')}`,
          ),
        ),
      )
    })
  } catch (error) {
    await close()
    throw error
  }
  return { emulator, child, logs, stderr, initErrors, close }
}

/** One invocation to send, with its Lambda tenant id (tenant isolation mode) if any. */
export interface Invocation {
  event: unknown
  tenantId?: string
}

/**
 * Sends every invocation at once (more callers than slots keep the emulator's queue full, as
 * on a busy function) and resolves with the results in the same order.
 *
 * @example
 * ```ts
 * const results = await invokeAll(running.emulator, [{ event: { n: 1 } }, { event: { n: 2 }, tenantId: 'acme' }])
 * ```
 */
export async function invokeAll(
  emulator: Emulator,
  invocations: readonly Invocation[],
): Promise<InvokeResult[]> {
  return Promise.all(
    invocations.map((invocation) =>
      emulator.invoke(
        invocation.event,
        invocation.tenantId === undefined ? undefined : { tenantId: invocation.tenantId },
      ),
    ),
  )
}
