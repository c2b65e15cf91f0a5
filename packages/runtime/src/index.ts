export {
  bootstrap,
  cpuQuota,
  installAwsLambdaGlobal,
  type RuntimeConfig,
  runtimeConfigFromEnv,
} from './bootstrap.ts'
export {
  ChainSealedError,
  DEFAULT_SHARED_STATE_MODE,
  InvalidInvocationError,
  InvalidMiddlewareError,
  type LmiHandler,
  type LmiOptions,
  lmi,
} from './chain/chain.ts'
export type {
  ChainHandler,
  HandlerOptions,
  LmiRequest,
  Middleware,
  MiddlewareFn,
  Transform,
  transform,
} from './chain/types.ts'
export {
  type NextInvocation,
  RESPONSE_LIMIT_BYTES,
  RuntimeApiClient,
} from './client/runtime-api.ts'
export {
  FINDING_CODES,
  type Finding,
  type FindingCode,
  findingChannel,
  SharedStateError,
  type SharedStateMode,
} from './detect/findings.ts'
export { shared } from './detect/shared.ts'
export {
  type ErrorResponse,
  HandlerLoadError,
  InvalidConfigurationError,
  InvocationTimeoutError,
  LmiError,
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
  toErrorResponse,
  UncaughtExceptionError,
  UnhandledRejectionError,
} from './errors.ts'
export {
  type AnyHandler,
  type LoadedHandler,
  loadHandler,
  parseHandlerName,
} from './handler/load.ts'
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
  invocationEndChannel,
  NoInvocationError,
  TenantConflictError,
  tryGetInvocation,
} from './invocation/store.ts'
export {
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  type LogSettings,
  RuntimeLog,
} from './log/log.ts'
export { Runtime, type RuntimeOptions, type RuntimeStats } from './scheduler/runtime.ts'
export { onShutdown, type ShutdownHook } from './scheduler/shutdown.ts'
export {
  type HttpResponseMetadata,
  HttpResponseStream,
  type StreamingHandler,
  streamifyResponse,
} from './streaming/streamify.ts'
