import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { EmulatorArgumentError, EmulatorClosedError } from './errors.ts'
import { EXTENSION_PREFIX, ExtensionsApi } from './extensions.ts'
import { FaultPlan } from './faults.ts'
import {
  checkHeaderValue,
  checkTimeoutMs,
  type ResolvedOptions,
  resolveOptions,
} from './options.ts'
import {
  concatChunks,
  EMPTY,
  EMPTY_EVENT,
  firstHeader,
  flattenHeaders,
  headerJson,
  IN_ERROR_BODY,
  IN_ERROR_TYPE,
  IN_RESPONSE_MODE,
  INVOCATION_PREFIX,
  INVOKE_PREFIX,
  INVOKE_SUFFIX,
  kDropAck,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES,
  newLogStreamName,
  parseErrorDocument,
  RUNTIME_PREFIX,
  readBody,
  sendAccepted,
  sendError,
  TraceIdSource,
} from './protocol.ts'
import { Deque } from './queue.ts'
import { planShutdown, runShutdown } from './shutdown.ts'
import type {
  Emulator,
  EmulatorEventMap,
  EmulatorOptions,
  EmulatorStats,
  ExtensionErrorReport,
  Fault,
  FaultEndpoint,
  InvocationError,
  InvocationStatus,
  InvokeOptions,
  InvokeResult,
  RegisteredExtension,
  ShutdownOptions,
  ShutdownProcesses,
  ShutdownReport,
} from './types.ts'

// Ended request ids kept to answer InvalidStateTransition rather than InvalidRequestID; bounded so
// a long benchmark does not grow without end (older ids then read as unknown).
const ENDED_IDS_KEPT = 65_536
const TIMED_OUT_TYPE = 'Sandbox.Timedout'
const kInvocation = Symbol('lmi.emulator.invocation')
const kBodyDelay = Symbol('lmi.emulator.bodyDelay')

type Phase = 'queued' | 'delivered' | 'ended'

/** What an invocation was queued with, validated. */
interface InvocationInit {
  readonly requestId: string | undefined
  readonly tenantId: string | undefined
  readonly traceId: string | undefined
  /** JSON text, already made header-safe. */
  readonly clientContext: string | undefined
  /** JSON text, already made header-safe. */
  readonly identity: string | undefined
  readonly timeoutMs: number
  /** Replaces `Lambda-Runtime-Deadline-Ms`; `null` omits it, `undefined` sends the real one. */
  readonly deadlineHeader: string | null | undefined
}

/** The part of a streamed response received so far. */
interface StreamState {
  readonly chunks: Buffer[]
  size: number
  readonly headers: Record<string, string>
}

interface Invocation {
  readonly requestId: string
  readonly event: Buffer
  readonly tenantId: string | undefined
  readonly traceId: string
  readonly clientContext: string | undefined
  readonly identity: string | undefined
  readonly timeoutMs: number
  readonly deadlineHeader: string | null | undefined
  readonly queuedAt: number
  /** The RIE caller's response, fed streamed chunks as they arrive. */
  readonly sink: ServerResponse | undefined
  readonly resolve: (result: InvokeResult) => void
  readonly reject: (error: Error) => void
  phase: Phase
  deliveredAt: number | undefined
  timer: NodeJS.Timeout | undefined
  /** A `/response` or `/error` body is being read: a second one at the same time is refused. */
  answering: boolean
  /** Event bytes still queued in the `/next` socket, not yet handed to the kernel. */
  unflushed: boolean
  /** Handed out by a `slow-body` fault's early headers: never requeued. */
  headersOnly: boolean
  /** Kept on the invocation so a timeout in mid-stream still reports the bytes sent so far. */
  stream: StreamState | undefined
}

interface DeliveryResponse extends ServerResponse {
  [kInvocation]?: Invocation
  /** A `slow-body` fault: the event follows the headers after this many ms. */
  [kBodyDelay]?: number
}

type Outcome = Omit<InvokeResult, 'requestId' | 'tenantId' | 'queuedAt' | 'deliveredAt' | 'endedAt'>

function isGone(res: ServerResponse): boolean {
  const socket = res.socket
  return res.destroyed || socket === null || socket.destroyed
}

function encodeEvent(event: unknown): Buffer {
  if (event === undefined) return EMPTY_EVENT
  if (Buffer.isBuffer(event)) return event
  if (event instanceof Uint8Array) return Buffer.from(event.buffer, event.byteOffset, event.length)
  let json: string | undefined
  try {
    json = JSON.stringify(event)
  } catch (cause) {
    throw new EmulatorArgumentError('the event cannot be serialised to JSON', { cause })
  }
  if (json === undefined) throw new EmulatorArgumentError('the event cannot be serialised to JSON')
  return Buffer.from(json)
}

function jsonHeaderValue(value: unknown, name: string): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw new EmulatorArgumentError(`${name} cannot be serialised to JSON`, { cause })
  }
  if (json === undefined) throw new EmulatorArgumentError(`${name} cannot be serialised to JSON`)
  return headerJson(json)
}

function checkRequestId(value: unknown): string {
  const requestId = checkHeaderValue(value, 'requestId')
  if (requestId.length > 256) {
    throw new EmulatorArgumentError(`requestId must be 1-256 characters, got ${requestId.length}`)
  }
  return requestId
}

function checkDeadlineHeader(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === '') return value
  return checkHeaderValue(value, 'deadlineHeader')
}

function tooLargeError(size: number, limit: number): InvocationError {
  return {
    errorType: 'Function.ResponseSizeTooLarge',
    errorMessage: `Response payload size (${size} bytes) exceeded maximum allowed payload size (${limit} bytes).`,
  }
}

function isTimedOut(error: InvocationError, typeHeader: string | undefined): boolean {
  return error.errorType === TIMED_OUT_TYPE || typeHeader === TIMED_OUT_TYPE
}

function decodeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

function sendStateError(res: ServerResponse, requestId: string): void {
  sendError(
    res,
    400,
    'InvalidStateTransition',
    `Invocation ${requestId} has already ended or is being answered`,
  )
}

class RuntimeApiEmulator extends EventEmitter<EmulatorEventMap> implements Emulator {
  readonly functionArn: string
  readonly #options: ResolvedOptions
  readonly #server: Server
  readonly #queue = new Deque<Invocation>()
  /** Every invocation not yet ended, queued or delivered, by request id. */
  readonly #live = new Map<string, Invocation>()
  readonly #ended = new Set<string>()
  /** Parked `/next` polls, oldest first (a Set keeps insertion order and deletes in O(1)). */
  readonly #waiters = new Set<ServerResponse>()
  readonly #faults = new FaultPlan()
  readonly #traceIds = new TraceIdSource()
  readonly #faultTimers = new Set<NodeJS.Timeout>()
  readonly #onNextClose: (this: ServerResponse) => void
  readonly #onDeadline: (invocation: Invocation) => void
  readonly #extensionsApi: ExtensionsApi
  /** Aborted by close(): a shutdown in progress stops waiting and SIGKILLs what is left. */
  readonly #shutdownAbort = new AbortController()
  #shutdown: Promise<ShutdownReport> | undefined
  /** Set when shutdown() starts: `/next` hands out nothing from then on, as on Lambda. */
  #shuttingDown = false
  #port = 0
  #runtimeApi = ''
  #env: Readonly<Record<string, string>> = {}
  #initError: InvocationError | undefined
  #closing: Promise<void> | undefined
  #inFlight = 0
  #peakInFlight = 0
  #delivered = 0
  #succeeded = 0
  #failed = 0
  #timedOut = 0
  #refusedAnswers = 0

  static async start(options: ResolvedOptions): Promise<RuntimeApiEmulator> {
    const emulator = new RuntimeApiEmulator(options)
    await emulator.#listen()
    return emulator
  }

  private constructor(options: ResolvedOptions) {
    super()
    this.#options = options
    this.functionArn = `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`
    this.#extensionsApi = new ExtensionsApi(this, options)
    const emulator = this
    // Shared listeners rather than a closure per request: one function object for all polls.
    this.#onNextClose = function onNextClose(this: ServerResponse) {
      emulator.#nextClosed(this)
    }
    this.#onDeadline = function onDeadline(invocation: Invocation) {
      emulator.#timeOut(invocation)
    }
    this.#server = createServer(
      {
        // Long polls must never be cut by the server: no header/request deadline, and idle
        // keep-alive connections of a quiet runtime survive between bursts.
        keepAliveTimeout: 300_000,
        headersTimeout: 0,
        requestTimeout: 0,
        noDelay: true,
      },
      function onRequest(req, res) {
        emulator.#route(req, res)
      },
    )
  }

  get url(): string {
    return `http://${this.#runtimeApi}`
  }

  get runtimeApi(): string {
    return this.#runtimeApi
  }

  get port(): number {
    return this.#port
  }

  get env(): Readonly<Record<string, string>> {
    return this.#env
  }

  get initError(): InvocationError | undefined {
    return this.#initError
  }

  get extensions(): readonly RegisteredExtension[] {
    return this.#extensionsApi.extensions
  }

  get extensionErrors(): readonly ExtensionErrorReport[] {
    return this.#extensionsApi.errors
  }

  invoke(event: unknown, options?: InvokeOptions): Promise<InvokeResult> {
    try {
      return this.#enqueue(encodeEvent(event), this.#initFromOptions(options), undefined)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  stats(): EmulatorStats {
    return {
      queued: this.#queue.length,
      inFlight: this.#inFlight,
      peakInFlight: this.#peakInFlight,
      waiting: this.#waiters.size,
      delivered: this.#delivered,
      succeeded: this.#succeeded,
      failed: this.#failed,
      timedOut: this.#timedOut,
      refusedAnswers: this.#refusedAnswers,
    }
  }

  resetPeak(): void {
    this.#peakInFlight = this.#inFlight
  }

  inject(fault: Fault): void {
    this.#faults.add(fault)
  }

  shutdown(processes: ShutdownProcesses, options?: ShutdownOptions): Promise<ShutdownReport> {
    if (this.#shutdown !== undefined) return this.#shutdown
    if (this.#closing !== undefined) return Promise.reject(new EmulatorClosedError())
    let plan: ReturnType<typeof planShutdown>
    try {
      plan = planShutdown(processes, options)
    } catch (error) {
      return Promise.reject(error)
    }
    const emulator = this
    const api = this.#extensionsApi
    this.#shutdown = runShutdown(
      plan,
      {
        begin() {
          emulator.#shuttingDown = true
          return api.closeRegistration()
        },
        releaseShutdown(reason, deadlineMs) {
          return api.releaseShutdown(reason, deadlineMs)
        },
      },
      this.#shutdownAbort.signal,
    )
    // Apart from the returned promise: a throwing listener must not turn the report into a
    // rejection (it surfaces as an unhandled rejection instead, as a bug should).
    this.#shutdown.then(function announceShutdown(report) {
      emulator.emit('shutdown', report)
    }, ignoreRejection)
    return this.#shutdown
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#shutdownAbort.abort()
    this.#extensionsApi.close()
    for (const timer of this.#faultTimers) clearTimeout(timer)
    this.#faultTimers.clear()
    this.#faults.clear()
    const pending = [...this.#live.values()]
    this.#live.clear()
    this.#queue.drain()
    this.#waiters.clear()
    this.#inFlight = 0
    for (const invocation of pending) {
      clearTimeout(invocation.timer)
      invocation.timer = undefined
      invocation.phase = 'ended'
      invocation.reject(
        new EmulatorClosedError(
          `the Runtime API emulator closed before invocation ${invocation.requestId} ended`,
        ),
      )
    }
    const server = this.#server
    this.#closing = new Promise<void>(function closeServer(resolve) {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    return this.#closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #listen(): Promise<void> {
    const server = this.#server
    const { port, host } = this.#options
    await new Promise<void>(function listen(resolve, reject) {
      function onError(error: Error): void {
        server.off('listening', onListening)
        reject(error)
      }
      function onListening(): void {
        server.off('error', onError)
        resolve()
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(port, host)
    })
    this.#port = (server.address() as AddressInfo).port
    this.#runtimeApi = `${host.includes(':') ? `[${host}]` : host}:${this.#port}`
    this.#env = Object.freeze(this.#buildEnv())
  }

  #buildEnv(): Record<string, string> {
    const options = this.#options
    const env: Record<string, string> = {
      AWS_LAMBDA_RUNTIME_API: this.#runtimeApi,
      AWS_LAMBDA_FUNCTION_NAME: options.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: options.functionVersion,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memorySizeMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: newLogStreamName(options.functionVersion, new Date()),
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    }
    // AWS_LAMBDA_MAX_CONCURRENCY is how a runtime knows it runs on Managed Instances.
    if (options.maxConcurrency > 1) {
      env['AWS_LAMBDA_MAX_CONCURRENCY'] = String(options.maxConcurrency)
      env['AWS_LAMBDA_INITIALIZATION_TYPE'] = 'lambda-managed-instances'
    }
    return env
  }

  // ---- routing ---------------------------------------------------------------------------

  #route(req: IncomingMessage, res: ServerResponse): void {
    const raw = req.url ?? '/'
    const query = raw.indexOf('?')
    const path = query === -1 ? raw : raw.slice(0, query)
    const method = req.method
    if (path.startsWith(RUNTIME_PREFIX)) {
      const rest = path.slice(RUNTIME_PREFIX.length)
      if (rest === 'invocation/next') {
        if (method === 'GET') {
          this.#enter('next', req, res, '')
          return
        }
      } else if (rest.startsWith(INVOCATION_PREFIX)) {
        const slash = rest.lastIndexOf('/')
        const encodedId = rest.slice(INVOCATION_PREFIX.length, slash)
        const action = rest.slice(slash + 1)
        if (method === 'POST' && encodedId !== '' && !encodedId.includes('/')) {
          if (action === 'response' || action === 'error') {
            // The id is one path segment, percent-encoded by the runtime: `a%2Fb` is `a/b`.
            const requestId = decodeSegment(encodedId)
            if (requestId === undefined) {
              sendError(res, 400, 'InvalidRequestID', `Malformed request ID: ${encodedId}`)
              return
            }
            this.#enter(action, req, res, requestId)
            return
          }
        }
      } else if (rest === 'init/error' && method === 'POST') {
        this.#enter('init-error', req, res, '')
        return
      }
    } else if (path.startsWith(EXTENSION_PREFIX)) {
      if (this.#extensionsApi.route(method, path.slice(EXTENSION_PREFIX.length), req, res)) return
    } else if (
      method === 'POST' &&
      path.startsWith(INVOKE_PREFIX) &&
      path.endsWith(INVOKE_SUFFIX)
    ) {
      this.#handleInvoke(req, res)
      return
    }
    sendError(res, 404, 'NotFound', `No route for ${method} ${path}`)
  }

  /** Applies the next injected fault for `endpoint`, if any, before the real handler. */
  #enter(
    endpoint: FaultEndpoint,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): void {
    const fault = this.#faults.take(endpoint)
    if (fault === undefined) {
      this.#handle(endpoint, req, res, requestId)
      return
    }
    this.emit('fault', fault)
    switch (fault.kind) {
      case 'status':
        sendError(
          res,
          fault.status,
          'InjectedFault',
          `Fault injected by the lmi emulator: ${endpoint} answered ${fault.status}`,
        )
        return
      case 'drop':
        req.socket.destroy()
        return
      case 'drop-ack':
        ;(res as ServerResponse & { [kDropAck]?: boolean })[kDropAck] = true
        this.#handle(endpoint, req, res, requestId)
        return
      case 'delay': {
        const timer = setTimeout(() => {
          this.#faultTimers.delete(timer)
          if (!isGone(res)) this.#handle(endpoint, req, res, requestId)
        }, fault.ms)
        this.#faultTimers.add(timer)
        return
      }
      case 'slow-body':
        ;(res as DeliveryResponse)[kBodyDelay] = fault.ms
        this.#handle(endpoint, req, res, requestId)
        return
    }
  }

  #handle(
    endpoint: FaultEndpoint,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): void {
    switch (endpoint) {
      case 'next':
        this.#handleNext(res)
        break
      case 'response':
        this.#handleResponse(req, res, requestId)
        break
      case 'error':
        this.#handleError(req, res, requestId)
        break
      case 'init-error':
        this.#handleInitError(req, res)
        break
    }
  }

  // ---- /next -------------------------------------------------------------------------------

  #handleNext(res: ServerResponse): void {
    if (isGone(res)) return
    this.#waiters.add(res)
    res.once('close', this.#onNextClose)
    if (!this.#dispatch()) this.#announceWaiting()
  }

  /** Pairs queued invocations with parked polls while slots are free; true if a poll left. */
  #dispatch(): boolean {
    if (this.#shuttingDown) return false
    let changed = false
    while (this.#inFlight < this.#options.maxConcurrency && this.#queue.length > 0) {
      const res = this.#takeWaiter()
      if (res === undefined) break
      changed = true
      this.#deliver(this.#queue.shift()!, res)
    }
    if (changed) this.#announceWaiting()
    return changed
  }

  #takeWaiter(): ServerResponse | undefined {
    for (const res of this.#waiters) {
      this.#waiters.delete(res)
      if (!isGone(res)) return res
    }
    return undefined
  }

  #deliver(invocation: Invocation, res: ServerResponse): void {
    const deadlineMs = Date.now() + invocation.timeoutMs
    invocation.phase = 'delivered'
    invocation.deliveredAt = performance.now()
    invocation.timer = setTimeout(
      this.#onDeadline,
      invocation.timeoutMs + this.#options.timeoutGraceMs,
      invocation,
    )
    this.#inFlight += 1
    if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight
    this.#delivered += 1
    ;(res as DeliveryResponse)[kInvocation] = invocation
    const headers: OutgoingHttpHeaders = {
      'Content-Type': 'application/json',
      'Content-Length': invocation.event.length,
      'Lambda-Runtime-Aws-Request-Id': invocation.requestId,
      'Lambda-Runtime-Deadline-Ms': invocation.deadlineHeader ?? deadlineMs,
      'Lambda-Runtime-Invoked-Function-Arn': this.functionArn,
      'Lambda-Runtime-Trace-Id': invocation.traceId,
    }
    if (invocation.deadlineHeader === null) delete headers['Lambda-Runtime-Deadline-Ms']
    if (invocation.clientContext !== undefined) {
      headers['Lambda-Runtime-Client-Context'] = invocation.clientContext
    }
    if (invocation.identity !== undefined) {
      headers['Lambda-Runtime-Cognito-Identity'] = invocation.identity
    }
    if (invocation.tenantId !== undefined) {
      headers['Lambda-Runtime-Aws-Tenant-Id'] = invocation.tenantId
    }
    res.writeHead(200, headers)
    const bodyDelay = (res as DeliveryResponse)[kBodyDelay]
    if (bodyDelay !== undefined) {
      // Handed out with its headers: the runtime knows the request id, so it is never requeued.
      invocation.headersOnly = true
      res.flushHeaders()
      const timer = setTimeout(() => {
        this.#faultTimers.delete(timer)
        if (!isGone(res)) res.end(invocation.event)
      }, bodyDelay)
      this.#faultTimers.add(timer)
    } else {
      res.end(invocation.event)
    }
    // Node 22 marks the response finished once the bytes are queued on the socket; an event
    // too large for the socket buffers is only out once the socket drains.
    const socket = res.socket
    if (socket?.writableNeedDrain) {
      invocation.unflushed = true
      socket.once('drain', function eventFlushed() {
        invocation.unflushed = false
      })
    }
    if (this.listenerCount('delivered') > 0) {
      this.emit('delivered', {
        requestId: invocation.requestId,
        tenantId: invocation.tenantId,
        deadlineMs,
      })
    }
  }

  /** A `/next` response closed: a parked poll leaves the line; a failed delivery is requeued. */
  #nextClosed(res: ServerResponse): void {
    if (this.#waiters.delete(res)) {
      this.#announceWaiting()
      return
    }
    const invocation = (res as DeliveryResponse)[kInvocation]
    // Not finished means the event never fully left: the runtime cannot have it, so it must not
    // be lost with the socket.
    if (
      invocation !== undefined &&
      (!res.writableFinished || invocation.unflushed) &&
      invocation.phase === 'delivered' &&
      !invocation.answering &&
      !invocation.headersOnly
    ) {
      this.#requeue(invocation)
    }
  }

  #requeue(invocation: Invocation): void {
    invocation.unflushed = false
    clearTimeout(invocation.timer)
    invocation.timer = undefined
    invocation.phase = 'queued'
    invocation.deliveredAt = undefined
    this.#inFlight -= 1
    this.#delivered -= 1
    this.#queue.unshift(invocation)
    this.#dispatch()
  }

  #announceWaiting(): void {
    if (this.listenerCount('waiting') > 0) this.emit('waiting', this.#waiters.size)
  }

  // ---- /response and /error ---------------------------------------------------------------

  /** The delivered invocation `requestId` names, or `undefined` after answering 400. */
  #claim(res: ServerResponse, requestId: string): Invocation | undefined {
    const invocation = this.#live.get(requestId)
    if (invocation?.phase === 'delivered') {
      if (!invocation.answering) return invocation
      this.#refusedAnswers += 1
      sendStateError(res, requestId)
      return undefined
    }
    this.#refusedAnswers += 1
    if (invocation === undefined && this.#ended.has(requestId)) {
      sendStateError(res, requestId)
      return undefined
    }
    // Unknown, or queued and so never handed to the runtime.
    sendError(res, 400, 'InvalidRequestID', `Invalid request ID: ${requestId}`)
    return undefined
  }

  #handleResponse(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const invocation = this.#claim(res, requestId)
    if (invocation === undefined) return
    invocation.answering = true
    if (firstHeader(req.headers[IN_RESPONSE_MODE])?.toLowerCase() === 'streaming') {
      this.#readStreamedResponse(invocation, req, res)
    } else {
      this.#readBufferedResponse(invocation, req, res)
    }
  }

  #readBufferedResponse(invocation: Invocation, req: IncomingMessage, res: ServerResponse): void {
    const emulator = this
    readAnswer(invocation, req, res, function onResponseBody(body, size) {
      const outcome: Outcome = {
        status: 'success',
        payload: EMPTY,
        error: undefined,
        errorTypeHeader: firstHeader(req.headers[IN_ERROR_TYPE]),
        timedOutBy: undefined,
        streamed: false,
        responseHeaders: flattenHeaders(req.headers),
      }
      if (body === undefined) {
        outcome.status = 'error'
        outcome.error = tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES)
        emulator.#end(invocation, outcome)
        sendTooLarge(res)
        return
      }
      outcome.payload = body
      emulator.#end(invocation, outcome)
      sendAccepted(res)
    })
  }

  #readStreamedResponse(invocation: Invocation, req: IncomingMessage, res: ServerResponse): void {
    const emulator = this
    const stream: StreamState = { chunks: [], size: 0, headers: flattenHeaders(req.headers) }
    const sink = invocation.sink
    const limit = LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES
    let overLimit = false
    let ended = false
    invocation.stream = stream
    function resume(): void {
      req.resume()
    }
    req.on('data', function onStreamData(chunk: Buffer) {
      if (overLimit) return
      if (stream.size + chunk.length > limit) {
        overLimit = true
        return
      }
      stream.size += chunk.length
      stream.chunks.push(chunk)
      if (sink === undefined || invocation.phase !== 'delivered' || sink.destroyed) return
      if (!sink.headersSent) emulator.#startPassThrough(invocation, sink, req, resume)
      // Backpressure: a slow caller slows the runtime's upload instead of filling memory.
      if (!sink.write(chunk)) {
        req.pause()
        sink.once('drain', resume)
      }
    })
    req.on('end', function onStreamEnd() {
      ended = true
      invocation.answering = false
      if (invocation.phase !== 'delivered') {
        sendStateError(res, invocation.requestId)
        return
      }
      invocation.stream = undefined
      const outcome: Outcome = {
        status: 'success',
        payload: concatChunks(stream.chunks, stream.size),
        error: undefined,
        errorTypeHeader: undefined,
        timedOutBy: undefined,
        streamed: true,
        responseHeaders: stream.headers,
      }
      if (overLimit) {
        outcome.status = 'error'
        outcome.error = tooLargeError(stream.size, limit)
        emulator.#end(invocation, outcome)
        sendError(
          res,
          413,
          'RequestEntityTooLarge',
          `Exceeded maximum allowed streamed payload size (${limit} bytes).`,
        )
        return
      }
      const trailerType = firstHeader(req.trailers[IN_ERROR_TYPE])
      const trailerBody = firstHeader(req.trailers[IN_ERROR_BODY])
      if (trailerType !== undefined || trailerBody !== undefined) {
        const text = trailerBody === undefined ? '' : Buffer.from(trailerBody, 'base64').toString()
        const error = parseErrorDocument(text, trailerType)
        const timedOut = isTimedOut(error, trailerType)
        outcome.status = timedOut ? 'timeout' : 'error'
        outcome.error = error
        outcome.errorTypeHeader = trailerType
        outcome.timedOutBy = timedOut ? 'runtime' : undefined
      }
      emulator.#end(invocation, outcome)
      sendAccepted(res)
    })
    req.on('close', function onStreamClose() {
      // Cut mid-stream: as for buffered bodies the invocation stays open; the bytes so far stay
      // on it so a later timeout reports them.
      if (!ended) invocation.answering = false
    })
  }

  #startPassThrough(
    invocation: Invocation,
    sink: ServerResponse,
    req: IncomingMessage,
    resume: () => void,
  ): void {
    sink.writeHead(200, {
      'Content-Type': firstHeader(req.headers['content-type']) ?? 'application/octet-stream',
      'X-Amzn-RequestId': invocation.requestId,
      'X-Amz-Executed-Version': this.#options.functionVersion,
      // An error after the first byte can only be told in a trailer.
      Trailer: 'X-Amz-Function-Error',
    })
    // A caller that leaves must not keep the runtime's upload paused forever.
    sink.once('close', resume)
  }

  #handleError(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const invocation = this.#claim(res, requestId)
    if (invocation === undefined) return
    invocation.answering = true
    const emulator = this
    readAnswer(invocation, req, res, function onErrorBody(body, size) {
      const typeHeader = firstHeader(req.headers[IN_ERROR_TYPE])
      const error =
        body === undefined
          ? tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES)
          : parseErrorDocument(body.toString(), typeHeader)
      const timedOut = isTimedOut(error, typeHeader)
      emulator.#end(invocation, {
        status: timedOut ? 'timeout' : 'error',
        payload: EMPTY,
        error,
        errorTypeHeader: typeHeader,
        timedOutBy: timedOut ? 'runtime' : undefined,
        streamed: false,
        responseHeaders: flattenHeaders(req.headers),
      })
      if (body === undefined) sendTooLarge(res)
      else sendAccepted(res)
    })
  }

  // ---- /init/error -------------------------------------------------------------------------

  #handleInitError(req: IncomingMessage, res: ServerResponse): void {
    const emulator = this
    readBody(req, LAMBDA_RESPONSE_LIMIT_BYTES, function onInitErrorBody(body, size, complete) {
      if (!complete) return
      if (emulator.#initError !== undefined) {
        sendError(res, 403, 'InvalidStateTransition', 'An init error was already reported')
        return
      }
      const typeHeader = firstHeader(req.headers[IN_ERROR_TYPE])
      const error =
        body === undefined
          ? tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES)
          : parseErrorDocument(body.toString(), typeHeader)
      emulator.#initError = error
      sendAccepted(res)
      // The function cannot start: nothing still queued will ever run.
      for (const invocation of emulator.#queue.drain()) emulator.#failUndelivered(invocation, error)
      emulator.emit('initError', error)
    })
  }

  // ---- invocations -------------------------------------------------------------------------

  #initFromOptions(options: InvokeOptions | undefined): InvocationInit {
    const { requestId, tenantId, traceId, clientContext, identity, timeoutMs, deadlineHeader } =
      options ?? {}
    return {
      requestId: requestId === undefined ? undefined : checkRequestId(requestId),
      tenantId: tenantId === undefined ? undefined : checkHeaderValue(tenantId, 'tenantId'),
      traceId: traceId === undefined ? undefined : checkHeaderValue(traceId, 'traceId'),
      clientContext:
        clientContext === undefined ? undefined : jsonHeaderValue(clientContext, 'clientContext'),
      identity: identity === undefined ? undefined : jsonHeaderValue(identity, 'identity'),
      timeoutMs:
        timeoutMs === undefined ? this.#options.timeoutMs : checkTimeoutMs(timeoutMs, 'timeoutMs'),
      deadlineHeader: checkDeadlineHeader(deadlineHeader),
    }
  }

  /** Queues an invocation; throws (synchronously) only when closed or for a clashing id. */
  #enqueue(
    event: Buffer,
    init: InvocationInit,
    sink: ServerResponse | undefined,
  ): Promise<InvokeResult> {
    if (this.#closing !== undefined) throw new EmulatorClosedError()
    const requestId = init.requestId ?? randomUUID()
    if (this.#live.has(requestId)) {
      throw new EmulatorArgumentError(`request id ${requestId} belongs to an invocation not ended`)
    }
    const { promise, resolve, reject } = Promise.withResolvers<InvokeResult>()
    const invocation: Invocation = {
      requestId,
      event,
      tenantId: init.tenantId,
      traceId: init.traceId ?? this.#traceIds.next(Date.now()),
      clientContext: init.clientContext,
      identity: init.identity,
      timeoutMs: init.timeoutMs,
      deadlineHeader: init.deadlineHeader,
      queuedAt: performance.now(),
      sink,
      resolve,
      reject,
      phase: 'queued',
      deliveredAt: undefined,
      timer: undefined,
      answering: false,
      unflushed: false,
      headersOnly: false,
      stream: undefined,
    }
    if (this.#initError !== undefined) {
      this.#failUndelivered(invocation, this.#initError)
      return promise
    }
    this.#live.set(requestId, invocation)
    this.#queue.push(invocation)
    this.#dispatch()
    return promise
  }

  #failUndelivered(invocation: Invocation, error: InvocationError): void {
    this.#end(invocation, {
      status: 'error',
      payload: EMPTY,
      error,
      errorTypeHeader: undefined,
      timedOutBy: undefined,
      streamed: false,
      responseHeaders: {},
    })
  }

  #timeOut(invocation: Invocation): void {
    if (invocation.phase !== 'delivered') return
    invocation.timer = undefined
    const stream = invocation.stream
    const seconds = (invocation.timeoutMs / 1000).toFixed(2)
    this.#end(invocation, {
      status: 'timeout',
      payload: stream === undefined ? EMPTY : concatChunks(stream.chunks, stream.size),
      error: {
        errorType: TIMED_OUT_TYPE,
        errorMessage: `RequestId: ${invocation.requestId} Error: Task timed out after ${seconds} seconds`,
      },
      errorTypeHeader: undefined,
      timedOutBy: 'emulator',
      streamed: stream !== undefined,
      responseHeaders: stream === undefined ? {} : stream.headers,
    })
  }

  #end(invocation: Invocation, outcome: Outcome): void {
    if (invocation.phase === 'delivered') {
      this.#inFlight -= 1
      clearTimeout(invocation.timer)
      invocation.timer = undefined
    }
    invocation.phase = 'ended'
    invocation.stream = undefined
    this.#live.delete(invocation.requestId)
    this.#ended.add(invocation.requestId)
    if (this.#ended.size > ENDED_IDS_KEPT) {
      const oldest = this.#ended.values().next().value
      if (oldest !== undefined) this.#ended.delete(oldest)
    }
    const status: InvocationStatus = outcome.status
    if (status === 'success') this.#succeeded += 1
    else if (status === 'error') this.#failed += 1
    else this.#timedOut += 1
    const result: InvokeResult = {
      requestId: invocation.requestId,
      status,
      payload: outcome.payload,
      error: outcome.error,
      errorTypeHeader: outcome.errorTypeHeader,
      timedOutBy: outcome.timedOutBy,
      streamed: outcome.streamed,
      responseHeaders: outcome.responseHeaders,
      tenantId: invocation.tenantId,
      queuedAt: invocation.queuedAt,
      deliveredAt: invocation.deliveredAt,
      endedAt: performance.now(),
    }
    // Settle before emitting, so a throwing listener cannot leave the caller waiting.
    invocation.resolve(result)
    if (this.listenerCount('ended') > 0) this.emit('ended', result)
    this.#dispatch()
  }

  // ---- RIE-compatible invoke endpoint -------------------------------------------------------

  #handleInvoke(req: IncomingMessage, res: ServerResponse): void {
    const emulator = this
    readBody(req, LAMBDA_RESPONSE_LIMIT_BYTES, function onInvokeBody(body, _size, complete) {
      if (!complete) return
      if (body === undefined) {
        sendError(
          res,
          413,
          'RequestEntityTooLargeException',
          `Request must be smaller than ${LAMBDA_RESPONSE_LIMIT_BYTES} bytes for the Invoke operation`,
        )
        return
      }
      let init: InvocationInit
      try {
        if (body.length > 0) JSON.parse(body.toString())
        init = emulator.#initFromHeaders(req)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        sendError(res, 400, 'InvalidRequestContentException', `Could not parse request: ${message}`)
        return
      }
      let pending: Promise<InvokeResult>
      try {
        pending = emulator.#enqueue(body.length === 0 ? EMPTY_EVENT : body, init, res)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        sendError(res, 400, 'InvalidRequestContentException', message)
        return
      }
      pending.then(
        function answerInvoke(result) {
          emulator.#answerInvoke(res, result)
        },
        function invokeAbandoned() {
          // Only close() rejects, and it destroys this socket too.
          res.destroy()
        },
      )
    })
  }

  #initFromHeaders(req: IncomingMessage): InvocationInit {
    const tenantId = firstHeader(req.headers['x-amz-tenant-id'])
    const clientContext = firstHeader(req.headers['x-amz-client-context'])
    let clientContextJson: string | undefined
    if (clientContext !== undefined) {
      // Re-serialised: the decoded JSON may hold newlines or Unicode a header cannot carry.
      clientContextJson = headerJson(
        JSON.stringify(JSON.parse(Buffer.from(clientContext, 'base64').toString())),
      )
    }
    return {
      requestId: undefined,
      tenantId: tenantId === undefined ? undefined : checkHeaderValue(tenantId, 'X-Amz-Tenant-Id'),
      traceId: undefined,
      clientContext: clientContextJson,
      identity: undefined,
      timeoutMs: this.#options.timeoutMs,
      deadlineHeader: undefined,
    }
  }

  #answerInvoke(res: ServerResponse, result: InvokeResult): void {
    if (res.destroyed) return
    const failed = result.status !== 'success'
    if (res.headersSent) {
      // The response was streamed through: only the trailer can still say it failed.
      if (failed) res.addTrailers({ 'X-Amz-Function-Error': 'Unhandled' })
      res.end()
      return
    }
    const body = failed ? Buffer.from(JSON.stringify(result.error)) : result.payload
    const headers: OutgoingHttpHeaders = {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      'X-Amzn-RequestId': result.requestId,
      'X-Amz-Executed-Version': this.#options.functionVersion,
    }
    if (failed) headers['X-Amz-Function-Error'] = 'Unhandled'
    res.writeHead(200, headers)
    res.end(body)
  }
}

/**
 * Starts a local Lambda Runtime API on loopback, for a runtime to poll, plus the RIE-compatible
 * invoke endpoint `POST /2015-03-31/functions/function/invocations`. Rejects with
 * `EmulatorArgumentError` for bad options, or with the listen error (e.g. `EADDRINUSE`).
 *
 * @example
 * ```ts
 * import { createEmulator } from '@lmi/dev/emulator'
 *
 * const emulator = await createEmulator({ maxConcurrency: 8, timeoutMs: 1000 })
 * // run a runtime with AWS_LAMBDA_RUNTIME_API=emulator.runtimeApi, then:
 * const result = await emulator.invoke({ orderId: 42 }, { tenantId: 'acme' })
 * console.log(result.status, result.payload.toString())
 * await emulator.close()
 * ```
 */
export async function createEmulator(options?: EmulatorOptions): Promise<Emulator> {
  return RuntimeApiEmulator.start(resolveOptions(options))
}

/**
 * Reads a `/response` or `/error` body (whole, up to the buffered limit) for a delivered
 * invocation; `onBody` gets `undefined` for a body over the limit.
 */
function readAnswer(
  invocation: Invocation,
  req: IncomingMessage,
  res: ServerResponse,
  onBody: (body: Buffer | undefined, size: number) => void,
): void {
  readBody(req, LAMBDA_RESPONSE_LIMIT_BYTES, function onAnswerBody(body, size, complete) {
    invocation.answering = false
    // A request cut before its end changes nothing: the runtime may post again, and the
    // deadline still ends the invocation if it does not.
    if (!complete) return
    if (invocation.phase !== 'delivered') {
      sendStateError(res, invocation.requestId)
      return
    }
    onBody(body, size)
  })
}

// The caller holds the same promise and sees the rejection there.
function ignoreRejection(): void {}

function sendTooLarge(res: ServerResponse): void {
  sendError(
    res,
    413,
    'RequestEntityTooLarge',
    `Exceeded maximum allowed payload size (${LAMBDA_RESPONSE_LIMIT_BYTES} bytes).`,
  )
}
