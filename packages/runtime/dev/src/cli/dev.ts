// `lmi dev`: the Runtime API emulator and lmi's runtime (a child process) serving one handler,
// with an RIE-compatible invoke endpoint.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { InvalidConfigurationError } from '@lmi/core'
import { createEmulator, type Emulator } from '../emulator/index.ts'
import { parseCommandLine } from './shared/flags.ts'
import { handlerFileNotice, runtimeBin } from './shared/runtime.ts'

/**
 * Options of {@link startDev}. Defaults: concurrency 16, port 9000, timeout 30 s, `cwd`
 * `process.cwd()`, output inherited.
 *
 * @example
 * ```ts
 * const options: DevOptions = { handler: 'src/app.handler', port: 0, env: { STAGE: 'dev' } }
 * ```
 */
export interface DevOptions {
  /** `path/to/file.export`, relative to `cwd`. */
  handler: string
  concurrency?: number
  port?: number
  timeoutMs?: number
  cwd?: string
  env?: Record<string, string>
  /** Where the runtime's output goes. Default: inherited. */
  stdio?: 'inherit' | 'pipe'
}

/**
 * A running `lmi dev`: the emulator and the runtime child process.
 *
 * @example
 * ```ts
 * const dev: DevServer = await startDev({ handler: 'src/app.handler', port: 0 })
 * await dev.ready
 * console.log(dev.emulator.url)
 * await dev.close()
 * ```
 */
export interface DevServer {
  emulator: Emulator
  runtime: ChildProcess
  /** Resolves once every slot of the runtime is polling for invocations. */
  ready: Promise<void>
  /** Stops the runtime (SIGTERM, drained) and closes the emulator. */
  close(): Promise<void>
}

/**
 * Starts the Runtime API emulator and lmi's runtime (a child process, so a handler that
 * crashes the process does not take the emulator with it) for one handler.
 *
 * @example
 * ```ts
 * const dev = await startDev({ handler: 'src/app.handler', concurrency: 16, port: 0 })
 * const result = await dev.emulator.invoke({ hello: 'world' })
 * await dev.close()
 * ```
 */
export async function startDev(options: DevOptions): Promise<DevServer> {
  const concurrency = options.concurrency ?? 16
  const timeoutMs = options.timeoutMs ?? 30_000
  const emulator = await createEmulator({
    port: options.port ?? 9000,
    maxConcurrency: concurrency,
    timeoutMs,
  })
  const runtime = spawn(process.execPath, [...process.execArgv, runtimeBin()], {
    cwd: options.cwd ?? process.cwd(),
    stdio: options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: {
      ...process.env,
      ...options.env,
      // What Lambda sets for the function (name, version, memory, region, concurrency, ...).
      ...emulator.env,
      LAMBDA_TASK_ROOT: options.cwd ?? process.cwd(),
      _HANDLER: options.handler,
      AWS_LAMBDA_MAX_CONCURRENCY: String(concurrency),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
    },
  })
  const exited = once(runtime, 'exit')
  const ready = new Promise<void>((resolve, reject) => {
    const onWaiting = (waiting: number) => {
      if (waiting < concurrency) return
      emulator.off('waiting', onWaiting)
      resolve()
    }
    emulator.on('waiting', onWaiting)
    exited.then(([code]) => {
      emulator.off('waiting', onWaiting)
      reject(new InvalidConfigurationError(`the runtime exited (code ${code}) before it was ready`))
    })
  })
  // `ready` may be ignored by callers; its rejection is reported through `exit` too.
  ready.catch(() => {})
  let closing: Promise<void> | undefined
  return {
    emulator,
    runtime,
    ready,
    close() {
      closing ??= (async () => {
        if (runtime.exitCode === null && runtime.signalCode === null) {
          runtime.kill('SIGTERM')
          await exited
        }
        await emulator.close()
      })()
      return closing
    },
  }
}

const DEV_USAGE = `Usage: lmi dev <file.export> [options]

Runs a handler locally: lmi's Runtime API emulator and lmi's runtime (a child process), with
an RIE-compatible invoke endpoint. <file.export> is Lambda's handler name: app.handler loads
app.js, app.mjs or app.cjs (Lambda's order), or app.ts/.mts/.cts on Node >= 22.18.

Options:
  --concurrency, -c N   invocations in flight at once (AWS_LAMBDA_MAX_CONCURRENCY), default 16
  --port, -p P          port of the emulator, default 9000 (0 picks a free one)
  --timeout, -t S       function timeout in seconds, default 30
  --env KEY=VALUE       extra environment for the handler (repeatable)
  --help, -h            show this help

Invoke it (X-Amz-Tenant-Id sets the tenant id):
  curl -XPOST http://127.0.0.1:9000/2015-03-31/functions/function/invocations -d '{}'
`

const DEV_FLAGS = {
  concurrency: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  timeout: { type: 'string', short: 't' },
  env: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const

/**
 * `lmi dev …`: parses `argv`, starts the emulator and the runtime, and resolves with the
 * runtime's exit code once it has stopped (SIGINT or SIGTERM stop it). Throws
 * `InvalidConfigurationError` on bad arguments.
 *
 * @example
 * ```ts
 * process.exitCode = await devCommand(['src/app.handler', '--port', '0'])
 * ```
 */
export async function devCommand(argv: readonly string[]): Promise<number> {
  const line = parseCommandLine(
    argv,
    DEV_FLAGS,
    (message) => new InvalidConfigurationError(message),
  )
  const { values, positionals } = line
  if (values.help === true) {
    process.stdout.write(DEV_USAGE)
    return 0
  }
  const handler = positionals[0]
  if (handler === undefined) {
    throw new InvalidConfigurationError('lmi dev needs a handler: lmi dev path/to/file.export')
  }
  const env = line.env(values.env)
  const concurrency = line.integer('concurrency', { min: 1 }) ?? 16
  const notice = handlerFileNotice(process.cwd(), handler)
  if (notice !== undefined) process.stderr.write(`lmi dev: ${notice}\n`)
  const server = await startDev({
    handler,
    concurrency,
    port: line.integer('port', { min: 0 }) ?? 9000,
    timeoutMs: (line.integer('timeout', { min: 1 }) ?? 30) * 1000,
    env,
  })
  const stop = () => void server.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const exited = once(server.runtime, 'exit') as Promise<[number | null]>
  try {
    // "listening" only once the handler has loaded and every slot polls: an init failure is
    // reported instead, with the error the runtime posted to /runtime/init/error.
    await server.ready
    const url = `${server.emulator.url}/2015-03-31/functions/function/invocations`
    process.stderr.write(
      `lmi dev: listening on ${server.emulator.url} (handler ${handler}, concurrency ${concurrency})\n` +
        `lmi dev: invoke with  curl -XPOST ${url} -d '{}'\n`,
    )
  } catch {
    const initError = server.emulator.initError
    const reason =
      initError === undefined
        ? 'the runtime exited before it was ready'
        : `${initError.errorType}: ${initError.errorMessage}`
    process.stderr.write(`lmi dev: ${handler} failed to start: ${reason}\n`)
  }
  const [code] = await exited
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
  await server.close()
  return code ?? 0
}
