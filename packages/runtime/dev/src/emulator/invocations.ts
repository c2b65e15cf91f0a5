import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { EmulatorArgumentError, EmulatorClosedError } from '../errors.ts'
import { concatChunks, EMPTY, isGone, TIMED_OUT_TYPE, TraceIdSource } from './protocol.ts'
import { Deque } from './queue.ts'
import type {
  EmulatorEventMap,
  EmulatorStats,
  InvocationError,
  InvocationStatus,
  InvokeResult,
} from './types.ts'

// Ended request ids kept to answer InvalidStateTransition rather than InvalidRequestID; bounded so
// a long benchmark does not grow without end (older ids then read as unknown).
const ENDED_IDS_KEPT = 65_536
const kDelivered = Symbol('lmi.emulator.delivered')

type Phase = 'queued' | 'delivered' | 'ended'

/** What an invocation is queued with, validated (by `invoke()` or the invoke endpoint). */
export interface InvocationInit {
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
export interface StreamState {
  readonly chunks: Buffer[]
  size: number
  readonly headers: Record<string, string>
}

/** One invocation from queueing to its end, as the emulator tracks it. */
export interface EmulatedInvocation {
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

/** How an invocation ended: its {@link InvokeResult} less what the table itself knows. */
export type InvokeOutcome = Omit<
  InvokeResult,
  'requestId' | 'tenantId' | 'queuedAt' | 'deliveredAt' | 'endedAt'
>

/** Why {@link InvocationTable.claim} refused an answer: the Runtime API's error type. */
export type ClaimRefusal = 'InvalidStateTransition' | 'InvalidRequestID'

/**
 * Writes the `/next` answer that hands `invocation` to the runtime; returns the deadline
 * (epoch ms) it announced.
 */
export type SendInvocation = (invocation: EmulatedInvocation, res: ServerResponse) => number

interface PollResponse extends ServerResponse {
  [kDelivered]?: EmulatedInvocation
}

/**
 * The invocations of one emulator: the queue, the parked `/next` polls, the invocations in
 * flight and the ids that ended. Pairs queued invocations with polls while fewer than
 * `maxConcurrency` are in flight, times them out, and keeps the counts {@link stats} reports.
 * Knows no HTTP beyond the poll responses it holds: `send` writes the `/next` answer.
 */
export class InvocationTable {
  readonly #emitter: EventEmitter<EmulatorEventMap>
  readonly #maxConcurrency: number
  readonly #timeoutGraceMs: number
  readonly #send: SendInvocation
  readonly #queue = new Deque<EmulatedInvocation>()
  /** Every invocation not yet ended, queued or delivered, by request id. */
  readonly #live = new Map<string, EmulatedInvocation>()
  readonly #ended = new Set<string>()
  /** Parked `/next` polls, oldest first (a Set keeps insertion order and deletes in O(1)). */
  readonly #waiters = new Set<ServerResponse>()
  readonly #traceIds = new TraceIdSource()
  readonly #onPollClose: (this: ServerResponse) => void
  readonly #onDeadline: (invocation: EmulatedInvocation) => void
  #initError: InvocationError | undefined
  /** Set when shutdown starts: `/next` hands out nothing from then on, as on Lambda. */
  #stopped = false
  #closed = false
  #inFlight = 0
  #peakInFlight = 0
  #delivered = 0
  #succeeded = 0
  #failed = 0
  #timedOut = 0
  #refusedAnswers = 0

  constructor(
    emitter: EventEmitter<EmulatorEventMap>,
    limits: { readonly maxConcurrency: number; readonly timeoutGraceMs: number },
    send: SendInvocation,
  ) {
    this.#emitter = emitter
    this.#maxConcurrency = limits.maxConcurrency
    this.#timeoutGraceMs = limits.timeoutGraceMs
    this.#send = send
    const table = this
    // Shared listeners rather than a closure per request: one function object for all polls.
    this.#onPollClose = function onNextClose(this: ServerResponse) {
      table.#pollClosed(this)
    }
    this.#onDeadline = function onDeadline(invocation: EmulatedInvocation) {
      table.#timeOut(invocation)
    }
  }

  /** The error the runtime reported on `/init/error`, if it did. */
  get initError(): InvocationError | undefined {
    return this.#initError
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

  /** Queues an invocation; throws (synchronously) only when closed or for a clashing id. */
  add(
    event: Buffer,
    init: InvocationInit,
    sink: ServerResponse | undefined,
  ): Promise<InvokeResult> {
    if (this.#closed) throw new EmulatorClosedError()
    const requestId = init.requestId ?? randomUUID()
    if (this.#live.has(requestId)) {
      throw new EmulatorArgumentError(`request id ${requestId} belongs to an invocation not ended`)
    }
    const { promise, resolve, reject } = Promise.withResolvers<InvokeResult>()
    const invocation: EmulatedInvocation = {
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

  /** Parks a `GET /next` poll until an invocation is there for it. */
  park(res: ServerResponse): void {
    if (isGone(res)) return
    this.#waiters.add(res)
    res.once('close', this.#onPollClose)
    if (!this.#dispatch()) this.#announceWaiting()
  }

  /**
   * The delivered invocation `requestId` names, ready to take its answer; or why an answer to
   * it is refused.
   */
  claim(requestId: string): EmulatedInvocation | ClaimRefusal {
    const invocation = this.#live.get(requestId)
    if (invocation?.phase === 'delivered' && !invocation.answering) return invocation
    this.#refusedAnswers += 1
    if (invocation?.phase === 'delivered') return 'InvalidStateTransition'
    if (invocation === undefined && this.#ended.has(requestId)) return 'InvalidStateTransition'
    // Unknown, or queued and so never handed to the runtime.
    return 'InvalidRequestID'
  }

  end(invocation: EmulatedInvocation, outcome: InvokeOutcome): void {
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
    const emitter = this.#emitter
    if (emitter.listenerCount('ended') > 0) emitter.emit('ended', result)
    this.#dispatch()
  }

  /** Records the runtime's init error: what is queued, or queued later, fails with it. */
  failInit(error: InvocationError): void {
    this.#initError = error
    // The function cannot start: nothing still queued will ever run.
    for (const invocation of this.#queue.drain()) this.#failUndelivered(invocation, error)
  }

  /** Hands out nothing more (shutdown has begun). */
  stop(): void {
    this.#stopped = true
  }

  /** Rejects every invocation not ended with {@link EmulatorClosedError}; refuses new ones. */
  close(): void {
    this.#closed = true
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
  }

  /** Pairs queued invocations with parked polls while slots are free; true if a poll left. */
  #dispatch(): boolean {
    if (this.#stopped) return false
    let changed = false
    while (this.#inFlight < this.#maxConcurrency && this.#queue.length > 0) {
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

  #deliver(invocation: EmulatedInvocation, res: ServerResponse): void {
    invocation.phase = 'delivered'
    invocation.deliveredAt = performance.now()
    invocation.timer = setTimeout(
      this.#onDeadline,
      invocation.timeoutMs + this.#timeoutGraceMs,
      invocation,
    )
    this.#inFlight += 1
    if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight
    this.#delivered += 1
    ;(res as PollResponse)[kDelivered] = invocation
    const deadlineMs = this.#send(invocation, res)
    const emitter = this.#emitter
    if (emitter.listenerCount('delivered') > 0) {
      emitter.emit('delivered', {
        requestId: invocation.requestId,
        tenantId: invocation.tenantId,
        deadlineMs,
      })
    }
  }

  /** A `/next` response closed: a parked poll leaves the line; a failed delivery is requeued. */
  #pollClosed(res: ServerResponse): void {
    if (this.#waiters.delete(res)) {
      this.#announceWaiting()
      return
    }
    const invocation = (res as PollResponse)[kDelivered]
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

  #requeue(invocation: EmulatedInvocation): void {
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
    const emitter = this.#emitter
    if (emitter.listenerCount('waiting') > 0) emitter.emit('waiting', this.#waiters.size)
  }

  #failUndelivered(invocation: EmulatedInvocation, error: InvocationError): void {
    this.end(invocation, {
      status: 'error',
      payload: EMPTY,
      error,
      errorTypeHeader: undefined,
      timedOutBy: undefined,
      streamed: false,
      responseHeaders: {},
    })
  }

  #timeOut(invocation: EmulatedInvocation): void {
    if (invocation.phase !== 'delivered') return
    invocation.timer = undefined
    const stream = invocation.stream
    const seconds = (invocation.timeoutMs / 1000).toFixed(2)
    this.end(invocation, {
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
}
