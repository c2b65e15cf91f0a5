import { describeValue, rawClearTimeout, rawSetTimeout, runShutdownHooks } from '@lmi/core/internal'
import { CODES } from '../errors.ts'
import type { RuntimeLog } from '../log/log.ts'

/** The longest the shutdown hooks run, together, whatever the budget. */
export const HOOKS_MAX_MS = 1000

/**
 * How one shutdown budget (`LMI_SHUTDOWN_TIMEOUT_MS`, from the signal to the exit) is spent:
 * `drainMs` for in-flight invocations to finish, then `answersMs` to post the answers of those
 * still running (`Runtime.ShutdownTimeout`), then `hooksMs` for the `onShutdown` hooks, plus
 * `teardownMs` for worker threads to end after their hooks. The parts add up to `totalMs`.
 * `hooksMs` is the hooks' least: they also get whatever the drain and the answers left unused,
 * up to {@link HOOKS_MAX_MS}.
 *
 * @example
 * ```ts
 * shutdownPlan(250) // { totalMs: 250, drainMs: 115, answersMs: 50, hooksMs: 75, teardownMs: 10 }
 * ```
 */
export interface ShutdownPlan {
  readonly totalMs: number
  readonly drainMs: number
  readonly answersMs: number
  readonly hooksMs: number
  readonly teardownMs: number
}

/**
 * Splits a shutdown budget: 20% (at most 1 s) to post the last answers, 30% (at most 1 s) to
 * the hooks, 4% (at most 500 ms) to end worker threads, the rest to the drain. Hooks and
 * answers get shares rather than fixed times so that the whole shutdown fits the budget,
 * however small: on Lambda it is 300 ms from SIGTERM to SIGKILL.
 *
 * @example
 * ```ts
 * const { drainMs, hooksMs } = shutdownPlan(10_000) // 7,600 and 1,000
 * ```
 */
export function shutdownPlan(totalMs: number): ShutdownPlan {
  const answersMs = Math.min(1000, Math.floor(totalMs * 0.2))
  const hooksMs = Math.min(HOOKS_MAX_MS, Math.floor(totalMs * 0.3))
  const teardownMs = Math.min(500, Math.floor(totalMs * 0.04))
  return {
    totalMs,
    drainMs: totalMs - answersMs - hooksMs - teardownMs,
    answersMs,
    hooksMs,
    teardownMs,
  }
}

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
        code: CODES.SHUTDOWN_SIGNAL_IGNORED,
      })
      return
    }
    received = true
    log.log('INFO', `${signal} received: draining in-flight invocations`, { code: CODES.SHUTDOWN })
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
 * Runs this thread's `onShutdown` hooks for up to `hooksMs` (the plan's share), logging each
 * failure (`LMI_SHUTDOWN_HOOK`) and the hooks still running then
 * (`LMI_SHUTDOWN_HOOKS_TIMEOUT`). Never rejects.
 */
export async function runShutdownHooksWithin(log: RuntimeLog, hooksMs: number): Promise<void> {
  const hooks = runShutdownHooks((error) => {
    log.log('ERROR', `Shutdown hook failed: ${describeValue(error)}`, { code: CODES.SHUTDOWN_HOOK })
  })
  if (await settlesWithin(hooks, hooksMs)) return
  log.log('WARN', `Shutdown hooks still running after ${hooksMs} ms: exiting without them`, {
    code: CODES.SHUTDOWN_HOOKS_TIMEOUT,
    hooksMs,
  })
}
