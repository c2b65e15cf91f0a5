export { createEmulator } from './emulator.ts'
export { EmulatorArgumentError, EmulatorClosedError, EmulatorError } from './errors.ts'
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
  Fault,
  FaultEndpoint,
  InvocationError,
  InvocationStatus,
  InvokeOptions,
  InvokeResult,
} from './types.ts'
