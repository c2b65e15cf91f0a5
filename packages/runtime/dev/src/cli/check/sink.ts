// The check's local sink: an HTTP server on loopback that answers 200 `{}` to anything, so that
// a handler whose endpoints point at it (LMI_CHECK_SINK_URL, or the variables named with
// `--sink-env`) makes its requests — which the runtime records (requests.ts) — without anything
// leaving the machine or any service seeing the check's hundreds of invocations.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describeValue } from '@lmi/core/internal'
import { CheckUsageError } from '../../errors.ts'

/**
 * The environment variable the handler always finds the sink's URL in.
 *
 * @example
 * ```ts
 * await fetch(`${process.env[SINK_URL_ENV] ?? 'https://api.example.com'}/orders`)
 * ```
 */
export const SINK_URL_ENV = 'LMI_CHECK_SINK_URL'

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * A running sink.
 *
 * @example
 * ```ts
 * const sink = await startSink()
 * sink.url // => 'http://127.0.0.1:41234'
 * await sink.close()
 * ```
 */
export interface CheckSink {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string
  /** Requests answered so far. */
  readonly received: number
  /** Stops listening and closes every connection (keep-alive ones too). Idempotent. */
  close(): Promise<void>
}

/**
 * Starts a sink on 127.0.0.1, on a free port: every request, whatever its method, path and
 * body, is read to its end and answered 200 with `{}` (`application/json`), which most JSON
 * APIs' clients and the AWS SDK's JSON protocols take for an empty success.
 *
 * @example
 * ```ts
 * const sink = await startSink()
 * const response = await fetch(`${sink.url}/anything`, { method: 'POST', body: 'x' })
 * await response.json() // => {}
 * await sink.close()
 * ```
 */
export async function startSink(): Promise<CheckSink> {
  let received = 0
  const server = createServer(function answerSink(request, response) {
    // Errors of a client that goes away mid-request concern nobody.
    request.on('error', () => {})
    response.on('error', () => {})
    request.resume()
    request.once('end', () => {
      received++
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' })
      response.end('{}')
    })
  })
  // A malformed request gets Node's own 400; nothing is thrown here.
  server.on('clientError', (_error, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}`,
    get received() {
      return received
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}

/**
 * Checks the names `--sink-env` gives (environment variable names); throws
 * {@link CheckUsageError}.
 *
 * @example
 * ```ts
 * checkSinkEnv(['API_URL', 'PAYMENTS_ENDPOINT']) // => ['API_URL', 'PAYMENTS_ENDPOINT']
 * checkSinkEnv(['api-url']) // throws CheckUsageError
 * ```
 */
export function checkSinkEnv(names: unknown): string[] {
  if (!Array.isArray(names)) throw new CheckUsageError('sinkEnv must be an array of names')
  for (const name of names) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      throw new CheckUsageError(
        `sinkEnv names must be environment variable names (letters, digits, _), got ${describeValue(name)}`,
      )
    }
  }
  return [...names]
}

/**
 * The environment that points a handler at the sink: {@link SINK_URL_ENV} and every name of
 * `names` set to its URL.
 *
 * @example
 * ```ts
 * sinkEnvironment('http://127.0.0.1:41234', ['API_URL'])
 * // => { LMI_CHECK_SINK_URL: 'http://127.0.0.1:41234', API_URL: 'http://127.0.0.1:41234' }
 * ```
 */
export function sinkEnvironment(url: string, names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = { [SINK_URL_ENV]: url }
  for (const name of names) env[name] = url
  return env
}
