import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { defaultWorkerCount, workerCountFromEnv } from '../src/scheduler/workers.ts'
import { json, type RuntimeUnderTest, startRuntime } from './helpers/runtime-process.ts'

let current: RuntimeUnderTest | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

function allSlotsPolling(runtime: RuntimeUnderTest, slots: number): Promise<void> {
  if (runtime.emulator.stats().waiting >= slots) return Promise.resolve()
  return new Promise((resolve) => {
    const onWaiting = (waiting: number) => {
      if (waiting < slots) return
      runtime.emulator.off('waiting', onWaiting)
      resolve()
    }
    runtime.emulator.on('waiting', onWaiting)
  })
}

describe('worker threads (LMI_WORKERS)', () => {
  it('defaults to none in classic mode; else one worker per two whole CPUs, at least two, never more than the concurrency', () => {
    assert.equal(defaultWorkerCount(2, 1), 0)
    assert.equal(defaultWorkerCount(2, 64), 2)
    assert.equal(defaultWorkerCount(1, 64), 2)
    assert.equal(defaultWorkerCount(0.5, 64), 2)
    assert.equal(defaultWorkerCount(4, 64), 2)
    assert.equal(defaultWorkerCount(9.5, 64), 4)
    assert.equal(defaultWorkerCount(16, 4), 4)
    assert.equal(defaultWorkerCount(8, 2), 2)
  })

  it('reads LMI_WORKERS: 0 runs handlers on the main thread, never more workers than the concurrency', () => {
    assert.deepEqual(workerCountFromEnv({ LMI_WORKERS: '0' }, 2, 64), {
      count: 0,
      from: 'LMI_WORKERS',
    })
    assert.deepEqual(workerCountFromEnv({ LMI_WORKERS: '8' }, 2, 4), {
      count: 4,
      from: 'LMI_WORKERS',
    })
    assert.deepEqual(workerCountFromEnv({ LMI_WORKERS: ' ' }, 2, 64), { count: 2, from: 'default' })
    assert.throws(() => workerCountFromEnv({ LMI_WORKERS: '1.5' }, 2, 64), {
      name: 'InvalidConfigurationError',
      message: 'LMI_WORKERS must be 0 or a positive integer, got "1.5"',
    })
  })

  it("honours AWS's AWS_LAMBDA_NODEJS_WORKER_COUNT, with LMI_WORKERS winning when both are set", () => {
    const aws = { AWS_LAMBDA_NODEJS_WORKER_COUNT: '3' }
    assert.deepEqual(workerCountFromEnv(aws, 2, 64), {
      count: 3,
      from: 'AWS_LAMBDA_NODEJS_WORKER_COUNT',
    })
    assert.deepEqual(workerCountFromEnv({ ...aws, LMI_WORKERS: '2' }, 2, 64), {
      count: 2,
      from: 'LMI_WORKERS',
    })
    assert.equal(workerCountFromEnv({ AWS_LAMBDA_NODEJS_WORKER_COUNT: '16' }, 2, 8).count, 8)
    assert.throws(() => workerCountFromEnv({ AWS_LAMBDA_NODEJS_WORKER_COUNT: '0' }, 2, 64), {
      name: 'InvalidConfigurationError',
      message: 'AWS_LAMBDA_NODEJS_WORKER_COUNT must be a positive integer, got "0"',
    })
  })

  it('logs the worker count, where it came from and the concurrency once at start (DEBUG)', async () => {
    current = await startRuntime({
      handler: 'workers.handler',
      concurrency: 8,
      env: { LMI_WORKERS: '', AWS_LAMBDA_NODEJS_WORKER_COUNT: '3', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' },
    })
    // Act
    const results = await Promise.all(
      Array.from({ length: 6 }, () => current?.emulator.invoke({ busyMs: 50 })),
    )
    // Assess
    assert.ok(results.every((result) => result?.status === 'success'))
    const starting = current.logs.filter((record) => record.code === 'LMI_RUNTIME_STARTING')
    assert.equal(starting.length, 1)
    assert.equal(starting[0]?.level, 'DEBUG')
    assert.equal(starting[0]?.workers, 3)
    assert.equal(starting[0]?.workersFrom, 'AWS_LAMBDA_NODEJS_WORKER_COUNT')
    assert.equal(starting[0]?.maxConcurrency, 8)
    assert.equal(starting[0]?.concurrent, true)
    const threads = new Set(results.map((result) => json(result?.payload as Buffer).threadId))
    assert.ok(threads.size >= 2 && threads.size <= 3, `served by ${threads.size} threads`)
  })

  it('serves invocations from every worker thread within the concurrency limit', async () => {
    current = await startRuntime({
      handler: 'workers.handler',
      concurrency: 8,
      env: { LMI_WORKERS: '2' },
    })
    await allSlotsPolling(current, 8)
    // Act: all 8 slots are parked on /next, so each invocation lands on its own slot; each
    // keeps its thread busy for 50 ms, so the first thread cannot take them all.
    const results = await Promise.all(
      Array.from({ length: 8 }, () => current?.emulator.invoke({ busyMs: 50 })),
    )
    // Assess
    const threads = new Set(results.map((result) => json(result?.payload as Buffer).threadId))
    assert.equal(threads.size, 2)
    assert.ok(results.every((result) => result?.status === 'success'))
    assert.equal(current.emulator.stats().peakInFlight, 8)
  })

  it('drains every worker on SIGTERM and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lmi-workers-'))
    const releaseFile = join(dir, 'release')
    current = await startRuntime({
      handler: 'workers.handler',
      concurrency: 4,
      env: { LMI_WORKERS: '2' },
    })
    const runtime = current
    await allSlotsPolling(runtime, 4)
    const pending = Array.from({ length: 4 }, () => runtime.emulator.invoke({ releaseFile }))
    // Delivered is not enough: the answer to /next may still be on its way to the runtime.
    await runtime.waitForLogs((record) => record.message === 'started', 4)
    // Act
    runtime.child.kill('SIGTERM')
    await runtime.waitForLog((record) => record.code === 'LMI_SHUTDOWN')
    await writeFile(releaseFile, '')
    const results = await Promise.all(pending)
    // Assess
    assert.ok(results.every((result) => result.status === 'success'))
    assert.equal((await runtime.exited).code, 0)
    await rm(dir, { recursive: true, force: true })
  })

  it('reports an init failure once for all workers and exits 1', async () => {
    current = await startRuntime({
      handler: 'workers-init-fails.handler',
      concurrency: 4,
      env: { LMI_WORKERS: '2' },
    })
    let initErrors = 0
    current.emulator.on('initError', () => initErrors++)
    const { code } = await current.exited
    assert.equal(code, 1)
    assert.equal(initErrors, 1)
    assert.match(current.emulator.initError?.errorMessage ?? '', /init failed in thread/)
  })

  it('runs handlers on the main thread, with a warning, when the runtime itself is a CommonJS bundle', async () => {
    // Prepare: lmi-runtime bundled as SAM's esbuild builder bundles by default (CommonJS), where
    // import.meta is empty and worker threads cannot find their entry.
    const dir = await mkdtemp(join(tmpdir(), 'lmi-cjs-runtime-'))
    const bin = join(dir, 'runtime.cjs')
    const bootstrap = fileURLToPath(new URL('../src/bootstrap.ts', import.meta.url))
    await build({
      stdin: {
        contents: `import { runRuntime } from ${JSON.stringify(bootstrap)}\nrunRuntime()`,
        loader: 'ts',
        resolveDir: dir,
      },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node22',
      conditions: ['@lmi/source'],
      outfile: bin,
      logLevel: 'silent',
    })
    current = await startRuntime({
      handler: 'workers.handler',
      concurrency: 4,
      env: { LMI_WORKERS: '' },
      bin,
    })
    // Act
    const result = await current.emulator.invoke({})
    // Assess
    assert.equal(result.status, 'success')
    assert.equal(json(result.payload).threadId, 0)
    await current.waitForLog((record) => record.code === 'LMI_WORKERS_UNAVAILABLE')
    await rm(dir, { recursive: true, force: true })
  })

  it('drains every worker and exits 1 on a fault no invocation owns, in one of them', async () => {
    current = await startRuntime({
      handler: 'workers.arms',
      concurrency: 4,
      env: { LMI_WORKERS: '' },
    })
    // Act: one invocation arms its thread's init-time work, which then throws.
    const results = await Promise.all([
      current.emulator.invoke({}),
      current.emulator.invoke({ arm: true }),
      current.emulator.invoke({}),
    ])
    const { code } = await current.exited
    // Assess: every invocation handed out answered, the fault logged, exit 1.
    assert.ok(results.every((result) => result.status === 'success'))
    assert.equal(code, 1)
    const fault = await current.waitForLog((record) => record.code === 'LMI_UNATTRIBUTABLE_FAULT')
    assert.match(String(fault.message), /init-time work failed/)
  })
})
