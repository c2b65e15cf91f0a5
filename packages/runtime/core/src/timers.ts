// The timer functions as Node made them, captured before the escaped-work detector wraps the
// globals: lmi's own timers (deadlines, shutdown, retries) are not the application's work.
export const rawSetTimeout: typeof globalThis.setTimeout = globalThis.setTimeout
export const rawClearTimeout: typeof globalThis.clearTimeout = globalThis.clearTimeout
export const rawSetImmediate: typeof globalThis.setImmediate = globalThis.setImmediate
