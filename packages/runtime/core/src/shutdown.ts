import { processState } from './process-state.ts'

/**
 * A function run once when the runtime shuts down (SIGTERM/SIGINT), after in-flight work.
 *
 * @example
 * ```ts
 * const closePool: ShutdownHook = () => pool.end()
 * ```
 */
export type ShutdownHook = () => unknown

// Process-wide registration, like `process.on('SIGTERM')`: configuration, not request state;
// shared with any other copy of this package, so hooks a bundled handler registers run when
// the runtime that runs it shuts down.
const hooks = processState.shutdownHooks

/**
 * Registers a hook to run when lmi's runtime shuts down (SIGTERM/SIGINT): after in-flight
 * invocations have finished (or the shutdown deadline passed), before the process exits 0.
 * Hooks run in registration order; each may be async; a failing hook is logged and the next
 * still runs. Returns a function that unregisters the hook. On AWS's runtime the hooks are
 * not run (it has no shutdown phase for the handler's code).
 *
 * @example
 * ```ts
 * import { onShutdown } from '@lmi/core'
 * const pool = createPool()
 * onShutdown(() => pool.end())
 * ```
 */
export function onShutdown(hook: ShutdownHook): () => void {
  hooks.push(hook)
  return function removeShutdownHook() {
    const index = hooks.indexOf(hook)
    if (index !== -1) hooks.splice(index, 1)
  }
}

/** Runs every registered hook once, in order; `onError` gets each hook's failure. */
export async function runShutdownHooks(onError: (error: unknown) => void): Promise<void> {
  for (const hook of hooks.splice(0)) {
    try {
      await hook()
    } catch (error) {
      onError(error)
    }
  }
}
