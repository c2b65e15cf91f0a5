// @lmi/runtime: lmi's Runtime Interface Client — what Lambda starts in place of AWS's Node
// runtime (the `lmi-runtime` bin, the exec wrapper, the layer). Handlers import `@lmi/core`;
// this package is for the process that runs them.

export { RESPONSE_LIMIT_BYTES } from '@lmi/core/internal'
export { bootstrap, cpuQuota, runRuntime } from './bootstrap.ts'
export type { Answer } from './client/answer.ts'
export { type NextInvocation, RuntimeApiClient } from './client/runtime-api.ts'
export {
  type RuntimeConfig,
  runtimeConfigFromEnv,
  SHUTDOWN_TIMEOUT_DEFAULT_MS,
} from './config.ts'
export {
  CallbackHandlerDeprecatedError,
  CODES,
  type FenceReason,
  HandlerLoadError,
  RequestFencedError,
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
  ShutdownTimeoutError,
  UncaughtExceptionError,
  UnhandledRejectionError,
  WorkerFailedError,
} from './errors.ts'
export {
  type AnyHandler,
  type LoadedHandler,
  loadHandler,
  parseHandlerName,
  refuseCallbackHandler,
  resolveHandlerFile,
} from './handler/load.ts'
export { installAwsLambdaGlobal } from './handler/prepare.ts'
export { ATTRIBUTION_PREFIX, type AttributedWrite } from './log/attribution.ts'
export {
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  type LogSettings,
  RuntimeLog,
} from './log/log.ts'
export { MAX_BODY_BYTES, REQUEST_PREFIX, type RecordedRequest } from './log/requests.ts'
export {
  Executor,
  type ExecutorOptions,
  type Job,
  type LateWork,
  ZOMBIE_FIRST_REPORT_MS,
  ZOMBIE_REPORT_INTERVAL_MS,
} from './scheduler/executor.ts'
export {
  HTTP_CLIENT_REQUEST_CREATED,
  RequestFence,
  type RequestFenceOptions,
  UNDICI_REQUEST_CREATE,
} from './scheduler/fence.ts'
export {
  type DispatchedJob,
  type Executors,
  LocalExecutors,
  Runtime,
  type RuntimeOptions,
  type RuntimeStats,
} from './scheduler/runtime.ts'
export { type ShutdownPlan, shutdownPlan } from './scheduler/shutdown.ts'
export {
  defaultWorkerCount,
  WorkerExecutors,
  workerCountFromEnv,
} from './scheduler/workers.ts'
