import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { ANSWER_HEADERS } from '@lmi/core/internal'
import type { EmulatedInvocation, InvokeOutcome, StreamState } from './invocations.ts'
import {
  concatChunks,
  firstHeader,
  flattenHeaders,
  isTimedOut,
  LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES,
  parseErrorDocument,
  tooLargeError,
} from './protocol.ts'

/** The message of the 413 a streamed response over the limit gets. */
export const STREAMED_TOO_LARGE_MESSAGE = `Exceeded maximum allowed streamed payload size (${LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES} bytes).`

/**
 * Reads a streamed `/response` (`Lambda-Runtime-Function-Response-Mode: streaming`) for a
 * delivered invocation. The bytes are kept on `invocation.stream` (a timeout in mid-stream
 * reports them) and, for an invoke endpoint caller, passed through to it as they arrive, its
 * pace slowing the runtime's upload. `onEnd` runs once the request has ended, with what was
 * kept and whether the body went over Lambda's streamed limit; a request cut before its end
 * never reaches it, and the invocation stays open.
 */
export function readStreamedResponse(
  invocation: EmulatedInvocation,
  req: IncomingMessage,
  functionVersion: string,
  onEnd: (stream: StreamState, overLimit: boolean) => void,
): void {
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
    if (!sink.headersSent)
      startPassThrough(invocation.requestId, sink, req, functionVersion, resume)
    // Backpressure: a slow caller slows the runtime's upload instead of filling memory.
    if (!sink.write(chunk)) {
      req.pause()
      sink.once('drain', resume)
    }
  })
  req.on('end', function onStreamEnd() {
    ended = true
    invocation.answering = false
    onEnd(stream, overLimit)
  })
  req.on('close', function onStreamClose() {
    // Cut mid-stream: as for buffered bodies the invocation stays open; the bytes so far stay
    // on it so a later timeout reports them.
    if (!ended) invocation.answering = false
  })
}

/**
 * How a streamed response that reached its end ended the invocation: over the limit, a
 * failure told in the error trailers (the only way once bytes are out), or success.
 */
export function streamedOutcome(
  stream: StreamState,
  overLimit: boolean,
  trailers: IncomingHttpHeaders,
): InvokeOutcome {
  const outcome: InvokeOutcome = {
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
    outcome.error = tooLargeError(stream.size, LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES)
    return outcome
  }
  const trailerType = firstHeader(trailers[ANSWER_HEADERS.errorType])
  const trailerBody = firstHeader(trailers[ANSWER_HEADERS.errorBody])
  if (trailerType !== undefined || trailerBody !== undefined) {
    const text = trailerBody === undefined ? '' : Buffer.from(trailerBody, 'base64').toString()
    const error = parseErrorDocument(text, trailerType)
    const timedOut = isTimedOut(error, trailerType)
    outcome.status = timedOut ? 'timeout' : 'error'
    outcome.error = error
    outcome.errorTypeHeader = trailerType
    outcome.timedOutBy = timedOut ? 'runtime' : undefined
  }
  return outcome
}

/** Starts the invoke endpoint caller's response when the first streamed bytes arrive. */
function startPassThrough(
  requestId: string,
  sink: ServerResponse,
  req: IncomingMessage,
  functionVersion: string,
  resume: () => void,
): void {
  sink.writeHead(200, {
    'Content-Type': firstHeader(req.headers['content-type']) ?? 'application/octet-stream',
    'X-Amzn-RequestId': requestId,
    'X-Amz-Executed-Version': functionVersion,
    // An error after the first byte can only be told in a trailer.
    Trailer: 'X-Amz-Function-Error',
  })
  // A caller that leaves must not keep the runtime's upload paused forever.
  sink.once('close', resume)
}
