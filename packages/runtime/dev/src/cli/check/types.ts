import type { FindingCode } from '@lmi/core'

/**
 * Options of {@link runCheck}. Only `handler` and `events` are required; the defaults are
 * those of `lmi check`.
 *
 * @example
 * ```ts
 * const options: CheckOptions = {
 *   handler: 'src/app.handler',
 *   events: 'test/events/',
 *   rounds: 2,
 *   seed: 1234,
 * }
 * ```
 */
export interface CheckOptions {
  /** `path/to/module.export`, relative to `cwd` (as `_HANDLER` is to `LAMBDA_TASK_ROOT`). */
  handler: string
  /**
   * A JSON file holding an array of events, a directory of `.json` files (one event each,
   * sorted by name), both relative to `cwd`; or the events themselves.
   */
  events: string | readonly unknown[]
  /** Working directory and `LAMBDA_TASK_ROOT` of the runtime. Default `process.cwd()`. */
  cwd?: string
  /** Invocations in flight at once in the concurrent phase. Default `min(64, 4 × events)`. */
  concurrency?: number
  /** Concurrent rounds, each running every event several times in a new order. Default 3. */
  rounds?: number
  /** Seed of the shuffles (an unsigned 32-bit integer). Default: random, reported back. */
  seed?: number
  /** Function timeout of each invocation, ms. Default 10 000. */
  timeoutMs?: number
  /** Fresh-process runs of each event alone (≥ 2: what differs between them is ignored). Default 2. */
  soloRuns?: number
  /**
   * Solo runtime processes started ahead of their turn, so that start-up overlaps the
   * invocation before; invocations themselves never overlap in the solo phase.
   * Default `min(4, available CPUs)`.
   */
  soloJobs?: number
  /** Response paths never compared, e.g. `$.body.took`, `$.items[*].at`. */
  ignore?: readonly string[]
  /** Extra environment for the handler. */
  env?: Readonly<Record<string, string>>
  /**
   * Environment variables set to the URL of the check's local sink (an HTTP server answering
   * 200 `{}` to anything), e.g. `['API_URL']`: a handler's endpoints pointed there send nothing
   * off the machine. The handler always gets the URL as `LMI_CHECK_SINK_URL` too.
   */
  sinkEnv?: readonly string[]
  /**
   * Each event's invocations carry a tenant id of their own, `lmi-check-tenant-<n>` for event
   * `n`, as Lambda sends one to a function in tenant isolation mode (`context.tenantId`,
   * InvokeStore's `getTenantId()`); another event's tenant id in a response, a log or metric
   * line or a request is then traced to that event like its values. Default `false`: Lambda
   * sends none unless the function isolates tenants.
   */
  tenantIds?: boolean
  /**
   * Node options of the runtime processes. Default: the loader-related options this process
   * was started with (`--conditions`, `--import`, `--require`, `--loader`,
   * `--enable-source-maps`, `--no-warnings`).
   */
  execArgv?: readonly string[]
  /** How long the handler may take to load, ms. Default 30 000. */
  initTimeoutMs?: number
  /**
   * Stops the check: every runtime process is stopped and `runCheck` rejects with the
   * signal's reason.
   */
  signal?: AbortSignal
  /** Called as invocations end (for a progress line). */
  onProgress?: (progress: CheckProgress) => void
  /** Called with every line the runtime processes print that is not a finding (`--verbose`). */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void
}

/**
 * Where a running check is.
 *
 * @example
 * ```ts
 * const onProgress = ({ phase, done, total, findingLines }: CheckProgress) =>
 *   process.stderr.write(`\r${phase} ${done}/${total}, ${findingLines} finding lines`)
 * ```
 */
export interface CheckProgress {
  readonly phase: 'solo' | 'concurrent'
  /** Invocations ended so far in this phase. */
  readonly done: number
  readonly total: number
  /** The concurrent round, from 1; 0 in the solo phase. */
  readonly round: number
  readonly rounds: number
  /** Finding lines the detectors wrote so far (before grouping). */
  readonly findingLines: number
  /** Concurrent responses so far that differ from their event's solo response. */
  readonly differingResponses: number
}

/**
 * One place where a response under concurrency differs from the event's solo response.
 *
 * @example
 * ```ts
 * const difference: ResponseDifference = {
 *   path: '$.body.user', expected: '"alice"', got: '"bob"', likelyFrom: ['events.json[1]'],
 * }
 * ```
 */
export interface ResponseDifference {
  /** `$` (the whole outcome: a response vs an error or a timeout), or a JSON path into it. */
  readonly path: string
  /** The solo value, as JSON (shortened); `(absent)` for a missing key. */
  readonly expected: string
  readonly got: string
  /** Other events whose solo response has the value that was got here: where it likely leaked from. */
  readonly likelyFrom: readonly string[]
}

/**
 * One concurrent invocation whose response differed from its reference.
 *
 * @example
 * ```ts
 * const example: DifferenceExample = {
 *   event: 'events.json[0]', requestId: '5f2c…', referenceRequestId: '9a1e…', round: 1,
 *   differences: [{ path: '$.user', expected: '"alice"', got: '"bob"', likelyFrom: ['events.json[1]'] }],
 * }
 * ```
 */
export interface DifferenceExample {
  readonly event: string
  /** The concurrent invocation. */
  readonly requestId: string
  /** The solo invocation whose response is the reference. */
  readonly referenceRequestId: string
  readonly round: number
  readonly differences: readonly ResponseDifference[]
}

/**
 * A finding of `lmi check`, grouped: one per code, subject and place for the detectors' findings
 * (however many invocations made them), one per set of differing paths for
 * `LMI_CONCURRENCY_DEPENDENT_RESPONSE`.
 *
 * @example
 * ```ts
 * const finding: CheckFinding = {
 *   code: 'LMI_SHARED_ENV_WRITE', subject: 'process.env.TENANT', message: '…',
 *   location: 'src/app.mjs:12:3', stack: 'at handler (/app/src/app.mjs:12:3)',
 *   requestId: '5f2c…', otherRequestId: undefined, events: ['events.json[0]'],
 *   phases: ['solo', 'concurrent'], occurrences: 14, examples: [],
 * }
 * ```
 */
export interface CheckFinding {
  readonly code: FindingCode
  /** What was touched (`process.env.TENANT`), or for a differing response the paths that differ. */
  readonly subject: string
  readonly message: string
  /** `file:line:column` of the user code that did it, relative to `cwd` when inside it. */
  readonly location: string | undefined
  /** The user-code stack the detector captured. */
  readonly stack: string | undefined
  /** The invocation that did it (for a differing response: the concurrent invocation). */
  readonly requestId: string | undefined
  /** The other invocation involved (for a differing response: the solo reference). */
  readonly otherRequestId: string | undefined
  /** Names of the events of the invocations involved. */
  readonly events: readonly string[]
  /** In which phases it was seen. */
  readonly phases: ReadonlyArray<'solo' | 'concurrent'>
  /** How many finding lines, or differing invocations, it groups. */
  readonly occurrences: number
  /** For `LMI_CONCURRENCY_DEPENDENT_RESPONSE`: up to three differing invocations. */
  readonly examples: readonly DifferenceExample[]
  /**
   * For `LMI_CONCURRENCY_DEPENDENT_LOG`, `LMI_CONCURRENCY_DEPENDENT_METRIC` (EMF lines) and
   * `LMI_ESCAPED_LOG`: up to three of the lines.
   */
  readonly lines?: readonly LogExample[]
  /** For `LMI_CONCURRENCY_DEPENDENT_REQUEST`: up to three of the requests. */
  readonly requests?: readonly RequestExample[]
  /** The usual cause, in a line (log findings). */
  readonly hint?: string
}

/**
 * One outgoing request behind a request finding: who made it, and where the value it carries
 * belongs.
 *
 * @example
 * ```ts
 * const example: RequestExample = {
 *   event: 'events[2]', requestId: '5f2c…', round: 1, otherEvent: 'events[0]',
 *   otherRequestId: '9a1e…', otherPhase: 'solo', kind: 'value', path: '$.headers["x-tenant-id"]',
 *   value: '"acme"', line: 'GET http://127.0.0.1:41234/orders x-tenant-id: acme',
 * }
 * ```
 */
export interface RequestExample {
  /** The event of the concurrent invocation that made the request. */
  readonly event: string
  readonly requestId: string
  /** The concurrent round, from 1. */
  readonly round: number
  /** The event the value belongs to. */
  readonly otherEvent: string
  /** The invocation that sent the value alone (`solo`), or whose id it is (`concurrent`). */
  readonly otherPhase: 'solo' | 'concurrent'
  readonly otherRequestId: string
  /** `value`: another event's value; `request-id`, `trace-id`: another invocation's id. */
  readonly kind: 'value' | 'request-id' | 'trace-id'
  /** The path of the value in the request's record (`$.url`, `$.headers[…]`, `$.body…`). */
  readonly path: string | undefined
  /** The value (JSON), token or id. */
  readonly value: string
  /** The request, shortened: method, URL, and the header or body the value is in. */
  readonly line: string
}

/**
 * One log line behind a log finding: who wrote it, and for a line that carries another
 * invocation's value, where that value belongs.
 *
 * @example
 * ```ts
 * const example: LogExample = {
 *   event: 'events.json[0]', requestId: '5f2c…', round: 1, stream: 'stdout',
 *   otherEvent: 'events.json[1]', otherRequestId: '9a1e…', otherPhase: 'solo',
 *   path: '$.customer', value: '"bob"', line: '{"level":"INFO","customer":"bob",…}', at: undefined,
 * }
 * ```
 */
export interface LogExample {
  /** The event of the invocation that wrote the line; `undefined` when none did. */
  readonly event: string | undefined
  readonly requestId: string | undefined
  /** The concurrent round, from 1; 0 in the solo phase. */
  readonly round: number
  readonly stream: 'stdout' | 'stderr'
  /** The event the value belongs to. */
  readonly otherEvent: string | undefined
  /** The invocation that logged the value alone (`solo`), or whose request id it is (`concurrent`). */
  readonly otherRequestId: string | undefined
  readonly otherPhase: 'solo' | 'concurrent' | undefined
  /** The JSON path of the value in the line; `undefined` in a text line. */
  readonly path: string | undefined
  /** The value (JSON) or token of the other invocation. */
  readonly value: string | undefined
  /** The line, shortened. */
  readonly line: string
  /** `file:line:column` of the code that wrote it, when the runtime knows (escaped lines). */
  readonly at: string | undefined
}

/**
 * The outcome of {@link runCheck}. `findings` empty means clean (`lmi check` exits 0).
 *
 * @example
 * ```ts
 * const result: CheckResult = await runCheck({ handler: 'app.handler', events: 'events.json' })
 * process.exitCode = result.findings.length === 0 ? 0 : 1
 * ```
 */
export interface CheckResult {
  readonly handler: string
  readonly seed: number
  readonly concurrency: number
  readonly rounds: number
  /** Invocations per concurrent round (every event the same number of times, ≥ 2 × concurrency). */
  readonly invocationsPerRound: number
  readonly soloRuns: number
  readonly timeoutMs: number
  readonly events: ReadonlyArray<{ readonly name: string; readonly index: number }>
  readonly invocations: {
    readonly solo: number
    readonly concurrent: number
    /** Invocations (either phase) that hit the timeout. */
    readonly timedOut: number
    /** Invocations (either phase) the runtime process exited without answering. */
    readonly crashed: number
  }
  /**
   * What the concurrent phase was compared by, with the solo runs: its responses, the log
   * lines its invocations wrote while they ran (`metricLines` of them EMF lines) and the HTTP
   * requests they made.
   */
  readonly compared: {
    readonly responses: number
    readonly logLines: number
    readonly metricLines: number
    readonly requests: number
  }
  /** Sorted by code, then subject. */
  readonly findings: readonly CheckFinding[]
  /** Things worth knowing that are not findings (an event that fails alone, an unstable reference). */
  readonly notes: readonly string[]
  readonly durationMs: number
}
