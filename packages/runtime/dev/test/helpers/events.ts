import type { EventEmitter } from 'node:events'

/**
 * Resolves with the first `event` whose arguments satisfy `predicate`. Listening starts at once,
 * so call it before the action that causes the event.
 */
export function nextEvent<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  predicate: (...args: T) => boolean = () => true,
): Promise<T> {
  return new Promise<T>(function awaitEvent(resolve) {
    function listener(...args: unknown[]): void {
      if (!predicate(...(args as T))) return
      emitter.off(event, listener)
      resolve(args as T)
    }
    emitter.on(event, listener)
  })
}

/** Tracks whether a promise has settled, to assert that one is still pending. */
export function track<T>(promise: Promise<T>): { readonly settled: boolean; promise: Promise<T> } {
  const state = { settled: false, promise }
  promise.then(
    () => {
      state.settled = true
    },
    () => {
      state.settled = true
    },
  )
  return state
}

/**
 * Lets the event loop run until no TCP handle or timer beyond `baseline` is left (closing handles
 * are released in the loop's close phase), for at most `turns` turns; returns what is left.
 */
export async function leftoverResources(baseline: string[], turns = 50): Promise<string[]> {
  const watched = new Set(['TCPServerWrap', 'TCPSocketWrap', 'Timeout'])
  function extra(): string[] {
    const counts = new Map<string, number>()
    for (const name of baseline) counts.set(name, (counts.get(name) ?? 0) + 1)
    const left: string[] = []
    for (const name of process.getActiveResourcesInfo()) {
      if (!watched.has(name)) continue
      const remaining = counts.get(name) ?? 0
      if (remaining > 0) counts.set(name, remaining - 1)
      else left.push(name)
    }
    return left
  }
  for (let turn = 0; turn < turns && extra().length > 0; turn += 1) {
    await new Promise((resolve) => setImmediate(resolve))
  }
  return extra()
}
