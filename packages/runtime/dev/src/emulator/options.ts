import { validateHeaderValue } from 'node:http'
import { isRecord } from '@lmi/core/internal'
import { EmulatorArgumentError } from '../errors.ts'
import type { InvocationInit } from './invocations.ts'
import { EMPTY_EVENT, headerJson } from './protocol.ts'
import type { EmulatorOptions, InvokeOptions } from './types.ts'

/** {@link EmulatorOptions} with the defaults applied and checked. */
export interface ResolvedOptions {
  readonly port: number
  readonly host: string
  readonly maxConcurrency: number
  readonly timeoutMs: number
  readonly timeoutGraceMs: number
  readonly functionName: string
  readonly functionVersion: string
  readonly region: string
  readonly accountId: string
  readonly memorySizeMb: number
  readonly handler: string
}

const DEFAULTS: ResolvedOptions = {
  port: 0,
  host: '127.0.0.1',
  maxConcurrency: 1,
  timeoutMs: 3000,
  timeoutGraceMs: 20,
  functionName: 'lmi-function',
  functionVersion: '$LATEST',
  region: 'us-east-1',
  accountId: '123456789012',
  memorySizeMb: 2048,
  handler: '',
}

// Node's timers overflow to 1 ms beyond this value, which would time everything out at once.
export const MAX_TIMER_MS = 2 ** 31 - 1

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0
}

export function checkTimeoutMs(value: unknown, name: string): number {
  if (!isPositiveInteger(value) || value > MAX_TIMER_MS) {
    throw new EmulatorArgumentError(
      `${name} must be an integer from 1 to ${MAX_TIMER_MS}, got ${String(value)}`,
    )
  }
  return value
}

/** Throws {@link EmulatorArgumentError} unless `value` can travel in an HTTP header. */
export function checkHeaderValue(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new EmulatorArgumentError(`${name} must be a non-empty string, got ${String(value)}`)
  }
  try {
    validateHeaderValue(name, value)
  } catch (cause) {
    throw new EmulatorArgumentError(`${name} contains characters not allowed in an HTTP header`, {
      cause,
    })
  }
  return value
}

/** Merges defaults and validates once, at creation, so the request path never has to. */
export function resolveOptions(options: EmulatorOptions | undefined): ResolvedOptions {
  if (options !== undefined && !isRecord(options)) {
    throw new EmulatorArgumentError('options must be an object')
  }
  const merged = { ...DEFAULTS }
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!(key in DEFAULTS)) throw new EmulatorArgumentError(`unknown option ${key}`)
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value
  }
  const { port, timeoutGraceMs } = merged
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new EmulatorArgumentError(`port must be an integer from 0 to 65535, got ${port}`)
  }
  if (!isPositiveInteger(merged.maxConcurrency)) {
    throw new EmulatorArgumentError(
      `maxConcurrency must be a positive integer, got ${merged.maxConcurrency}`,
    )
  }
  checkTimeoutMs(merged.timeoutMs, 'timeoutMs')
  if (!Number.isInteger(timeoutGraceMs) || timeoutGraceMs < 0 || timeoutGraceMs > 60_000) {
    throw new EmulatorArgumentError(
      `timeoutGraceMs must be an integer from 0 to 60000, got ${timeoutGraceMs}`,
    )
  }
  if (!isPositiveInteger(merged.memorySizeMb)) {
    throw new EmulatorArgumentError(
      `memorySizeMb must be a positive integer, got ${merged.memorySizeMb}`,
    )
  }
  // Travels in a JSON body, not a header: any string will do, the empty one included.
  if (typeof merged.handler !== 'string') {
    throw new EmulatorArgumentError(`handler must be a string, got ${String(merged.handler)}`)
  }
  if (typeof merged.host !== 'string' || merged.host === '') {
    throw new EmulatorArgumentError('host must be a non-empty string')
  }
  // These end up in the ARN header on every /next: check them here, not per request.
  checkHeaderValue(merged.functionName, 'functionName')
  checkHeaderValue(merged.functionVersion, 'functionVersion')
  checkHeaderValue(merged.region, 'region')
  checkHeaderValue(merged.accountId, 'accountId')
  return merged
}

/** The bytes `invoke()` hands the runtime for `event`: JSON, or the bytes themselves. */
export function encodeEvent(event: unknown): Buffer {
  if (event === undefined) return EMPTY_EVENT
  if (Buffer.isBuffer(event)) return event
  if (event instanceof Uint8Array) return Buffer.from(event.buffer, event.byteOffset, event.length)
  let json: string | undefined
  try {
    json = JSON.stringify(event)
  } catch (cause) {
    throw new EmulatorArgumentError('the event cannot be serialised to JSON', { cause })
  }
  if (json === undefined) throw new EmulatorArgumentError('the event cannot be serialised to JSON')
  return Buffer.from(json)
}

function jsonHeaderValue(value: unknown, name: string): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw new EmulatorArgumentError(`${name} cannot be serialised to JSON`, { cause })
  }
  if (json === undefined) throw new EmulatorArgumentError(`${name} cannot be serialised to JSON`)
  return headerJson(json)
}

function checkRequestId(value: unknown): string {
  const requestId = checkHeaderValue(value, 'requestId')
  if (requestId.length > 256) {
    throw new EmulatorArgumentError(`requestId must be 1-256 characters, got ${requestId.length}`)
  }
  return requestId
}

function checkDeadlineHeader(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === '') return value
  return checkHeaderValue(value, 'deadlineHeader')
}

/** Checks `invoke()`'s options once, where they are given; `timeoutMs` is the default. */
export function initFromOptions(
  options: InvokeOptions | undefined,
  defaultTimeoutMs: number,
): InvocationInit {
  const { requestId, tenantId, traceId, clientContext, identity, timeoutMs, deadlineHeader } =
    options ?? {}
  return {
    requestId: requestId === undefined ? undefined : checkRequestId(requestId),
    tenantId: tenantId === undefined ? undefined : checkHeaderValue(tenantId, 'tenantId'),
    traceId: traceId === undefined ? undefined : checkHeaderValue(traceId, 'traceId'),
    clientContext:
      clientContext === undefined ? undefined : jsonHeaderValue(clientContext, 'clientContext'),
    identity: identity === undefined ? undefined : jsonHeaderValue(identity, 'identity'),
    timeoutMs: timeoutMs === undefined ? defaultTimeoutMs : checkTimeoutMs(timeoutMs, 'timeoutMs'),
    deadlineHeader: checkDeadlineHeader(deadlineHeader),
  }
}
