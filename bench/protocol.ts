import type { EmulatorStats } from '../packages/runtime/dev/src/emulator/index.ts'

// Messages between run.ts (parent) and emulator-process.ts (child, the load generator).

export type InitMessage = {
  type: 'init'
  /** Module exporting `createEmulator` (the lmi emulator source unless overridden). */
  emulatorModule: string
  concurrency: number
  timeoutMs: number
  /** Event sent with every invocation. */
  event: unknown
  /** The exact response body the handler produces: anything else counts as an error. */
  expectedPayload: string
}

export type RunMessage = { type: 'run'; phase: 'warmup' | 'measure'; count: number }
export type CloseMessage = { type: 'close' }
/** One invocation with `event` (the soak's heap probe); answered with a `probed` message. */
export type ProbeMessage = { type: 'probe'; event: unknown }
export type ParentMessage = InitMessage | RunMessage | CloseMessage | ProbeMessage

export type PhaseSummary = {
  phase: 'warmup' | 'measure'
  count: number
  ok: number
  errors: number
  /** Up to three error descriptions, for the report. */
  errorSamples: string[]
  elapsedMs: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  maxMs: number
}

export type ChildMessage =
  | { type: 'ready'; runtimeApi: string }
  /** Epoch ms (fractional) at which the first invocation of the warm-up was answered. */
  | { type: 'first'; at: number }
  | { type: 'done'; summary: PhaseSummary }
  | { type: 'closed'; stats: EmulatorStats }
  | { type: 'probed'; status: string; payload: string }
  | { type: 'fatal'; message: string }
