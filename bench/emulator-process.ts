// The fake Lambda service, in its own process so that its CPU is never counted as the
// runtime's. It hosts the lmi Runtime API emulator and is the load generator: a closed loop
// that keeps exactly `concurrency` invocations outstanding, so latency is end to end
// (invoke → answer) and throughput is what the runtime sustains at that concurrency.
import { pathToFileURL } from 'node:url'
import type { ChildMessage, InitMessage, ParentMessage, PhaseSummary } from './protocol.ts'

type EmulatorModule = typeof import('../packages/runtime/dev/src/emulator/index.ts')
type Emulator = Awaited<ReturnType<EmulatorModule['createEmulator']>>

function send(message: ChildMessage): void {
  process.send?.(message)
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[rank]!
}

async function drive(
  emulator: Emulator,
  init: InitMessage,
  phase: PhaseSummary['phase'],
  count: number,
  onFirst: () => void,
): Promise<PhaseSummary> {
  const expected = Buffer.from(init.expectedPayload)
  const latencies = new Float64Array(count)
  const errorSamples: string[] = []
  let issued = 0
  let ok = 0
  let errors = 0
  let first = true

  function fail(description: string): void {
    errors++
    if (errorSamples.length < 3) errorSamples.push(description)
  }

  async function lane(): Promise<void> {
    while (issued < count) {
      const index = issued++
      const started = performance.now()
      try {
        const result = await emulator.invoke(init.event)
        const payload = result.payload
        if (result.status !== 'success') {
          fail(`${result.status}: ${payload.toString('utf8', 0, 300)}`)
        } else if (!payload.equals(expected)) {
          fail(`unexpected payload: ${payload.toString('utf8', 0, 300)}`)
        } else {
          ok++
        }
      } catch (error) {
        fail(`invoke threw: ${error instanceof Error ? error.message : String(error)}`)
      }
      latencies[index] = performance.now() - started
      if (first) {
        first = false
        onFirst()
      }
    }
  }

  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(init.concurrency, count) }, lane))
  const elapsedMs = performance.now() - started
  const sorted = latencies.slice().sort()
  let sum = 0
  for (const value of sorted) sum += value
  return {
    phase,
    count,
    ok,
    errors,
    errorSamples,
    elapsedMs,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    meanMs: sum / count,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  }
}

async function main(init: InitMessage): Promise<void> {
  // The lmi emulator unless --emulator names another module with the same contract.
  const module = (await import(pathToFileURL(init.emulatorModule).href)) as Partial<EmulatorModule>
  if (typeof module.createEmulator !== 'function') {
    throw new Error(`${init.emulatorModule} does not export createEmulator()`)
  }
  const emulator = await module.createEmulator({
    maxConcurrency: init.concurrency,
    timeoutMs: init.timeoutMs,
  })
  process.on('message', function onParentMessage(message: ParentMessage) {
    if (message.type === 'run') {
      // peakInFlight then tells how many invocations the runtime really held at once.
      if (message.phase === 'measure') emulator.resetPeak()
      const onFirst =
        message.phase === 'warmup'
          ? () => send({ type: 'first', at: performance.timeOrigin + performance.now() })
          : () => {}
      drive(emulator, init, message.phase, message.count, onFirst).then(
        (summary) => send({ type: 'done', summary }),
        (error: unknown) => send({ type: 'fatal', message: String(error) }),
      )
    } else if (message.type === 'probe') {
      emulator.invoke(message.event).then(
        (result) =>
          send({ type: 'probed', status: result.status, payload: result.payload.toString('utf8') }),
        (error: unknown) => send({ type: 'fatal', message: String(error) }),
      )
    } else if (message.type === 'close') {
      const stats = emulator.stats()
      emulator.close().finally(() => {
        send({ type: 'closed', stats })
        process.disconnect?.()
      })
    }
  })
  send({ type: 'ready', runtimeApi: emulator.runtimeApi })
}

// Without its parent there is nobody to report to.
process.on('disconnect', () => process.exit(0))
process.once('message', (message: ParentMessage) => {
  if (message.type !== 'init') return
  main(message).catch((error: unknown) => {
    send({
      type: 'fatal',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    })
    process.exitCode = 1
    process.disconnect?.()
  })
})
