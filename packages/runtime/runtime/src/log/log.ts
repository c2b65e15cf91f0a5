import { format } from 'node:util'
import { InvalidConfigurationError, toErrorResponse } from '@lmi/core'
import { describeValue, invocationStorage, isError } from '@lmi/core/internal'
import { writeOwn } from './attribution.ts'

/**
 * Lambda's log levels, lowest first (`AWS_LAMBDA_LOG_LEVEL`).
 *
 * @example
 * ```ts
 * LOG_LEVELS.includes('WARN') // true
 * ```
 */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const
/**
 * One of {@link LOG_LEVELS}.
 *
 * @example
 * ```ts
 * const level: LogLevel = 'WARN'
 * ```
 */
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * `AWS_LAMBDA_LOG_FORMAT`.
 *
 * @example
 * ```ts
 * const format: LogFormat = 'JSON'
 * ```
 */
export type LogFormat = 'JSON' | 'TEXT'

/**
 * Format and minimum level of the runtime's log.
 *
 * @example
 * ```ts
 * const settings: LogSettings = logSettingsFromEnv(process.env, true) // { format: 'JSON', level: 'INFO' }
 * ```
 */
export interface LogSettings {
  format: LogFormat
  level: LogLevel
}

/**
 * Reads `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`. Concurrent mode is always JSON:
 * Lambda Managed Instances accept JSON logs only, and text lines from concurrent
 * invocations cannot be told apart.
 */
export function logSettingsFromEnv(env: NodeJS.ProcessEnv, concurrent: boolean): LogSettings {
  const rawFormat = (env.AWS_LAMBDA_LOG_FORMAT ?? '').toUpperCase()
  if (rawFormat !== '' && rawFormat !== 'JSON' && rawFormat !== 'TEXT') {
    throw new InvalidConfigurationError(
      `AWS_LAMBDA_LOG_FORMAT must be JSON or TEXT, got "${env.AWS_LAMBDA_LOG_FORMAT}"`,
    )
  }
  const rawLevel = (env.AWS_LAMBDA_LOG_LEVEL ?? 'INFO').toUpperCase()
  if (!(LOG_LEVELS as readonly string[]).includes(rawLevel)) {
    throw new InvalidConfigurationError(
      `AWS_LAMBDA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.AWS_LAMBDA_LOG_LEVEL}"`,
    )
  }
  const format: LogFormat = concurrent || rawFormat === 'JSON' ? 'JSON' : 'TEXT'
  return { format, level: rawLevel as LogLevel }
}

const levelRank: Record<LogLevel, number> = {
  TRACE: 0,
  DEBUG: 1,
  INFO: 2,
  WARN: 3,
  ERROR: 4,
  FATAL: 5,
}

type Write = (line: string) => void

/**
 * Writes the runtime's own log lines and the handler's `console.*` output in Lambda's
 * format, each line carrying the current invocation's `requestId` and `tenantId`.
 *
 * @example
 * ```ts
 * const log = new RuntimeLog({ format: 'JSON', level: 'INFO' })
 * log.log('WARN', 'cache miss', { code: 'APP_CACHE_MISS' })
 * // {"timestamp":"…","level":"WARN","requestId":"…","message":"cache miss","code":"APP_CACHE_MISS"}
 * ```
 */
export class RuntimeLog {
  readonly #minRank: number
  readonly #format: LogFormat
  readonly #write: Write
  readonly #consoleWrite: Write

  /**
   * `write` takes every line; by default the runtime's own lines bypass `lmi check`'s
   * attribution ({@link writeOwn}) and the handler's `console.*` lines go through it.
   */
  constructor(settings: LogSettings, write?: Write) {
    this.#minRank = levelRank[settings.level]
    this.#format = settings.format
    this.#write = write ?? ((line) => writeOwn('out', line))
    this.#consoleWrite = write ?? ((line) => process.stdout.write(line))
  }

  enabled(level: LogLevel): boolean {
    return levelRank[level] >= this.#minRank
  }

  /** One log record. `fields` are merged into JSON lines and appended to text lines. */
  log(level: LogLevel, message: unknown, fields?: Record<string, unknown>): void {
    this.#record(level, message, fields, this.#write)
  }

  #record(
    level: LogLevel,
    message: unknown,
    fields: Record<string, unknown> | undefined,
    write: Write,
  ): void {
    if (levelRank[level] < this.#minRank) return
    const invocation = invocationStorage.getStore()
    const timestamp = new Date().toISOString()
    if (this.#format === 'JSON') {
      const record: Record<string, unknown> = { timestamp, level }
      if (invocation !== undefined) {
        record.requestId = invocation.requestId
        if (invocation.tenantId !== undefined) record.tenantId = invocation.tenantId
      }
      record.message = message
      if (fields !== undefined) Object.assign(record, fields)
      write(`${safeStringify(record)}\n`)
      return
    }
    const requestId = invocation?.requestId ?? 'undefined'
    const text = typeof message === 'string' ? message : format('%o', message)
    const extra = fields === undefined ? '' : ` ${safeStringify(fields)}`
    // Newlines inside a record become \r so that one record stays one CloudWatch event.
    const line = `${timestamp}\t${requestId}\t${level}\t${text}${extra}`.replaceAll('\n', '\r')
    write(`${line}\n`)
  }

  /**
   * Routes `console.*` through this log, like AWS's runtime: `console.log`/`info` at INFO,
   * `warn` at WARN, `error` at ERROR, `debug` at DEBUG, `trace` at TRACE. A single Error
   * argument is logged with `errorType`, `errorMessage` and `stackTrace` fields.
   */
  patchConsole(target: Console = console): void {
    const bind = (level: LogLevel) =>
      function lambdaConsole(this: RuntimeLog, ...args: unknown[]) {
        if (levelRank[level] < this.#minRank) return
        // A handler's log call must not throw, whatever it logs: an error whose getters throw
        // or a proxy whose traps do would otherwise fail the invocation from its own catch block.
        if (args.length === 1 && isError(args[0])) {
          const { errorType, errorMessage, stackTrace } = toErrorResponse(args[0])
          this.#record(
            level,
            formatSafely(args),
            { errorType, errorMessage, stackTrace },
            this.#consoleWrite,
          )
          return
        }
        this.#record(level, formatSafely(args), undefined, this.#consoleWrite)
      }.bind(this)
    target.log = bind('INFO')
    target.info = bind('INFO')
    target.warn = bind('WARN')
    target.error = bind('ERROR')
    target.debug = bind('DEBUG')
    target.trace = bind('TRACE')
  }
}

/** `util.format`, or each argument described on its own when formatting throws. */
function formatSafely(args: unknown[]): string {
  try {
    return format(...args)
  } catch {
    return args.map((arg) => describeValue(arg)).join(' ')
  }
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch {
    return JSON.stringify({ message: format('%o', value) })
  }
}

/**
 * A closed stdout or stderr (EPIPE: whoever read the logs is gone — a parent `lmi dev` or
 * `lmi check` that died) ends the process. Left alone, the write error becomes an uncaught
 * exception whose report is another write to the same closed pipe, in a loop.
 *
 * @example
 * ```ts
 * exitWhenLogsClose()
 * const log = new RuntimeLog(config.log)
 * ```
 */
export function exitWhenLogsClose(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', function onLogStreamError(error: NodeJS.ErrnoException) {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') process.exit(1)
    })
  }
}
