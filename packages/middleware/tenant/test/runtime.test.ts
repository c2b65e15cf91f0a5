// tenant() in plain middy on lmi's runtime: a real runtime process polling an emulated Runtime
// API on loopback, invocations interleaved at concurrency 16, tenant ids from tenant isolation
// mode (Lambda-Runtime-Aws-Tenant-Id) and from the event. Runs on whichever Node runs the test.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createEmulator, type Emulator } from '@lmi/dev/emulator'
import { childExecArgv } from '@lmi/test-kit'
import { type EchoServer, startEchoServer } from './helpers.ts'

const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url))
const runtimeBin = join(
  dirname(fileURLToPath(import.meta.resolve('@lmi/runtime/package.json'))),
  'bin',
  'lmi-runtime.js',
)
const concurrency = 16

let server: EchoServer
let emulator: Emulator
let child: ChildProcess
const stderr: string[] = []

before(async () => {
  server = await startEchoServer()
  emulator = await createEmulator({ maxConcurrency: concurrency, timeoutMs: 10_000 })
  child = spawn(process.execPath, [...childExecArgv(), runtimeBin], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
      LAMBDA_TASK_ROOT: fixturesDir,
      _HANDLER: 'handlers.middyHandler',
      AWS_LAMBDA_FUNCTION_NAME: 'tenant-test',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_MAX_CONCURRENCY: String(concurrency),
      // One event loop: every invocation shares the handler's module state.
      LMI_WORKERS: '0',
      ECHO_ORIGIN: server.origin,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()))
})

after(async () => {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
  await emulator.close()
  await server.close()
})

interface Seen {
  n: number
  context: string
  current: string
  store: string
  logged: string
  fetched: string
  requested: string
}

describe('plain middy on the lmi runtime', () => {
  it('gives each of 64 interleaved invocations its own tenant everywhere, from the platform or the event', async () => {
    // Act: even n carry the platform's tenant id, odd n a header only.
    const size = 64
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) =>
        n % 2 === 0
          ? emulator.invoke({ n, size: concurrency }, { tenantId: `platform-${n}` })
          : emulator.invoke({ n, size: concurrency, headers: { 'X-Tenant-Id': `event-${n}` } }),
      ),
    )
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success', `${JSON.stringify(result.error)} ${stderr.join('')}`)
      const expected = n % 2 === 0 ? `platform-${n}` : `event-${n}`
      const seen = JSON.parse(result.payload.toString()) as Seen
      assert.deepEqual(seen, {
        n,
        context: expected,
        current: expected,
        store: expected,
        logged: expected,
        fetched: expected,
        requested: expected,
      })
    })
    // The request made at init carried no tenant header.
    const init = server.seen.find((request) => request.path === '/init')
    assert.ok(init)
    assert.equal(init.tenant, undefined)
  })

  it('refuses an event naming another tenant than the platform with a 403 TenantMismatchError', async () => {
    const result = await emulator.invoke(
      { n: -1, size: 0, headers: { 'x-tenant-id': 'globex' } },
      { tenantId: 'acme' },
    )
    assert.equal(result.status, 'error')
    assert.equal(result.error?.errorType, 'TenantMismatchError')
  })
})
