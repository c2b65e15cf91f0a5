// `lmi check`'s attributed output (LMI_CHECK_ATTRIBUTION=1), against the real runtime and the
// dev emulator, on one event loop and in worker threads: fixtures/attribution.mjs writes
// through every path, naming its request id in each line.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ATTRIBUTION_PREFIX, type AttributedWrite } from '../src/log/attribution.ts'
import {
  json,
  RUNTIME_MODES,
  type RuntimeUnderTest,
  runtimePerTest,
} from './helpers/runtime-process.ts'

const EVENTS = 16
const CONCURRENCY = 8

interface Answer {
  id: string
  returned: boolean
  calledBack: boolean
  syncBytes: number
  sliceBytes: number
  asyncBytes: number
  vectorBytes: number
  asyncVectorBytes: number
}

/** Every stdout and stderr line of the runtime, raw. */
function lines(runtime: RuntimeUnderTest): { out: string[]; err: string[] } {
  const out = runtime.logs.map((record) =>
    typeof record.raw === 'string' ? record.raw : JSON.stringify(record),
  )
  return { out, err: runtime.stderr }
}

function attributedLines(all: string[]): AttributedWrite[] {
  return all
    .filter((line) => line.startsWith(ATTRIBUTION_PREFIX))
    .map((line) => JSON.parse(line.slice(ATTRIBUTION_PREFIX.length)) as AttributedWrite)
}

/** Runs the fixture: `EVENTS` invocations at `CONCURRENCY`, one that throws, the late timers. */
async function exercise(
  runtime: RuntimeUnderTest,
): Promise<{ answers: Answer[]; failedId: string }> {
  const results = await Promise.all(
    Array.from({ length: EVENTS }, (_, n) => runtime.emulator.invoke({ n })),
  )
  const failed = await runtime.emulator.invoke({ fail: true })
  assert.equal(failed.status, 'error')
  const answers = results.map((result) => {
    assert.equal(result.status, 'success', result.payload.toString())
    const answer = json<Answer>(result.payload)
    assert.equal(answer.id, result.requestId)
    return answer
  })
  // The timers that write after their invocation answered.
  const late = (record: Record<string, unknown>) =>
    typeof record.raw === 'string' && /late [\w-]+/.test(record.raw)
  await runtime.waitForLogs(late, EVENTS)
  // stderr is a separate pipe: its two lines per invocation may come later.
  const deadline = Date.now() + 10_000
  while (runtime.stderr.length < 2 * EVENTS && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { answers, failedId: failed.requestId }
}

/** What each invocation's writes returned: the byte counts of what it passed, as without lmi. */
function assertCallerResults(answer: Answer): void {
  const { id } = answer
  assert.equal(answer.returned, true)
  assert.equal(answer.calledBack, true)
  assert.equal(answer.syncBytes, Buffer.byteLength(`writeSync ${id} é\n`))
  assert.equal(answer.sliceBytes, Buffer.byteLength(`buffer ${id}\n`))
  assert.equal(answer.asyncBytes, Buffer.byteLength(`write ${id}\n`))
  assert.equal(answer.vectorBytes, Buffer.byteLength(`writevSync ${id}\n`))
  assert.equal(answer.asyncVectorBytes, Buffer.byteLength(`writev ${id}\n`))
}

const FIXTURE_LOCATION = /[\\/]fixtures[\\/]attribution\.mjs:\d+:\d+$/

for (const mode of RUNTIME_MODES) {
  describe(`attributed output (${mode.name})`, () => {
    const start = runtimePerTest(mode.env)

    it('wraps every write of concurrent invocations with its own request id, and late and init writes with where they came from', async () => {
      const runtime = await start({
        handler: 'attribution.handler',
        concurrency: CONCURRENCY,
        env: { LMI_CHECK_ATTRIBUTION: '1' },
      })
      const { answers, failedId } = await exercise(runtime)
      const { out, err } = lines(runtime)
      const writes = [
        ...attributedLines(out).map((write) => ({ ...write, fd: 'out' })),
        ...attributedLines(err).map((write) => ({ ...write, fd: 'err' })),
      ]
      for (const write of writes) assert.equal(write.s, write.fd, JSON.stringify(write))

      // At init: no invocation, and the module's own line.
      const init = writes.filter((write) => write.t.includes('init line'))
      assert.ok(init.length >= 1)
      for (const write of init) {
        assert.equal(write.r, null)
        assert.equal(write.e, false)
        assert.match(write.at ?? '', FIXTURE_LOCATION)
        // console.* under JSON: the runtime's formatted line is the chunk.
        assert.equal((JSON.parse(write.t) as { message: string }).message, 'init line')
      }

      for (const answer of answers) {
        assertCallerResults(answer)
        const { id } = answer
        const own = writes.filter((write) => write.t.includes(id))
        const during = own.filter((write) => !write.t.startsWith('late '))
        const texts = during.map((write) => write.t)
        for (const write of during) {
          assert.deepEqual({ r: write.r, e: write.e }, { r: id, e: false }, JSON.stringify(write))
          // Every write names the handler's line that wrote it, through console, pino or fs.
          assert.match(write.at ?? '', FIXTURE_LOCATION, JSON.stringify(write))
        }
        const consoleLine = during.find((write) => write.t.includes(`"console ${id}"`))
        assert.equal((JSON.parse(consoleLine?.t ?? '{}') as { requestId?: string }).requestId, id)
        const pinoLine = during.find((write) => write.t.includes('"msg":"pino"'))
        assert.deepEqual(JSON.parse(pinoLine?.t ?? '{}'), { level: 30, id, msg: 'pino' })
        const boomLine = during.find((write) => write.t.includes('"msg":"pino-boom"'))
        assert.deepEqual(JSON.parse(boomLine?.t ?? '{}'), { level: 30, id, msg: 'pino-boom' })
        for (const text of [
          `stdout ${id}\n`,
          `writeSync ${id} é\n`,
          `buffer ${id}\n`,
          `write ${id}\n`,
          `writevSync ${id}\n`,
        ]) {
          assert.ok(
            during.some((write) => write.s === 'out' && write.t === text),
            `${text} in ${texts}`,
          )
        }
        for (const text of [`stderr ${id}\n`, `writev ${id}\n`]) {
          assert.ok(
            during.some((write) => write.s === 'err' && write.t === text),
            `${text} in ${texts}`,
          )
        }
        assert.equal(during.length, 10, texts.join(''))

        const late = own.filter((write) => write.t.startsWith('late '))
        assert.equal(late.length, 1)
        assert.equal(late[0]?.r, id)
        assert.equal(late[0]?.e, true)
        assert.equal(late[0]?.s, 'out')
        assert.match(late[0]?.at ?? '', FIXTURE_LOCATION)
      }

      // Every line is attributed but the runtime's own: its record of the failed invocation
      // stays as it was, unwrapped.
      assert.deepEqual(
        err.filter((line) => !line.startsWith(ATTRIBUTION_PREFIX)),
        [],
      )
      const unwrapped = out
        .filter((line) => !line.startsWith(ATTRIBUTION_PREFIX))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepEqual(
        unwrapped.map((record) => [record.level, record.requestId, record.errorMessage]),
        [['ERROR', failedId, `failure ${failedId}`]],
      )
      assert.ok(!writes.some((write) => write.t.includes('failure')))
    })

    it('changes nothing without LMI_CHECK_ATTRIBUTION', async () => {
      const runtime = await start({ handler: 'attribution.handler', concurrency: CONCURRENCY })
      const { answers, failedId } = await exercise(runtime)
      const { out, err } = lines(runtime)
      assert.ok(!out.some((line) => line.includes(ATTRIBUTION_PREFIX.trim())))
      assert.ok(!err.some((line) => line.includes(ATTRIBUTION_PREFIX.trim())))
      assert.ok(out.some((line) => line.includes('"message":"init line"')))
      for (const answer of answers) {
        assertCallerResults(answer)
        const { id } = answer
        const consoleRecord = runtime.logs.find((record) => record.message === `console ${id}`)
        assert.equal(consoleRecord?.requestId, id)
        for (const msg of ['pino', 'pino-boom']) {
          assert.ok(runtime.logs.some((record) => record.msg === msg && record.id === id))
        }
        for (const text of [
          `stdout ${id}`,
          `writeSync ${id} é`,
          `buffer ${id}`,
          `write ${id}`,
          `writevSync ${id}`,
          `late ${id}`,
        ]) {
          assert.ok(out.includes(text), text)
        }
        assert.ok(err.includes(`stderr ${id}`))
        assert.ok(err.includes(`writev ${id}`))
      }
      assert.ok(runtime.logs.some((record) => record.errorMessage === `failure ${failedId}`))
    })
  })
}

describe('attributed output of Powertools Logger and Metrics', () => {
  const start = runtimePerTest({ LMI_WORKERS: '0' })

  it('gives each log line and EMF line the invocation that wrote it', async () => {
    const size = 16
    const runtime = await start({
      handler: 'powertools.handler',
      concurrency: size,
      env: { LMI_CHECK_ATTRIBUTION: '1', POWERTOOLS_METRICS_NAMESPACE: 'lmi' },
    })
    // All in flight at once: fixtures/powertools.mjs waits until `size` have arrived.
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) => runtime.emulator.invoke({ n, size })),
    )
    const orderOf = new Map(results.map((result) => [result.requestId, json(result.payload).n]))
    const attributed = (record: Record<string, unknown>) =>
      typeof record.raw === 'string' && record.raw.startsWith(ATTRIBUTION_PREFIX)
    await runtime.waitForLogs(attributed, 2 * size)
    const writes = attributedLines(lines(runtime).out).map((write) => ({
      write,
      line: JSON.parse(write.t) as Record<string, unknown>,
    }))
    const placing = writes.filter(({ line }) => line.message === 'placing order')
    const emf = writes.filter(({ line }) => line._aws !== undefined)
    assert.equal(placing.length, size)
    assert.equal(emf.length, size)
    for (const { write, line } of placing) {
      assert.equal(write.r, line.function_request_id)
      assert.equal(write.e, false)
    }
    for (const { write, line } of emf) {
      assert.equal(Number(line.order), orderOf.get(String(write.r)))
      assert.equal(write.e, false)
    }
  })
})
