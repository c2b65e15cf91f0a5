// @lmi/core: what handlers and middlewares import — the `lmi()` chain, the invocation API,
// `shared()`, the shared-state detectors and the errors. No HTTP client, no CLI: it loads in
// a handler's cold start on AWS's runtime as on lmi's.
export { type LmiHandler, lmi } from './chain/chain.ts'
export { DEFAULT_SHARED_STATE_MODE, type LmiOptions, type LmiPlugin } from './chain/options.ts'
export {
  type ExecutionMode,
  executionModeStandard,
  executionModeStreamifyResponse,
} from './chain/streamed.ts'
export type {
  ChainHandler,
  HandlerOptions,
  LmiRequest,
  Middleware,
  MiddlewareFn,
  Transform,
  transform,
} from './chain/types.ts'
export { CHANNELS, findingChannel, invocationEndChannel } from './channels.ts'
export {
  FINDING_CODES,
  type Finding,
  type FindingCode,
  type SharedStateMode,
} from './detect/findings.ts'
export { shared } from './detect/shared.ts'
export { type ErrorResponse, toErrorResponse } from './error-response.ts'
export {
  CODES,
  InvalidConfigurationError,
  InvalidInvocationError,
  InvalidMiddlewareError,
  InvocationTimeoutError,
  LmiError,
  NoInvocationError,
  SharedStateError,
  StreamedResponseError,
  TenantConflictError,
} from './errors.ts'
export type {
  ClientContext,
  CognitoIdentity,
  FunctionInfo,
  LambdaContext,
} from './invocation/context.ts'
export {
  bindTenantId,
  getInvocation,
  tryGetInvocation,
} from './invocation/current.ts'
export { type InvocationLocal, invocationLocal } from './invocation/local.ts'
export type { Invocation, InvocationEndMessage } from './invocation/state.ts'
export { onShutdown, type ShutdownHook } from './shutdown.ts'
export {
  type HttpResponseMetadata,
  HttpResponseStream,
  type StreamingHandler,
  streamifyResponse,
} from './streaming/streamify.ts'
