// The Lambda Runtime API on the wire — paths, header names, limits — in one module: lmi's
// client and streamed response (`@lmi/runtime`) speak it, the dev emulator (`@lmi/dev`) serves
// it. Header names are lower case, as HTTP/1.1 parsers (node:http, undici) deliver them; the
// platform matches them case-insensitively.

/** The Runtime API's version prefix: `/2018-06-01/runtime`. */
export const RUNTIME_API_PREFIX = '/2018-06-01/runtime'

/** The Extensions API's version prefix: `/2020-01-01/extension`. */
export const EXTENSIONS_API_PREFIX = '/2020-01-01/extension'

/** The RIE-compatible invoke endpoint: `POST /2015-03-31/functions/<name>/invocations`. */
export const INVOKE_API_PREFIX = '/2015-03-31/functions/'

/** The Runtime API's endpoints. */
export const RUNTIME_PATHS = {
  /** `GET`: the next invocation (long poll). */
  next: `${RUNTIME_API_PREFIX}/invocation/next`,
  /** `POST`: the runtime could not start. */
  initError: `${RUNTIME_API_PREFIX}/init/error`,
} as const

/**
 * The path of an invocation's `response` or `error` endpoint. The request id is
 * percent-encoded: it is whatever the Runtime API sent, and a space or a `/` in it would
 * otherwise make an invalid request or another path.
 *
 * @example
 * ```ts
 * invocationPath('a b/c', 'response') // '/2018-06-01/runtime/invocation/a%20b%2Fc/response'
 * ```
 */
export function invocationPath(requestId: string, action: 'response' | 'error'): string {
  return `${RUNTIME_API_PREFIX}/invocation/${encodeURIComponent(requestId)}/${action}`
}

/** Headers of `GET /invocation/next`'s answer: the invocation's metadata. */
export const NEXT_HEADERS = {
  requestId: 'lambda-runtime-aws-request-id',
  deadlineMs: 'lambda-runtime-deadline-ms',
  functionArn: 'lambda-runtime-invoked-function-arn',
  traceId: 'lambda-runtime-trace-id',
  clientContext: 'lambda-runtime-client-context',
  cognitoIdentity: 'lambda-runtime-cognito-identity',
  tenantId: 'lambda-runtime-aws-tenant-id',
} as const

/** Headers (and, when streaming, trailers) the runtime sends with an answer. */
export const ANSWER_HEADERS = {
  errorType: 'lambda-runtime-function-error-type',
  errorBody: 'lambda-runtime-function-error-body',
  xrayErrorCause: 'lambda-runtime-function-xray-error-cause',
  responseMode: 'lambda-runtime-function-response-mode',
} as const

/** The value of {@link ANSWER_HEADERS}`.responseMode` for a streamed response. */
export const STREAMING_RESPONSE_MODE = 'streaming'

/** Lambda's limit for a buffered response payload (and an invoke request body): 6 MB. */
export const RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024

/** Lambda's limit for a streamed response: 200 MB. */
export const STREAMING_RESPONSE_LIMIT_BYTES = 200 * 1024 * 1024

/** Largest `Lambda-Runtime-Function-XRay-Error-Cause` header the platform takes. */
export const XRAY_ERROR_CAUSE_LIMIT_BYTES = 8 * 1024

export const JSON_CONTENT_TYPE = 'application/json'
