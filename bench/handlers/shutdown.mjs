import { setTimeout as sleep } from 'node:timers/promises'

// For bench/extension.ts: what is in flight when Lambda shuts the environment down. Half the
// invocations end 50 ms after they start (inside the runtime's drain), half never end (the
// runtime must answer them itself with Runtime.ShutdownTimeout before Lambda's SIGKILL).
export const handler = async (event) => {
  if (event.never) return new Promise(() => {})
  await sleep(50)
  return { ok: true }
}
