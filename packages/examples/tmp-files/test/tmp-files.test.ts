import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import {
  type BuiltExample,
  buildExample,
  templateTests,
} from '../../../../scripts/examples/harness.ts'
import { drive, type RunningExample, startExample } from '../../../../scripts/examples/run.ts'
import { loadEvents } from '../../../../scripts/examples/template.ts'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONCURRENCY = 32

describe('tmp-files: template', () => templateTests(dir))

function csv(columns: unknown[], rows: unknown[][]): string {
  const field = (value: unknown) => {
    const text = String(value)
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
  }
  return [columns, ...rows].map((row) => `${row.map(field).join(',')}\r\n`).join('')
}

describe(`tmp-files: on lmi's runtime layer at concurrency ${CONCURRENCY}`, () => {
  let built: BuiltExample
  let running: RunningExample
  let tmpRoot: string

  before(async () => {
    built = buildExample(dir)
    tmpRoot = mkdtempSync(join(tmpdir(), 'lmi-tmp-files-'))
    running = await startExample({
      ...built,
      concurrency: CONCURRENCY,
      env: { REPORT_TMP_ROOT: tmpRoot },
    })
  })
  after(async () => {
    await running?.close()
    built?.remove()
    if (tmpRoot !== undefined) rmSync(tmpRoot, { recursive: true, force: true })
  })

  test('every request gets back exactly its own rows, though all write report.csv at once', async () => {
    const invocations = [...loadEvents(dir)].map(([name, event]) => ({ name, event }))
    const answered = await drive(running.emulator, invocations, { total: 400, callers: 48 })
    assert.ok(running.emulator.stats().peakInFlight >= 16)
    for (const { invocation, result } of answered) {
      assert.equal(result.status, 'success', String(result.payload))
      const response = JSON.parse(result.payload.toString())
      const request = JSON.parse((invocation.event as { body: string }).body)
      if (invocation.name === 'empty-title.json') {
        assert.equal(response.statusCode, 422)
        continue
      }
      assert.equal(response.statusCode, 200)
      assert.equal(response.isBase64Encoded, true)
      assert.equal(response.headers['content-type'], 'application/gzip')
      assert.equal(response.headers['x-report-rows'], String(request.rows.length))
      const text = gunzipSync(Buffer.from(response.body, 'base64')).toString()
      assert.equal(text, csv(request.columns, request.rows))
    }
  })

  test('no request directory is left once the runtime has drained', async () => {
    assert.equal(await running.stop(), 0)
    const processes = readdirSync(join(tmpRoot, 'reports'))
    const left = processes.flatMap((p) => readdirSync(join(tmpRoot, 'reports', p)))
    assert.deepEqual(left, [])
  })
})
