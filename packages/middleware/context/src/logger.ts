import { tryGetInvocation } from '@lmi/core'
import type { DestinationStream, Logger, LoggerOptions } from 'pino'
import { pino } from './pino.ts'

const lambdaToPino: Record<string, string> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
  FATAL: 'fatal',
}

// Lambda's JSON log format calls the field `timestamp` (pino's isoTime writes `time`).
function isoTimestamp(): string {
  return `,"timestamp":"${new Date().toISOString()}"`
}

/**
 * Options of {@link createLogger}: pino's, plus where the lines go.
 *
 * @example
 * ```ts
 * const options: CreateLoggerOptions = { name: 'orders', level: 'debug' }
 * ```
 */
export interface CreateLoggerOptions extends LoggerOptions {
  /** Default: stdout (pino's default). */
  destination?: DestinationStream
}

/**
 * A pino logger whose lines carry the current invocation's `requestId`, `tenantId` and
 * `traceId`, read when each line is written (a `mixin`), so one module-level logger serves
 * every concurrent invocation without creating a child per request. The level follows
 * `AWS_LAMBDA_LOG_LEVEL` unless `level` is given. Lines are JSON with `level` as Lambda's
 * label (`INFO`, …), `timestamp` in ISO 8601 and the text under `message`, as Lambda's JSON
 * log format has them.
 *
 * @example
 * ```ts
 * import { createLogger } from '@lmi/context'
 * const log = createLogger({ name: 'orders' })
 * log.info({ orderId }, 'order placed') // {"level":"INFO","requestId":"…","tenantId":"acme",…}
 * ```
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const { destination, ...pinoOptions } = options
  const envLevel = lambdaToPino[(process.env.AWS_LAMBDA_LOG_LEVEL ?? '').toUpperCase()]
  const userMixin = pinoOptions.mixin
  const settings: LoggerOptions = {
    level: envLevel ?? 'info',
    messageKey: 'message',
    timestamp: isoTimestamp,
    base: undefined,
    ...pinoOptions,
    formatters: {
      level: (label) => ({ level: label.toUpperCase() }),
      ...pinoOptions.formatters,
    },
    mixin(mergeObject, level, logger) {
      const fields: Record<string, unknown> =
        userMixin === undefined ? {} : { ...userMixin(mergeObject, level, logger) }
      const invocation = tryGetInvocation()
      if (invocation !== undefined) {
        fields.requestId = invocation.requestId
        if (invocation.tenantId !== undefined) fields.tenantId = invocation.tenantId
        if (invocation.traceId !== undefined) fields.traceId = invocation.traceId
      }
      return fields
    },
  }
  return destination === undefined ? pino(settings) : pino(settings, destination)
}

/**
 * The package's shared logger (`createLogger()` with defaults), for code that does not need
 * its own.
 *
 * @example
 * ```ts
 * import { logger } from '@lmi/context'
 * logger.warn('cache miss')
 * ```
 */
export const logger: Logger = createLogger()
