import { STATUS_CODES } from 'node:http'
import { logger as contextLogger } from '@lmi/context'
import { type LmiRequest, toErrorResponse, tryGetInvocation } from '@lmi/core'
import { is, isRecord, type OptionSchema, validateOptions } from '@lmi/core/internal'
import { HttpError, isHttpError, PACKAGE, type ValidationIssue } from './errors.ts'
import { fitResponse, httpEventKind } from './http.ts'

/**
 * `application/problem+json`, RFC 9457's media type: the `Content-Type` of every response
 * {@link httpErrors} builds.
 *
 * @example
 * ```ts
 * if (response.headers?.['content-type'] === PROBLEM_CONTENT_TYPE) showProblem(JSON.parse(response.body))
 * ```
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

// Set on an error when it is logged, to the invocation it was logged for: registered, so every
// copy of this package (and nested chains) agrees. Per invocation, because one error object can
// fail many (a rejected promise cached at module level is rethrown by each).
const kLogged = Symbol.for('@lmi/json/logged')

/**
 * The body of an error response: RFC 9457 problem details, with lmi's extension members
 * `code`, `requestId` and `errors`.
 *
 * @example
 * ```ts
 * const problem: ProblemDetails = {
 *   type: 'about:blank', title: 'Unprocessable Entity', status: 422,
 *   detail: 'Request body failed validation', code: 'LMI_VALIDATION_FAILED', requestId: 'c6af9ac6-…',
 *   errors: [{ instancePath: '/qty', keyword: 'type', message: 'must be integer', params: { type: 'integer' } }],
 * }
 * ```
 */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail?: string
  code?: string
  requestId?: string
  errors?: readonly ValidationIssue[]
}

/**
 * One log record of {@link httpErrors}: one argument, with `message`, so pino, Powertools
 * Logger and `console` all take it.
 *
 * @example
 * ```ts
 * const record: ErrorLogRecord = { message: 'HTTP 500: TypeError', statusCode: 500, errorType: 'TypeError', errorMessage: 'x is undefined' }
 * ```
 */
export interface ErrorLogRecord {
  message: string
  statusCode: number
  errorType: string
  errorMessage: string
  code?: string
  /** 5xx only. */
  stackTrace?: string[]
}

/**
 * Where {@link httpErrors} logs: 4xx with `warn`, 5xx with `error`. `@lmi/context`'s pino
 * `logger`, a Powertools `Logger` and `console` all fit.
 *
 * @example
 * ```ts
 * const log: HttpErrorsLogger = { warn: (record) => console.warn(record), error: (record) => console.error(record) }
 * ```
 */
export interface HttpErrorsLogger {
  error(record: ErrorLogRecord): unknown
  warn(record: ErrorLogRecord): unknown
}

/**
 * Options of {@link httpErrors}.
 *
 * @example
 * ```ts
 * httpErrors({ logger: false, fallbackMessage: 'Something went wrong, try again' })
 * ```
 */
export interface HttpErrorsOptions {
  /** Where to log each error once. Default: `@lmi/context`'s `logger`. `false`: no logging. */
  logger?: HttpErrorsLogger | false
  /** `detail` of problems whose message is hidden (5xx, `expose: false`). Default: none. */
  fallbackMessage?: string
  /** Status for errors that are not HTTP errors (a `TypeError`, …). Default 500. */
  fallbackStatusCode?: number
}

/**
 * The middleware {@link httpErrors} returns: it changes no types.
 *
 * @example
 * ```ts
 * const errors: HttpErrorsMiddleware = httpErrors()
 * ```
 */
export interface HttpErrorsMiddleware {
  readonly name: 'httpErrors'
  onError(request: LmiRequest<unknown, unknown, unknown>): undefined
}

const optionSchema: OptionSchema = {
  logger: (value) =>
    value === false ||
    (isRecord(value) && typeof value.error === 'function' && typeof value.warn === 'function')
      ? undefined
      : 'false or have error() and warn()',
  fallbackMessage: is.string,
  fallbackStatusCode: is.integer(500, 599),
}

function stringHeaders(headers: unknown): Record<string, string> {
  const result: Record<string, string> = {}
  if (!isRecord(headers)) return result
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      result[key] = String(value)
    }
  }
  return result
}

function problemBody(problem: ProblemDetails): string {
  try {
    return JSON.stringify(problem)
  } catch {
    // `errors` holds ajv params, which a reviver could have filled with a BigInt.
    const { errors: _errors, ...rest } = problem
    return JSON.stringify(rest)
  }
}

/**
 * Turns errors into HTTP responses for HTTP events, in `onError`. For API Gateway (v1, v2),
 * Function URL and ALB events the response is `{ statusCode, headers: { 'content-type':
 * 'application/problem+json' }, body }`, the body an RFC 9457 problem (`type`, `title`,
 * `status`, and `detail`, `code`, `errors` when the error is exposed, plus `requestId`).
 *
 * - An HTTP error — an {@link HttpError}, or anything with a `statusCode` from 400 to 599 and
 *   an optional boolean `expose` (middy's `createError`, `http-errors`, other lmi packages) —
 *   answers with its status; its message, `code`, validation `errors` and `headers` only when
 *   `expose` (default: below 500).
 * - Any other error answers `fallbackStatusCode` (500) with a generic title: no message, stack
 *   or cause reaches the client.
 * - Each error is logged once (4xx `warn`, 5xx `error` with the stack) through `@lmi/context`'s
 *   logger, which stamps the request id; an error another `httpErrors` (a nested chain, a
 *   second copy of this package) already logged for the same invocation is not logged again.
 * - If a response is already set (another error handler answered), it does nothing.
 * - For any other event (SQS, EventBridge, Step Functions, a direct invoke) it does nothing:
 *   the error goes on unchanged, so the runtime reports `errorType` = the error's own name and
 *   a Step Functions `Catch` on `ValidationError` matches. The runtime logs it there.
 *
 * Put it first in `.use()` so its `onError` runs last, after every inner middleware's.
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { createHttpError, httpErrors } from '@lmi/json'
 *
 * export const handler = lmi(async (event) => {
 *   throw createHttpError(404, 'No such order')
 * }).use(httpErrors())
 * // API Gateway => { statusCode: 404, headers: { 'content-type': 'application/problem+json' },
 * //   body: '{"type":"about:blank","title":"Not Found","status":404,"detail":"No such order","code":"LMI_NOT_FOUND","requestId":"…"}' }
 * // SQS       => rejects with the NotFoundError itself
 * ```
 */
export function httpErrors(options?: HttpErrorsOptions): HttpErrorsMiddleware {
  validateOptions(PACKAGE, 'httpErrors(options)', options, optionSchema)
  const {
    logger = contextLogger as HttpErrorsLogger,
    fallbackMessage,
    fallbackStatusCode = 500,
  } = options ?? {}

  const log = (error: unknown, statusCode: number, invocation: unknown): void => {
    if (logger === false) return
    if (isRecord(error)) {
      if ((error as Record<symbol, unknown>)[kLogged] === invocation) return
      try {
        Object.defineProperty(error, kLogged, {
          value: invocation,
          configurable: true,
          writable: true,
        })
      } catch {
        // A frozen error cannot be marked; it is logged here all the same.
      }
    }
    // toErrorResponse describes any value, one whose every property access throws included.
    const { errorType, errorMessage, stackTrace } = toErrorResponse(error)
    const record: ErrorLogRecord = {
      message: `HTTP ${statusCode}: ${errorType}`,
      statusCode,
      errorType,
      errorMessage,
    }
    const code = isRecord(error) ? error.code : undefined
    if (typeof code === 'string') record.code = code
    try {
      if (statusCode >= 500) logger.error({ ...record, stackTrace })
      else logger.warn(record)
    } catch {
      // A failing logger must not turn an answered error into a failed invocation.
    }
  }

  return {
    name: 'httpErrors',
    onError: function httpErrorsOnError(request: LmiRequest<unknown, unknown, unknown>): undefined {
      if (request.response !== undefined) return undefined
      const event = request.event
      if (httpEventKind(event) === undefined) return undefined
      const error = request.error
      const http = isHttpError(error)
      const statusCode = http ? error.statusCode : fallbackStatusCode
      const expose = http && (error.expose ?? statusCode < 500)
      const requestId = requestIdOf(request.context)
      log(error, statusCode, requestId ?? request.context)

      const title = STATUS_CODES[statusCode] ?? (statusCode < 500 ? 'Client Error' : 'Server Error')
      const problem: ProblemDetails = { type: 'about:blank', title, status: statusCode }
      let headers: Record<string, string> = {}
      if (expose) {
        const { message, code, details } = error as Error & { code?: unknown; details?: unknown }
        if (typeof message === 'string' && message !== '' && message !== title) {
          problem.detail = message
        }
        if (typeof code === 'string') problem.code = code
        if (error instanceof HttpError && Array.isArray(details)) {
          problem.errors = details as ValidationIssue[]
        }
        headers = stringHeaders((error as { headers?: unknown }).headers)
      } else if (fallbackMessage !== undefined) {
        problem.detail = fallbackMessage
      }
      if (requestId !== undefined) problem.requestId = requestId
      for (const key of Object.keys(headers)) {
        if (key.toLowerCase() === 'content-type') delete headers[key]
      }
      headers['content-type'] = PROBLEM_CONTENT_TYPE
      request.response = fitResponse(event, { statusCode, headers, body: problemBody(problem) })
      return undefined
    },
  } as HttpErrorsMiddleware
}

function requestIdOf(context: unknown): string | undefined {
  const id = isRecord(context) ? context.awsRequestId : undefined
  if (typeof id === 'string' && id !== '') return id
  return tryGetInvocation()?.requestId
}
