// @lmi/core/internal: what @lmi/runtime and @lmi/dev need from the core beyond its public API
// (opening invocations, the process-wide state, lmi's own timers, the detectors' switches).
// Not for applications: it follows the package's version, with no compatibility promise of
// its own.
export { type BuiltinRequireLoan, lendBuiltinRequire } from './builtin-require.ts'
export { CHANNELS } from './channels.ts'
export { declareTmpScope, installDetectors } from './detect/detectors.ts'
export {
  detectorMode,
  isUserFrame,
  raiseDetectorMode,
  report,
  setDetectorMode,
  setFindingSink,
  sharedStateModeFromEnv,
  userStack,
} from './detect/findings.ts'
export { describeValue, isError } from './error-response.ts'
export { brand, hasBrand } from './errors.ts'
export {
  createLambdaContext,
  functionInfoFromEnv,
  type NextInvocation,
} from './invocation/context.ts'
export {
  currentInvocation,
  type ForeignInvokeStore,
  foreignInvokeStore,
  invocationStorage,
  kInvocation,
} from './invocation/current.ts'
export {
  ensureInvokeStore,
  installInvokeStore,
  LmiInvokeStore,
} from './invocation/invoke-store.ts'
export {
  type InvocationInit,
  type InvocationOutcome,
  InvocationState,
  MAX_FUNCTION_TIMEOUT_MS,
  setEndCheck,
} from './invocation/state.ts'
export {
  headerValue,
  invalidOption,
  is,
  isRecord,
  type OptionRule,
  type OptionSchema,
  parseInteger,
  validateOptions,
} from './kit.ts'
export {
  PACKAGE_VERSION,
  PROCESS_STATE_PROTOCOL,
  processState,
  type TmpScopeView,
} from './process-state.ts'
export {
  ANSWER_HEADERS,
  EXTENSIONS_API_PREFIX,
  INVOKE_API_PREFIX,
  invocationPath,
  JSON_CONTENT_TYPE,
  NEXT_HEADERS,
  RESPONSE_LIMIT_BYTES,
  RUNTIME_API_PREFIX,
  RUNTIME_PATHS,
  STREAMING_RESPONSE_LIMIT_BYTES,
  STREAMING_RESPONSE_MODE,
  XRAY_ERROR_CAUSE_LIMIT_BYTES,
} from './protocol.ts'
export { runShutdownHooks } from './shutdown.ts'
export {
  HANDLER_HIGHWATERMARK,
  HANDLER_STREAMING,
  isStreamingHandler,
} from './streaming/streamify.ts'
export { rawClearTimeout, rawSetImmediate, rawSetTimeout } from './timers.ts'
