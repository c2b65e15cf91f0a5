import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { json, type RuntimeUnderTest, startRuntime } from './helpers/runtime-process.ts'

let runtime: RuntimeUnderTest | undefined
afterEach(async () => {
  await runtime?.stop()
  runtime = undefined
})

describe('Powertools for AWS Lambda in lmi() on lmi runtime', () => {
  it('gives every log line and metric of 64 concurrent invocations its own ids and keys', async () => {
    runtime = await startRuntime({
      handler: 'powertools.handler',
      concurrency: 64,
      env: { POWERTOOLS_SERVICE_NAME: 'orders', POWERTOOLS_METRICS_NAMESPACE: 'lmi' },
    })
    const current = runtime
    // Act: 64 invocations, all in flight at once (a barrier in the handler).
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, n) =>
        current.emulator.invoke({ n, size: 64 }, { tenantId: `tenant-${n % 4}` }),
      ),
    )
    // Assess
    const byRequest = new Map(results.map((result) => [result.requestId, json(result.payload).n]))
    assert.ok(results.every((result) => result.status === 'success'))
    // The lines come on the runtime's stdout, which may reach this process after the answers.
    const placing = (record: Record<string, unknown>) => record.message === 'placing order'
    const metric = (record: Record<string, unknown>) => record._aws !== undefined
    // Bounded: lines that never come fail the counts below instead of hanging the test.
    await Promise.race([
      Promise.all([current.waitForLogs(placing, 64), current.waitForLogs(metric, 64)]),
      sleep(10_000, undefined, { ref: false }),
    ])
    const logs = current.logs.filter(placing)
    const emf = current.logs.filter(metric)
    assert.equal(logs.length, 64)
    assert.equal(emf.length, 64)
    for (const line of logs) {
      const n = byRequest.get(String(line.function_request_id))
      assert.notEqual(n, undefined, 'the line names a request id of this run')
      assert.equal(line.order, n, 'appended keys are the invocation’s own')
      assert.equal(line.tenant_id, `tenant-${(n as number) % 4}`)
    }
    assert.equal(new Set(logs.map((line) => line.function_request_id)).size, 64)
    // One flush per invocation, with only its own metric and metadata: a leak would merge
    // counts (placed: 2) or lose an invocation's order.
    for (const metric of emf) assert.equal(metric.placed, 1)
    assert.deepEqual(
      new Set(emf.map((metric) => Number(metric.order))),
      new Set(Array.from({ length: 64 }, (_, n) => n)),
    )
  })
})
