// Recorded outgoing requests for `lmi check` (LMI_CHECK_ATTRIBUTION=1): every HTTP request the
// handler's code makes — undici, the global `fetch` (Node's own copy of undici), `node:http`
// and `node:https` (the AWS SDK, axios, got) — is written as one line that names the invocation
// current where the request was created, with its method, URL, headers and, where it is cheap
// to get, its body. Read through `diagnostics_channel` only, as the fence does
// (scheduler/fence.ts); the channels publish synchronously in the caller's async context, so
// the invocation is the one that made the request. Installed beside attribution, in the thread
// that runs the handler (the channels are per thread). The runtime's own traffic (its Runtime
// API client, streamed answers) is left out by its origin.
import diagnosticsChannel from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'
import { CHANNELS, currentInvocation } from '@lmi/core/internal'
import { writeOwn, writerLocation } from './attribution.ts'

/**
 * What starts a recorded request's line: the record separator of attributed writes, then
 * another tag.
 *
 * @example
 * ```ts
 * if (line.startsWith(REQUEST_PREFIX)) JSON.parse(line.slice(REQUEST_PREFIX.length))
 * ```
 */
export const REQUEST_PREFIX = '\u001eLMI-REQUEST '

/**
 * One outgoing request, as JSON after {@link REQUEST_PREFIX}.
 *
 * @example
 * ```ts
 * const request: RecordedRequest = {
 *   r: 'c0ffee', e: false, m: 'POST', u: 'http://127.0.0.1:4000/orders',
 *   h: { 'x-tenant-id': 'acme', 'content-type': 'application/json' }, b: '{"id":1}',
 * }
 * ```
 */
export interface RecordedRequest {
  /** The request id of the invocation current where the request was created; `null` outside any. */
  r: string | null
  /** True when that invocation had already been answered. */
  e: boolean
  /** Method. */
  m: string
  /** URL: origin and path with its query. */
  u: string
  /** Headers the caller set, names in lower case, repeated ones joined with `, `. */
  h: Record<string, string>
  /**
   * The body as UTF-8 (the first {@link MAX_BODY_BYTES}); absent when there is none or it
   * was not seen: a streamed body (every `fetch` body) sent by an undici older than 7, which
   * publishes no chunks — Node 22's own, unless the undici package is loaded in the thread and
   * so is fetch's global dispatcher (on the main thread, where `lmi check` runs handlers, the
   * runtime's client loads it).
   */
  b?: string
  /** True when the body was longer than what `b` holds. */
  bt?: boolean
  /** `file:line:col` of the code that made the request, when the stack has an application frame. */
  at?: string
}

/** How much of a body is recorded: enough for any value an event holds, not a file upload. */
export const MAX_BODY_BYTES = 16 * 1024

/**
 * True when the environment asks for recorded requests: the flag of attributed output, which
 * `lmi check` sets.
 *
 * @example
 * ```ts
 * if (requestRecordingFromEnv(process.env)) installRequestRecording('127.0.0.1:9001')
 * ```
 */
export function requestRecordingFromEnv(env: NodeJS.ProcessEnv): boolean {
  return env.LMI_CHECK_ATTRIBUTION === '1'
}

/** The part of undici's `Request` read here (the npm package and Node's copy agree on it). */
interface UndiciRequest {
  method: string
  origin: unknown
  path: string
  headers: unknown
  body: unknown
}

/** A request whose body is still being sent: its record, and the body seen so far. */
interface Pending {
  record: RecordedRequest
  chunks: Buffer[]
  size: number
  done: boolean
}

let installed: { runtimeOrigin: string } | undefined
const pendingUndici = new WeakMap<object, Pending>()
const pendingHttp = new WeakSet<ClientRequest>()

/**
 * Subscribes to undici's and `node:http`'s request channels in this thread, so that each
 * outgoing request is written as one {@link REQUEST_PREFIX} line ({@link RecordedRequest}),
 * through the runtime's own output ({@link writeOwn}: never attributed as a write). Requests
 * to `runtimeApi` (`host:port`) are the runtime's own and not recorded. Nothing about the
 * requests changes: a subscriber reads, and `node:http` requests get a `write`/`end` that
 * also keep a copy of the body. Idempotent.
 *
 * @example
 * ```ts
 * installAttribution()
 * installRequestRecording(config.runtimeApi)
 * await fetch('http://127.0.0.1:4000/orders', { headers: { 'x-tenant-id': 'acme' } })
 * // \u001eLMI-REQUEST {"r":"c0ffee","e":false,"m":"GET","u":"http://127.0.0.1:4000/orders","h":{"x-tenant-id":"acme",…}}
 * ```
 */
export function installRequestRecording(runtimeApi: string): void {
  if (installed !== undefined) return
  installed = { runtimeOrigin: new URL(`http://${runtimeApi}`).origin }
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestCreate, onUndiciCreate)
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestBodyChunkSent, onUndiciChunk)
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestBodySent, onUndiciOver)
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestHeaders, onUndiciOver)
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestError, onUndiciOver)
  diagnosticsChannel.subscribe(CHANNELS.httpClientRequestCreated, onHttpCreated)
  diagnosticsChannel.subscribe(CHANNELS.httpClientRequestStart, onHttpStart)
}

// A subscriber that throws is reported by Node as an uncaught exception: none of these may.

function onUndiciCreate(message: unknown): void {
  try {
    const request = (message as { request: UndiciRequest }).request
    const origin = String(request.origin)
    if (origin === installed?.runtimeOrigin) return
    const record = newRecord(request.method, `${origin}${request.path}`, undiciHeaders(request))
    const { body } = request
    if (body === null || body === undefined) {
      emit(record)
      return
    }
    if (typeof body === 'string' || ArrayBuffer.isView(body)) {
      emit(withBody(record, [bytesOf(body, undefined)]))
      return
    }
    // A stream or an iterable (every `fetch` body): its chunks as undici sends them.
    pendingUndici.set(request, { record, chunks: [], size: 0, done: false })
  } catch {
    // An undici whose request has another shape: not recorded.
  }
}

function onUndiciChunk(message: unknown): void {
  try {
    const { request, chunk } = message as { request: object; chunk: unknown }
    const pending = pendingUndici.get(request)
    if (pending !== undefined && (typeof chunk === 'string' || ArrayBuffer.isView(chunk))) {
      keep(pending, bytesOf(chunk, undefined))
    }
  } catch {
    // Not a chunk this can read: the body is recorded without it.
  }
}

/** The body is sent, the answer came, or the request failed: written now, once. */
function onUndiciOver(message: unknown): void {
  try {
    const { request } = message as { request: object }
    const pending = pendingUndici.get(request)
    if (pending === undefined) return
    pendingUndici.delete(request)
    finish(pending)
  } catch {
    // Nothing to write.
  }
}

function onHttpCreated(message: unknown): void {
  try {
    const request = (message as { request: ClientRequest }).request
    const origin = httpOrigin(request)
    if (origin === installed?.runtimeOrigin) return
    pendingHttp.add(request)
    const pending: Pending = {
      record: newRecord(request.method, `${origin}${request.path}`, {}),
      chunks: [],
      size: 0,
      done: false,
    }
    // Headers may still be set until the first write; the body comes through write and end.
    const { write, end } = request
    // What is recorded never stands in the request's way: a failure to record is swallowed.
    request.write = function recordedWrite(this: ClientRequest, ...args: unknown[]): boolean {
      try {
        keepChunk(pending, args[0], args[1])
      } catch {}
      return Reflect.apply(write, this, args) as boolean
    } as ClientRequest['write']
    request.end = function recordedEnd(this: ClientRequest, ...args: unknown[]): ClientRequest {
      try {
        if (typeof args[0] !== 'function') keepChunk(pending, args[0], args[1])
      } catch {}
      const result = Reflect.apply(end, this, args) as ClientRequest
      try {
        if (!pending.done) {
          pending.record.h = httpHeaders(request)
          finish(pending)
        }
      } catch {}
      return result
    } as ClientRequest['end']
  } catch {
    // Never break a request this cannot read.
  }
}

/** Node before 22.12 publishes no `created`: the request as it starts, without its body. */
function onHttpStart(message: unknown): void {
  try {
    const request = (message as { request: ClientRequest }).request
    if (pendingHttp.has(request)) return
    const origin = httpOrigin(request)
    if (origin === installed?.runtimeOrigin) return
    emit(newRecord(request.method, `${origin}${request.path}`, httpHeaders(request)))
  } catch {
    // Nothing to write.
  }
}

function newRecord(method: string, url: string, headers: Record<string, string>): RecordedRequest {
  const invocation = currentInvocation()
  const record: RecordedRequest = {
    r: invocation?.requestId ?? null,
    e: invocation?.ended ?? false,
    m: method,
    u: url,
    h: headers,
  }
  const at = writerLocation()
  if (at !== undefined) record.at = at
  return record
}

function keepChunk(pending: Pending, chunk: unknown, encoding: unknown): void {
  if (typeof chunk === 'string' || ArrayBuffer.isView(chunk)) {
    keep(pending, bytesOf(chunk, typeof encoding === 'string' ? encoding : undefined))
  }
}

function keep(pending: Pending, bytes: Buffer): void {
  // One byte past the limit says that there was more.
  if (pending.size > MAX_BODY_BYTES) return
  const room = MAX_BODY_BYTES + 1 - pending.size
  const kept = bytes.byteLength > room ? bytes.subarray(0, room) : bytes
  // A copy: the caller may reuse its buffer once write returns.
  pending.chunks.push(Buffer.from(kept))
  pending.size += kept.byteLength
}

function finish(pending: Pending): void {
  pending.done = true
  emit(pending.chunks.length === 0 ? pending.record : withBody(pending.record, pending.chunks))
}

function withBody(record: RecordedRequest, chunks: readonly Buffer[]): RecordedRequest {
  const body = Buffer.concat(chunks)
  if (body.byteLength === 0) return record
  if (body.byteLength <= MAX_BODY_BYTES) return { ...record, b: body.toString('utf8') }
  return { ...record, b: body.subarray(0, MAX_BODY_BYTES).toString('utf8'), bt: true }
}

function bytesOf(chunk: string | ArrayBufferView, encoding: string | undefined): Buffer {
  if (typeof chunk === 'string') {
    return Buffer.from(
      chunk,
      encoding !== undefined && Buffer.isEncoding(encoding) ? encoding : 'utf8',
    )
  }
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

function emit(record: RecordedRequest): void {
  writeOwn('out', `${REQUEST_PREFIX}${JSON.stringify(record)}\n`)
}

/** `protocol//host[:port]` of a `node:http` request, as its `Host` header names it. */
function httpOrigin(request: ClientRequest): string {
  const host = request.getHeader('host')
  return `${request.protocol}//${typeof host === 'string' ? host : request.host}`
}

function httpHeaders(request: ClientRequest): Record<string, string> {
  // No prototype: a header named `__proto__` is a header like any other.
  const headers: Record<string, string> = Object.create(null)
  for (const [name, value] of Object.entries(request.getHeaders())) {
    if (value !== undefined) headers[name.toLowerCase()] = headerText(value)
  }
  return headers
}

/**
 * undici's headers: a flat `[name, value, …]` array (undici 6 and 7, values possibly arrays),
 * or one `name: value\r\n…` string (older releases).
 */
function undiciHeaders(request: UndiciRequest): Record<string, string> {
  const headers: Record<string, string> = Object.create(null)
  const add = (name: unknown, value: unknown) => {
    const key = String(name).toLowerCase()
    const text = headerText(value)
    headers[key] = key in headers ? `${headers[key]}, ${text}` : text
  }
  const raw = request.headers
  if (Array.isArray(raw)) {
    for (let index = 0; index + 1 < raw.length; index += 2) add(raw[index], raw[index + 1])
  } else if (typeof raw === 'string') {
    for (const line of raw.split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) add(line.slice(0, colon), line.slice(colon + 1).trim())
    }
  }
  return headers
}

/** A header's value as text (not kit's `headerValue`, which looks a header up in an event). */
function headerText(value: unknown): string {
  if (Array.isArray(value)) return value.map(headerText).join(', ')
  if (ArrayBuffer.isView(value)) return bytesOf(value, undefined).toString('utf8')
  return String(value)
}
