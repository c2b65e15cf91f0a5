import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { InvalidConfigurationError } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'
import { createEmulator, type Emulator } from '../emulator/index.ts'
import type { CheckOptions, CheckResult } from './check/types.ts'
import { envFromPairs, handlerFileNotice, runtimeBin } from './common.ts'

// The check's own modules load only when a check runs: `lmi dev` and `lmi --help` do not pay
// for them.
export {
  CheckError,
  CheckEventsError,
  CheckHandlerError,
  CheckUsageError,
} from './check/errors.ts'
export { formatReport, toJsonReport } from './check/report.ts'
export type {
  CheckFinding,
  CheckOptions,
  CheckProgress,
  CheckResult,
  DifferenceExample,
  ResponseDifference,
} from './check/types.ts'

/**
 * Runs `lmi check` programmatically: the handler on lmi's runtime with every shared-state
 * detector on, each event alone then all of them concurrently, and resolves with the findings
 * (never prints). Rejects with a {@link CheckError} subclass when it cannot check. See
 * `src/cli/check/index.ts` for the method and {@link CheckOptions} for the options.
 *
 * @example
 * ```ts
 * import { formatReport, runCheck } from '@lmi/dev'
 *
 * const result = await runCheck({ handler: 'src/app.handler', events: 'test/events.json', rounds: 2 })
 * console.log(formatReport(result))
 * process.exitCode = result.findings.length === 0 ? 0 : 1
 * ```
 */
export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const check = await import('./check/index.ts')
  return check.runCheck(options)
}

const HELP = `lmi — Lambda Managed Instances tooling

Usage:
  lmi runtime [file.export]        Run lmi's Lambda runtime (same environment as AWS's Node runtime)
  lmi dev <file.export> [options]  Run a handler locally: Runtime API emulator + lmi runtime
  lmi check <file.export> --events <file.json|dir> [options]
                                   Find state a handler shares between concurrent invocations:
                                   every detector on, and each event's response alone compared
                                   with its responses under concurrency (lmi check --help)
  lmi help                         Show this help

lmi dev options:
  --concurrency, -c N   invocations in flight at once (AWS_LAMBDA_MAX_CONCURRENCY), default 16
  --port, -p P          port of the emulator, default 9000 (0 picks a free one)
  --timeout, -t S       function timeout in seconds, default 30
  --env KEY=VALUE       extra environment for the handler (repeatable)

lmi check options (see \`lmi check --help\`):
  --events, -e PATH     JSON array of events, or a directory of .json event files (required)
  --concurrency, -c N   invocations in flight at once, default min(64, 4 x events)
  --rounds, -r R        concurrent rounds, default 3
  --seed S              seed of the shuffled orders, default random (reported)
  --timeout, -t S       timeout of each invocation in seconds, default 10
  --json                result as JSON on stdout
  Exit status: 0 no findings, 1 findings, 2 bad arguments, events or handler.

Invoke a handler run by \`lmi dev\`:
  curl -XPOST http://127.0.0.1:9000/2015-03-31/functions/function/invocations -d '{}'
  (header X-Amz-Tenant-Id: <id> sets the tenant id)
`

/**
 * Entry point of the `lmi` bin.
 *
 * @example
 * ```ts
 * await runCli(['dev', 'src/app.handler', '--concurrency', '16'])
 * ```
 */
export async function runCli(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'runtime': {
        const { runRuntime } = await import('@lmi/runtime')
        await runRuntime(rest[0])
        return
      }
      case 'dev':
        process.exitCode = await dev(rest)
        return
      case 'check': {
        const { checkCommand } = await import('./check/cli.ts')
        process.exitCode = await checkCommand(rest)
        return
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP)
        return
      default:
        throw new InvalidConfigurationError(`Unknown command "${command}". Run \`lmi help\`.`)
    }
  } catch (error) {
    process.stderr.write(`lmi: ${error instanceof Error ? error.message : describeValue(error)}\n`)
    process.exitCode = 2
  }
}

function intOption(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min) {
    throw new InvalidConfigurationError(`--${name} must be an integer >= ${min}, got "${value}"`)
  }
  return parsed
}

/** Options of {@link startDev}. */
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

/** A running `lmi dev`: the emulator and the runtime child process. */
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

async function dev(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      concurrency: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      timeout: { type: 'string', short: 't' },
      env: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(DEV_USAGE)
    return 0
  }
  const handler = positionals[0]
  if (handler === undefined) {
    throw new InvalidConfigurationError('lmi dev needs a handler: lmi dev path/to/file.export')
  }
  const env = envFromPairs(values.env ?? [], (message) => new InvalidConfigurationError(message))
  const concurrency = intOption(values.concurrency, 'concurrency', 16, 1)
  const notice = handlerFileNotice(process.cwd(), handler)
  if (notice !== undefined) process.stderr.write(`lmi dev: ${notice}\n`)
  const server = await startDev({
    handler,
    concurrency,
    port: intOption(values.port, 'port', 9000, 0),
    timeoutMs: intOption(values.timeout, 'timeout', 30, 1) * 1000,
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
