// Answering an invocation, the one place that knows how an answer goes on the wire: the
// executors say what the answer is (a result, an error, a streamed answer's fate), the
// runtime hands it here. Loads no HTTP client (the client is passed in): the executors in
// worker threads build their answers with it.
import { type ErrorResponse, toErrorResponse } from '@lmi/core'
import { describeValue, RESPONSE_LIMIT_BYTES } from '@lmi/core/internal'
import {
  CODES,
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
} from '../errors.ts'
import type { RuntimeLog } from '../log/log.ts'
import { ALREADY_DELIVERED } from './protocol.ts'
import type { RuntimeApiClient } from './runtime-api.ts'

/**
 * What an invocation's answer is, for {@link answerInvocation} to send. Plain data, so it
 * crosses from a worker thread to the main thread as it is.
 *
 * - `response`: the result, already serialised (JSON text within the 6 MB limit:
 *   {@link encodeResponse}).
 * - `error`: the error body to post to `/error` (already logged inside the invocation's context).
 * - `streamed`: a streaming handler's answer, sent by the executor itself; `status` is what the
 *   Runtime API answered to it.
 * - `lost`: the streamed answer could not be sent; `fatal` when the API answered 500 (the
 *   process must then exit, Lambda's contract).
 *
 * @example
 * ```ts
 * const answer: Answer = { type: 'response', body: encodeResponse({ ok: true }) }
 * ```
 */
export type Answer =
  | { type: 'response'; body: string }
  | { type: 'error'; error: ErrorResponse; timedOut: boolean }
  | { type: 'streamed'; status: number; ok: boolean }
  | { type: 'lost'; message: string; fatal: boolean }

/**
 * A handler's result as the body of a buffered response: its JSON (`undefined` as `null`).
 * Throws {@link SerializationError} when it has no JSON form (a cycle, a BigInt, a function) and
 * {@link ResponseSizeTooLargeError} when the JSON is over Lambda's 6 MB limit.
 *
 * @example
 * ```ts
 * encodeResponse({ ok: true }) // '{"ok":true}'
 * encodeResponse({ n: 1n }) // throws SerializationError
 * ```
 */
export function encodeResponse(value: unknown): string {
  let body: string
  try {
    body = JSON.stringify(value === undefined ? null : value)
  } catch (error) {
    throw new SerializationError(error)
  }
  // A function or a symbol renders as nothing at all: no body to post.
  if (body === undefined) {
    throw new SerializationError(new TypeError(`a ${typeof value} has no JSON form`))
  }
  // A string's UTF-8 length is at most three bytes per UTF-16 unit: measured only when it
  // could be over.
  if (body.length * 3 > RESPONSE_LIMIT_BYTES) {
    const size = Buffer.byteLength(body)
    if (size > RESPONSE_LIMIT_BYTES) throw new ResponseSizeTooLargeError(size, RESPONSE_LIMIT_BYTES)
  }
  return body
}

/**
 * The answer of an invocation whose answer could not be sent: `error` is why (a
 * {@link RuntimeApiFatalError} makes it fatal).
 *
 * @example
 * ```ts
 * const answer = await stream.finished().then(() => streamed, lostAnswer)
 * ```
 */
export function lostAnswer(error: unknown): Answer {
  return {
    type: 'lost',
    message: describeValue(error),
    fatal: error instanceof RuntimeApiFatalError,
  }
}

/**
 * Sends an invocation's {@link Answer} to the Runtime API and logs what became of it: a result
 * the API refuses as too large (413) is answered with `Function.ResponseSizeTooLarge` instead; a
 * retry refused as a duplicate ({@link ALREADY_DELIVERED}) is a success; another refusal is
 * logged (`LMI_ANSWER_REFUSED`), and so is an answer that could not be sent
 * (`LMI_ANSWER_FAILED`). Never rejects.
 *
 * Resolves `true` when the Runtime API answered 500 (logged `LMI_RUNTIME_API_FATAL`): Lambda's
 * contract is then that the runtime exits promptly, without draining.
 *
 * @example
 * ```ts
 * if (await answerInvocation(client, requestId, answer, log)) process.exit(1)
 * ```
 */
export async function answerInvocation(
  client: RuntimeApiClient,
  requestId: string,
  answer: Answer,
  log: RuntimeLog,
): Promise<boolean> {
  try {
    switch (answer.type) {
      case 'response': {
        const status = await client.postResponse(requestId, answer.body)
        if (status !== 413) return checkStatus(log, requestId, status)
        const size = Buffer.byteLength(answer.body)
        const error = new ResponseSizeTooLargeError(size, RESPONSE_LIMIT_BYTES, { refused: true })
        const body = toErrorResponse(error)
        log.log('ERROR', body, {
          errorType: body.errorType,
          errorMessage: body.errorMessage,
          requestId,
        })
        return checkStatus(log, requestId, await client.postError(requestId, body))
      }
      case 'error':
        return checkStatus(log, requestId, await client.postError(requestId, answer.error))
      case 'streamed':
        return checkStatus(log, requestId, answer.status)
      case 'lost':
        return answerLost(log, requestId, answer.message, answer.fatal)
    }
  } catch (error) {
    return answerLost(log, requestId, describeValue(error), error instanceof RuntimeApiFatalError)
  }
}

/** An answer that could not be delivered (posted here, or streamed by an executor). */
function answerLost(log: RuntimeLog, requestId: string, message: string, fatal: boolean): boolean {
  if (fatal) {
    log.log('FATAL', message, { code: CODES.RUNTIME_API_FATAL, requestId })
    return true
  }
  log.log('ERROR', `Could not answer invocation ${requestId}: ${message}`, {
    code: CODES.ANSWER_FAILED,
    requestId,
  })
  return false
}

function checkStatus(log: RuntimeLog, requestId: string, status: number): false {
  if (status === ALREADY_DELIVERED) {
    // Not a failure: the first attempt arrived, only its acknowledgement was lost.
    log.log(
      'INFO',
      `The answer for ${requestId} had already been delivered: a retry after a lost acknowledgement was refused as a duplicate`,
      { code: CODES.ANSWER_DUPLICATE, requestId },
    )
    return false
  }
  if (status >= 200 && status < 300) return false
  log.log('WARN', `The Runtime API refused the answer for ${requestId} (${status})`, {
    code: CODES.ANSWER_REFUSED,
    requestId,
  })
  return false
}
