import { describe, rawClearTimeout, rawSetTimeout, runShutdownHooks } from '@lmi/core/internal'
import type { RuntimeLog } from '../log/log.ts'

/** How long the shutdown hooks may run, together, before the runtime exits without them. */
export const SHUTDOWN_HOOKS_TIMEOUT_MS = 1000

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

/** Resolves true if `promise` settles within `ms`, false otherwise; never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = rawSetTimeout(resolve, ms, false)
  })
  const settled = promise.then(
    () => true,
    () => true,
  )
  try {
    return await Promise.race([settled, timedOut])
  } finally {
    rawClearTimeout(timer)
  }
}

/**
 * Runs this thread's `onShutdown` hooks for up to {@link SHUTDOWN_HOOKS_TIMEOUT_MS}, logging
 * each failure (`LMI_SHUTDOWN_HOOK`) and the hooks still running then
 * (`LMI_SHUTDOWN_HOOKS_TIMEOUT`). Never rejects.
 */
export async function runShutdownHooksWithin(log: RuntimeLog): Promise<void> {
  const hooks = runShutdownHooks((error) => {
    log.log('ERROR', `Shutdown hook failed: ${describe(error)}`, { code: 'LMI_SHUTDOWN_HOOK' })
  })
  if (await settlesWithin(hooks, SHUTDOWN_HOOKS_TIMEOUT_MS)) return
  log.log(
    'WARN',
    `Shutdown hooks still running after ${SHUTDOWN_HOOKS_TIMEOUT_MS} ms: exiting without them`,
    { code: 'LMI_SHUTDOWN_HOOKS_TIMEOUT' },
  )
}
