export {
  getInvocation,
  type Invocation,
  NoInvocationError,
  tryGetInvocation,
} from '@lmi/core'
export { type CreateLoggerOptions, createLogger, logger } from './logger.ts'
export { get, has, set } from './store.ts'
