import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import {
  type BuiltExample,
  buildExample,
  templateTests,
} from '../../../../scripts/examples/harness.ts'
import { drive, type RunningExample, startExample } from '../../../../scripts/examples/run.ts'
import { loadEvents } from '../../../../scripts/examples/template.ts'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONCURRENCY = 32
const PRELUDE_END = Buffer.alloc(8)

describe('streaming: template', () => templateTests(dir))

/** A streamed HTTP response: the JSON prelude (status, headers), eight NUL bytes, the body. */
function splitHttpStream(payload: Buffer): {
  prelude: { statusCode: number; headers: Record<string, string> }
  body: string
} {
  const end = payload.indexOf(PRELUDE_END)
  assert.ok(end > 0, `no prelude in ${payload.subarray(0, 80).toString()}`)
  return {
    prelude: JSON.parse(payload.subarray(0, end).toString()),
    body: payload.subarray(end + PRELUDE_END.length).toString(),
  }
}

describe(`streaming: on lmi's runtime layer at concurrency ${CONCURRENCY}`, () => {
  let built: BuiltExample
  let running: RunningExample
  const events = loadEvents(dir)

  before(async () => {
    built = buildExample(dir)
    running = await startExample({ ...built, concurrency: CONCURRENCY })
  })
  after(async () => {
    await running?.close()
    built?.remove()
  })

  test('every stream carries its own lines, in order, then its summary; bad input is a 400 problem', async () => {
    const invocations = [...events]
      .filter(([name]) => name !== 'slow.json')
      .map(([name, event]) => ({ name, event }))
    const answered = await drive(running.emulator, invocations, { total: 240, callers: 48 })
    assert.ok(running.emulator.stats().peakInFlight >= 16)
    for (const { invocation, result } of answered) {
      assert.equal(result.status, 'success', String(result.payload))
      assert.equal(result.streamed, true)
      const { prelude, body } = splitHttpStream(result.payload)
      if (invocation.name === 'bad-count.json') {
        assert.equal(prelude.statusCode, 400)
        assert.equal(JSON.parse(body).requestId, result.requestId)
        continue
      }
      assert.equal(prelude.statusCode, 200)
      assert.equal(prelude.headers['content-type'], 'application/x-ndjson')
      const count = Number(
        (invocation.event as { queryStringParameters?: { count?: string } }).queryStringParameters
          ?.count ?? 10,
      )
      const lines = body
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line))
      assert.equal(lines.length, count + 1)
      lines.slice(0, count).forEach((line, index) => {
        assert.deepEqual(line, { n: index + 1, of: count, requestId: result.requestId })
      })
      assert.equal(lines[count].done, true)
      assert.equal(lines[count].requestId, result.requestId)
    }
    // The chain installs the shared-state detectors: the runtime's own streamed answer, which
    // the handler's writes start inside the invocation, is not the invocation's escaped work.
    const findings = running.logs.filter((line) =>
      /^LMI_(SHARED|ESCAPED|TMP)_/.test(String(line.code)),
    )
    assert.deepEqual(findings.slice(0, 3), [])
  })

  test('the first line reaches the caller before the handler has finished', async () => {
    const response = await request(
      `${running.emulator.url}/2015-03-31/functions/function/invocations`,
      {
        method: 'POST',
        body: JSON.stringify(events.get('slow.json')),
      },
    )
    assert.equal(response.statusCode, 200)
    const chunks: string[] = []
    for await (const chunk of response.body) {
      chunks.push(chunk.toString())
      // 300 ms between lines: the first chunk that holds a line holds no summary yet.
      if (chunks.join('').includes('"n":1')) break
    }
    assert.ok(!chunks.join('').includes('"done"'), chunks.join(''))
    await response.body.dump()
  })
})
