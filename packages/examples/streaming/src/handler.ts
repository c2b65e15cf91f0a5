import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@lmi/context'
import { getInvocation, HttpResponseStream, streamifyResponse } from '@lmi/runtime'

/** The part of a Function URL event this handler reads. */
export interface UrlEvent {
  rawPath: string
  queryStringParameters?: Record<string, string>
}

const log = createLogger()

function problem(stream: Writable, status: number, detail: string): void {
  const http = HttpResponseStream.from(stream, {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json' },
  })
  http.end(
    JSON.stringify({ type: 'about:blank', status, detail, requestId: getInvocation().requestId }),
  )
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
 * every M ms, each sent as soon as it is written, then a summary line. The first byte goes out
 * before the work is done; on LMI dozens of these streams share one execution environment.
 * At the deadline the invocation's signal stops the loop.
 */
export const handler = streamifyResponse(async (event: UrlEvent, responseStream: Writable) => {
  const { requestId, signal } = getInvocation()
  const count = intParameter(event.queryStringParameters?.count, 10, 1, 10_000)
  const delayMs = intParameter(event.queryStringParameters?.delayMs, 20, 0, 5_000)
  if (count === undefined || delayMs === undefined) {
    problem(responseStream, 400, 'count must be an integer in 1..10000 and delayMs in 0..5000')
    return
  }
  log.info({ count, delayMs }, 'stream started')
  const started = Date.now()
  const http = HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' },
  })
  async function* lines(): AsyncGenerator<string> {
    for (let n = 1; n <= (count as number); n++) {
      await sleep(delayMs as number, undefined, { signal })
      yield `${JSON.stringify({ n, of: count, requestId })}\n`
    }
    yield `${JSON.stringify({ done: true, lines: count, ms: Date.now() - started, requestId })}\n`
  }
  await pipeline(lines(), http)
  log.info({ ms: Date.now() - started }, 'stream finished')
})
