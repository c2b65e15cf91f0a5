import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { lmi } from '@lmi/core'
import { barrier, lambdaContext } from '@lmi/test-kit'
import { createLogger, get, has, NoInvocationError, set } from '../src/index.ts'

describe('request-scoped store', () => {
  it('keeps each of 100 interleaved invocations to its own values', async () => {
    const size = 100
    const wait = barrier(size)
    const handler = lmi(async (event: { n: number }) => {
      set('n', event.n)
      await wait() // every invocation has written before any reads
      await new Promise((resolve) => setImmediate(resolve))
      return { n: get<number>('n'), has: has('n'), other: get('never-set') }
    })
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) => handler({ n }, lambdaContext(`req-${n}`))),
    )
    results.forEach((result, n) => {
      assert.deepEqual(result, { n, has: true, other: undefined })
    })
  })

  it('is empty outside an invocation, where set() throws', () => {
    assert.equal(get('n'), undefined)
    assert.equal(has('n'), false)
    assert.throws(() => set('n', 1), NoInvocationError)
  })
})

describe('createLogger', () => {
  it('stamps every line with its own invocation ids at log time, with no child per request', async () => {
    const lines: Record<string, unknown>[] = []
    const log = createLogger({
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    })
    const size = 20
    const wait = barrier(size)
    const handler = lmi(async (event: { n: number }) => {
      log.info({ step: 'start', n: event.n }, 'working')
      await wait()
      log.warn({ step: 'end', n: event.n }, 'done')
      return event.n
    })
    await Promise.all(
      Array.from({ length: size }, (_, n) =>
        handler(
          { n },
          lambdaContext(`req-${n}`, {
            tenantId: `tenant-${n % 3}`,
            xRayTraceId: `Root=1-req-${n}`,
          }),
        ),
      ),
    )
    log.info('outside')
    assert.equal(lines.length, size * 2 + 1)
    for (const line of lines.slice(0, -1)) {
      const n = line.n as number
      assert.equal(line.requestId, `req-${n}`)
      assert.equal(line.tenantId, `tenant-${n % 3}`)
      assert.equal(line.traceId, `Root=1-req-${n}`)
      assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT/)
    }
    assert.deepEqual(
      lines.filter((line) => line.step === 'end').map((line) => line.level),
      Array(size).fill('WARN'),
    )
    const outside = lines.at(-1) ?? {}
    assert.equal(outside.message, 'outside')
    assert.ok(!('requestId' in outside))
  })

  it('honours AWS_LAMBDA_LOG_LEVEL', () => {
    const previous = process.env.AWS_LAMBDA_LOG_LEVEL
    process.env.AWS_LAMBDA_LOG_LEVEL = 'ERROR'
    try {
      const lines: string[] = []
      const log = createLogger({ destination: { write: (line: string) => lines.push(line) } })
      log.warn('dropped')
      log.error('kept')
      assert.equal(lines.length, 1)
      assert.equal(JSON.parse(lines[0] ?? '{}').level, 'ERROR')
    } finally {
      if (previous === undefined) delete process.env.AWS_LAMBDA_LOG_LEVEL
      else process.env.AWS_LAMBDA_LOG_LEVEL = previous
    }
  })
})
