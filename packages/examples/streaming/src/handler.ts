import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@lmi/context'
import { HttpResponseStream, streamifyResponse, tryGetInvocation } from '@lmi/core'

/** The part of a Function URL event this handler reads. */
export interface UrlEvent {
  rawPath: string
  queryStringParameters?: Record<string, string>
}

const log = createLogger()

/** What this handler reads of the Lambda context (AWS's runtime and lmi's both pass it). */
interface StreamContext {
  awsRequestId: string
  getRemainingTimeInMillis(): number
}

function problem(stream: Writable, status: number, detail: string, requestId: string): void {
  const http = HttpResponseStream.from(stream, {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json' },
  })
  // write() then end(): aws-lambda-ric sends the prelude on a first write(), not on end(chunk).
  http.write(JSON.stringify({ type: 'about:blank', status, detail, requestId }))
  http.end()
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
 * At the deadline the loop stops: lmi's runtime gives the invocation's signal; on AWS's runtime,
 * where no `lmi()` chain binds the invocation here, a timeout signal from the context does.
 */
export const handler = streamifyResponse(
  async (event: UrlEvent, responseStream: Writable, context: StreamContext) => {
    const requestId = context.awsRequestId
    const signal =
      tryGetInvocation()?.signal ?? AbortSignal.timeout(context.getRemainingTimeInMillis())
    const count = intParameter(event.queryStringParameters?.count, 10, 1, 10_000)
    const delayMs = intParameter(event.queryStringParameters?.delayMs, 20, 0, 5_000)
    if (count === undefined || delayMs === undefined) {
      problem(
        responseStream,
        400,
        'count must be an integer in 1..10000 and delayMs in 0..5000',
        requestId,
      )
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
  },
)
