export { InvalidConfigurationError } from '@lmi/core'
export {
  type HttpRequestEvent,
  type JsonBodyMiddleware,
  jsonBody,
  type WithJsonBody,
} from './body.ts'
export {
  BodyRequiredError,
  CODES,
  createHttpError,
  HttpError,
  type HttpErrorJSON,
  type HttpErrorOptions,
  isHttpError,
  MalformedJsonError,
  PayloadTooLargeError,
  PrototypePoisoningError,
  ResponseSerializationError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ValidationIssue,
} from './errors.ts'
export { type HttpEventKind, type HttpResponse, httpEventKind } from './http.ts'
export {
  type ErrorLogRecord,
  type HttpErrorsLogger,
  type HttpErrorsMiddleware,
  type HttpErrorsOptions,
  httpErrors,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
} from './http-errors.ts'
export {
  DEFAULT_BODY_LIMIT,
  type JsonBodyOptions,
  type JsonSchemaLike,
} from './options.ts'
export {
  JSON_CONTENT_TYPE,
  type JsonResponseInput,
  type JsonResponseMiddleware,
  type JsonResponseOptions,
  jsonResponse,
} from './response.ts'
