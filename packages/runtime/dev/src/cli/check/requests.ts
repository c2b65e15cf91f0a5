// What the handler sends, as evidence: the outgoing HTTP requests its code makes, each recorded
// by the runtime with the invocation current where it was created (`LMI_CHECK_ATTRIBUTION=1`:
// one `\u001eLMI-REQUEST {r,e,m,u,h,b}` line per request, runtime/src/log/requests.ts), and
// their comparison with the solo runs.
//
// A request is compared as a JSON record `{method, url, query, headers, body}` by the log
// lines' engine (logs.ts' LogComparison), so that requests get the same rules as lines: a value
// of the record that event A's solo runs send, sent by event B's concurrent invocation, that
// B's solo runs never send; another concurrent invocation's request id; normalisation of own
// ids, UUIDs and timestamps; digits no event holds masked (ports, content-length, epoch times);
// paths whose values differ between two solo runs of an event skipped. Besides, another
// concurrent invocation's trace id (`Root=1-…`), which normalising hides from the engine.
// Requests made by no invocation or after their invocation answered are not compared: the
// detectors report the latter (LMI_ESCAPED_REQUEST).

import { isRecord } from '@lmi/core/internal'
import { REQUEST_PREFIX, type RecordedRequest } from '@lmi/runtime'
import { renderPath, type Segment } from './diff.ts'
import type { CheckEvent } from './events.ts'
import {
  LogComparison,
  type LogInvocation,
  type LogLeak,
  shortLine,
  type WrittenLine,
} from './logs.ts'
import type { RequestExample } from './types.ts'

/** The usual cause of a request finding, in a line. */
export const REQUEST_HINT = 'state kept on a module-level client or its default headers'

const TRACE_ROOT = /\b1-[0-9a-f]{8}-[0-9a-f]{24}\b/gi

/**
 * The request a recorded-request line carries; `undefined` for any other line.
 *
 * @example
 * ```ts
 * parseRequestLine('\u001eLMI-REQUEST {"r":"9a1e…","e":false,"m":"GET","u":"http://127.0.0.1:4000/","h":{}}')
 * // => { r: '9a1e…', e: false, m: 'GET', u: 'http://127.0.0.1:4000/', h: {} }
 * ```
 */
export function parseRequestLine(line: string): RecordedRequest | undefined {
  if (!line.startsWith(REQUEST_PREFIX)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(line.slice(REQUEST_PREFIX.length))
  } catch {
    return undefined
  }
  if (!isRecord(parsed)) return undefined
  const { r, e, m, u, h, b, bt, at } = parsed
  if (r !== null && typeof r !== 'string') return undefined
  if (typeof m !== 'string' || typeof u !== 'string' || !isRecord(h)) return undefined
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(h)) {
    if (typeof value === 'string') headers[name] = value
  }
  const request: RecordedRequest = { r, e: e === true, m, u, h: headers }
  if (typeof b === 'string') request.b = b
  if (bt === true) request.bt = true
  if (typeof at === 'string') request.at = at
  return request
}

/**
 * A request as the JSON record the comparison reads: the URL without its query, the query's
 * parameters, the headers, and the body (a JSON body stays a string: the engine compares a
 * JSON string field by field; a form body becomes its fields).
 *
 * @example
 * ```ts
 * requestRecord({ r: 'a', e: false, m: 'GET', u: 'http://h/t?x=1', h: { 'x-tenant-id': 'acme' } })
 * // => { method: 'GET', url: 'http://h/t', query: { x: '1' }, headers: { 'x-tenant-id': 'acme' } }
 * ```
 */
export function requestRecord(request: RecordedRequest): Record<string, unknown> {
  const record: Record<string, unknown> = { method: request.m }
  const query = request.u.indexOf('?')
  if (query === -1) {
    record.url = request.u
  } else {
    record.url = request.u.slice(0, query)
    record.query = fieldsOf(new URLSearchParams(request.u.slice(query + 1)))
  }
  record.headers = request.h
  if (request.b !== undefined) {
    const type = Object.entries(request.h).find(([name]) => name === 'content-type')?.[1] ?? ''
    record.body = /^application\/x-www-form-urlencoded\b/i.test(type)
      ? fieldsOf(new URLSearchParams(request.b))
      : request.b
  }
  return record
}

function fieldsOf(params: URLSearchParams): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const [name, value] of params) {
    // fromEntries-like, without a `__proto__` key turning into a prototype.
    Object.defineProperty(fields, name, {
      value: Object.hasOwn(fields, name) ? `${fields[name]}, ${value}` : value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return fields
}

const FIRST_SEGMENT = /^(?:\.([A-Za-z_$][\w$]*)|\[("(?:[^"\\]|\\.)*")\]|\[(\d+)\])/

/**
 * What a leak's path in a request record names, for a finding's subject: `request url`,
 * `request header x-tenant-id`, `request query tenant`, `request body $.tenant`, `request
 * method`; `request` when the place is not known.
 *
 * @example
 * ```ts
 * requestSubject('$.headers["x-tenant-id"]') // => 'request header x-tenant-id'
 * requestSubject('$.body.customer.id') // => 'request body $.customer.id'
 * ```
 */
export function requestSubject(path: string | undefined): string {
  if (path === undefined || !path.startsWith('$')) return 'request'
  const [part, rest] = splitFirst(path.slice(1))
  if (part === 'body') return `request body $${rest}`
  if (part === 'method' || part === 'url') return `request ${part}${rest === '' ? '' : ` $${rest}`}`
  if (part === 'headers' || part === 'query') {
    const [name, inner] = splitFirst(rest)
    if (name === undefined) return `request ${part === 'headers' ? 'headers' : 'query'}`
    return `request ${part === 'headers' ? 'header' : 'query'} ${name}${inner === '' ? '' : ` $${inner}`}`
  }
  return `request $${path.slice(1)}`
}

/** The first segment of a rendered path (without its `$`) as a name, and the rest. */
function splitFirst(path: string): [string | undefined, string] {
  const match = FIRST_SEGMENT.exec(path)
  if (match === null) return [undefined, path]
  const [whole, identifier, quoted, index] = match
  let name = identifier ?? index
  if (quoted !== undefined) {
    try {
      name = JSON.parse(quoted) as string
    } catch {
      name = quoted
    }
  }
  return [name, path.slice(whole.length)]
}

/**
 * A concurrent request that carries another invocation's value: the log engine's leak, or
 * another invocation's trace id (`kind: 'trace-id'`), with the request.
 *
 * @example
 * ```ts
 * const leak: RequestLeak = { ...logLeak, kind: 'value', request: recorded }
 * ```
 */
export type RequestLeak = Omit<LogLeak, 'kind'> & {
  readonly kind: LogLeak['kind'] | 'trace-id'
  readonly request: RecordedRequest | undefined
}

/**
 * The leaks of the concurrent requests: each request fed to {@link LogComparison} as the JSON
 * record {@link requestRecord} makes, plus the trace ids of other concurrent invocations.
 * `requests` holds every request an invocation made while it ran, by its request id, both
 * phases: a solo run's requests are its event's reference.
 *
 * @example
 * ```ts
 * const leaks = requestLeaks(events, run.invocations, run.requests)
 * ```
 */
export function requestLeaks(
  events: readonly CheckEvent[],
  invocations: ReadonlyMap<string, LogInvocation>,
  requests: ReadonlyMap<string, readonly RecordedRequest[]>,
): RequestLeak[] {
  const lines = new Map<string, WrittenLine[]>()
  // The engine's leaks name the line they were found in, shortened: the way back to the request.
  const byLine = new Map<string, RecordedRequest>()
  for (const [requestId, made] of requests) {
    lines.set(
      requestId,
      made.map((request) => {
        const text = JSON.stringify(requestRecord(request))
        byLine.set(`${requestId}\0${shortLine(text)}`, request)
        return {
          requestId,
          ended: false,
          stream: 'stdout',
          text,
          at: request.at,
          afterInvocations: true,
        }
      }),
    )
  }
  const leaks: RequestLeak[] = new LogComparison(events).leaks(invocations, lines).map((leak) => {
    const request = byLine.get(`${leak.requestId}\0${leak.line}`)
    return { ...leak, path: bodyPath(leak, request), request }
  })
  leaks.push(...traceLeaks(invocations, requests))
  return leaks
}

/**
 * The engine finds a token or an id inside a JSON body at `$.body` (it does not look into JSON
 * strings for them): the field that holds it, where the body says.
 */
function bodyPath(leak: LogLeak, request: RecordedRequest | undefined): string | undefined {
  if (leak.path !== '$.body' || request?.b === undefined) return leak.path
  let body: unknown
  try {
    body = JSON.parse(request.b)
  } catch {
    return leak.path
  }
  const inner = pathOf(body, leak.value)
  return inner === undefined ? leak.path : `$.body${inner.slice(1)}`
}

/** Trace ids (`1-…-…`) of other concurrent invocations in a concurrent request. */
function traceLeaks(
  invocations: ReadonlyMap<string, LogInvocation>,
  requests: ReadonlyMap<string, readonly RecordedRequest[]>,
): RequestLeak[] {
  const byTrace = new Map<string, string>()
  for (const [requestId, info] of invocations) {
    if (info.phase === 'concurrent' && info.traceRoot !== undefined) {
      byTrace.set(info.traceRoot.toLowerCase(), requestId)
    }
  }
  const leaks: RequestLeak[] = []
  for (const [requestId, made] of requests) {
    const info = invocations.get(requestId)
    if (info?.phase !== 'concurrent') continue
    for (const request of made) {
      const record = requestRecord(request)
      const text = JSON.stringify(record)
      for (const match of new Set([...text.matchAll(TRACE_ROOT)].map((found) => found[0]))) {
        const other = byTrace.get(match.toLowerCase())
        const otherInfo = other === undefined ? undefined : invocations.get(other)
        if (other === undefined || other === requestId || otherInfo === undefined) continue
        leaks.push({
          kind: 'trace-id',
          requestId,
          event: info.event,
          round: info.round,
          otherRequestId: other,
          otherEvent: otherInfo.event,
          otherPhase: 'concurrent',
          path: pathOf(record, match),
          value: match,
          line: shortLine(text),
          stream: 'stdout',
          request,
        })
      }
    }
  }
  return leaks
}

/** The path of the first string of a record that holds `token`. */
function pathOf(value: unknown, token: string, segments: Segment[] = []): string | undefined {
  if (typeof value === 'string') return value.includes(token) ? renderPath(segments) : undefined
  if (!isRecord(value)) return undefined
  for (const [key, item] of Object.entries(value)) {
    const found = pathOf(item, token, [...segments, key])
    if (found !== undefined) return found
  }
  return undefined
}

/** A request leak's subject: where in the request, and whose id when it is one. */
export function requestLeakSubject(leak: RequestLeak): string {
  const where = requestSubject(leak.path)
  if (leak.kind === 'request-id') return `${where} (another request's id)`
  if (leak.kind === 'trace-id') return `${where} (another request's trace id)`
  return where
}

/** The request in a line: method and URL, and the part the subject names. */
export function requestLine(leak: RequestLeak, subject: string): string {
  const { request } = leak
  if (request === undefined) return leak.line
  let text = `${request.m} ${request.u}`
  const header = /^request header (\S+)/.exec(subject)?.[1]
  if (header !== undefined && request.h[header] !== undefined) {
    text += ` ${header}: ${request.h[header]}`
  } else if (subject.startsWith('request body') && request.b !== undefined) {
    text += ` body: ${request.b}`
  }
  return shortLine(text)
}

/**
 * The report's lines for one request behind a finding.
 *
 * @example
 * ```ts
 * formatRequestExample(finding.requests[0])
 * // ['    events[2] (request 5f2c…, round 1) sent "acme": what events[0] sends alone (9a1e…)',
 * //  '      POST http://127.0.0.1:41234/orders x-tenant-id: acme']
 * ```
 */
export function formatRequestExample(example: RequestExample): string[] {
  const other =
    example.kind === 'value'
      ? `what ${example.otherEvent} sends alone (${example.otherRequestId})`
      : `the ${example.kind === 'trace-id' ? 'trace id' : 'request id'} of ${example.otherEvent}'s invocation ${example.otherRequestId}`
  return [
    `    ${example.event} (request ${example.requestId}, round ${example.round}) sent ${example.value}: ${other}`,
    `      ${example.line}`,
  ]
}
