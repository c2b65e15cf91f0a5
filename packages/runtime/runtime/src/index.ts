// @lmi/runtime: lmi's Runtime Interface Client — what Lambda starts in place of AWS's Node
// runtime (the `lmi-runtime` bin, the exec wrapper, the layer). Handlers import `@lmi/core`;
// this package is for the process that runs them.
export {
  bootstrap,
  cpuQuota,
  installAwsLambdaGlobal,
  type RuntimeConfig,
  runRuntime,
  runtimeConfigFromEnv,
} from './bootstrap.ts'
export {
  type NextInvocation,
  RESPONSE_LIMIT_BYTES,
  RuntimeApiClient,
} from './client/runtime-api.ts'
export {
  CallbackHandlerDeprecatedError,
  type FenceReason,
  HandlerLoadError,
  RequestFencedError,
  ResponseSizeTooLargeError,
  RuntimeApiFatalError,
  SerializationError,
  ShutdownTimeoutError,
  UncaughtExceptionError,
  UnhandledRejectionError,
} from './errors.ts'
export {
  type AnyHandler,
  type LoadedHandler,
  loadHandler,
  parseHandlerName,
  refuseCallbackHandler,
  resolveHandlerFile,
} from './handler/load.ts'
export {
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  type LogSettings,
  RuntimeLog,
} from './log/log.ts'
export {
  type Answer,
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
export {
  SHUTDOWN_TIMEOUT_DEFAULT_MS,
  type ShutdownPlan,
  shutdownPlan,
} from './scheduler/shutdown.ts'
export {
  defaultWorkerCount,
  WorkerExecutors,
  WorkerFailedError,
  workerCountFromEnv,
} from './scheduler/workers.ts'
