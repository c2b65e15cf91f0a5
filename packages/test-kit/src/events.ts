import { readFileSync } from 'node:fs'

/** The captured events of `events/` (see its README for where each comes from). */
export type EventFile = 'apigw-rest.json' | 'apigw-http-jwt.json' | 'alb.json' | 'function-url.json'

const eventsDir = new URL('../events/', import.meta.url)
const parsed = new Map<EventFile, Record<string, unknown>>()

/**
 * A fresh copy of a captured event: the caller may change it freely.
 *
 * @example
 * ```ts
 * import { loadEvent } from '@lmi/test-kit'
 *
 * const event = loadEvent('apigw-http-jwt.json')
 * event.requestContext.authorizer.jwt.claims['custom:tenant_id'] = 'acme'
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: tests reach into event shapes freely
export function loadEvent(file: EventFile): Record<string, any> {
  let event = parsed.get(file)
  if (event === undefined) {
    event = JSON.parse(readFileSync(new URL(file, eventsDir), 'utf8')) as Record<string, unknown>
    parsed.set(file, event)
  }
  return structuredClone(event)
}

/**
 * The HTTP sources of a Lambda event. `alb-multi` is an ALB target group with multi-value
 * headers on.
 *
 * @example
 * ```ts
 * const kind: EventKind = 'function-url'
 * ```
 */
export type EventKind = 'apigw-v1' | 'apigw-v2' | 'function-url' | 'alb' | 'alb-multi'

/**
 * Every {@link EventKind}, to run one test per HTTP source.
 *
 * @example
 * ```ts
 * for (const kind of eventKinds) it(`parses a ${kind} body`, () => { … })
 * ```
 */
export const eventKinds: readonly EventKind[] = [
  'apigw-v1',
  'apigw-v2',
  'function-url',
  'alb',
  'alb-multi',
]

/**
 * What {@link httpEvent} sets on the captured event.
 *
 * @example
 * ```ts
 * const init: HttpEventInit = { body: 'aGk=', base64: true, headers: { 'x-tenant-id': 'acme' } }
 * ```
 */
export interface HttpEventInit {
  /** `undefined` removes the body; `null` sets it to `null`. */
  body?: string | null | undefined
  contentType?: string
  /** Sends `body` base64-encoded, with `isBase64Encoded: true`. */
  base64?: boolean
  headers?: Record<string, string>
}

const fileOfKind: Record<EventKind, EventFile> = {
  'apigw-v1': 'apigw-rest.json',
  'apigw-v2': 'apigw-http-jwt.json',
  'function-url': 'function-url.json',
  alb: 'alb.json',
  'alb-multi': 'alb.json',
}

/**
 * A captured event of `kind` carrying `body` (encoded when `base64`) with `contentType`,
 * headers set the way that source sets them: v1 REST in `headers` and `multiValueHeaders`
 * with original case, v2/Function URL lower case, ALB multi-value in `multiValueHeaders` only.
 *
 * @example
 * ```ts
 * import { httpEvent } from '@lmi/test-kit'
 *
 * const event = httpEvent('apigw-v1', { body: '<a/>', contentType: 'application/xml' })
 * ```
 */
export function httpEvent(kind: EventKind, init: HttpEventInit = {}): Record<string, unknown> {
  const event = loadEvent(fileOfKind[kind])
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

/**
 * A JSON POST of `body` (a string, sent as is) for `kind`.
 *
 * @example
 * ```ts
 * import { jsonEvent } from '@lmi/test-kit'
 *
 * const event = jsonEvent('apigw-v2', JSON.stringify({ sku: 'S-1', qty: 2 }))
 * ```
 */
export function jsonEvent(kind: EventKind, body: string, base64 = false): Record<string, unknown> {
  return httpEvent(kind, { body, contentType: 'application/json', base64 })
}
