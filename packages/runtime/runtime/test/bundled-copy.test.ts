// A handler bundle that inlines its own copy of @lmi/core (what esbuild, and so `sam build`,
// makes of any handler importing it), run by lmi's runtime from another copy (a layer,
// node_modules): the two must act as one.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PACKAGE_VERSION } from '@lmi/core/internal'
import { build } from 'esbuild'
import { json, type RuntimeUnderTest, startRuntime } from './helpers/runtime-process.ts'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const coreDir = join(packageDir, '..', 'core')

const HANDLER = `
import { bindTenantId, getInvocation, lmi, onShutdown } from '@lmi/core'
import { setImmediate as tick } from 'node:timers/promises'

onShutdown(() => console.log('hook registered by the bundle ran'))

export const handler = lmi(async (event) => {
  bindTenantId(event.tenant)
  await tick()
  process.env.LAST_TENANT = event.tenant // a shared-state finding, reported once
  console.log('handled')
  return { requestId: getInvocation().requestId, tenantId: getInvocation().tenantId }
})
`

describe('a handler bundle with its own copy of @lmi/core, on lmi runtime', () => {
  let dir: string
  let runtime: RuntimeUnderTest

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lmi-bundled-copy-'))
    writeFileSync(join(dir, 'entry.ts'), HANDLER)
    await build({
      entryPoints: [join(dir, 'entry.ts')],
      outfile: join(dir, 'bundle.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      conditions: ['@lmi/source'],
      alias: { '@lmi/core': join(coreDir, 'src', 'index.ts') },
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
      logLevel: 'error',
    })
    assert.match(readFileSync(join(dir, 'bundle.mjs'), 'utf8'), /InvocationState = class/)
    runtime = await startRuntime({
      handler: 'bundle.handler',
      concurrency: 4,
      env: { LAMBDA_TASK_ROOT: dir, LMI_SHARED_STATE: 'warn' },
    })
  })
  after(async () => {
    await runtime?.stop()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  test("the bundle's chain runs in the runtime's invocation: a tenant it binds reaches the runtime's log lines", async () => {
    const results = await Promise.all(
      ['acme', 'globex', 'initech', 'umbrella', 'acme', 'globex'].map((tenant) =>
        runtime.emulator.invoke({ tenant }),
      ),
    )
    for (const [index, result] of results.entries()) {
      assert.equal(result.status, 'success', String(result.payload))
      const body = json<{ requestId: string; tenantId: string }>(result.payload)
      assert.equal(body.requestId, result.requestId)
      assert.equal(
        body.tenantId,
        ['acme', 'globex', 'initech', 'umbrella', 'acme', 'globex'][index],
      )
      // console.log goes through the runtime's log, which reads the runtime's invocation. The
      // line comes on stdout, the answer over HTTP: wait for the line, which may come second.
      const line = await runtime.waitForLog(
        (l) => l.message === 'handled' && l.requestId === result.requestId,
      )
      assert.equal(line.tenantId, body.tenantId)
    }
  })

  test('the detectors are installed once: one finding line, not one per copy', () => {
    const findings = runtime.logs.filter(
      (l) => l.code === 'LMI_SHARED_ENV_WRITE' && l.subject === 'process.env.LAST_TENANT',
    )
    assert.equal(findings.length, 1, JSON.stringify(findings))
  })

  test('an onShutdown hook the bundle registers runs when the runtime shuts down', async () => {
    runtime.child.kill('SIGTERM')
    const { code } = await runtime.exited
    assert.equal(code, 0)
    assert.ok(runtime.logs.some((l) => l.message === 'hook registered by the bundle ran'))
  })
})

describe('process-wide state', () => {
  test('PACKAGE_VERSION is the version of @lmi/core', () => {
    const pkg = JSON.parse(readFileSync(join(coreDir, 'package.json'), 'utf8')) as {
      version: string
    }
    assert.equal(PACKAGE_VERSION, pkg.version)
  })

  test('a copy with an incompatible layout already loaded: LMI_RUNTIME_CONFLICT at import, naming both versions', () => {
    const script = `
      globalThis[Symbol.for('@lmi/core/process-state')] = { protocol: 999, version: '9.9.9' }
      try { await import('@lmi/core'); console.log('loaded') }
      catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })) }
    `
    const child = spawnSync(
      process.execPath,
      ['--conditions=@lmi/source', '--input-type=module', '-e', script],
      { cwd: packageDir, encoding: 'utf8' },
    )
    const out = JSON.parse(child.stdout.trim()) as { code: string; message: string }
    assert.equal(out.code, 'LMI_RUNTIME_CONFLICT')
    assert.match(out.message, /9\.9\.9 first, then 0\.1\.0/)
  })
})
