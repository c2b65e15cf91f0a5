import type { ChildProcess } from 'node:child_process'
import type { EventEmitter } from 'node:events'

/**
 * Options of {@link createEmulator}. Every field is optional; the defaults play a one-at-a-time
 * Lambda function with a 3 s timeout.
 *
 * @example
 * ```ts
 * const options: EmulatorOptions = { maxConcurrency: 64, timeoutMs: 10_000, region: 'eu-west-1' }
 * const emulator = await createEmulator(options)
 * ```
 */
export interface EmulatorOptions {
  /** TCP port; `0` (the default) picks a free one. */
  port?: number
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string
  /** Most invocations delivered and not yet ended at once. Default `1`. */
  maxConcurrency?: number
  /** Function timeout in ms, the distance from delivery to `Lambda-Runtime-Deadline-Ms`. Default `3000`. */
  timeoutMs?: number
  /** How long after the deadline the emulator itself times an invocation out. Default `20`. */
  timeoutGraceMs?: number
  /** Default `'lmi-function'`. */
  functionName?: string
  /** Default `'$LATEST'`. */
  functionVersion?: string
  /** Default `'us-east-1'`. */
  region?: string
  /** Default `'123456789012'`. */
  accountId?: string
  /** Only reported through {@link Emulator.env}. Default `2048`. */
  memorySizeMb?: number
  /**
   * The function's handler setting, as the Extensions API's `/register` answer reports it
   * (`handler`). Default `''`.
   */
  handler?: string
}

/**
 * Per-invocation options of {@link Emulator.invoke}.
 *
 * @example
 * ```ts
 * await emulator.invoke({ id: 1 }, { tenantId: 'tenant-a', timeoutMs: 500 })
 * ```
 */
export interface InvokeOptions {
  /** Sent as `Lambda-Runtime-Aws-Tenant-Id`. */
  tenantId?: string
  /** Sent verbatim as `Lambda-Runtime-Trace-Id`; a fresh sampled X-Ray id when absent. */
  traceId?: string
  /** Serialised with `JSON.stringify` into `Lambda-Runtime-Client-Context`. */
  clientContext?: unknown
  /** Serialised with `JSON.stringify` into `Lambda-Runtime-Cognito-Identity`. */
  identity?: unknown
  /** Overrides the emulator's `timeoutMs` for this invocation. */
  timeoutMs?: number
  /**
   * Request id to use instead of a random UUID; must not belong to an invocation still running.
   * Any header-safe text of 1-256 characters, spaces and `/` included: a runtime must
   * percent-encode it in the `/response` and `/error` paths, and the emulator decodes it.
   */
  requestId?: string
  /**
   * Sent instead of the real `Lambda-Runtime-Deadline-Ms`: a string as is (`''` sends an empty
   * header), `null` omits the header. For testing how a runtime handles a malformed deadline;
   * the emulator still times the invocation out after `timeoutMs`.
   */
  deadlineHeader?: string | null
}

/**
 * The error document of the Runtime API (`/error`, `/init/error`, streaming trailers).
 *
 * @example
 * ```ts
 * const error: InvocationError = { errorType: 'TypeError', errorMessage: 'x is undefined', stackTrace: [] }
 * ```
 */
export interface InvocationError {
  errorType: string
  errorMessage: string
  /** The frames, as Lambda documents the error body (lmi's runtime sends it). */
  stackTrace?: string[]
  /** The whole `error.stack`, line by line: what AWS's Node runtime sends (lmi's sends both). */
  trace?: string[]
}

/**
 * How an invocation ended.
 *
 * @example
 * ```ts
 * const { status }: { status: InvocationStatus } = await emulator.invoke({})
 * ```
 */
export type InvocationStatus = 'success' | 'error' | 'timeout'

/**
 * The outcome of one invocation, resolved by {@link Emulator.invoke} and emitted as `'ended'`.
 * Times (`queuedAt`, `deliveredAt`, `endedAt`) are `performance.now()` milliseconds of the
 * emulator's process: monotonic, comparable with each other, not epoch times.
 *
 * @example
 * ```ts
 * const result: InvokeResult = await emulator.invoke({ n: 1 })
 * if (result.status === 'success') console.log(JSON.parse(result.payload.toString()))
 * ```
 */
export interface InvokeResult {
  requestId: string
  status: InvocationStatus
  /** Response bytes: empty for errors and timeouts unless a streamed response sent some first. */
  payload: Buffer
  error: InvocationError | undefined
  /** `Lambda-Runtime-Function-Error-Type` the runtime sent (header or streaming trailer), if any. */
  errorTypeHeader: string | undefined
  timedOutBy: 'runtime' | 'emulator' | undefined
  streamed: boolean
  /** Headers (lower-case names) of the runtime's `/response` or `/error` request; trailers excluded. */
  responseHeaders: Record<string, string>
  tenantId: string | undefined
  queuedAt: number
  deliveredAt: number | undefined
  endedAt: number
}

/**
 * Counters of {@link Emulator.stats}. `queued`, `inFlight` and `waiting` are current values, the
 * others accumulate from creation (`peakInFlight` from the last {@link Emulator.resetPeak}).
 *
 * @example
 * ```ts
 * const { delivered, peakInFlight }: EmulatorStats = emulator.stats()
 * ```
 */
export interface EmulatorStats {
  /** Invocations waiting for a `/next`. */
  queued: number
  /** Delivered and not yet ended (timed-out ones no longer count). */
  inFlight: number
  peakInFlight: number
  /** `/next` long polls parked in the emulator, waiting for an invocation. */
  waiting: number
  delivered: number
  succeeded: number
  failed: number
  timedOut: number
  /**
   * `/response` or `/error` posts refused (400): a second answer to an invocation, an answer
   * to one already ended or never handed out. 0 with every delivered invocation ended by the
   * runtime (`timedOutBy` not `'emulator'`) means each got exactly one answer.
   */
  refusedAnswers: number
}

/**
 * Payload of the `'delivered'` event.
 *
 * @example
 * ```ts
 * emulator.on('delivered', ({ requestId, deadlineMs }: DeliveredEvent) => console.log(requestId, deadlineMs))
 * ```
 */
export interface DeliveredEvent {
  requestId: string
  tenantId: string | undefined
  /** Epoch ms, the value of `Lambda-Runtime-Deadline-Ms`. */
  deadlineMs: number
}

/**
 * Events of the {@link Emulator}: `'delivered'` when `/next` hands out an invocation, `'ended'`
 * when one ends, `'initError'` when the runtime posts `/runtime/init/error`, `'waiting'` with
 * the number of parked `/next` polls whenever it changes, `'fault'` when an injected fault is
 * applied to a request (before its effect).
 *
 * @example
 * ```ts
 * emulator.on('ended', (result) => console.log(result.requestId, result.status))
 * ```
 */
export interface EmulatorEventMap {
  delivered: [event: DeliveredEvent]
  ended: [result: InvokeResult]
  initError: [error: InvocationError]
  waiting: [waiting: number]
  fault: [fault: Fault]
  /** An extension registered through `POST /2020-01-01/extension/register`. */
  extensionRegistered: [extension: RegisteredExtension]
  /** An extension posted `/extension/init/error` or `/extension/exit/error`. */
  extensionError: [error: ExtensionErrorReport]
  /**
   * An extension's `/extension/event/next` poll is parked, waiting for an event. On Lambda,
   * this first poll is how an extension says its init is done.
   */
  extensionWaiting: [extension: RegisteredExtension]
  /** An event was written to an extension's `/extension/event/next` poll. */
  extensionEvent: [delivery: ExtensionEventDelivery]
  /** {@link Emulator.shutdown} finished; the same report it resolves with. */
  shutdown: [report: ShutdownReport]
}

/**
 * Events an extension may subscribe to. Lambda also knows `INVOKE`, but on Lambda Managed
 * Instances extensions may subscribe to `SHUTDOWN` only, and the emulator plays LMI: a
 * `/register` naming `INVOKE` is refused with `Extension.InvalidEventType`.
 *
 * @example
 * ```ts
 * const events: ExtensionEventType[] = ['SHUTDOWN']
 * ```
 */
export type ExtensionEventType = 'SHUTDOWN'

/**
 * Why the execution environment shuts down, the `shutdownReason` of a `SHUTDOWN` event.
 *
 * @example
 * ```ts
 * const reason: ShutdownReason = 'spindown'
 * ```
 */
export type ShutdownReason = 'spindown' | 'timeout' | 'failure'

/**
 * An extension registered with the emulator's Extensions API, listed by
 * {@link Emulator.extensions} and emitted as `'extensionRegistered'`.
 *
 * @example
 * ```ts
 * emulator.on('extensionRegistered', ({ name, id }: RegisteredExtension) => console.log(name, id))
 * ```
 */
export interface RegisteredExtension {
  /** `Lambda-Extension-Name`: the extension's file name. Unique among registered extensions. */
  readonly name: string
  /** `Lambda-Extension-Identifier`: a random UUID the extension sends on every later request. */
  readonly id: string
  readonly events: readonly ExtensionEventType[]
}

/**
 * The body of a `SHUTDOWN` event, as `/extension/event/next` sends it.
 *
 * @example
 * ```ts
 * const event: ShutdownEvent = { eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: Date.now() + 2000 }
 * ```
 */
export interface ShutdownEvent {
  readonly eventType: 'SHUTDOWN'
  readonly shutdownReason: ShutdownReason
  /** Epoch ms by which the extension must have exited; after it, the emulator SIGKILLs it. */
  readonly deadlineMs: number
}

/**
 * Payload of the `'extensionEvent'` event: an event written to one extension's poll.
 *
 * @example
 * ```ts
 * emulator.on('extensionEvent', ({ name, event }: ExtensionEventDelivery) => console.log(name, event.shutdownReason))
 * ```
 */
export interface ExtensionEventDelivery {
  readonly extensionId: string
  readonly name: string
  /** `Lambda-Extension-Event-Identifier` of the answer. */
  readonly eventId: string
  readonly event: ShutdownEvent
}

/**
 * An error an extension reported, listed by {@link Emulator.extensionErrors} and emitted as
 * `'extensionError'`: `init` for `/extension/init/error`, `exit` for `/extension/exit/error`.
 *
 * @example
 * ```ts
 * emulator.on('extensionError', ({ name, kind, errorType }: ExtensionErrorReport) => console.error(name, kind, errorType))
 * ```
 */
export interface ExtensionErrorReport {
  readonly extensionId: string
  readonly name: string
  readonly kind: 'init' | 'exit'
  /** `Lambda-Extension-Function-Error-Type`, e.g. `Extension.ConfigInvalid`. */
  readonly errorType: string
  /** The body read as an error document, `undefined` when the body was empty. */
  readonly error: InvocationError | undefined
}

/**
 * The processes {@link Emulator.shutdown} stops. The emulator spawns nothing itself: these are
 * the caller's children, started with {@link Emulator.env}.
 *
 * @example
 * ```ts
 * const processes: ShutdownProcesses = { runtime: spawn('lmi-runtime', { env }), extensions: [spawn('./extensions/lmi', { env })] }
 * ```
 */
export interface ShutdownProcesses {
  readonly runtime: ChildProcess
  /** External extension processes, waited for until the phase deadline, then SIGKILLed. */
  readonly extensions?: readonly ChildProcess[]
}

/**
 * Options of {@link Emulator.shutdown}; integers in ms.
 *
 * @example
 * ```ts
 * await emulator.shutdown({ runtime }, { reason: 'timeout', phaseMs: 2000, runtimeMs: 300 })
 * ```
 */
export interface ShutdownOptions {
  /** `shutdownReason` of the `SHUTDOWN` event. Default `'spindown'`. */
  reason?: ShutdownReason
  /**
   * The whole shutdown phase: the `SHUTDOWN` event's `deadlineMs` is the start plus this, and
   * extensions still alive then are SIGKILLed. Default `2000`, Lambda's (and LMI's) limit for
   * the shutdown phase with external extensions registered. From 1 to 60000.
   */
  phaseMs?: number
  /**
   * How long the runtime has between SIGTERM and SIGKILL. Default `300`: AWS's docs say Lambda
   * reserves up to 300 ms for the runtime to shut down. (AWS's runtime interface emulator gives
   * the runtime 30% of the phase instead.) From 1 to `phaseMs`.
   */
  runtimeMs?: number
}

/**
 * How one process ended during {@link Emulator.shutdown}.
 *
 * @example
 * ```ts
 * const { killed, signal }: ProcessShutdown = report.runtime
 * ```
 */
export interface ProcessShutdown {
  readonly pid: number | undefined
  /** Got SIGKILL from the emulator. */
  readonly killed: boolean
  /**
   * Ms from the start of the shutdown to the process's exit: `0` if it had exited before,
   * `null` if it was still alive 2 s after SIGKILL (a process in uninterruptible sleep).
   */
  readonly exitedAfterMs: number | null
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/**
 * The runtime's part of a {@link ShutdownReport}.
 *
 * @example
 * ```ts
 * const { terminated, killed }: RuntimeShutdown = report.runtime
 * ```
 */
export interface RuntimeShutdown extends ProcessShutdown {
  /** Got SIGTERM, which happens only with at least one extension registered. */
  readonly terminated: boolean
}

/**
 * What {@link Emulator.shutdown} did, resolved when every process given has exited (or was
 * SIGKILLed and given up on) and emitted as `'shutdown'`.
 *
 * @example
 * ```ts
 * const report: ShutdownReport = await emulator.shutdown({ runtime })
 * if (report.runtime.killed) console.warn('the runtime did not exit in time')
 * ```
 */
export interface ShutdownReport {
  readonly reason: ShutdownReason
  /** Extensions registered when the shutdown started: 0 means the runtime got SIGKILL at once. */
  readonly extensionsRegistered: number
  readonly runtime: RuntimeShutdown
  /** One entry per process of {@link ShutdownProcesses.extensions}, in the same order. */
  readonly extensions: readonly ProcessShutdown[]
  /** Ms from the call to the last process's exit. */
  readonly durationMs: number
}

/**
 * Runtime API endpoints a {@link Fault} can target.
 *
 * @example
 * ```ts
 * const endpoint: FaultEndpoint = 'next'
 * ```
 */
export type FaultEndpoint = 'next' | 'response' | 'error' | 'init-error'

/**
 * A fault for the next request(s) to one endpoint, consumed in order, `times` (default 1) each:
 * - `status`: answer that status with a JSON body and change nothing (`/next` delivers nothing);
 * - `drop`: destroy the socket without answering (`/next` has delivered nothing, nothing is lost);
 * - `delay`: handle the request as usual after `ms`;
 * - `drop-ack`: handle the request in full (the answer is recorded), then destroy the socket
 *   instead of sending the 202: the runtime cannot tell its answer arrived, as when a
 *   connection fails after the Runtime API has read the request;
 * - `slow-body` (`/next` only): send the headers of the invocation the poll gets at once and
 *   its body `ms` later. The invocation is handed out with its headers (`'delivered'` fires
 *   then): a runtime that drops the connection before the body has lost it, and the emulator
 *   times it out rather than handing it out again.
 *
 * @example
 * ```ts
 * emulator.inject({ endpoint: 'response', kind: 'status', status: 500, times: 2 })
 * emulator.inject({ endpoint: 'next', kind: 'drop' })
 * ```
 */
export type Fault =
  | { endpoint: FaultEndpoint; kind: 'status'; status: number; times?: number }
  | { endpoint: FaultEndpoint; kind: 'drop'; times?: number }
  | { endpoint: FaultEndpoint; kind: 'delay'; ms: number; times?: number }
  | { endpoint: FaultEndpoint; kind: 'drop-ack'; times?: number }
  | { endpoint: 'next'; kind: 'slow-body'; ms: number; times?: number }

/**
 * A local Lambda Runtime API (`/2018-06-01`) plus the RIE-compatible invoke endpoint
 * (`POST /2015-03-31/functions/function/invocations`), made by {@link createEmulator}.
 *
 * @example
 * ```ts
 * await using emulator = await createEmulator({ maxConcurrency: 4 })
 * const child = spawn('lmi-runtime', { env: { ...process.env, ...emulator.env } })
 * const result = await emulator.invoke({ hello: 'world' })
 * // leaving the scope closes it, as `await emulator.close()` would
 * ```
 */
export interface Emulator extends EventEmitter<EmulatorEventMap>, AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** `127.0.0.1:PORT`, the value for `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string
  readonly port: number
  readonly functionArn: string
  /** The first error posted to `/runtime/init/error`, if any. */
  readonly initError: InvocationError | undefined
  /** Extensions registered through the Extensions API (`/2020-01-01/extension/register`), in order. */
  readonly extensions: readonly RegisteredExtension[]
  /** Errors extensions posted to `/extension/init/error` and `/extension/exit/error`, in order. */
  readonly extensionErrors: readonly ExtensionErrorReport[]
  /**
   * Environment variables Lambda would give the runtime process for this function
   * (`AWS_LAMBDA_RUNTIME_API`, function name/version/memory, region, log group/stream, and
   * `AWS_LAMBDA_MAX_CONCURRENCY` when `maxConcurrency > 1`).
   */
  readonly env: Readonly<Record<string, string>>
  /**
   * Queues one invocation; resolves when it ends. Never rejects for function errors or timeouts;
   * rejects with {@link EmulatorClosedError} if the emulator closes first and with
   * {@link EmulatorArgumentError} for bad options. A `Uint8Array` event is sent as is (it must
   * be JSON); `undefined` is sent as `{}`; anything else goes through `JSON.stringify`.
   */
  invoke(event: unknown, options?: InvokeOptions): Promise<InvokeResult>
  stats(): EmulatorStats
  /** Restarts `peakInFlight` from the current `inFlight`. */
  resetPeak(): void
  /** Adds a fault; throws {@link EmulatorArgumentError} if it is malformed. */
  inject(fault: Fault): void
  /**
   * Plays Lambda's shutdown phase as its RAPID does, on the caller's processes. From the call
   * on, `/next` hands out nothing: queued and later invocations stay queued (`close()` rejects
   * them). With no extension registered, the runtime gets SIGKILL at once (Lambda spends no
   * time on a graceful runtime shutdown then). Otherwise the runtime gets SIGTERM, and SIGKILL
   * if still alive `runtimeMs` after the start; then every extension subscribed to `SHUTDOWN`
   * gets the event (`deadlineMs` = start + `phaseMs`), and the extension processes still alive
   * at that deadline get SIGKILL (at once if no extension subscribed to `SHUTDOWN`). A
   * `close()` meanwhile SIGKILLs what is left at once. Never rejects for how the processes behave; rejects with
   * {@link EmulatorArgumentError} for bad arguments. A second call returns the first promise.
   */
  shutdown(processes: ShutdownProcesses, options?: ShutdownOptions): Promise<ShutdownReport>
  /**
   * Stops listening, destroys every socket (parked extension polls included), rejects pending
   * invocations with {@link EmulatorClosedError} and clears every timer. Idempotent.
   */
  close(): Promise<void>
}
