// The isolation stress run of @lmi/tmp-scope + @lmi/tenant + @lmi/context together on lmi's
// runtime: 20,000 invocations (5,000 on Node 22) from 50 tenants at concurrency 64, each
// writing its tenant's value to its own tmp directory, logging it, yielding to the others,
// and returning what it read back. Any state shared between invocations shows up as a foreign value.
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { after, describe, it } from 'node:test'
import { startRuntime } from './helpers/runtime.ts'

// 20,000 on Node 24, the run the middleware issue asked for. The suite's Node 22 pass runs
// 5,000: enough interleavings to prove that Node 22's AsyncLocalStorage (async_hooks, where
// Node 24's is AsyncContextFrame) keeps invocations apart, at a quarter of the time.
const INVOCATIONS = process.versions.node.startsWith('22.') ? 5_000 : 20_000
const TENANTS = 50
const CONCURRENCY = 64

interface Seen {
  n: number
  tenantId: string
  contextTenantId: string
  requestId: string
  readBack: string
  dir: string
  files: string[]
}

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

describe('isolation stress on lmi runtime', () => {
  it(`keeps ${INVOCATIONS.toLocaleString('en-US')} invocations of ${TENANTS} tenants at concurrency ${CONCURRENCY} apart: responses, logs, files`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'lmi-isolation-'))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    const runtime = await startRuntime({
      handler: 'isolation.handler',
      concurrency: CONCURRENCY,
      env: { TMP_ROOT: root },
    })
    cleanups.push(() => runtime.close())

    const tenantOf = (n: number) => `tenant-${n % TENANTS}`
    const results = await Promise.all(
      Array.from({ length: INVOCATIONS }, (_, n) =>
        runtime.emulator.invoke({ n }, { requestId: `req-${n}`, tenantId: tenantOf(n) }),
      ),
    )
    const peak = runtime.emulator.stats().peakInFlight
    const exitCode = await runtime.shutdown()

    // Responses: each saw only its own tenant, value and directory.
    const foreign: string[] = []
    for (const [n, result] of results.entries()) {
      assert.equal(result.status, 'success', `req-${n}: ${JSON.stringify(result.error)}`)
      const seen = JSON.parse(result.payload.toString()) as Seen
      const tenantId = tenantOf(n)
      const expected: Seen = {
        n,
        tenantId,
        contextTenantId: tenantId,
        requestId: `req-${n}`,
        readBack: `${tenantId}:${n}`,
        dir: seen.dir,
        files: ['value.txt'],
      }
      if (
        JSON.stringify(seen) !== JSON.stringify(expected) ||
        !seen.dir.endsWith(`${sep}${tenantId}${sep}req-${n}`)
      ) {
        foreign.push(`req-${n}: ${JSON.stringify(seen)}`)
      }
    }
    assert.deepEqual(foreign.slice(0, 5), [], `${foreign.length} responses saw foreign values`)

    // Logs: every handler line carries its own invocation's request and tenant id.
    const lines = runtime.logs.filter((line) => line.message === 'wrote')
    assert.equal(lines.length, INVOCATIONS)
    const badLines = lines.filter((line) => {
      const n = Number(String(line.requestId).slice('req-'.length))
      return line.tenantId !== tenantOf(n) || line.value !== `${tenantOf(n)}:${n}`
    })
    assert.deepEqual(badLines.slice(0, 5), [], `${badLines.length} log lines carry foreign ids`)

    // Files: nothing left behind once the runtime has drained.
    assert.equal(exitCode, 0)
    assert.deepEqual(readdirSync(join(root, 'lmi')), [])
    assert.equal(existsSync(join(root, 'lmi')), true)
    assert.ok(peak >= CONCURRENCY / 2, `peak in-flight ${peak}`)
  })
})
