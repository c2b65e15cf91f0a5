// The soak's handler: 1 ms of I/O per invocation. An event `{ probe: true }` instead collects
// garbage (the runtime runs with --expose-gc) and answers with this isolate's live heap: sent
// between phases, when nothing else is in flight.
import { setTimeout as sleep } from 'node:timers/promises'

export const handler = async (event) => {
  if (event?.probe === true) {
    if (typeof globalThis.gc !== 'function') return { probe: true, gc: false }
    globalThis.gc()
    return { probe: true, gc: true, heapUsed: process.memoryUsage().heapUsed }
  }
  await sleep(1)
  return { ok: true }
}
