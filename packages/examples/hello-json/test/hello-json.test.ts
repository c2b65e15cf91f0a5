import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  type BuiltExample,
  buildExample,
  templateTests,
} from '../../../../scripts/examples/harness.ts'
import {
  type Answered,
  drive,
  type RunningExample,
  startExample,
  waitForLogs,
} from '../../../../scripts/examples/run.ts'
import { loadEvents } from '../../../../scripts/examples/template.ts'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONCURRENCY = 32

describe('hello-json: template', () => templateTests(dir))

describe(`hello-json: built as sam build does, on lmi's runtime layer, at concurrency ${CONCURRENCY}`, () => {
  let built: BuiltExample
  let running: RunningExample
  let answered: Answered[] = []
  const events = loadEvents(dir)

  before(async () => {
    built = buildExample(dir)
    running = await startExample({ ...built, concurrency: CONCURRENCY })
  })
  after(async () => {
    await running?.close()
    built?.remove()
  })

  test('each event gets its answer: greetings, 422 with the failing fields, 400, 501', async () => {
    const invocations = [...events].map(([name, event]) => ({ name, event }))
    answered = await drive(running.emulator, invocations, { total: 600, callers: 48 })
    assert.equal(answered.length, 600)
    assert.ok(
      running.emulator.stats().peakInFlight >= 16,
      `peak in flight ${running.emulator.stats().peakInFlight}`,
    )
    for (const { invocation, result } of answered) {
      assert.equal(result.status, 'success', `${invocation.name}: ${result.payload}`)
      const response = JSON.parse(result.payload.toString()) as {
        statusCode: number
        headers: Record<string, string>
        body: string
      }
      const body = JSON.parse(response.body) as Record<string, unknown>
      switch (invocation.name) {
        case 'greet-en.json':
          assert.deepEqual(body, { greeting: 'Hello, Ada!', requestId: result.requestId })
          break
        case 'greet-fr.json':
          assert.deepEqual(body, { greeting: 'Bonjour, Grace!', requestId: result.requestId })
          break
        case 'greet-de-base64.json':
          assert.deepEqual(body, { greeting: 'Hallo, Linus!', requestId: result.requestId })
          break
        case 'invalid-body.json':
          assert.equal(response.statusCode, 422)
          assert.equal(response.headers['content-type'], 'application/problem+json')
          assert.deepEqual(
            (body.errors as Array<{ instancePath: string; keyword: string }>)
              .map((e) => `${e.instancePath} ${e.keyword}`)
              .sort(),
            ['/name minLength'],
          )
          break
        case 'malformed-json.json':
          assert.equal(response.statusCode, 400)
          assert.equal(body.code, 'LMI_MALFORMED_JSON')
          break
        case 'not-implemented.json':
          assert.equal(response.statusCode, 501)
          assert.equal(body.requestId, result.requestId)
          break
        default:
          assert.fail(`no expectation for ${invocation.name}`)
      }
    }
  })

  test('each 501 is logged once, at ERROR, with its request id; SIGTERM drains and exits 0', async () => {
    const failed = answered.filter(({ invocation }) => invocation.name === 'not-implemented.json')
    const lines = await waitForLogs(running, (line) => line.statusCode === 501, failed.length)
    assert.equal(lines.length, failed.length)
    assert.deepEqual(
      lines.map((line) => line.requestId).sort(),
      failed.map(({ result }) => result.requestId).sort(),
    )
    for (const line of lines) assert.equal(line.level, 'ERROR')
    assert.equal(await running.stop(), 0)
  })
})
