// What is measured: handlers × concurrency levels, and how many invocations each cell gets.

export type HandlerName = 'trivial' | 'io10' | 'cpu2'

export const handlerInfo: Record<HandlerName, { description: string; expectedPayload: string }> = {
  trivial: {
    description: '`async () => ({ ok: true })`: the runtime overhead alone',
    expectedPayload: JSON.stringify({ ok: true }),
  },
  io10: {
    description: 'awaits a 10 ms timer, returns a small object: overlapping I/O waits',
    expectedPayload: JSON.stringify({ ok: true, waitedMs: 10 }),
  },
  cpu2: {
    description: '~2 ms of hashing, no I/O: CPU-bound, for the worker-thread comparison',
    expectedPayload: JSON.stringify({ ok: true, rounds: 800, first: true }),
  },
}

/** The default workloads; `cpu2` runs only when asked for (`--handlers cpu2`). */
export const handlerNames: HandlerName[] = ['trivial', 'io10']
export const concurrencyLevels: number[] = [1, 8, 64]

/** The event every invocation carries. */
export const benchEvent = { source: 'lmi-bench', detail: { id: 42, tags: ['a', 'b'] } }

export type Counts = { warmup: number; measure: number }

/**
 * Invocations per cell. Concurrency 64 gets 10k (the target cells); lower concurrency gets
 * fewer where each invocation is slow to come by (at concurrency 1 an io10 invocation takes
 * ≥ 10 ms, so 10k would take two minutes per run), enough for stable medians.
 */
export function countsFor(handler: HandlerName, concurrency: number, scale = 1): Counts {
  const full: Counts =
    concurrency >= 64
      ? { warmup: 1000, measure: 10_000 }
      : concurrency >= 8
        ? handler === 'io10'
          ? { warmup: 300, measure: 3000 }
          : { warmup: 1000, measure: 10_000 }
        : handler === 'io10'
          ? { warmup: 50, measure: 300 }
          : { warmup: 500, measure: 3000 }
  if (scale === 1) return full
  return {
    warmup: Math.max(20, Math.round(full.warmup * scale)),
    measure: Math.max(50, Math.round(full.measure * scale)),
  }
}
