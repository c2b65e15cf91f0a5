import type { RuntimeLog } from '../log/log.ts'

/**
 * On the first SIGTERM or SIGINT, logs it (`LMI_SHUTDOWN`) and calls `stop`. Returns a
 * function that removes the listeners.
 */
export function onStopSignals(log: RuntimeLog, stop: () => unknown): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    log.log('INFO', `${signal} received: draining in-flight invocations`, { code: 'LMI_SHUTDOWN' })
    stop()
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  return function removeStopSignals() {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
