import assert from 'node:assert/strict'
import type { Agent, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { call, type HttpCall, type HttpResult, newAgent } from './http.ts'

export interface NextInvocation {
  requestId: string
  headers: IncomingHttpHeaders
  body: Buffer
  event: unknown
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name]
  assert.equal(typeof value, 'string', `header ${name}`)
  return value as string
}

/** Plays the runtime side of the Runtime API against an emulator, one socket per call. */
export class RuntimeApiClient {
  readonly agent: Agent = newAgent()
  readonly #base: string

  constructor(url: string) {
    this.#base = `${url}/2018-06-01/runtime`
  }

  /** Starts a `/next` long poll. */
  poll(): HttpCall {
    return call(`${this.#base}/invocation/next`, { agent: this.agent })
  }

  /** Reads one invocation from a poll, asserting a 200. */
  async next(poll: HttpCall = this.poll()): Promise<NextInvocation> {
    return toInvocation(await poll.result)
  }

  respond(
    requestId: string,
    body: string | Buffer,
    headers: OutgoingHttpHeaders = {},
  ): Promise<HttpResult> {
    return call(`${this.#base}/invocation/${requestId}/response`, {
      method: 'POST',
      headers,
      body,
      agent: this.agent,
    }).result
  }

  fail(requestId: string, body: string, errorType?: string): Promise<HttpResult> {
    return call(`${this.#base}/invocation/${requestId}/error`, {
      method: 'POST',
      headers: errorType === undefined ? {} : { 'Lambda-Runtime-Function-Error-Type': errorType },
      body,
      agent: this.agent,
    }).result
  }

  initError(body: string, errorType?: string): Promise<HttpResult> {
    return call(`${this.#base}/init/error`, {
      method: 'POST',
      headers: errorType === undefined ? {} : { 'Lambda-Runtime-Function-Error-Type': errorType },
      body,
      agent: this.agent,
    }).result
  }

  /** Opens a streamed `/response`: write chunks into `request`, then `addTrailers` and `end`. */
  stream(requestId: string, headers: OutgoingHttpHeaders = {}): HttpCall {
    const streamCall = call(`${this.#base}/invocation/${requestId}/response`, {
      method: 'POST',
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
        ...headers,
      },
      open: true,
      agent: this.agent,
    })
    streamCall.request.flushHeaders()
    return streamCall
  }

  close(): void {
    this.agent.destroy()
  }
}

export function toInvocation(result: HttpResult): NextInvocation {
  assert.equal(result.status, 200, `/next answered ${result.status}: ${result.body}`)
  return {
    requestId: header(result.headers, 'lambda-runtime-aws-request-id'),
    headers: result.headers,
    body: result.body,
    event: JSON.parse(result.body.toString()),
  }
}

/** The trailer value Lambda expects for a streamed error: base64 of the JSON error document. */
export function errorTrailer(error: object): string {
  return Buffer.from(JSON.stringify(error)).toString('base64')
}
