import type { LmiRequest, Middleware, Transform } from '@lmi/core'
import { invalidOption, is, isRecord, type OptionSchema, validateOptions } from '@lmi/core/internal'
import { PACKAGE, ResponseSerializationError } from './errors.ts'
import { fitResponse, type HttpResponse, hasHeader } from './http.ts'

/**
 * `application/json; charset=utf-8`, the default `Content-Type` of {@link jsonResponse}.
 *
 * @example
 * ```ts
 * return { statusCode: 201, headers: { 'content-type': JSON_CONTENT_TYPE }, body: JSON.stringify(order) }
 * ```
 */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'

/**
 * What a handler behind {@link jsonResponse} may return: any value to serialize, an
 * already-shaped {@link HttpResponse}, or nothing (204).
 *
 * @example
 * ```ts
 * const result: JsonResponseInput = { id: 42, status: 'placed' }
 * ```
 */
// biome-ignore lint/suspicious/noConfusingVoidType: lets handlers that return nothing type-check
export type JsonResponseInput = NonNullable<unknown> | null | void

/**
 * The middleware {@link jsonResponse} returns: the handler may return any
 * {@link JsonResponseInput}; the chain outside gets an {@link HttpResponse}.
 *
 * @example
 * ```ts
 * const serialize: JsonResponseMiddleware = jsonResponse({ statusCode: 201 })
 * ```
 */
export type JsonResponseMiddleware = Omit<
  Middleware<Transform<unknown, unknown, JsonResponseInput, HttpResponse>>,
  'before' | 'after' | 'onError' | 'name'
> & {
  readonly name: 'jsonResponse'
  after(request: LmiRequest<unknown, unknown, unknown>): undefined
}

/**
 * Options of {@link jsonResponse}.
 *
 * @example
 * ```ts
 * jsonResponse({ statusCode: 201, replacer: (key, value) => (key === 'password' ? undefined : value) })
 * ```
 */
export interface JsonResponseOptions {
  /** Status of responses built from a returned value. Default 200. */
  statusCode?: number
  /** `Content-Type` added when a response has none. Default `application/json; charset=utf-8`. */
  contentType?: string
  /** `JSON.stringify`'s replacer. */
  replacer?: (this: unknown, key: string, value: unknown) => unknown
  /** Replaces `JSON.stringify` (not with `replacer`); must return a string. */
  serializer?: (value: unknown) => string
}

const WHERE = 'jsonResponse(options)'

const optionSchema: OptionSchema = {
  statusCode: is.integer(100, 599),
  contentType: is.nonEmptyString,
  replacer: is.function,
  serializer: is.function,
}

function isShaped(value: unknown): value is Record<string, unknown> & { statusCode: number } {
  return isRecord(value) && !Array.isArray(value) && typeof value.statusCode === 'number'
}

/**
 * Serializes what the handler returns into an HTTP response, in `after`. A value (object,
 * array, string, number, `null`) becomes `{ statusCode: 200, headers: { 'content-type':
 * 'application/json; charset=utf-8' }, body: JSON.stringify(value) }`; `undefined` becomes an
 * empty 204. A response already shaped (it has a numeric `statusCode`) is kept, except that a
 * body that is not a string is serialized and a missing `Content-Type` is added (not for
 * empty or base64 bodies). For ALB events the response gets `statusDescription` and
 * `isBase64Encoded`, and its headers go in `multiValueHeaders` when the event came with them.
 *
 * The returned object is never changed (it may be a constant shared by concurrent
 * invocations): the response is a copy. A value that cannot be serialized (a BigInt, a cycle)
 * fails with `ResponseSerializationError` (500), which {@link httpErrors} answers.
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { httpErrors, jsonResponse } from '@lmi/json'
 *
 * export const handler = lmi(async () => ({ orders: [] }))
 *   .use(httpErrors())
 *   .use(jsonResponse())
 * // => { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"orders":[]}' }
 * ```
 */
export function jsonResponse(options?: JsonResponseOptions): JsonResponseMiddleware {
  validateOptions(PACKAGE, WHERE, options, optionSchema)
  const { statusCode = 200, contentType = JSON_CONTENT_TYPE, replacer, serializer } = options ?? {}
  if (replacer !== undefined && serializer !== undefined) {
    throw invalidOption(PACKAGE, `${WHERE}: give replacer or serializer, not both`, {
      option: 'serializer',
    })
  }

  const serialize = (value: unknown): string => {
    let text: unknown
    try {
      text = serializer === undefined ? JSON.stringify(value, replacer) : serializer(value)
    } catch (error) {
      throw new ResponseSerializationError({ cause: error })
    }
    if (typeof text !== 'string') {
      // JSON.stringify returns undefined for a function or a symbol.
      throw new ResponseSerializationError({
        cause: new TypeError(`the serializer returned ${typeof text}, not a string`),
      })
    }
    return text
  }

  const toResponse = (value: unknown): Record<string, unknown> => {
    if (value === undefined) return { statusCode: 204, headers: {}, body: '' }
    if (!isShaped(value)) {
      return { statusCode, headers: { 'content-type': contentType }, body: serialize(value) }
    }
    const response: Record<string, unknown> = { ...value }
    if (response.body !== undefined && typeof response.body !== 'string') {
      response.body = serialize(response.body)
    }
    const hasBody = typeof response.body === 'string' && response.body !== ''
    if (hasBody && response.isBase64Encoded !== true && !hasHeader(response, 'content-type')) {
      response.headers = {
        ...(isRecord(response.headers) ? response.headers : {}),
        'content-type': contentType,
      }
    }
    return response
  }

  return {
    name: 'jsonResponse',
    after: function jsonResponseAfter(request: LmiRequest<unknown, unknown, unknown>): undefined {
      request.response = fitResponse(request.event, toResponse(request.response))
      return undefined
    },
  } as JsonResponseMiddleware
}
