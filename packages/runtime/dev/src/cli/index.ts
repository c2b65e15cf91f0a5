// The public surface of `@lmi/dev` and the `lmi` bin's entry: `lmi runtime`, `lmi dev`
// (./dev.ts), `lmi check` (./check/). What the commands share is in ./shared/.
import { InvalidConfigurationError } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'
import type { CheckOptions, CheckResult } from './check/types.ts'
import { devCommand } from './dev.ts'

// The check's own modules load only when a check runs: `lmi dev` and `lmi --help` do not pay
// for them.
export {
  CheckError,
  CheckEventsError,
  CheckHandlerError,
  CheckUsageError,
} from '../errors.ts'
export { describeCompared, formatReport, toJsonReport } from './check/report.ts'
export type {
  CheckFinding,
  CheckOptions,
  CheckProgress,
  CheckResult,
  DifferenceExample,
  LogExample,
  ResponseDifference,
} from './check/types.ts'
export { type DevOptions, type DevServer, startDev } from './dev.ts'

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
        process.exitCode = await devCommand(rest)
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
