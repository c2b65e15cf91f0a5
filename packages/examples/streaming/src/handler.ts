import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@lmi/context'
import { executionModeStreamifyResponse, lmi } from '@lmi/core'

/** The part of a Function URL event this handler reads. */
export interface UrlEvent {
  rawPath: string
  queryStringParameters?: Record<string, string>
}

/** What the chain writes to the response stream: an HTTP response whose body is streamed. */
interface StreamedResponse {
  statusCode: number
  headers: Record<string, string>
  body: string | Readable
}

const log = createLogger()

function problem(status: number, detail: string, requestId: string): StreamedResponse {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', status, detail, requestId }),
  }
}

/** A whole number in [min, max] from a query parameter, its default when absent. */
function intParameter(
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return fallback
  const value = Number(raw)
  return Number.isInteger(value) && value >= min && value <= max ? value : undefined
}

/**
 * GET /?count=N&delayMs=M through a Function URL in RESPONSE_STREAM mode: N NDJSON lines, one
 * every M ms, each sent as soon as it is produced, then a summary line. The first byte goes out
 * before the work is done; on LMI dozens of these streams share one execution environment.
 * The chain's streaming mode writes the response: the status and headers first, then the body
 * as the Readable yields it. At the deadline the invocation's signal stops the loop.
 */
export const handler = lmi(
  async (
    event: UrlEvent,
    context: { awsRequestId: string },
    { signal }: { signal: AbortSignal },
  ): Promise<StreamedResponse> => {
    const requestId = context.awsRequestId
    const count = intParameter(event.queryStringParameters?.count, 10, 1, 10_000)
    const delayMs = intParameter(event.queryStringParameters?.delayMs, 20, 0, 5_000)
    if (count === undefined || delayMs === undefined) {
      return problem(400, 'count must be an integer in 1..10000 and delayMs in 0..5000', requestId)
    }
    log.info({ count, delayMs }, 'stream started')
    const started = Date.now()
    async function* lines(): AsyncGenerator<string> {
      for (let n = 1; n <= (count as number); n++) {
        await sleep(delayMs as number, undefined, { signal })
        yield `${JSON.stringify({ n, of: count, requestId })}\n`
      }
      yield `${JSON.stringify({ done: true, lines: count, ms: Date.now() - started, requestId })}\n`
      log.info({ ms: Date.now() - started }, 'stream finished')
    }
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' },
      body: Readable.from(lines()),
    }
  },
  { executionMode: executionModeStreamifyResponse },
)
