// @lmi/core: what handlers and middlewares import — the `lmi()` chain, the invocation API,
// `shared()`, the shared-state detectors and the errors. No HTTP client, no CLI: it loads in
// a handler's cold start on AWS's runtime as on lmi's.
export {
  DEFAULT_SHARED_STATE_MODE,
  InvalidInvocationError,
  InvalidMiddlewareError,
  type LmiHandler,
  type LmiOptions,
  type LmiPlugin,
  lmi,
} from './chain/chain.ts'
export {
  type ExecutionMode,
  executionModeStandard,
  executionModeStreamifyResponse,
  StreamedResponseError,
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
  SharedStateError,
  type SharedStateMode,
} from './detect/findings.ts'
export { shared } from './detect/shared.ts'
export {
  type ErrorResponse,
  InvalidConfigurationError,
  InvocationTimeoutError,
  LmiError,
  toErrorResponse,
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
  type Invocation,
  type InvocationEndMessage,
  NoInvocationError,
  TenantConflictError,
  tryGetInvocation,
} from './invocation/store.ts'
export { onShutdown, type ShutdownHook } from './shutdown.ts'
export {
  type HttpResponseMetadata,
  HttpResponseStream,
  type StreamingHandler,
  streamifyResponse,
} from './streaming/streamify.ts'
