export { CODES, EmulatorArgumentError, EmulatorClosedError, EmulatorError } from '../errors.ts'
export { createEmulator } from './emulator.ts'
export {
  LAMBDA_RESPONSE_LIMIT_BYTES,
  LAMBDA_STREAMING_RESPONSE_LIMIT_BYTES,
} from './protocol.ts'
export type {
  DeliveredEvent,
  Emulator,
  EmulatorEventMap,
  EmulatorOptions,
  EmulatorStats,
  ExtensionErrorReport,
  ExtensionEventDelivery,
  ExtensionEventType,
  Fault,
  FaultEndpoint,
  InvocationError,
  InvocationStatus,
  InvokeOptions,
  InvokeResult,
  ProcessShutdown,
  RegisteredExtension,
  RuntimeShutdown,
  ShutdownEvent,
  ShutdownOptions,
  ShutdownProcesses,
  ShutdownReason,
  ShutdownReport,
} from './types.ts'
