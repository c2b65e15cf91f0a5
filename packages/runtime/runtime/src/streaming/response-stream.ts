import type { Agent, ClientRequest, IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { ErrorResponse } from '@lmi/core'
import {
  ANSWER_HEADERS,
  invocationPath,
  invocationStorage,
  STREAMING_RESPONSE_MODE,
} from '@lmi/core/internal'
import { errorBody, headerSafe } from '../client/protocol.ts'
import { RuntimeApiFatalError } from '../errors.ts'

const DEFAULT_CONTENT_TYPE = 'application/octet-stream'

/**
 * The `responseStream` a streaming handler writes to. The `POST .../response` with
 * `Lambda-Runtime-Function-Response-Mode: streaming` starts at the first write, so a handler
 * that fails before writing is reported as an ordinary error; a failure after the first byte
 * goes into the HTTP trailers, where Lambda expects it.
 *
 * It is sent with `node:http`, not undici: undici cannot send request trailers.
 */
export class ResponseStream extends Writable {
  readonly #host: string
  readonly #port: number
  readonly #path: string
  readonly #agent: Agent
  #contentType = DEFAULT_CONTENT_TYPE
  #request: ClientRequest | undefined
  #answer: Promise<number> | undefined
  /** Set by `HttpResponseStream.from` to write the HTTP prelude before the body. */
  _onBeforeFirstWrite: ((write: (chunk: string | Uint8Array) => void) => void) | undefined

  constructor(
    runtimeApi: string,
    requestId: string,
    agent: Agent,
    options?: { highWaterMark?: number },
  ) {
    super({ highWaterMark: options?.highWaterMark })
    const colon = runtimeApi.lastIndexOf(':')
    this.#host = runtimeApi.slice(0, colon)
    this.#port = Number(runtimeApi.slice(colon + 1))
    this.#path = invocationPath(requestId, 'response')
    this.#agent = agent
  }

  /** Sets the response's content type; only before the first write. */
  setContentType(contentType: string): void {
    if (this.#request !== undefined) {
      throw new Error('setContentType() must be called before the first write')
    }
    this.#contentType = contentType
  }

  /** The stream has sent bytes to the Runtime API (errors must then go in trailers). */
  get started(): boolean {
    return this.#request !== undefined
  }

  #openRequest(): ClientRequest {
    // node:http through getBuiltinModule, not an ES import: importing it as an ES module
    // evaluates every export, fetch's undici included (~6 MB per thread), streaming or not.
    return process.getBuiltinModule('node:http').request({
      host: this.#host,
      port: this.#port,
      path: this.#path,
      method: 'POST',
      agent: this.#agent,
      headers: {
        'Content-Type': this.#contentType,
        [ANSWER_HEADERS.responseMode]: STREAMING_RESPONSE_MODE,
        'Transfer-Encoding': 'chunked',
        Trailer: `${ANSWER_HEADERS.errorType}, ${ANSWER_HEADERS.errorBody}`,
      },
    })
  }

  #start(): ClientRequest {
    if (this.#request !== undefined) return this.#request
    // Created outside the invocation's async context: the handler's first write starts it,
    // but it is the runtime's answer, not the invocation's own work — the shared-state
    // detectors would report it as a request left running, and the request fence would see it.
    const req = invocationStorage.exit(() => this.#openRequest())
    this.#request = req
    this.#answer = new Promise<number>((resolve, reject) => {
      req.on('response', (response: IncomingMessage) => {
        response.resume()
        response.on('end', () => {
          const status = response.statusCode ?? 0
          if (status >= 500) {
            reject(new RuntimeApiFatalError(`POST ${this.#path} answered ${status}`, status))
          } else {
            resolve(status)
          }
        })
      })
      req.on('error', reject)
    })
    // The runtime awaits `finished()`; keep an early failure from being reported as unhandled.
    this.#answer.catch(() => {})
    const prelude = this._onBeforeFirstWrite
    if (prelude !== undefined) prelude((chunk) => req.write(chunk))
    return req
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#start().write(chunk, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Node publishes the request's start (`http.client.request.start`) when it is ended: out of
    // the invocation's context too, for the same reason as the request itself (see #start).
    const req = this.#start()
    invocationStorage.exit(() => req.end(callback))
  }

  /**
   * Ends a started stream with the error in the trailers. Returns false when nothing has been
   * sent yet (the caller reports the error on the error endpoint instead).
   */
  fail(error: ErrorResponse): boolean {
    const req = this.#request
    if (req === undefined) return false
    if (!req.writableEnded) {
      req.addTrailers({
        [ANSWER_HEADERS.errorType]: headerSafe(error.errorType),
        [ANSWER_HEADERS.errorBody]: Buffer.from(errorBody(error)).toString('base64'),
      })
      invocationStorage.exit(() => req.end())
    }
    this.destroy()
    return true
  }

  /**
   * Ends the stream if the handler did not, and resolves with the Runtime API's status once it
   * has answered.
   */
  async finished(): Promise<number> {
    if (!this.writableFinished && !this.destroyed) {
      if (!this.writableEnded) this.end()
      await finished(this)
    }
    // Destroyed before the first byte: still answer the invocation, with an empty body.
    if (this.#answer === undefined) {
      const req = this.#start()
      invocationStorage.exit(() => req.end())
    }
    return this.#answer as unknown as Promise<number>
  }
}
