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
  stackTrace?: string[]
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
   * Stops listening, destroys every socket, rejects pending invocations with
   * {@link EmulatorClosedError} and clears every timer. Idempotent.
   */
  close(): Promise<void>
}
