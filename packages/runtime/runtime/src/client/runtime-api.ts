import { setTimeout as sleep } from 'node:timers/promises'
import type { ErrorResponse } from '@lmi/core'
import {
  ANSWER_HEADERS,
  invocationPath,
  JSON_CONTENT_TYPE,
  MAX_FUNCTION_TIMEOUT_MS,
  NEXT_HEADERS,
  type NextInvocation,
  RUNTIME_PATHS,
  rawSetImmediate,
} from '@lmi/core/internal'
import { Client, type Dispatcher } from 'undici'
import { RuntimeApiFatalError } from '../errors.ts'
import { ALREADY_DELIVERED, errorBody, headerSafe, xrayErrorCause } from './protocol.ts'

export type { NextInvocation }

interface RawResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** Backoff for `/next` failures: 10 ms doubling to 1 s. */
export interface RetryPolicy {
  initialDelayMs: number
  maxDelayMs: number
}

const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 10, maxDelayMs: 1000 }

/**
 * Collects one response without creating streams: the Runtime API's bodies are small and
 * read whole, and `request()`'s Readable per response costs more than the rest of the
 * round trip.
 */
class CollectHandler implements Dispatcher.DispatchHandler {
  #resolve: (response: RawResponse) => void
  #reject: (error: Error) => void
  #statusCode = 0
  #headers: RawResponse['headers'] = {}
  #chunks: Buffer[] = []
  controller: Dispatcher.DispatchController | undefined
  stopReason: Error | undefined
  /** Response headers have arrived: the invocation is ours and must not be dropped. */
  responding = false

  constructor(resolve: (response: RawResponse) => void, reject: (error: Error) => void) {
    this.#resolve = resolve
    this.#reject = reject
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.stopReason !== undefined) controller.abort(this.stopReason)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: RawResponse['headers'],
  ): void {
    this.responding = true
    this.#statusCode = statusCode
    this.#headers = headers
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk)
  }

  onResponseEnd(): void {
    const chunks = this.#chunks
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks as Uint8Array[])
    this.#resolve({ statusCode: this.#statusCode, headers: this.#headers, body })
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#reject(error)
  }
}

function header(headers: RawResponse['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * The Runtime API seen by one scheduler slot: its own keep-alive connection (an undici
 * `Client`), so a slot's `/next` long poll and its response never wait behind another slot's,
 * and there is no pool to search on the hot path.
 *
 * @example
 * ```ts
 * const api = new RuntimeApiClient('127.0.0.1:9001')
 * const invocation = await api.next()
 * await api.postResponse(invocation.requestId, Buffer.from('{"ok":true}'))
 * await api.close()
 * ```
 */
export class RuntimeApiClient {
  readonly #client: Client
  readonly #retry: RetryPolicy
  #pendingNext: CollectHandler | undefined
  #stopReason: Error | undefined
  #closed = false

  constructor(runtimeApi: string, retry: RetryPolicy = DEFAULT_RETRY) {
    this.#client = new Client(`http://${runtimeApi}`, {
      // /next is a long poll that may legitimately wait for hours: never time it out.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 600_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    })
    this.#retry = retry
  }

  #dispatch(options: Dispatcher.DispatchOptions, track = false): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const handler = new CollectHandler(resolve, reject)
      if (track) {
        handler.stopReason = this.#stopReason
        this.#pendingNext = handler
      }
      this.#client.dispatch(options, handler)
    })
  }

  /**
   * Waits for the next invocation. Network failures and unexpected statuses are retried with
   * capped exponential backoff until it succeeds, or until {@link stopPolling} or
   * {@link close} (then it rejects).
   */
  async next(onRetry?: (error: Error, attempt: number) => void): Promise<NextInvocation> {
    let delay = this.#retry.initialDelayMs
    for (let attempt = 1; ; attempt++) {
      if (this.#stopReason !== undefined) throw this.#stopReason
      let failure: Error
      try {
        const response = await this.#dispatch({ method: 'GET', path: RUNTIME_PATHS.next }, true)
        if (response.statusCode === 200) return decodeNext(response)
        failure = new Error(
          `GET /runtime/invocation/next answered ${response.statusCode}: ${response.body.toString('utf8', 0, 200)}`,
        )
      } catch (error) {
        failure = error as Error
      } finally {
        this.#pendingNext = undefined
      }
      if (this.#closed || this.#stopReason !== undefined) throw this.#stopReason ?? failure
      onRetry?.(failure, attempt)
      await sleep(delay)
      delay = Math.min(delay * 2, this.#retry.maxDelayMs)
    }
  }

  /**
   * Stops polling: no new `/next` is sent, and one in progress is aborted unless its answer
   * has started to arrive (that invocation is then returned and must be served). Responses
   * can still be posted.
   *
   * The abort waits one turn of the event loop: an answer the Runtime API sent before the
   * stop was decided may sit unread in the socket, and aborting would destroy it with the
   * connection, losing an invocation the platform counts as delivered.
   */
  async stopPolling(reason: Error): Promise<void> {
    this.#stopReason = reason
    await new Promise((resolve) => rawSetImmediate(resolve))
    const pending = this.#pendingNext
    if (pending === undefined || pending.responding) return
    pending.stopReason = reason
    pending.controller?.abort(reason)
  }

  /** Posts a buffered response. The caller has already checked the 6 MB limit. */
  postResponse(
    requestId: string,
    body: Buffer | string,
    contentType = JSON_CONTENT_TYPE,
  ): Promise<number> {
    return this.#post(invocationPath(requestId, 'response'), body, {
      'content-type': contentType,
    })
  }

  /** Posts a function error with the error-type header. */
  postError(requestId: string, error: ErrorResponse): Promise<number> {
    const headers: Record<string, string> = {
      'content-type': JSON_CONTENT_TYPE,
      [ANSWER_HEADERS.errorType]: headerSafe(error.errorType),
    }
    // As AWS's runtime sends it, for X-Ray's view of the failure; bounded, never failing the post.
    const cause = xrayErrorCause(error)
    if (cause !== undefined) headers[ANSWER_HEADERS.xrayErrorCause] = cause
    return this.#post(invocationPath(requestId, 'error'), errorBody(error), headers)
  }

  /** Posts an initialisation failure. */
  postInitError(error: ErrorResponse): Promise<number> {
    return this.#post(RUNTIME_PATHS.initError, errorBody(error), {
      'content-type': JSON_CONTENT_TYPE,
      [ANSWER_HEADERS.errorType]: headerSafe(error.errorType),
    })
  }

  /**
   * POSTs with up to three attempts on network failures (the answer was lost, not refused).
   * Resolves with the status code; a 500 rejects with `RuntimeApiFatalError`, since Lambda
   * then expects the runtime to exit.
   *
   * A retry refused with 400 or 403 resolves with {@link ALREADY_DELIVERED}: an attempt fails
   * on the network only after the connection broke, and when it broke after the Runtime API
   * had read the request, the answer was delivered and the retry is refused as a second
   * answer to the same invocation.
   */
  async #post(
    path: string,
    body: Buffer | string,
    headers: Record<string, string>,
  ): Promise<number> {
    let delay = this.#retry.initialDelayMs
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.#dispatch({ method: 'POST', path, body, headers })
        const status = response.statusCode
        if (status >= 500) {
          throw new RuntimeApiFatalError(
            `POST ${path} answered ${status}: ${response.body.toString('utf8', 0, 200)}`,
            status,
          )
        }
        if (attempt > 1 && (status === 400 || status === 403)) return ALREADY_DELIVERED
        return status
      } catch (error) {
        if (error instanceof RuntimeApiFatalError || attempt >= 3 || this.#closed) throw error
      }
      await sleep(delay)
      delay = Math.min(delay * 2, this.#retry.maxDelayMs)
    }
  }

  /** Closes the connection, aborting a pending `/next`. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#client.destroy()
  }
}

/**
 * `Lambda-Runtime-Deadline-Ms` as epoch milliseconds. Only digits make a deadline: `Number()`
 * reads an empty header as 0 and `' 12 '` or `'1e3'` as numbers, and a deadline of 0 would time
 * the invocation out at once. A missing, empty or malformed value counts as absent.
 */
export function parseDeadline(value: string | undefined, now = Date.now()): number {
  if (value !== undefined && /^[0-9]{1,16}$/.test(value)) {
    const deadline = Number(value)
    if (deadline > 0) return deadline
  }
  return now + MAX_FUNCTION_TIMEOUT_MS
}

function decodeNext(response: RawResponse): NextInvocation {
  const headers = response.headers
  const requestId = header(headers, NEXT_HEADERS.requestId)
  if (requestId === undefined || requestId === '') {
    throw new Error('GET /runtime/invocation/next answered without Lambda-Runtime-Aws-Request-Id')
  }
  return {
    requestId,
    deadlineMs: parseDeadline(header(headers, NEXT_HEADERS.deadlineMs)),
    invokedFunctionArn: header(headers, NEXT_HEADERS.functionArn) ?? '',
    traceId: header(headers, NEXT_HEADERS.traceId),
    clientContext: header(headers, NEXT_HEADERS.clientContext),
    cognitoIdentity: header(headers, NEXT_HEADERS.cognitoIdentity),
    tenantId: header(headers, NEXT_HEADERS.tenantId),
    body: response.body,
  }
}
