import { validateHeaderValue } from 'node:http'
import { EmulatorArgumentError } from './errors.ts'
import type { EmulatorOptions } from './types.ts'

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
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
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
