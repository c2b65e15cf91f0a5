import { STATUS_CODES } from 'node:http'
import { isRecord } from '@lmi/core/internal'

/**
 * The HTTP event sources a Lambda function can answer: API Gateway REST APIs (and HTTP APIs
 * with payload format 1.0), HTTP APIs with payload format 2.0, Lambda Function URLs (the 2.0
 * format too), and Application Load Balancer targets.
 *
 * @example
 * ```ts
 * const kind: HttpEventKind | undefined = httpEventKind(event) // 'apigw-v2'
 * ```
 */
export type HttpEventKind = 'apigw-v1' | 'apigw-v2' | 'function-url' | 'alb'

/**
 * An HTTP response as API Gateway, Function URLs and ALB take it.
 *
 * @example
 * ```ts
 * const response: HttpResponse = { statusCode: 201, headers: { location: '/orders/42' }, body: '' }
 * ```
 */
export interface HttpResponse {
  statusCode: number
  headers?: Record<string, string>
  multiValueHeaders?: Record<string, string[]>
  body?: string
  isBase64Encoded?: boolean
  cookies?: string[]
  /** ALB only: `"200 OK"`. */
  statusDescription?: string
}

type Record_ = Record<string, unknown>

/**
 * Which HTTP source sent `event`, or `undefined` for any other event (SQS, EventBridge, Step
 * Functions, a direct invoke). Decided by shape: ALB has `requestContext.elb`; the 2.0 format
 * has `version: '2.0'` and `requestContext.http` (a Function URL's domain is
 * `*.lambda-url.*`); the 1.0 format has `httpMethod` and `requestContext.stage` or
 * `requestContext.resourceId`.
 *
 * @example
 * ```ts
 * import { httpEventKind } from '@lmi/json'
 * if (httpEventKind(event) === undefined) return processRecords(event)
 * ```
 */
export function httpEventKind(event: unknown): HttpEventKind | undefined {
  if (!isRecord(event)) return undefined
  const requestContext = event.requestContext
  if (!isRecord(requestContext)) return undefined
  if (isRecord(requestContext.elb)) return 'alb'
  if (event.version === '2.0' && isRecord(requestContext.http)) {
    const domain = requestContext.domainName
    return typeof domain === 'string' && domain.includes('.lambda-url.')
      ? 'function-url'
      : 'apigw-v2'
  }
  if (
    typeof event.httpMethod === 'string' &&
    (typeof requestContext.stage === 'string' || typeof requestContext.resourceId === 'string')
  ) {
    return 'apigw-v1'
  }
  return undefined
}

/** Whether `response` has header `name` (lower case) in `headers` or `multiValueHeaders`. */
export function hasHeader(response: Record_, name: string): boolean {
  for (const field of ['headers', 'multiValueHeaders'] as const) {
    const headers = response[field]
    if (!isRecord(headers)) continue
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name && headers[key] !== undefined) return true
    }
  }
  return false
}

/**
 * Fits a response to what the event's source expects. ALB wants `statusDescription` and
 * `isBase64Encoded`, and — when the target group has multi-value headers on, which shows in
 * the event as `multiValueHeaders` — headers only in `multiValueHeaders` (it ignores `headers`
 * then). Returns a new object; `response` is not changed.
 */
export function fitResponse<T extends Record_>(event: unknown, response: T): T {
  if (httpEventKind(event) !== 'alb') return response
  const fitted: Record_ = { ...response }
  const statusCode = fitted.statusCode
  if (typeof fitted.statusDescription !== 'string' && typeof statusCode === 'number') {
    const phrase = STATUS_CODES[statusCode]
    fitted.statusDescription = phrase === undefined ? String(statusCode) : `${statusCode} ${phrase}`
  }
  if (typeof fitted.isBase64Encoded !== 'boolean') fitted.isBase64Encoded = false
  if (isRecord((event as Record_).multiValueHeaders) && isRecord(fitted.headers)) {
    const multi: Record<string, unknown[]> = {}
    if (isRecord(fitted.multiValueHeaders)) {
      for (const [key, values] of Object.entries(fitted.multiValueHeaders)) {
        multi[key] = Array.isArray(values) ? [...values] : [values]
      }
    }
    for (const [key, value] of Object.entries(fitted.headers)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        continue
      }
      const text = String(value)
      const existing = Object.keys(multi).find((name) => name.toLowerCase() === key.toLowerCase())
      if (existing === undefined) multi[key] = [text]
      else if (!multi[existing]?.includes(text)) multi[existing]?.push(text)
    }
    fitted.multiValueHeaders = multi
    delete fitted.headers
  }
  return fitted as T
}
