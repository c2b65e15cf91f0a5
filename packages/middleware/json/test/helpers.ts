// Shared by the test files: real event captures (test/fixtures/events), a Lambda context, a
// request to drive one middleware hook by hand, a logger that records.
import { readFileSync } from 'node:fs'
import type { LambdaContext, LmiRequest } from '@lmi/core'
import type { ErrorLogRecord, HttpErrorsLogger } from '../src/index.ts'

const eventsDir = new URL('./fixtures/events/', import.meta.url)
const fixtures = new Map<string, Record<string, unknown>>()

function fixture(name: string): Record<string, unknown> {
  let event = fixtures.get(name)
  if (event === undefined) {
    event = JSON.parse(readFileSync(new URL(name, eventsDir), 'utf8')) as Record<string, unknown>
    fixtures.set(name, event)
  }
  return structuredClone(event)
}

/** `alb-multi` is an ALB target group with multi-value headers on. */
export type EventKind = 'apigw-v1' | 'apigw-v2' | 'function-url' | 'alb' | 'alb-multi'
export const eventKinds: readonly EventKind[] = [
  'apigw-v1',
  'apigw-v2',
  'function-url',
  'alb',
  'alb-multi',
]

export interface HttpEventInit {
  body?: string | null | undefined
  contentType?: string
  base64?: boolean
  headers?: Record<string, string>
}

/**
 * A captured event of `kind` carrying `body` (encoded when `base64`) with `contentType`,
 * headers set the way that source sets them: v1 REST in `headers` and `multiValueHeaders`
 * with original case, v2/Function URL lower case, ALB multi-value in `multiValueHeaders` only.
 */
export function httpEvent(kind: EventKind, init: HttpEventInit = {}): Record<string, unknown> {
  const file = {
    'apigw-v1': 'apigw-rest.json',
    'apigw-v2': 'apigw-http-jwt.json',
    'function-url': 'function-url.json',
    alb: 'alb.json',
    'alb-multi': 'alb.json',
  }[kind]
  const event = fixture(file)
  const extra: Record<string, string> = { ...init.headers }
  if (init.contentType !== undefined) {
    extra[kind === 'apigw-v1' ? 'Content-Type' : 'content-type'] = init.contentType
  }
  const headers = { ...(event.headers as Record<string, string>), ...extra }
  event.headers = headers
  if (kind === 'apigw-v1') {
    const multi = event.multiValueHeaders as Record<string, string[]>
    for (const [key, value] of Object.entries(extra)) multi[key] = [value]
  }
  if (kind === 'alb-multi') {
    event.multiValueHeaders = Object.fromEntries(
      Object.entries(headers).map(([key, value]) => [key, [value]]),
    )
    delete event.headers
    event.multiValueQueryStringParameters = {}
    delete event.queryStringParameters
  }
  const body = init.body
  if (body === undefined) delete event.body
  else if (body === null || !init.base64) event.body = body
  else event.body = Buffer.from(body, 'utf8').toString('base64')
  event.isBase64Encoded = init.base64 === true
  return event
}

/** A JSON POST of `body` (a string, sent as is) for `kind`. */
export function jsonEvent(kind: EventKind, body: string, base64 = false): Record<string, unknown> {
  return httpEvent(kind, { body, contentType: 'application/json', base64 })
}

export function lambdaContext(requestId = 'req-1'): LambdaContext {
  const deadline = Date.now() + 30_000
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'orders',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/orders',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
}

/** A middy-shaped request, to call one hook directly. */
export function request(
  event: unknown,
  extra: Partial<LmiRequest<unknown>> = {},
): LmiRequest<unknown> {
  return {
    event,
    context: lambdaContext(),
    response: undefined,
    error: undefined,
    internal: {},
    ...extra,
  }
}

export type LogEntry = { level: 'warn' | 'error'; record: ErrorLogRecord }

/** A logger for `httpErrors({ logger })` that keeps what it is given. */
export function recordingLogger(): HttpErrorsLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return {
    entries,
    warn: (record) => entries.push({ level: 'warn', record }),
    error: (record) => entries.push({ level: 'error', record }),
  }
}

/** Non-HTTP events: the errors of these must reach the runtime unchanged. */
export const nonHttpEvents: Record<string, unknown> = {
  sqs: { Records: [{ messageId: '1', eventSource: 'aws:sqs', body: '{"a":1}' }] },
  eventBridge: { 'detail-type': 'OrderPlaced', source: 'shop', detail: { id: 1 } },
  stepFunctions: { orderId: 'o-1', amount: 12 },
  directInvoke: {},
}
