import { setTimeout as sleep } from 'node:timers/promises'

// Stands for a handler that waits 10 ms on I/O: invocations overlap, so concurrency pays.
export const handler = async () => {
  await sleep(10)
  return { ok: true, waitedMs: 10 }
}
