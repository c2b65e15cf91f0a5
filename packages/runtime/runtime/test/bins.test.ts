import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createEmulator } from '@lmi/dev/emulator'
import { childExecArgv } from '@lmi/test-kit'
import { oldNodeCommand, output } from '../../../../scripts/test-support/processes.ts'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const runtimeBin = join(packageDir, 'bin', 'lmi-runtime.js')
const execWrapper = join(packageDir, 'bin', 'lmi-exec-wrapper')

let child: ChildProcess | undefined
afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
  child = undefined
})

function run(args: string[], env: Record<string, string> = {}): ChildProcess {
  child = spawn(process.execPath, [...childExecArgv(), ...args], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return child
}

describe('lmi-runtime configuration', () => {
  it('reports an unusable AWS_LAMBDA_MAX_CONCURRENCY to /runtime/init/error and exits 1', async () => {
    const emulator = await createEmulator()
    try {
      const initError = once(emulator, 'initError')
      const { code, stderr } = await output(
        run([runtimeBin], {
          AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
          _HANDLER: 'handlers.echo',
          LAMBDA_TASK_ROOT: join(packageDir, 'test', 'fixtures'),
          AWS_LAMBDA_MAX_CONCURRENCY: 'abc',
        }),
      )
      const [error] = (await initError) as [{ errorType: string; errorMessage: string }]
      assert.equal(code, 1)
      assert.equal(error.errorType, 'InvalidConfigurationError')
      assert.match(
        error.errorMessage,
        /AWS_LAMBDA_MAX_CONCURRENCY must be a positive integer, got "abc"/,
      )
      assert.match(stderr, /AWS_LAMBDA_MAX_CONCURRENCY/)
    } finally {
      await emulator.close()
    }
  })
})

describe('lmi-exec-wrapper', () => {
  it("replaces the runtime Lambda passes it and serves invocations with lmi's", async () => {
    // Prepare: Lambda runs `$AWS_LAMBDA_EXEC_WRAPPER <its runtime> <args>`; the wrapper ignores
    // them. It runs the compiled runtime (dist/, built by the set-up) with `node` from PATH.
    const emulator = await createEmulator({ maxConcurrency: 4 })
    try {
      child = spawn('/bin/sh', [execWrapper, '/var/runtime/bootstrap', '--ignored'], {
        env: {
          PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(':'),
          AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
          _HANDLER: 'handlers.echo',
          LAMBDA_TASK_ROOT: join(packageDir, 'test', 'fixtures'),
          AWS_LAMBDA_MAX_CONCURRENCY: '4',
        },
        stdio: 'ignore',
      })
      // Act
      const result = await emulator.invoke({ via: 'wrapper' }, { tenantId: 'acme' })
      // Assess
      assert.equal(result.status, 'success')
      const body = JSON.parse(result.payload.toString()) as Record<string, unknown>
      assert.deepEqual(body.event, { via: 'wrapper' })
      assert.equal(body.tenantId, 'acme')
    } finally {
      child?.kill('SIGTERM')
      if (child !== undefined) await once(child, 'exit')
      await emulator.close()
    }
  })
})

describe('lmi-runtime on an unsupported Node', () => {
  it('says which Node it needs and exits 2 before loading anything', async () => {
    // Node 20: the machine's own when it has one, else the current Node told it is 20.1.0.
    const [command, ...argv] = oldNodeCommand(runtimeBin)
    child = spawn(command as string, argv, {
      env: { PATH: process.env.PATH ?? '', _HANDLER: 'handlers.echo' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const { code, stderr } = await output(child)
    assert.equal(code, 2)
    assert.match(
      stderr,
      /^lmi-runtime: Node\.js >= 22\.19 is required \(Lambda's nodejs22\.x and nodejs24\.x\), this is v20\./,
    )
  })
})
