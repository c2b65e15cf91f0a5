import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type RuntimeUnderTest, startRuntime } from './helpers/runtime.ts'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function freshRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lmi-tmp-runtime-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  return root
}

async function start(options: Parameters<typeof startRuntime>[0]): Promise<RuntimeUnderTest> {
  const runtime = await startRuntime(options)
  cleanups.push(() => runtime.close())
  return runtime
}

describe('tmpScope on lmi runtime', () => {
  it('removes the directory of an invocation that timed out while its handler still runs', async () => {
    const root = await freshRoot()
    const runtime = await start({
      handler: 'hang.handler',
      concurrency: 4,
      env: { TMP_ROOT: root },
    })

    const [hung, answered] = await Promise.all([
      runtime.emulator.invoke({ hang: true }, { requestId: 'req-hung', timeoutMs: 1000 }),
      runtime.emulator.invoke({ hang: false }, { requestId: 'req-answered' }),
    ])
    const code = await runtime.shutdown() // drains: pending removals finish before exit

    assert.equal(hung.status, 'timeout')
    assert.equal(answered.status, 'success')
    const dir = JSON.parse(answered.payload.toString()) as string
    assert.equal(dir.startsWith(join(root, 'lmi')), true)
    assert.equal(code, 0)
    // Both request directories and the process's own directory are gone.
    assert.deepEqual(readdirSync(join(root, 'lmi')), [])
    assert.equal(existsSync(dir), false)
  })
})
