import type { EventEmitter } from 'node:events'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import {
  ANSWER_HEADERS,
  JSON_CONTENT_TYPE,
  NEXT_HEADERS,
  STREAMING_RESPONSE_MODE,
} from '@lmi/core/internal'
import { type FaultTimers, slowBodyDelay } from './faults.ts'
import type { EmulatedInvocation, InvocationTable } from './invocations.ts'
import {
  EMPTY,
  firstHeader,
  flattenHeaders,
  isGone,
  isTimedOut,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  parseErrorDocument,
  readBody,
  sendAccepted,
  sendError,
  tooLargeError,
} from './protocol.ts'
import { readStreamedResponse, STREAMED_TOO_LARGE_MESSAGE, streamedOutcome } from './stream.ts'
import type { EmulatorEventMap, FaultEndpoint } from './types.ts'

function sendStateError(res: ServerResponse, requestId: string): void {
  sendError(
    res,
    400,
    'InvalidStateTransition',
    `Invocation ${requestId} has already ended or is being answered`,
  )
}

function sendTooLarge(res: ServerResponse, message: string): void {
  sendError(res, 413, 'RequestEntityTooLarge', message)
}

const BUFFERED_TOO_LARGE_MESSAGE = `Exceeded maximum allowed payload size (${LAMBDA_RESPONSE_LIMIT_BYTES} bytes).`

/**
 * Answers a parked `GET /next` with `invocation`: its event and metadata headers. Returns the
 * deadline (epoch ms) the runtime is told. A `slow-body` fault on `res` sends the headers now
 * and the event later, on `timers`.
 */
export function sendInvocation(
  invocation: EmulatedInvocation,
  res: ServerResponse,
  functionArn: string,
  timers: FaultTimers,
): number {
  const deadlineMs = Date.now() + invocation.timeoutMs
  const headers: OutgoingHttpHeaders = {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': invocation.event.length,
    [NEXT_HEADERS.requestId]: invocation.requestId,
    [NEXT_HEADERS.deadlineMs]: invocation.deadlineHeader ?? deadlineMs,
    [NEXT_HEADERS.functionArn]: functionArn,
    [NEXT_HEADERS.traceId]: invocation.traceId,
  }
  if (invocation.deadlineHeader === null) delete headers[NEXT_HEADERS.deadlineMs]
  if (invocation.clientContext !== undefined) {
    headers[NEXT_HEADERS.clientContext] = invocation.clientContext
  }
  if (invocation.identity !== undefined) {
    headers[NEXT_HEADERS.cognitoIdentity] = invocation.identity
  }
  if (invocation.tenantId !== undefined) {
    headers[NEXT_HEADERS.tenantId] = invocation.tenantId
  }
  res.writeHead(200, headers)
  const bodyDelay = slowBodyDelay(res)
  if (bodyDelay !== undefined) {
    // Handed out with its headers: the runtime knows the request id, so it is never requeued.
    invocation.headersOnly = true
    res.flushHeaders()
    timers.after(bodyDelay, function sendSlowBody() {
      if (!isGone(res)) res.end(invocation.event)
    })
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
  return deadlineMs
}

/**
 * Reads a `/response` or `/error` body (whole, up to the buffered limit) for a delivered
 * invocation; `onBody` gets `undefined` for a body over the limit.
 */
function readAnswer(
  invocation: EmulatedInvocation,
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

/**
 * The runtime's side of the Runtime API: `GET /invocation/next`, `POST
 * /invocation/<id>/response` and `/error`, and `POST /init/error`, on the invocations of
 * `table`. Faults are applied before, by the router.
 */
export class RuntimeApi {
  readonly #table: InvocationTable
  readonly #emitter: EventEmitter<EmulatorEventMap>
  /** Sent back to an invoke endpoint caller whose response is streamed through. */
  readonly #functionVersion: string

  constructor(
    table: InvocationTable,
    emitter: EventEmitter<EmulatorEventMap>,
    functionVersion: string,
  ) {
    this.#table = table
    this.#emitter = emitter
    this.#functionVersion = functionVersion
  }

  /** Serves `endpoint`; `requestId` is the decoded id for `response` and `error`, else `''`. */
  handle(
    endpoint: FaultEndpoint,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): void {
    switch (endpoint) {
      case 'next':
        this.#table.park(res)
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

  /** The delivered invocation `requestId` names, or `undefined` after answering 400. */
  #claim(res: ServerResponse, requestId: string): EmulatedInvocation | undefined {
    const claimed = this.#table.claim(requestId)
    if (typeof claimed === 'object') return claimed
    if (claimed === 'InvalidStateTransition') sendStateError(res, requestId)
    else sendError(res, 400, claimed, `Invalid request ID: ${requestId}`)
    return undefined
  }

  #handleResponse(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const invocation = this.#claim(res, requestId)
    if (invocation === undefined) return
    invocation.answering = true
    const mode = firstHeader(req.headers[ANSWER_HEADERS.responseMode])
    if (mode?.toLowerCase() === STREAMING_RESPONSE_MODE) {
      this.#readStreamedResponse(invocation, req, res)
    } else {
      this.#readBufferedResponse(invocation, req, res)
    }
  }

  #readBufferedResponse(
    invocation: EmulatedInvocation,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const table = this.#table
    readAnswer(invocation, req, res, function onResponseBody(body, size) {
      const tooLarge = body === undefined
      table.end(invocation, {
        status: tooLarge ? 'error' : 'success',
        payload: tooLarge ? EMPTY : body,
        error: tooLarge ? tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES) : undefined,
        errorTypeHeader: firstHeader(req.headers[ANSWER_HEADERS.errorType]),
        timedOutBy: undefined,
        streamed: false,
        responseHeaders: flattenHeaders(req.headers),
      })
      if (tooLarge) sendTooLarge(res, BUFFERED_TOO_LARGE_MESSAGE)
      else sendAccepted(res)
    })
  }

  #readStreamedResponse(
    invocation: EmulatedInvocation,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const table = this.#table
    readStreamedResponse(
      invocation,
      req,
      this.#functionVersion,
      function onStreamEnd(stream, overLimit) {
        if (invocation.phase !== 'delivered') {
          sendStateError(res, invocation.requestId)
          return
        }
        invocation.stream = undefined
        table.end(invocation, streamedOutcome(stream, overLimit, req.trailers))
        if (overLimit) sendTooLarge(res, STREAMED_TOO_LARGE_MESSAGE)
        else sendAccepted(res)
      },
    )
  }

  #handleError(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const invocation = this.#claim(res, requestId)
    if (invocation === undefined) return
    invocation.answering = true
    const table = this.#table
    readAnswer(invocation, req, res, function onErrorBody(body, size) {
      const typeHeader = firstHeader(req.headers[ANSWER_HEADERS.errorType])
      const error =
        body === undefined
          ? tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES)
          : parseErrorDocument(body.toString(), typeHeader)
      const timedOut = isTimedOut(error, typeHeader)
      table.end(invocation, {
        status: timedOut ? 'timeout' : 'error',
        payload: EMPTY,
        error,
        errorTypeHeader: typeHeader,
        timedOutBy: timedOut ? 'runtime' : undefined,
        streamed: false,
        responseHeaders: flattenHeaders(req.headers),
      })
      if (body === undefined) sendTooLarge(res, BUFFERED_TOO_LARGE_MESSAGE)
      else sendAccepted(res)
    })
  }

  #handleInitError(req: IncomingMessage, res: ServerResponse): void {
    const table = this.#table
    const emitter = this.#emitter
    readBody(req, LAMBDA_RESPONSE_LIMIT_BYTES, function onInitErrorBody(body, size, complete) {
      if (!complete) return
      if (table.initError !== undefined) {
        sendError(res, 403, 'InvalidStateTransition', 'An init error was already reported')
        return
      }
      const typeHeader = firstHeader(req.headers[ANSWER_HEADERS.errorType])
      const error =
        body === undefined
          ? tooLargeError(size, LAMBDA_RESPONSE_LIMIT_BYTES)
          : parseErrorDocument(body.toString(), typeHeader)
      sendAccepted(res)
      table.failInit(error)
      emitter.emit('initError', error)
    })
  }
}
