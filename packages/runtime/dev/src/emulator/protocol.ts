import { randomBytes, randomFillSync } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import {
  isRecord,
  JSON_CONTENT_TYPE,
  RESPONSE_LIMIT_BYTES,
  STREAMING_RESPONSE_LIMIT_BYTES,
} from '@lmi/core/internal'
import { isDropAck } from './faults.ts'
import type { InvocationError } from './types.ts'

/**
 * Largest buffered response (and invoke request) body Lambda accepts: 6 MB.
 *
 * @example
 * ```ts
 * if (body.length > LAMBDA_RESPONSE_LIMIT_BYTES) throw new Error('response too large')
 * ```
 */
export const LAMBDA_RESPONSE_LIMIT_BYTES = RESPONSE_LIMIT_BYTES

/**
 * Largest streamed response Lambda accepts: 200 MB.
 *
 * @example
 * ```ts
 * if (streamedBytes > LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES) controller.abort()
 * ```
 */
export const LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES = STREAMING_RESPONSE_LIMIT_BYTES

export const EMPTY = Buffer.alloc(0)
export const EMPTY_EVENT = Buffer.from('{}')
const ACCEPTED = Buffer.from('{"status":"OK"}')

/** The error type of an invocation that ran past its deadline, as Lambda names it. */
export const TIMED_OUT_TYPE = 'Sandbox.Timedout'

const ENTROPY_BYTES = 4000 // 200 trace ids per refill

/**
 * Makes sampled X-Ray trace header values, `Root=1-<epoch s hex>-<24 hex>;Parent=<16 hex>;Sampled=1`.
 * One `randomFillSync` per 200 ids: a synchronous `randomBytes` per invocation was the emulator's
 * largest own cost under load.
 */
export class TraceIdSource {
  readonly #entropy = Buffer.allocUnsafe(ENTROPY_BYTES)
  #offset = ENTROPY_BYTES

  next(nowMs: number): string {
    if (this.#offset + 20 > ENTROPY_BYTES) {
      randomFillSync(this.#entropy)
      this.#offset = 0
    }
    const at = this.#offset
    this.#offset += 20
    const seconds = Math.floor(nowMs / 1000)
      .toString(16)
      .padStart(8, '0')
    const root = this.#entropy.toString('hex', at, at + 12)
    const parent = this.#entropy.toString('hex', at + 12, at + 20)
    return `Root=1-${seconds}-${root};Parent=${parent};Sampled=1`
  }
}

/** `/2018/06/01/[$LATEST]<32 hex>`-style log stream name, as Lambda forms them. */
export function newLogStreamName(version: string, now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/')
  return `${day}/[${version}]${randomBytes(16).toString('hex')}`
}

// Compiled once: header values must be latin-1, and JSON may carry any Unicode.
const NON_ASCII = /[\u007f-\uffff]/g

function escapeNonAscii(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** JSON text safe for an HTTP header: characters outside ASCII become `\uXXXX` escapes. */
export function headerJson(json: string): string {
  return json.replace(NON_ASCII, escapeNonAscii)
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

/**
 * Reads an error document leniently, as Lambda does: a body that is not the expected JSON keeps
 * the header's error type and becomes the message, so nothing the runtime said is lost.
 */
export function parseErrorDocument(text: string, typeHeader: string | undefined): InvocationError {
  const fallbackType = typeHeader ?? 'Unknown'
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { errorType: fallbackType, errorMessage: text }
  }
  if (!isRecord(parsed) || Array.isArray(parsed)) {
    return { errorType: fallbackType, errorMessage: text }
  }
  const { errorType, errorMessage, stackTrace, trace } = parsed
  const error: InvocationError = {
    errorType: typeof errorType === 'string' && errorType !== '' ? errorType : fallbackType,
    errorMessage: typeof errorMessage === 'string' ? errorMessage : '',
  }
  if (isStringArray(stackTrace)) error.stackTrace = stackTrace
  if (isStringArray(trace)) error.trace = trace
  return error
}

/** The error of a response over `limit`, worded as Lambda words it. */
export function tooLargeError(size: number, limit: number): InvocationError {
  return {
    errorType: 'Function.ResponseSizeTooLarge',
    errorMessage: `Response payload size (${size} bytes) exceeded maximum allowed payload size (${limit} bytes).`,
  }
}

/** Whether the runtime reported the invocation's own timeout (in the body or the header). */
export function isTimedOut(error: InvocationError, typeHeader: string | undefined): boolean {
  return error.errorType === TIMED_OUT_TYPE || typeHeader === TIMED_OUT_TYPE
}

/** Copies Node's header object into plain strings (repeated headers joined with `, `). */
export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined) flat[name] = typeof value === 'string' ? value : value.join(', ')
  }
  return flat
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0]
}

export function concatChunks(chunks: Buffer[], size: number): Buffer {
  if (chunks.length === 0) return EMPTY
  if (chunks.length === 1) return chunks[0]!
  return Buffer.concat(chunks, size)
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const bytes = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': bytes.length })
  res.end(bytes)
}

/** Whether `res` can no longer be answered: its client left or its socket is gone. */
export function isGone(res: ServerResponse): boolean {
  const socket = res.socket
  return res.destroyed || socket === null || socket.destroyed
}

/** Answers `errorType`/`errorMessage` JSON, as the Runtime API reports a refused request. */
export function sendError(
  res: ServerResponse,
  status: number,
  errorType: string,
  errorMessage: string,
): void {
  sendJson(res, status, { errorType, errorMessage })
}

/** Answers `202 {"status":"OK"}`, or cuts the connection under a `drop-ack` fault. */
export function sendAccepted(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return
  if (isDropAck(res)) {
    res.socket?.destroy()
    return
  }
  res.writeHead(202, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': ACCEPTED.length })
  res.end(ACCEPTED)
}

/** Where a response goes once its body is read, or `undefined` if the request was cut. */
export type BodyCallback = (body: Buffer | undefined, size: number, complete: boolean) => void

/**
 * Reads a whole request body, keeping at most `limit` bytes. An oversized body is still read to
 * its end (and dropped) so the answer reaches a client that is still uploading.
 * `body` is `undefined` when over the limit; `complete` is false when the request was cut.
 */
export function readBody(req: IncomingMessage, limit: number, done: BodyCallback): void {
  const chunks: Buffer[] = []
  let size = 0
  let ended = false
  req.on('data', function onBodyData(chunk: Buffer) {
    size += chunk.length
    if (size <= limit) chunks.push(chunk)
    else if (chunks.length > 0) chunks.length = 0
  })
  req.on('end', function onBodyEnd() {
    ended = true
    done(size <= limit ? concatChunks(chunks, size) : undefined, size, true)
  })
  req.on('close', function onBodyClose() {
    if (!ended) done(undefined, size, false)
  })
}
