import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, sep } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  type BuiltExample,
  buildExample,
  templateTests,
} from '../../../../scripts/examples/harness.ts'
import {
  drive,
  type RunningExample,
  startExample,
  waitForLogs,
} from '../../../../scripts/examples/run.ts'
import { loadEvents } from '../../../../scripts/examples/template.ts'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONCURRENCY = 32
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka']

describe('multi-tenant: template', () => {
  templateTests(dir)
})

describe(`multi-tenant: ${TENANTS.length} tenants on lmi's runtime layer at concurrency ${CONCURRENCY}`, () => {
  let built: BuiltExample
  let running: RunningExample
  let audit: Server
  let tmpRoot: string
  // What the audit service saw: the x-tenant-id header of each request, by note title.
  const audited: Array<{ tenant: string | undefined; title: string }> = []

  before(async () => {
    audit = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk
      })
      req.on('end', () => {
        const tenant = req.headers['x-tenant-id'] as string | undefined
        audited.push({ tenant, title: (JSON.parse(body) as { title: string }).title })
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ auditedFor: tenant ?? null }))
      })
    })
    audit.listen(0, '127.0.0.1')
    await new Promise((resolve) => audit.once('listening', resolve))
    const { port } = audit.address() as AddressInfo
    built = buildExample(dir)
    tmpRoot = mkdtempSync(join(tmpdir(), 'lmi-multi-tenant-'))
    running = await startExample({
      ...built,
      concurrency: CONCURRENCY,
      env: { AUDIT_URL: `http://127.0.0.1:${port}/events`, NOTES_TMP_ROOT: tmpRoot },
    })
  })
  after(async () => {
    await running?.close()
    audit?.close()
    built?.remove()
    if (tmpRoot !== undefined) rmSync(tmpRoot, { recursive: true, force: true })
  })

  test('each tenant sees only its own id: in the answer, the audit request, the /tmp path, the log lines', async () => {
    const events = [...loadEvents(dir)]
    const invocations = TENANTS.flatMap((tenantId) =>
      events.map(([name, event]) => ({ name, event, tenantId })),
    )
    const answered = await drive(running.emulator, invocations, { total: 960, callers: 64 })
    assert.ok(running.emulator.stats().peakInFlight >= 16)
    const tenantOf = new Map<string, string>()
    for (const { invocation, result } of answered) {
      assert.equal(result.status, 'success', String(result.payload))
      const body = JSON.parse(result.payload.toString()) as {
        tenantId: string
        file: string
        receipt: { auditedFor: string }
      }
      assert.equal(body.tenantId, invocation.tenantId)
      assert.equal(body.receipt.auditedFor, invocation.tenantId)
      assert.ok(
        body.file.includes(`${sep}${invocation.tenantId}${sep}${result.requestId}${sep}`),
        body.file,
      )
      tenantOf.set(result.requestId, invocation.tenantId as string)
    }
    assert.equal(audited.length, answered.length)
    assert.ok(audited.every((a) => a.tenant !== undefined && TENANTS.includes(a.tenant)))
    const lines = await waitForLogs(
      running,
      (l) => l.message === 'note received' || l.message === 'note audited',
      2 * answered.length,
    )
    assert.equal(lines.length, 2 * answered.length)
    for (const line of lines) assert.equal(line.tenantId, tenantOf.get(String(line.requestId)))
  })

  test('an invocation without a tenant id is refused with TenantRequiredError', async () => {
    const [, event] = [...loadEvents(dir)][0] as [string, unknown]
    const result = await running.emulator.invoke(event)
    assert.equal(result.status, 'error')
    assert.equal(result.error?.errorType, 'TenantRequiredError')
  })

  test("every tenant's directories are gone once the runtime has drained", async () => {
    assert.equal(await running.stop(), 0)
    const owners = readdirSync(join(tmpRoot, 'notes'))
    const left = owners.flatMap((owner) =>
      readdirSync(join(tmpRoot, 'notes', owner)).flatMap((tenant) =>
        readdirSync(join(tmpRoot, 'notes', owner, tenant)),
      ),
    )
    assert.deepEqual(left, [])
  })
})
