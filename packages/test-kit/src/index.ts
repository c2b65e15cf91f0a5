// The shared test helpers of the lmi packages. Private: never packed, never imported by a src/.
export { barrier } from './barrier.ts'
export { childExecArgv } from './child.ts'
export { lambdaContext, type TestLambdaContext } from './context.ts'
export {
  type EventFile,
  type EventKind,
  eventKinds,
  type HttpEventInit,
  httpEvent,
  jsonEvent,
  loadEvent,
} from './events.ts'
