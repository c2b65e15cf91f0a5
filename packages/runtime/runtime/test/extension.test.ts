// lmi's shutdown extension (layer/extension/) and the path it opens: Lambda sends the runtime
// SIGTERM at shutdown only when an extension is registered. Driven through the emulator's
// Extensions API and its `shutdown()`, which plays Lambda's sequence (SIGTERM to the runtime,
// SIGKILL after 300 ms, then SHUTDOWN to the extensions until the 2,000 ms phase ends).
import assert from 'node:assert/strict'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createEmulator, type Emulator } from '@lmi/dev/emulator'
import { logged, RUNTIME_MODES, runtimePerTest, started } from './helpers/runtime-process.ts'

const sources = join(dirname(fileURLToPath(import.meta.url)), '..', 'layer', 'extension')

// The layer's layout, as build.mjs writes it and Lambda mounts it under /opt: the extension in
// extensions/, its node fallback in lmi/.
const opt = mkdtempSync(join(tmpdir(), 'lmi-opt-'))
mkdirSync(join(opt, 'extensions'))
mkdirSync(join(opt, 'lmi'))
const extensionFile = join(opt, 'extensions', 'lmi-shutdown')
copyFileSync(join(sources, 'lmi-shutdown'), extensionFile)
copyFileSync(join(sources, 'shutdown-extension.mjs'), join(opt, 'lmi', 'shutdown-extension.mjs'))
// A PATH with node and dirname but no bash: the extension must fall back to node.
const noBash = join(opt, 'no-bash-bin')
mkdirSync(noBash)
symlinkSync(process.execPath, join(noBash, 'node'))
symlinkSync(
  execFileSync('sh', ['-c', 'command -v dirname'], { encoding: 'utf8' }).trim(),
  join(noBash, 'dirname'),
)
after(() => rmSync(opt, { recursive: true, force: true }))

type Record_ = Record<string, unknown>

const hookRan = (record: Record_) => logged(record).shutdownHook === 'ran'

const PATHS = {
  'bash (as on Lambda)': process.env.PATH ?? '',
  'node fallback (no bash on PATH)': noBash,
} as const

function startExtension(emulator: Emulator, path: string): ChildProcess {
  return spawn(extensionFile, [], {
    env: { PATH: path, AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
}

/** A runtime stand-in that exits 0 on SIGTERM. */
function fakeRuntime(): ChildProcess {
  return spawn(process.execPath, [
    '-e',
    "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1e6)",
  ])
}

describe('lmi-shutdown, the extension', () => {
  let emulator: Emulator | undefined
  const children: ChildProcess[] = []
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
    await emulator?.close()
    emulator = undefined
  })

  for (const [name, path] of Object.entries(PATHS)) {
    it(`${name}: registers for SHUTDOWN only under its file name, exits 0 on SHUTDOWN`, async () => {
      // Prepare
      emulator = await createEmulator({ maxConcurrency: 4 })
      const registered = once(emulator, 'extensionRegistered')
      const extension = startExtension(emulator, path)
      const runtime = fakeRuntime()
      children.push(extension, runtime)
      const [registration] = await registered
      // Act
      const report = await emulator.shutdown({ runtime, extensions: [extension] })
      // Assess
      assert.equal(registration.name, 'lmi-shutdown')
      assert.deepEqual(registration.events, ['SHUTDOWN'])
      assert.equal(report.extensionsRegistered, 1)
      assert.equal(report.runtime.terminated, true, 'the runtime got SIGTERM')
      assert.equal(report.runtime.killed, false)
      assert.deepEqual(
        report.extensions.map(({ code, killed }) => ({ code, killed })),
        [{ code: 0, killed: false }],
      )
    })
  }

  it('fails loudly, exit 1, when the Extensions API refuses it', async () => {
    // Prepare: another extension already holds the name.
    emulator = await createEmulator({ maxConcurrency: 4 })
    const first = startExtension(emulator, PATHS['bash (as on Lambda)'])
    children.push(first)
    await once(emulator, 'extensionRegistered')
    // Act
    const second = spawn(extensionFile, [], {
      env: { PATH: process.env.PATH ?? '', AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.push(second)
    let stderr = ''
    second.stderr?.on('data', (chunk) => {
      stderr += chunk
    })
    const [code] = await once(second, 'exit')
    // Assess
    assert.equal(code, 1)
    assert.match(
      stderr,
      /lmi-shutdown: registering with the Extensions API at .* failed \(HTTP 4\d\d\)/,
    )
  })
})

for (const mode of RUNTIME_MODES) {
  describe(`Lambda's shutdown, ${mode.name}`, () => {
    const start = runtimePerTest(mode.env)
    const extensions: ChildProcess[] = []
    afterEach(() => {
      for (const child of extensions.splice(0)) child.kill('SIGKILL')
    })

    it('with lmi-shutdown: 64 in flight answered or reported, hooks run, the runtime exits by itself on its 250 ms budget', async (t) => {
      // Prepare: the runtime's default budget (250 ms); 32 handlers that never end and 32 that
      // end once released, which the test does as the shutdown starts.
      const runtime = await start({
        handler: 'hostile.neverOrReleased',
        concurrency: 64,
        env: { LMI_SHUTDOWN_TIMEOUT_MS: '' },
        emulator: { timeoutMs: 30_000 },
      })
      const registered = once(runtime.emulator, 'extensionRegistered')
      const extension = startExtension(runtime.emulator, process.env.PATH ?? '')
      extensions.push(extension)
      await registered
      const results = Array.from({ length: 64 }, (_, n) =>
        runtime.emulator.invoke({ never: n % 2 === 0, n }),
      )
      await runtime.waitForLogs(started, 64)
      let runtimeExitAt = Number.POSITIVE_INFINITY
      void runtime.exited.then(() => {
        runtimeExitAt = performance.now()
      })
      let shutdownEventAt = Number.NaN
      runtime.emulator.once('extensionEvent', () => {
        shutdownEventAt = performance.now()
      })
      // Act: Lambda's sequence, with a runtime share long enough for a loaded test machine —
      // whether the runtime fits Lambda's 300 ms is measured by bench/extension.ts, not here.
      const shutdown = runtime.emulator.shutdown(
        { runtime: runtime.child, extensions: [extension] },
        { runtimeMs: 2000 },
      )
      await runtime.release()
      const report = await shutdown
      const answered = await Promise.all(results)
      // Assess: the runtime drained and exited by itself; then the extension.
      assert.equal(report.runtime.terminated, true)
      assert.equal(report.runtime.killed, false, 'SIGKILLed: the runtime did not exit by itself')
      assert.equal(report.runtime.code, 0)
      t.diagnostic(`runtime exited ${report.runtime.exitedAfterMs} ms after SIGTERM`)
      // It stopped on its own budget, Lambda's default: 250 ms from SIGTERM to exit.
      const budget = runtime.logs.find((record) => record.code === 'LMI_SHUTDOWN_TIMEOUT')
      assert.equal(budget?.totalMs, 250)
      assert.deepEqual(
        report.extensions.map(({ code, killed }) => ({ code, killed })),
        [{ code: 0, killed: false }],
      )
      assert.ok(
        shutdownEventAt >= runtimeExitAt,
        'SHUTDOWN reached the extension after the runtime exited',
      )
      for (const [n, result] of answered.entries()) {
        if (n % 2 === 0) {
          assert.equal(result.error?.errorType, 'Runtime.ShutdownTimeout', `invocation ${n}`)
        } else {
          assert.ok(
            result.status === 'success' || result.error?.errorType === 'Runtime.ShutdownTimeout',
            `invocation ${n}: ${result.status} ${result.error?.errorType}`,
          )
        }
        assert.notEqual(result.timedOutBy, 'emulator', `invocation ${n} was never answered`)
      }
      assert.ok(runtime.logs.some(hookRan), 'the hooks ran')
      assert.ok(runtime.logs.some((record) => record.code === 'LMI_SHUTDOWN'))
    })

    it('without an extension: Lambda SIGKILLs the runtime, no drain, no hooks', async () => {
      // Prepare
      const runtime = await start({
        handler: 'hostile.neverOrReleased',
        concurrency: 4,
        env: { LMI_SHUTDOWN_TIMEOUT_MS: '' },
        emulator: { timeoutMs: 1000 },
      })
      const results = Array.from({ length: 4 }, () => runtime.emulator.invoke({ never: true }))
      await runtime.waitForLogs(started, 4)
      // Act
      const report = await runtime.emulator.shutdown({ runtime: runtime.child })
      const answered = await Promise.all(results)
      // Assess: what lmi-shutdown exists for.
      assert.equal(report.extensionsRegistered, 0)
      assert.equal(report.runtime.terminated, false)
      assert.equal(report.runtime.killed, true)
      assert.equal(report.runtime.signal, 'SIGKILL')
      assert.ok(answered.every((result) => result.timedOutBy === 'emulator'))
      assert.ok(!runtime.logs.some(hookRan))
    })
  })
}
