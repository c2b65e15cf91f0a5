import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { InvokeResult } from '@lmi/dev/emulator'
import { shutdownPlan } from '../src/scheduler/runtime.ts'
import {
  json,
  logged,
  pollsParked,
  RUNTIME_MODES,
  type RuntimeUnderTest,
  runtimePerTest,
  started,
} from './helpers/runtime-process.ts'

/** Process start-up and exit, on a loaded 2-CPU machine: not part of the runtime's bound. */
const PROCESS_SLACK_MS = 1500

type Record_ = Record<string, unknown>

/**
 * Resolves 'logged' once `count` records match, or 'exited' if the process exits first: a
 * test waiting for a log line a killed process will never print fails instead of hanging.
 */
function logsOrExit(
  runtime: RuntimeUnderTest,
  predicate: (record: Record_) => boolean,
  count = 1,
): Promise<'logged' | 'exited'> {
  return Promise.race([
    runtime.waitForLogs(predicate, count).then(() => 'logged' as const),
    runtime.exited.then(() => 'exited' as const),
  ])
}

for (const mode of RUNTIME_MODES) {
  describe(mode.name, () => {
    const start = runtimePerTest(mode.env)

    describe('every value a handler returns ends in an answer', () => {
      const cases: Array<{ handler: string; status: InvokeResult['status']; errorType?: string }> =
        [
          { handler: 'hostile.thenThrows', status: 'error', errorType: 'Error' },
          { handler: 'hostile.thenGetterThrows', status: 'error', errorType: 'RangeError' },
          { handler: 'hostile.thenFulfilsThenThrows', status: 'success' },
          { handler: 'hostile.thenRejectsTwice', status: 'error', errorType: 'TypeError' },
        ]
      for (const { handler, status, errorType } of cases) {
        it(`answers ${handler} (${errorType ?? 'its value'}) and keeps serving`, async () => {
          // Prepare: a long timeout, so only the runtime's own answer can end the invocation.
          const runtime = await start({
            handler,
            concurrency: 2,
            emulator: { timeoutMs: 30_000 },
          })
          // Act
          const result = await runtime.emulator.invoke({})
          const second = await runtime.emulator.invoke({})
          // Assess
          assert.equal(result.status, status)
          assert.equal(result.error?.errorType, errorType)
          if (status === 'success') assert.deepEqual(json(result.payload), { fulfilled: true })
          assert.equal(second.status, status)
          assert.equal(runtime.child.exitCode, null)
        })
      }
    })

    describe('the shutdown budget bounds the exit', () => {
      it('answers every invocation still running at the budget with Runtime.ShutdownTimeout, then runs hooks and exits 0', async () => {
        // Prepare: 16 handlers that never end, a 30 s function timeout, a 1 s budget (460 ms
        // of drain).
        const budgetMs = 1000
        const runtime = await start({
          handler: 'hostile.never',
          concurrency: 16,
          env: { LMI_SHUTDOWN_TIMEOUT_MS: String(budgetMs) },
          emulator: { timeoutMs: 30_000 },
        })
        const results = Array.from({ length: 16 }, () => runtime.emulator.invoke({}))
        await runtime.waitForLogs(started, 16)
        // Act
        const signalledAt = performance.now()
        runtime.child.kill('SIGTERM')
        const answered = await Promise.all(results)
        const { code } = await runtime.exited
        const elapsed = performance.now() - signalledAt
        // Assess: each answered by the runtime, before the hooks ran, within the bound.
        assert.equal(code, 0)
        for (const result of answered) {
          assert.equal(result.status, 'error')
          assert.equal(result.timedOutBy, undefined)
          assert.equal(result.error?.errorType, 'Runtime.ShutdownTimeout')
          assert.match(
            result.error?.errorMessage ?? '',
            /still running 460 ms into the runtime's shutdown \(LMI_SHUTDOWN_TIMEOUT_MS=1000 ms/,
          )
        }
        assert.ok(
          elapsed < budgetMs + PROCESS_SLACK_MS,
          `exited ${Math.round(elapsed)} ms after SIGTERM`,
        )
        const logs = runtime.logs
        const hookAt = logs.findIndex((record) => logged(record).shutdownHook === 'ran')
        assert.ok(hookAt > 0, 'the shutdown hook ran')
        const answerLogs = logs.filter((record) => record.errorType === 'Runtime.ShutdownTimeout')
        assert.equal(answerLogs.length, 16)
        // Every answer reached the Runtime API before any hook started (with worker threads the
        // threads' log lines interleave, so the order is read from the clocks, not the lines).
        const firstHookAt = Math.min(
          ...logs
            .filter((record) => logged(record).shutdownHook === 'ran')
            .map((record) => Date.parse(String(record.timestamp))),
        )
        assert.ok(
          // endedAt is the emulator's performance.now(), in this process.
          answered.every((result) => performance.timeOrigin + result.endedAt <= firstHookAt + 1),
          'answers come before the hooks',
        )
        const aborted = logs.filter((record) => logged(record).reason === 'Runtime.ShutdownTimeout')
        assert.equal(aborted.length, 16, 'each handler signal aborted with the shutdown error')
        const warning = logs.find((record) => record.code === 'LMI_SHUTDOWN_TIMEOUT')
        assert.equal((warning?.requestIds as string[] | undefined)?.length, 16)
      })

      it("exits without a shutdown hook that never settles, after the plan's hooksMs", async () => {
        // Prepare
        const runtime = await start({
          handler: 'hostile.echo',
          concurrency: 2,
          env: { HOSTILE_HOOK: 'hang' },
        })
        const served = await runtime.emulator.invoke({ n: 1 })
        assert.equal(served.status, 'success')
        // Act
        const signalledAt = performance.now()
        runtime.child.kill('SIGTERM')
        const { code } = await runtime.exited
        const elapsed = performance.now() - signalledAt
        // Assess
        assert.equal(code, 0)
        assert.ok(
          runtime.logs.some((record) => record.code === 'LMI_SHUTDOWN_HOOKS_TIMEOUT'),
          'the hook timeout is logged',
        )
        // The helper's budget is 5 s: 1 s of it for the hooks; nothing else to wait for.
        const { hooksMs, teardownMs } = shutdownPlan(5000)
        assert.ok(
          elapsed < hooksMs + teardownMs + PROCESS_SLACK_MS,
          `exited ${Math.round(elapsed)} ms after SIGTERM`,
        )
      })
    })

    describe('signals during the drain', () => {
      it('logs and ignores a second SIGTERM and a SIGINT while draining; all 64 invocations answered', async () => {
        // Prepare: 64 in flight until the test releases them.
        const runtime = await start({ handler: 'hostile.untilReleased', concurrency: 64 })
        const results = Array.from({ length: 64 }, () => runtime.emulator.invoke({}))
        await runtime.waitForLogs(started, 64)
        const ignored = (record: Record_) => record.code === 'LMI_SHUTDOWN_SIGNAL_IGNORED'
        // Act
        runtime.child.kill('SIGTERM')
        assert.equal(
          await logsOrExit(runtime, (record) => record.code === 'LMI_SHUTDOWN'),
          'logged',
        )
        runtime.child.kill('SIGTERM')
        assert.equal(await logsOrExit(runtime, ignored, 1), 'logged', 'the 2nd SIGTERM killed it')
        runtime.child.kill('SIGINT')
        assert.equal(await logsOrExit(runtime, ignored, 2), 'logged', 'SIGINT killed it')
        await runtime.release()
        const answered = await Promise.all(results)
        const { code } = await runtime.exited
        // Assess
        assert.equal(code, 0)
        for (const result of answered) {
          assert.equal(result.status, 'success')
          assert.equal(json(result.payload).released, true)
        }
        assert.equal(runtime.emulator.stats().delivered, 64)
      })
    })

    describe('invocations handed out while stopping', () => {
      it('answers an invocation whose /next body is still arriving when the budget is spent', async () => {
        // Prepare: one slot, a 2 s budget (920 ms of drain, then 400 ms to post answers); the
        // slot's next poll gets its headers at once and its body 1.1 s later (the emulator's
        // slow-body fault): after the drain, within the answers' share.
        const runtime = await start({
          handler: 'hostile.echo',
          concurrency: 1,
          env: { LMI_SHUTDOWN_TIMEOUT_MS: '2000' },
          emulator: { timeoutMs: 3000 },
        })
        await pollsParked(runtime.emulator, 1)
        runtime.emulator.inject({ endpoint: 'next', kind: 'slow-body', ms: 1100 })
        const first = await runtime.emulator.invoke({ n: 1 }) // its slot's next poll takes the fault
        await pollsParked(runtime.emulator, 1)
        const delivered = new Promise<void>((resolve) =>
          runtime.emulator.once('delivered', () => resolve()),
        )
        const second = runtime.emulator.invoke({ n: 2 })
        // Act: SIGTERM once the headers are out, the body not.
        await delivered
        runtime.child.kill('SIGTERM')
        const result = await second
        const { code } = await runtime.exited
        // Assess: handed out, so answered — after the budget, with the shutdown error.
        assert.equal(first.status, 'success')
        assert.equal(result.status, 'error')
        assert.equal(result.timedOutBy, undefined)
        assert.equal(result.error?.errorType, 'Runtime.ShutdownTimeout')
        assert.equal(code, 0)
        const stats = runtime.emulator.stats()
        assert.equal(stats.delivered, 2)
        assert.equal(stats.succeeded + stats.failed, 2, 'each delivered invocation answered')
        assert.equal(stats.refusedAnswers, 0, 'and answered once')
      })
    })

    describe('polls open when the runtime stops', () => {
      it('serves an invocation handed out on a poll that was open when SIGTERM arrived', async () => {
        // Prepare: two slots; one runs a held invocation, the other's poll is parked.
        const runtime = await start({ handler: 'hostile.heldOrEcho', concurrency: 2 })
        await pollsParked(runtime.emulator, 2)
        const held = runtime.emulator.invoke({ hold: true })
        await runtime.waitForLogs(started, 1)
        await pollsParked(runtime.emulator, 1)
        // Act: stop, then hand out an invocation on the poll that was open at the stop — as the
        // Runtime API does when its answer crosses the runtime's decision to stop.
        runtime.child.kill('SIGTERM')
        await runtime.waitForLog((record) => record.code === 'LMI_SHUTDOWN')
        const crossing = runtime.emulator.invoke({ n: 1 })
        const outcome = await Promise.race([crossing, runtime.exited.then(() => 'exited' as const)])
        await runtime.release()
        const heldResult = await held
        const { code } = await runtime.exited
        // Assess: handed out, so served; then the drain ends.
        assert.notEqual(outcome, 'exited', 'the runtime exited with the invocation still queued')
        assert.equal((outcome as InvokeResult).status, 'success')
        assert.deepEqual(json((outcome as InvokeResult).payload).event, { n: 1 })
        assert.equal(heldResult.status, 'success')
        assert.equal(code, 0)
        const stats = runtime.emulator.stats()
        assert.equal(stats.delivered, 2)
        assert.equal(stats.succeeded, 2)
        assert.equal(stats.refusedAnswers, 0)
      })
    })

    describe('stress: SIGTERM under full load', () => {
      it('answers every invocation handed out, exactly once, with 64 slots fed by 128 callers', async () => {
        // Prepare: 128 callers keep 64 slots busy and the emulator's queue full.
        const runtime = await start({
          handler: 'hostile.echo',
          concurrency: 64,
          emulator: { timeoutMs: 1000 },
        })
        let feeding = true
        const callers = Array.from({ length: 128 }, async () => {
          while (feeding) await runtime.emulator.invoke({}).catch(() => undefined)
        })
        const busy = new Promise<void>((resolve) => {
          runtime.emulator.on('delivered', function onDelivered() {
            if (runtime.emulator.stats().delivered < 1000) return
            runtime.emulator.off('delivered', onDelivered)
            resolve()
          })
        })
        await busy
        // Act
        runtime.child.kill('SIGTERM')
        const { code } = await runtime.exited
        feeding = false
        // Assess: nothing delivered is left to end by the emulator's own timeout.
        const stats = runtime.emulator.stats()
        assert.equal(code, 0)
        assert.equal(stats.inFlight, 0, 'an invocation handed out was never answered')
        assert.equal(stats.timedOut, 0)
        assert.equal(stats.succeeded, stats.delivered)
        assert.equal(stats.refusedAnswers, 0)
        await runtime.emulator.close()
        await Promise.all(callers)
      })
    })
  })
}
