import {
  Agent,
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http'

export interface HttpResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  trailers: NodeJS.Dict<string>
}

export interface HttpCall {
  /** The request itself, to write a chunked body or to destroy its socket. */
  request: ClientRequest
  /** Settles with the whole answer, or rejects if the socket dies first. */
  result: Promise<HttpResult>
}

export interface CallOptions {
  method?: string
  headers?: OutgoingHttpHeaders
  /** Sent and the request ended, unless `open` is true. */
  body?: string | Buffer
  /** Leave the request open to stream a body into it. */
  open?: boolean
  agent?: Agent
  /** Sees each chunk of the answer as it arrives. */
  onChunk?: (chunk: Buffer) => void
}

/** One HTTP request over node:http, with full control of the socket, chunks and trailers. */
export function call(url: string, options: CallOptions = {}): HttpCall {
  const request = httpRequest(url, {
    method: options.method ?? 'GET',
    headers: options.headers,
    agent: options.agent,
  })
  const result = new Promise<HttpResult>(function awaitAnswer(resolve, reject) {
    request.once('error', reject)
    request.once('response', function onResponse(response) {
      const chunks: Buffer[] = []
      response.on('data', function onData(chunk: Buffer) {
        chunks.push(chunk)
        options.onChunk?.(chunk)
      })
      response.once('error', reject)
      response.once('end', function onEnd() {
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          trailers: response.trailers,
        })
      })
    })
  })
  // Long polls left parked when a test ends die with the emulator: not an unhandled rejection.
  result.catch(() => {})
  if (options.open !== true) request.end(options.body)
  return { request, result }
}

export function json(result: HttpResult): unknown {
  return JSON.parse(result.body.toString())
}

export function newAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })
}
