import { describeValue } from '@lmi/core/internal'
import { CheckError, CheckUsageError } from '../../errors.ts'
import { parseCommandLine } from '../shared/flags.ts'
import { handlerFileNotice } from '../shared/runtime.ts'
import { runCheck } from './index.ts'
import { formatReport, toJsonReport, toJsonText } from './report.ts'
import { LIMITS } from './settings.ts'
import type { CheckOptions, CheckProgress } from './types.ts'

/**
 * The usage text of `lmi check`, printed by `lmi check --help` and after a usage error.
 *
 * @example
 * ```ts
 * process.stderr.write(CHECK_USAGE)
 * ```
 */
export const CHECK_USAGE = `Usage: lmi check <path/to/module.export> --events <file.json|dir> [options]

Finds what a Lambda handler (plain or lmi()-wrapped, ESM or CommonJS) shares between
concurrent invocations. The handler runs on the Runtime API emulator and lmi's runtime with
every shared-state detector on (LMI_SHARED_STATE=warn, one thread):
  1. each event alone, in a fresh runtime process each time (--solo-runs times): the first
     response is the event's reference; what differs between its solo runs (timestamps,
     random ids) is not compared;
  2. all events at --concurrency in one process, --rounds times in a seeded random order;
     a response that differs from its event's reference is LMI_CONCURRENCY_DEPENDENT_RESPONSE;
     a line the handler writes that holds another event's value or another invocation's
     request id is LMI_CONCURRENCY_DEPENDENT_LOG (LMI_CONCURRENCY_DEPENDENT_METRIC for a
     metric line: EMF, a dimension, property or value), and one written after its invocation
     answered (or by none) is LMI_ESCAPED_LOG.
Request ids, trace ids, UUIDs and ISO/HTTP dates are normalised before comparing, except
values that occur in the events themselves. A JSON string (API Gateway's body) is compared
as JSON; errors are compared by errorType.
Outgoing HTTP requests (fetch, undici, node:http/https: the AWS SDK, axios) are recorded
with the invocation that made them and compared the same way: another event's value, or
another running invocation's request id or trace id, in a request's method, URL, headers or
body is LMI_CONCURRENCY_DEPENDENT_REQUEST. The check runs a local sink that answers 200 {}
to anything: its URL is in LMI_CHECK_SINK_URL, and --sink-env points the handler's own
endpoint variables at it, so that nothing leaves the machine.

Options:
  --events, -e PATH     a JSON file holding an array of events, or a directory of .json
                        files, one event each, taken in name order (required)
  --concurrency, -c N   invocations in flight at once; default min(64, 4 x events)
  --rounds, -r R        concurrent rounds; each runs every event the same number of times,
                        at least 2 x N invocations in all, shuffled; default 3
  --seed S              seed of the shuffles, 0 to 4294967295; default random (reported)
  --timeout, -t S       timeout of each invocation in seconds; default 10
  --solo-runs K         runs of each event alone, each in a fresh process; default 2
  --solo-jobs J         solo processes started ahead of their turn (start-up overlaps,
                        invocations never do); default min(4, CPUs)
  --ignore PATH         a response path never compared, e.g. '$.body.took' or
                        '$.items[*].at' (repeatable)
  --env KEY=VALUE       extra environment for the handler (repeatable)
  --sink-env NAME       set the handler's variable NAME (e.g. API_URL) to the local sink's
                        URL, http://127.0.0.1:<port> (repeatable; wins over --env)
  --tenant-ids          give each event's invocations a tenant id of their own
                        (lmi-check-tenant-<n>), as a function in tenant isolation mode
                        gets: another event's tenant id anywhere is a finding
  --json                print the result as JSON on stdout (a field without a value is
                        null; the progress stays on stderr)
  --verbose             also print the handler's own output (on stderr)
  --quiet, -q           no progress line
  --help, -h            show this help

Exit status: 0 no findings, 1 findings, 2 bad arguments, unusable events or a handler that
does not load (the message says which), 128+n when stopped by signal n.

Example:
  lmi check src/orders.handler --events test/events/ --rounds 5 --seed 42 --json
`

/**
 * Where `lmi check` writes; the process's own streams unless a caller passes others.
 *
 * @example
 * ```ts
 * const io: CheckIo = { stdout: process.stdout, stderr: process.stderr }
 * ```
 */
export interface CheckIo {
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown; isTTY?: boolean }
}

function timeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 900) {
    throw new CheckUsageError(
      `--timeout must be a number of seconds from 0.001 to 900, got "${value}"`,
    )
  }
  return Math.max(1, Math.round(seconds * 1000))
}

const CHECK_FLAGS = {
  events: { type: 'string', short: 'e' },
  concurrency: { type: 'string', short: 'c' },
  rounds: { type: 'string', short: 'r' },
  seed: { type: 'string' },
  timeout: { type: 'string', short: 't' },
  'solo-runs': { type: 'string' },
  'solo-jobs': { type: 'string' },
  ignore: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  'sink-env': { type: 'string', multiple: true },
  'tenant-ids': { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const

interface ParsedCommand {
  readonly options: CheckOptions
  readonly json: boolean
  readonly verbose: boolean
  readonly quiet: boolean
  readonly help: boolean
}

/**
 * Parses `lmi check` arguments into {@link runCheck} options; throws {@link CheckUsageError}.
 *
 * @example
 * ```ts
 * parseCheckArgs(['app.handler', '-e', 'events.json', '-r', '2']).options
 * // => { handler: 'app.handler', events: 'events.json', env: {}, rounds: 2 }
 * ```
 */
export function parseCheckArgs(argv: readonly string[]): ParsedCommand {
  const line = parseCommandLine(argv, CHECK_FLAGS, (message) => new CheckUsageError(message))
  const { values, positionals } = line
  const flags = {
    json: values.json === true,
    verbose: values.verbose === true,
    quiet: values.quiet === true,
    help: values.help === true,
  }
  if (flags.help) return { ...flags, options: { handler: '', events: [] } }
  const [handler, ...extra] = positionals
  if (handler === undefined) {
    throw new CheckUsageError(
      'lmi check needs a handler: lmi check path/to/module.export --events …',
    )
  }
  if (extra.length > 0) throw new CheckUsageError(`unexpected argument "${extra[0]}"`)
  if (values.events === undefined) {
    throw new CheckUsageError(
      '--events is required: a JSON array file or a directory of .json files',
    )
  }
  const env = line.env(values.env)
  const options: CheckOptions = { handler, events: values.events, env }
  const concurrency = line.integer('concurrency', LIMITS.concurrency)
  const rounds = line.integer('rounds', LIMITS.rounds)
  const seed = line.integer('seed', LIMITS.seed)
  const soloRuns = line.integer('solo-runs', LIMITS.soloRuns)
  const soloJobs = line.integer('solo-jobs', LIMITS.soloJobs)
  const timeout = timeoutMs(values.timeout)
  if (concurrency !== undefined) options.concurrency = concurrency
  if (rounds !== undefined) options.rounds = rounds
  if (seed !== undefined) options.seed = seed
  if (soloRuns !== undefined) options.soloRuns = soloRuns
  if (soloJobs !== undefined) options.soloJobs = soloJobs
  if (timeout !== undefined) options.timeoutMs = timeout
  if (values.ignore !== undefined) options.ignore = values.ignore
  if (values['sink-env'] !== undefined) options.sinkEnv = values['sink-env']
  if (values['tenant-ids'] === true) options.tenantIds = true
  return { ...flags, options }
}

const TTY_INTERVAL_MS = 100
const CLEAR_LINE = '\r\x1b[K'

/**
 * The progress line on stderr: rewritten in place on a terminal (at most every 100 ms),
 * otherwise one line when the solo phase ends and when each concurrent round starts and ends.
 */
function progressLine(stderr: CheckIo['stderr']) {
  const tty = stderr.isTTY === true
  let shown = false
  let lastWrite = 0
  let lastRound = -1
  function label(progress: CheckProgress): string {
    // Short enough for one terminal line: a wrapped line cannot be rewritten in place.
    const findings = `findings ${progress.findingLines} · differing responses ${progress.differingResponses}`
    return progress.phase === 'solo'
      ? `lmi check: solo runs ${progress.done}/${progress.total} · ${findings}`
      : `lmi check: round ${progress.round}/${progress.rounds} · ${progress.done}/${progress.total} invocations · ${findings}`
  }
  return {
    update(progress: CheckProgress): void {
      const finished = progress.done === progress.total
      if (tty) {
        const now = Date.now()
        if (!finished && now - lastWrite < TTY_INTERVAL_MS) return
        lastWrite = now
        stderr.write(`${CLEAR_LINE}${label(progress)}`)
        shown = true
        return
      }
      const newRound = progress.phase === 'concurrent' && progress.round !== lastRound
      if (newRound) lastRound = progress.round
      if (finished || newRound) stderr.write(`${label(progress)}\n`)
    },
    /** Clears the line before other output (and at the end). */
    clear(): void {
      if (tty && shown) stderr.write(CLEAR_LINE)
      shown = false
    },
  }
}

/**
 * `lmi check …`: parses `argv`, runs {@link runCheck} with a progress line on stderr, prints
 * the report (or `--json`) on stdout, and resolves with the exit status: 0 clean, 1 findings,
 * 2 when it could not check (bad arguments, events or handler; the message says which).
 *
 * @example
 * ```ts
 * process.exitCode = await checkCommand(['src/app.handler', '--events', 'events.json'])
 * ```
 */
export async function checkCommand(
  argv: readonly string[],
  io: CheckIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let command: ParsedCommand
  try {
    command = parseCheckArgs(argv)
  } catch (error) {
    io.stderr.write(
      `lmi check: ${error instanceof Error ? error.message : describeValue(error)}\n\n`,
    )
    io.stderr.write(CHECK_USAGE)
    if (argv.includes('--json') && error instanceof CheckError) {
      io.stdout.write(toJsonText({ ok: false, error: error.toJSON() }))
    }
    return 2
  }
  if (command.help) {
    io.stdout.write(CHECK_USAGE)
    return 0
  }
  const notice = handlerFileNotice(command.options.cwd ?? process.cwd(), command.options.handler)
  if (notice !== undefined) io.stderr.write(`lmi check: ${notice}\n`)
  const progress = progressLine(io.stderr)
  const controller = new AbortController()
  let stoppedBy: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy = signal
    controller.abort(new CheckError(`stopped by ${signal}`, 'LMI_CHECK_STOPPED'))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await runCheck({
      ...command.options,
      signal: controller.signal,
      ...(command.quiet ? {} : { onProgress: (update: CheckProgress) => progress.update(update) }),
      ...(command.verbose
        ? {
            onOutput: (line: string, stream: 'stdout' | 'stderr') => {
              progress.clear()
              io.stderr.write(`[runtime ${stream}] ${line}\n`)
            },
          }
        : {}),
    })
    progress.clear()
    io.stdout.write(command.json ? toJsonText(toJsonReport(result)) : formatReport(result))
    return result.findings.length === 0 ? 0 : 1
  } catch (error) {
    progress.clear()
    const message = error instanceof Error ? error.message : describeValue(error)
    io.stderr.write(`lmi check: ${message}\n`)
    if (command.json) {
      const json =
        error instanceof CheckError
          ? error.toJSON()
          : { name: 'Error', code: 'LMI_CHECK_FAILED', message }
      io.stdout.write(toJsonText({ ok: false, error: json }))
    }
    if (stoppedBy !== undefined) return stoppedBy === 'SIGINT' ? 130 : 143
    if (error instanceof CheckUsageError) io.stderr.write(`\n${CHECK_USAGE}`)
    return 2
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
