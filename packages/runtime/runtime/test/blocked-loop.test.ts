// One invocation blocks the event loop past the deadline of others (issue 12, case 10): what
// the runtime reports must still be true. Whether the others can still answer in time is a
// question of scheduling (worker threads); here: no success is posted after its deadline, a
// timeout names the function's timeout, and Node does not warn about negative timers.
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import type { InvokeResult } from '@lmi/dev/emulator'
import { type RuntimeUnderTest, startRuntime } from './helpers/runtime-process.ts'

let runtime: RuntimeUnderTest | undefined
afterEach(async () => {
  await runtime?.stop()
  runtime = undefined
})

describe('a blocked event loop', () => {
  it('reports what passed its deadline while the loop was blocked as timed out, after the function timeout', async () => {
    // Prepare: a 2 s function timeout, and a grace long enough that what the runtime posts is
    // what the emulator records (not its own timeout).
    runtime = await startRuntime({
      handler: 'blocking.handler',
      concurrency: 4,
      emulator: { timeoutMs: 2000, timeoutGraceMs: 20_000 },
    })
    const first = await runtime.emulator.invoke({})
    assert.equal(first.status, 'success')
    // Act: one invocation spins 2.5 s; three I/O ones arrive while it does or just before.
    const delivered = new Promise((resolve) => runtime?.emulator.once('delivered', resolve))
    const blocked = runtime.emulator.invoke({ spinMs: 2500 })
    await delivered
    const others = [1, 2, 3].map(() => runtime?.emulator.invoke({}) as Promise<InvokeResult>)
    const results = await Promise.all([blocked, ...others])
    // Assess: the spinner returned after its deadline: a runtime-reported timeout of 2 s,
    // not a success posted late. The others may have run before the spin began (then they
    // answered in time) or been caught by it (then they too passed their deadline): each
    // success was posted before its deadline, each timeout names 2 s.
    const [spinner] = results
    assert.equal(spinner?.status, 'timeout', JSON.stringify(spinner?.payload.toString()))
    for (const result of results) {
      if (result.status === 'success') {
        const answeredAfterMs = result.endedAt - (result.deliveredAt ?? result.endedAt)
        assert.ok(answeredAfterMs < 2000, `a success posted ${answeredAfterMs} ms after delivery`)
        continue
      }
      assert.equal(result.status, 'timeout', JSON.stringify(result.error))
      assert.equal(result.timedOutBy, 'runtime')
      assert.match(result.error?.errorMessage ?? '', /Task timed out after 2\.00 seconds$/)
    }
    assert.deepEqual(
      runtime.stderr.filter((line) => line.includes('TimeoutNegativeWarning')),
      [],
    )
  })
})

describe('a blocked event loop, with the default worker threads (issue 12, case 10)', () => {
  it('routes the invocations that arrive while one loop spins to a free loop, and answers the spinner at its deadline', {
    timeout: 30_000,
  }, async () => {
    // Prepare: the defaults (no LMI_WORKERS): worker threads, the main thread polling. A 2 s
    // function timeout; a grace long enough that every timeout the emulator records is one
    // the runtime posted.
    runtime = await startRuntime({
      handler: 'blocking.handler',
      concurrency: 16,
      env: { LMI_WORKERS: '' },
      emulator: { timeoutMs: 2000, timeoutGraceMs: 20_000 },
    })
    const spinMs = 4000
    const delivered = new Promise((resolve) => runtime?.emulator.once('delivered', resolve))
    const spinner = runtime.emulator.invoke({ spinMs })
    await delivered
    await runtime.waitForLog((record) => record.message === 'spinning')
    // Act: 15 invocations of 10 ms of I/O while one loop spins for twice the timeout.
    const others = await Promise.all(
      Array.from({ length: 15 }, () => runtime?.emulator.invoke({}) as Promise<InvokeResult>),
    )
    const spun = await spinner
    // Assess: at most one (sent to the spinning loop before it was seen blocked) waits for it.
    const inTime = others.filter(
      (result) => result.status === 'success' && result.endedAt - (result.deliveredAt ?? 0) < 2000,
    )
    assert.ok(inTime.length >= 14, `${inTime.length} of 15 answered in time`)
    for (const result of others) {
      if (result.status === 'success') continue
      assert.equal(result.status, 'timeout', JSON.stringify(result.error))
      assert.match(result.error?.errorMessage ?? '', /Task timed out after 2\.00 seconds$/)
    }
    // The spinner: its own timeout, posted by the runtime before the spin could end.
    assert.equal(spun.status, 'timeout', JSON.stringify(spun.payload.toString()))
    assert.equal(spun.timedOutBy, 'runtime')
    assert.match(spun.error?.errorMessage ?? '', /Task timed out after 2\.00 seconds$/)
    assert.ok(spun.endedAt - (spun.deliveredAt ?? 0) < spinMs, 'answered before the spin ended')
    // The dispatcher's line about it (written from its thread: it may trail the answer).
    const backstop = await runtime.waitForLog((record) => record.code === 'LMI_DEADLINE_BACKSTOP')
    assert.equal(backstop.requestId, spun.requestId)
    assert.deepEqual(
      runtime.stderr.filter((line) => line.includes('TimeoutNegativeWarning')),
      [],
    )
  })
})

describe('a loop that blocks with invocations sent to it but not started', () => {
  it('takes them back and runs them on a free loop', { timeout: 30_000 }, async () => {
    // Prepare: the default worker threads. The spinner goes to the first worker (both are
    // idle), and invocations arriving with it or just after are spread over both, some queued
    // behind the spin on the first one.
    runtime = await startRuntime({
      handler: 'blocking.handler',
      concurrency: 16,
      env: { LMI_WORKERS: '' },
      emulator: { timeoutMs: 2000, timeoutGraceMs: 20_000 },
    })
    const delivered = new Promise((resolve) => runtime?.emulator.once('delivered', resolve))
    const spinner = runtime.emulator.invoke({ spinMs: 4000 })
    await delivered
    // Act: 15 more at once, without waiting for the spin to start.
    const others = await Promise.all(
      Array.from({ length: 15 }, () => runtime?.emulator.invoke({}) as Promise<InvokeResult>),
    )
    // Assess: none waited for the spin; the first worker was seen blocked.
    for (const result of others) {
      assert.equal(result.status, 'success', JSON.stringify(result.error))
      assert.ok(result.endedAt - (result.deliveredAt ?? 0) < 2000)
    }
    const blocked = await runtime.waitForLog((record) => record.code === 'LMI_WORKER_BLOCKED')
    assert.equal(typeof blocked.threadId, 'number')
    assert.equal((await spinner).status, 'timeout')
  })
})
