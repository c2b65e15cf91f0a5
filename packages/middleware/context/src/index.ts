export {
  getInvocation,
  type Invocation,
  NoInvocationError,
  tryGetInvocation,
} from '@lmi/runtime'
export { type CreateLoggerOptions, createLogger, logger } from './logger.ts'
export { get, has, set } from './store.ts'
