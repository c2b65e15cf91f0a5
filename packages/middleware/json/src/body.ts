// The jsonBody middleware: its types and its hook. Options are resolved in options.ts, the
// body decoded in decode.ts, validated in validate.ts.
import type { LmiRequest, Middleware, Transform } from '@lmi/core'
import { isRecord } from '@lmi/core/internal'
import type { FromSchema, JSONSchema } from 'json-schema-to-ts'
import { assertJsonContentType, bodyText, parseJson } from './decode.ts'
import { BodyRequiredError, MalformedJsonError } from './errors.ts'
import { type JsonBodyOptions, type JsonSchemaLike, resolveOptions } from './options.ts'
import { validateBody } from './validate.ts'

/**
 * The fields of API Gateway (v1, v2), Function URL and ALB events that `jsonBody` reads; the
 * default event type of the chain after it, when none is given.
 *
 * @example
 * ```ts
 * const event: HttpRequestEvent = { headers: { 'content-type': 'application/json' }, body: '{}' }
 * ```
 */
export interface HttpRequestEvent {
  body?: string | null
  isBase64Encoded?: boolean
  headers?: Record<string, string | undefined> | null
  multiValueHeaders?: Record<string, string[] | undefined> | null
  queryStringParameters?: Record<string, string | undefined> | null
  pathParameters?: Record<string, string | undefined> | null
  requestContext?: object
}

/**
 * `TEvent` with `body` parsed to `TBody`, and the body as it arrived in `rawBody` (still base64
 * when `isBase64Encoded`; `undefined` when there was none).
 *
 * @example
 * ```ts
 * type OrderEvent = WithJsonBody<APIGatewayProxyEventV2, { sku: string }>
 * ```
 */
export type WithJsonBody<TEvent, TBody> = Omit<TEvent, 'body' | 'rawBody'> & {
  body: TBody
  rawBody?: string | undefined
}

/**
 * The middleware {@link jsonBody} returns: in `lmi()` the chain after it sees
 * `WithJsonBody<TEvent, TBody>` (through the phantom transform). Its hook takes any request, so
 * middy's `.use()`, which intersects the event types of its middlewares, keeps yours as it is.
 *
 * @example
 * ```ts
 * const parse: JsonBodyMiddleware<{ sku: string }> = jsonBody<{ sku: string }>({ required: true })
 * ```
 */
export type JsonBodyMiddleware<TBody, TEvent = HttpRequestEvent> = Omit<
  Middleware<Transform<TEvent, WithJsonBody<TEvent, TBody>>>,
  'before' | 'after' | 'onError' | 'name'
> & {
  readonly name: 'jsonBody'
  before(request: LmiRequest<unknown, unknown, unknown>): undefined
}

/**
 * Parses the JSON body of API Gateway (REST v1 and HTTP v2), Function URL and ALB events, in
 * `before`: `event.body` becomes the parsed value and `event.rawBody` keeps the text as it
 * arrived. Base64 bodies (`isBase64Encoded`) are decoded; bodies over `limit` bytes, with a
 * non-JSON `Content-Type`, malformed, or holding prototype-poisoning keys (`__proto__`,
 * `constructor.prototype`, found by `secure-json-parse`) are refused with a typed
 * {@link HttpError}. With a `schema`, the body is validated by ajv, compiled once here; an
 * invalid schema or option throws `InvalidConfigurationError` now, not per request.
 *
 * Types: with a schema declared `as const` the handler's `event.body` is the schema's type
 * (json-schema-to-ts `FromSchema`); `jsonBody<T>()` states it; otherwise it is `unknown`. A
 * second type argument names the event type the chain had (`jsonBody<T, APIGatewayProxyEventV2>()`).
 * Without a schema or `required: true` the body may be `undefined` (no body sent).
 *
 * @example
 * ```ts
 * import { lmi } from '@lmi/core'
 * import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
 *
 * const schema = {
 *   type: 'object',
 *   properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
 *   required: ['sku', 'qty'],
 *   additionalProperties: false,
 * } as const
 *
 * export const handler = lmi()
 *   .use(httpErrors())
 *   .use(jsonResponse())
 *   .use(jsonBody({ schema }))
 *   .handler(async (event) => ({ ordered: event.body.qty })) // body: { sku: string; qty: number }
 * ```
 */
export function jsonBody<const S extends JSONSchema, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: S; required?: true },
): JsonBodyMiddleware<FromSchema<S>, E>
export function jsonBody<const S extends JSONSchema, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: S; required?: boolean },
): JsonBodyMiddleware<FromSchema<S> | undefined, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema?: undefined; required: true },
): JsonBodyMiddleware<T, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options?: JsonBodyOptions & { schema?: undefined },
): JsonBodyMiddleware<T | undefined, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: JsonSchemaLike; required?: true },
): JsonBodyMiddleware<T, E>
export function jsonBody<T = unknown, E = HttpRequestEvent>(
  options: JsonBodyOptions & { schema: JsonSchemaLike; required?: boolean },
): JsonBodyMiddleware<T | undefined, E>
export function jsonBody(options?: JsonBodyOptions): JsonBodyMiddleware<unknown> {
  const { required, limit, checkContentType, contentTypes, reviver, validate, maxErrors } =
    resolveOptions(options)

  return {
    name: 'jsonBody',
    before: function jsonBodyBefore(request: LmiRequest<unknown, unknown, unknown>): undefined {
      const target = request.event
      if (!isRecord(target)) {
        if (required) throw new BodyRequiredError()
        return undefined
      }
      const raw = target.body
      if (raw === undefined || raw === null || raw === '') {
        if (required) throw new BodyRequiredError()
        target.body = undefined
        return undefined
      }
      if (typeof raw !== 'string') {
        throw new MalformedJsonError(`Request body must be a JSON string, got ${typeof raw}`)
      }
      if (checkContentType) assertJsonContentType(target, contentTypes)
      const text = bodyText(raw, target.isBase64Encoded === true, limit)
      if (text === '') {
        // A base64 body that decodes to nothing is no body.
        if (required) throw new BodyRequiredError()
        target.body = undefined
        return undefined
      }
      const body = parseJson(text, reviver)
      if (validate !== undefined) validateBody(validate, body, maxErrors)
      target.rawBody = raw
      target.body = body
      return undefined
    },
  } as JsonBodyMiddleware<unknown>
}
