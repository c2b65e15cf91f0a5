import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { childExecArgv } from '@lmi/test-kit'
import { oldNodeCommand, output } from '../../../../scripts/test-support/processes.ts'

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

function run(args: string[], env: Record<string, string> = {}, cwd = packageDir): ChildProcess {
  child = spawn(process.execPath, [...childExecArgv(), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return child
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

  it('`lmi dev --help` prints the usage of lmi dev and exits 0', async () => {
    const { code, stdout } = await output(run([lmiBin, 'dev', '--help']))
    assert.equal(code, 0)
    assert.match(stdout, /^Usage: lmi dev <file\.export> \[options\]/)
    assert.match(stdout, /--concurrency, -c N/)
  })

  it('`lmi dev` runs a TypeScript handler (app.ts) and says listening only once it has loaded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmi-dev-ts-'))
    try {
      writeFileSync(
        join(dir, 'app.ts'),
        'interface Greeting { hello: string }\n' +
          "export const handler = async (event: Greeting): Promise<string> => 'hi ' + event.hello\n",
      )
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
      const dev = run([lmiBin, 'dev', 'app.handler', '--port', '0', '-c', '2'], {}, dir)
      const url = await listeningUrl(dev)
      const response = await fetch(`${url}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        body: JSON.stringify({ hello: 'ts' }),
      })
      assert.equal(await response.json(), 'hi ts')
      const exited = once(dev, 'exit')
      dev.kill('SIGINT')
      assert.equal(((await exited) as [number])[0], 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('`lmi dev` names the file it loads when a stale build shadows another, and reports an init failure instead of "listening"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmi-dev-stale-'))
    try {
      writeFileSync(join(dir, 'app.js'), 'throw new Error("stale build")\n')
      writeFileSync(join(dir, 'app.cjs'), 'exports.handler = async () => "fresh"\n')
      const old = new Date(Date.now() - 60_000)
      utimesSync(join(dir, 'app.js'), old, old)
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
      const { code, stderr } = await output(
        run([lmiBin, 'dev', 'app.handler', '--port', '0', '-c', '2'], {}, dir),
      )
      assert.match(
        stderr,
        /lmi dev: app\.handler loads app\.js \(Lambda's order: \.js, \.mjs, \.cjs, then TypeScript\); not loaded: app\.cjs\. app\.js is older than app\.cjs: rebuild it, or delete it to run the newer file/,
      )
      assert.match(stderr, /lmi dev: app\.handler failed to start: Error: stale build/)
      assert.doesNotMatch(stderr, /listening on/)
      assert.equal(code, 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

async function listeningUrl(dev: ChildProcess): Promise<string> {
  const lines = createInterface({ input: dev.stderr as NodeJS.ReadableStream })
  for await (const line of lines) {
    const match = /listening on (http:\/\/\S+)/.exec(line)
    if (match?.[1] !== undefined) return match[1]
  }
  throw new Error('lmi dev exited without listening')
}

describe('bins on an unsupported Node', () => {
  it('`lmi` says which Node it needs and exits 2 (no crash inside a dependency)', async () => {
    const { code, stderr } = await output(oldNode(lmiBin, ['--help']))
    assert.equal(code, 2)
    assert.match(
      stderr,
      /^lmi: Node\.js >= 22\.19 is required \(Lambda's nodejs22\.x and nodejs24\.x\), this is v20\./,
    )
  })
})

/** Runs `bin` on Node 20 ({@link oldNodeCommand}). */
function oldNode(bin: string, args: string[]): ChildProcess {
  const [command, ...argv] = oldNodeCommand(bin, args)
  child = spawn(command as string, argv, {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return child
}
