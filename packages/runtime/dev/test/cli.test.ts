import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const lmiBin = join(packageDir, 'bin', 'lmi.js')

let child: ChildProcess | undefined
afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
  child = undefined
})

function run(args: string[], env: Record<string, string> = {}): ChildProcess {
  child = spawn(process.execPath, ['--conditions=@lmi/source', ...args], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return child
}

async function output(
  process: ChildProcess,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  process.stdout?.on('data', (chunk) => (stdout += chunk))
  process.stderr?.on('data', (chunk) => (stderr += chunk))
  const [code] = (await once(process, 'exit')) as [number]
  return { code, stdout, stderr }
}

describe('lmi CLI', () => {
  it('prints its usage for `lmi help`', async () => {
    const { code, stdout } = await output(run([lmiBin, 'help']))
    assert.equal(code, 0)
    assert.match(stdout, /lmi dev <file\.export>/)
  })

  it('exits 2 with a message naming the problem on a bad command or option', async () => {
    const unknown = await output(run([lmiBin, 'deploy']))
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /Unknown command "deploy"/)
    const badOption = await output(run([lmiBin, 'dev', 'x.handler', '--concurrency', 'lots']))
    assert.equal(badOption.code, 2)
    assert.match(badOption.stderr, /--concurrency must be an integer >= 1, got "lots"/)
  })

  it('`lmi dev` serves a handler that curl-style HTTP invocations reach, then stops on SIGINT', async () => {
    // Prepare
    const dev = run([lmiBin, 'dev', 'test/fixtures/handlers.echo', '--port', '0', '-c', '4'])
    const lines = createInterface({ input: dev.stderr as NodeJS.ReadableStream })
    let url = ''
    for await (const line of lines) {
      const match = /listening on (http:\/\/\S+)/.exec(line)
      if (match?.[1] !== undefined) {
        url = match[1]
        break
      }
    }
    // Act: the runtime may still be starting; the emulator queues the invocation until it polls.
    const response = await fetch(`${url}/2015-03-31/functions/function/invocations`, {
      method: 'POST',
      headers: { 'x-amz-tenant-id': 'acme' },
      body: JSON.stringify({ hello: 'world' }),
    })
    const body = (await response.json()) as Record<string, unknown>
    const exited = once(dev, 'exit')
    dev.kill('SIGINT')
    const [code] = (await exited) as [number]
    // Assess
    assert.equal(response.status, 200)
    assert.deepEqual(body.event, { hello: 'world' })
    assert.equal(body.tenantId, 'acme')
    assert.equal(code, 0)
  })
})
