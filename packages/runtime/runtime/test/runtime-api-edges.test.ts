import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { invocationPath, MAX_FUNCTION_TIMEOUT_MS } from '@lmi/core/internal'
import { ALREADY_DELIVERED, headerSafe } from '../src/client/protocol.ts'
import { parseDeadline } from '../src/client/runtime-api.ts'
import { json, runtimePerTest } from './helpers/runtime-process.ts'

const start = runtimePerTest()

describe('a missing, empty or malformed Lambda-Runtime-Deadline-Ms', () => {
  it('counts as absent: the longest Lambda timeout, never a deadline of 0', () => {
    const now = 1_700_000_000_000
    for (const value of [undefined, '', ' ', '0', '-5', '1e12', '12.5', 'soon', ' 1700000000001']) {
      assert.equal(parseDeadline(value, now), now + MAX_FUNCTION_TIMEOUT_MS, String(value))
    }
    assert.equal(parseDeadline('1700000003000', now), 1_700_000_003_000)
    // A real deadline already past stays what it is: that invocation has timed out.
    assert.equal(parseDeadline('1699999999000', now), 1_699_999_999_000)
  })

  it('runs the invocation instead of timing it out at once', async () => {
    // Prepare: the emulator's own timeout (3 s) still applies; the runtime must not pre-empt it.
    const runtime = await start({ handler: 'handlers.echo', concurrency: 4 })
    // Act
    const results = await Promise.all(
      ['', null, 'soon', '0'].map((deadlineHeader) =>
        runtime.emulator.invoke({}, { deadlineHeader }),
      ),
    )
    // Assess
    results.forEach((result, index) => {
      const sent = ['', null, 'soon', '0'][index]
      assert.equal(result.status, 'success', String(sent))
      // More than the 3 s fallback of old: the runtime assumed Lambda's longest timeout.
      assert.ok((json(result.payload).remainingMs as number) > 3000, String(sent))
    })
  })
})

describe('request ids in Runtime API paths', () => {
  it('are percent-encoded, so any id names one path segment', () => {
    assert.equal(
      invocationPath('a b/c?d#e%', 'response'),
      '/2018-06-01/runtime/invocation/a%20b%2Fc%3Fd%23e%25/response',
    )
    assert.equal(
      invocationPath('plain-id', 'error'),
      '/2018-06-01/runtime/invocation/plain-id/error',
    )
  })

  it('answers invocations whose request id holds a space, a slash or a percent sign', async () => {
    const runtime = await start({ handler: 'handlers.echo', concurrency: 4 })
    const ids = ['with space', 'a/b', '../next', '100%25 sure', 'q?x=1#f']
    // Act
    const results = await Promise.all(
      ids.map((requestId) => runtime.emulator.invoke({ requestId }, { requestId })),
    )
    // Assess
    results.forEach((result, index) => {
      assert.equal(result.status, 'success', ids[index])
      assert.equal(json(result.payload).requestId, ids[index])
    })
  })

  it('reports errors and streams for such ids too', async () => {
    const failing = await start({ handler: 'handlers.fails', concurrency: 2 })
    const failed = await failing.emulator.invoke({ kind: 'plain' }, { requestId: 'an error/id' })
    assert.equal(failed.status, 'error')
    assert.equal(failed.error?.errorType, 'Error')
    await failing.stop()
    const streaming = await start({ handler: 'handlers.streams', concurrency: 2 })
    const streamed = await streaming.emulator.invoke(
      { parts: ['a', 'b'] },
      { requestId: 'a stream/id' },
    )
    assert.equal(streamed.status, 'success')
    assert.equal(streamed.payload.toString(), 'ab')
  })
})

describe('an error type no header can carry', () => {
  it('is percent-encoded in the header and kept as is in the body', () => {
    assert.equal(headerSafe('Bad\nName\u0000%'), 'Bad%0AName%00%25')
    assert.equal(headerSafe('Runtime.UncaughtException'), 'Runtime.UncaughtException')
    assert.equal(headerSafe('\ud800'), '%EF%BF%BD')
  })
})

describe('a retried answer the Runtime API had already received', () => {
  for (const endpoint of ['response', 'error'] as const) {
    it(`is logged as a duplicate (LMI_ANSWER_DUPLICATE), not refused, on /${endpoint}`, async () => {
      // Prepare: the API records the first attempt, then cuts the connection before its 202.
      const handler = endpoint === 'response' ? 'handlers.echo' : 'handlers.fails'
      const runtime = await start({ handler, concurrency: 2 })
      runtime.emulator.inject({ endpoint, kind: 'drop-ack' })
      // Act
      const result = await runtime.emulator.invoke({ kind: 'plain' })
      const logged = await runtime.waitForLog(
        (record) => record.code === 'LMI_ANSWER_DUPLICATE' || record.code === 'LMI_ANSWER_REFUSED',
      )
      // Assess: the first attempt's answer is the one the platform kept.
      assert.equal(result.status, endpoint === 'response' ? 'success' : 'error')
      assert.equal(logged.code, 'LMI_ANSWER_DUPLICATE')
      assert.equal(logged.level, 'INFO')
      assert.equal(logged.requestId, result.requestId)
      assert.equal(ALREADY_DELIVERED, 208)
      // Still serving.
      const after = await runtime.emulator.invoke({ kind: 'plain' })
      assert.equal(after.status, result.status)
    })
  }
})
