import type { RuntimeLog } from '../log/log.ts'

/**
 * On the first SIGTERM or SIGINT, logs it (`LMI_SHUTDOWN`) and calls `stop`. Later ones, while
 * the drain runs, are logged (`LMI_SHUTDOWN_SIGNAL_IGNORED`) and otherwise ignored: Node's
 * default for a signal nobody listens to is to die at once, which would drop every invocation
 * the drain is still answering. Returns a function that removes the listeners.
 */
export function onStopSignals(log: RuntimeLog, stop: () => unknown): () => void {
  let received = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      log.log('WARN', `${signal} received while draining: ignored, the drain continues`, {
        code: 'LMI_SHUTDOWN_SIGNAL_IGNORED',
      })
      return
    }
    received = true
    log.log('INFO', `${signal} received: draining in-flight invocations`, { code: 'LMI_SHUTDOWN' })
    stop()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return function removeStopSignals() {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
