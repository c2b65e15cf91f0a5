import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, it, type TestContext } from 'node:test'
import {
  createEmulator,
  type Emulator,
  EmulatorArgumentError,
  EmulatorClosedError,
  type EmulatorOptions,
  type ExtensionErrorReport,
  type ExtensionEventDelivery,
  type RegisteredExtension,
  type ShutdownEvent,
} from '../src/emulator/index.ts'
import { leftoverResources, nextEvent, track } from './helpers/events.ts'
import { call, type HttpCall, type HttpResult, json } from './helpers/http.ts'
import { RuntimeApiClient } from './helpers/runtime-api.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const EXTENSION_FIXTURE = new URL('./fixtures/extension.mjs', import.meta.url).pathname

// Fake runtimes: each says 'ready' once its SIGTERM handler is installed, so a test never
// signals a process that has not yet decided what to do with the signal.
const GRACEFUL_RUNTIME = `
process.on('SIGTERM', () => { process.stdout.write('SIGTERM\\n'); setTimeout(() => process.exit(0), 20) })
setInterval(() => {}, 60_000)
process.stdout.write('ready\\n')`
const STUBBORN_RUNTIME = `
process.on('SIGTERM', () => { process.stdout.write('SIGTERM\\n') })
setInterval(() => {}, 60_000)
process.stdout.write('ready\\n')`

async function start(t: TestContext, options?: EmulatorOptions): Promise<Emulator> {
  const emulator = await createEmulator(options)
  t.after(() => emulator.close())
  return emulator
}

interface Spawned {
  child: ChildProcess
  /** Everything the process wrote to stdout so far. */
  output(): string
  /** Resolves once stdout holds `text`. */
  printed(text: string): Promise<void>
  /** Resolves once the process exited and its stdout is drained (its output is final). */
  closed: Promise<void>
}

function spawnNode(t: TestContext, args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  const watchers = new Set<() => void>()
  // 'close', not 'exit': stdout may still hold data when 'exit' fires.
  const closed = once(child, 'close').then(() => {})
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    output += chunk
    for (const watcher of watchers) watcher()
  })
  t.after(function killLeftover() {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {
    child,
    closed,
    output: () => output,
    printed(text) {
      return new Promise<void>((resolve, reject) => {
        function check(): void {
          if (!output.includes(text)) return
          watchers.delete(check)
          resolve()
        }
        watchers.add(check)
        closed.then(() => {
          if (!output.includes(text)) reject(new Error(`exited before printing ${text}`))
        })
        check()
      })
    },
  }
}

async function spawnRuntime(t: TestContext, script: string): Promise<Spawned> {
  const runtime = spawnNode(t, ['-e', script])
  await runtime.printed('ready\n')
  return runtime
}

function spawnExtension(
  t: TestContext,
  emulator: Emulator,
  onShutdown: 'exit' | 'ignore',
): Spawned {
  return spawnNode(t, [EXTENSION_FIXTURE], {
    ...emulator.env,
    EXTENSION_NAME: `fixture-${onShutdown}`,
    EXTENSION_ON_SHUTDOWN: onShutdown,
  })
}

function extensionUrl(emulator: Emulator, path: string): string {
  return `${emulator.url}/2020-01-01/extension/${path}`
}

function register(
  emulator: Emulator,
  name: string | undefined,
  body: string,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return call(extensionUrl(emulator, 'register'), {
    method: 'POST',
    headers: name === undefined ? headers : { 'Lambda-Extension-Name': name, ...headers },
    body,
  }).result
}

async function registerShutdown(emulator: Emulator, name = 'lmi-extension'): Promise<string> {
  const result = await register(emulator, name, JSON.stringify({ events: ['SHUTDOWN'] }))
  assert.equal(result.status, 200)
  return String(result.headers['lambda-extension-identifier'])
}

function poll(emulator: Emulator, id: string | undefined): HttpCall {
  return call(extensionUrl(emulator, 'event/next'), {
    headers: id === undefined ? {} : { 'Lambda-Extension-Identifier': id },
  })
}

/** Starts a poll for `id` and resolves once the emulator has parked it. */
async function parkedPoll(emulator: Emulator, id: string): Promise<HttpCall> {
  const waiting = nextEvent<[RegisteredExtension]>(
    emulator,
    'extensionWaiting',
    (extension) => extension.id === id,
  )
  const held = poll(emulator, id)
  await waiting
  return held
}

function errorOf(result: HttpResult): { errorType: string; errorMessage: string } {
  return json(result) as { errorType: string; errorMessage: string }
}

// Suite timeouts turn a hang (a poll never answered) into a failure, not a stuck run.
describe('Extensions API', { timeout: 120_000 }, () => {
  it('registers an extension: 200, a UUID identifier and the function name, version and handler', async (t) => {
    // Prepare
    const emulator = await start(t, {
      functionName: 'orders',
      functionVersion: '7',
      handler: 'index.handler',
      accountId: '111122223333',
    })
    const registered = nextEvent<[RegisteredExtension]>(emulator, 'extensionRegistered')

    // Act
    const result = await register(emulator, 'lmi-ext', '{"events":["SHUTDOWN"]}')
    const withAccount = await register(emulator, 'other', '{"events":[]}', {
      'Lambda-Extension-Accept-Feature': 'accountId',
    })

    // Assess
    assert.equal(result.status, 200)
    assert.equal(result.headers['content-type'], 'application/json')
    const id = String(result.headers['lambda-extension-identifier'])
    assert.match(id, UUID)
    assert.deepEqual(json(result), {
      functionName: 'orders',
      functionVersion: '7',
      handler: 'index.handler',
    })
    assert.deepEqual(await registered, [{ name: 'lmi-ext', id, events: ['SHUTDOWN'] }])
    assert.equal(withAccount.status, 200)
    assert.deepEqual(json(withAccount), {
      functionName: 'orders',
      functionVersion: '7',
      handler: 'index.handler',
      accountId: '111122223333',
    })
    assert.deepEqual(
      emulator.extensions.map(({ name, events }) => ({ name, events })),
      [
        { name: 'lmi-ext', events: ['SHUTDOWN'] },
        { name: 'other', events: [] },
      ],
    )
  })

  it('answers an empty handler when the emulator was given none', async (t) => {
    // Prepare
    const emulator = await start(t)

    // Act
    const result = await register(emulator, 'lmi-ext', '{"events":["SHUTDOWN"]}')

    // Assess
    assert.deepEqual(json(result), {
      functionName: 'lmi-function',
      functionVersion: '$LATEST',
      handler: '',
    })
  })

  it('refuses INVOKE with 400 Extension.InvalidEventType: on LMI extensions get SHUTDOWN only', async (t) => {
    // Prepare
    const emulator = await start(t)

    // Act
    const result = await register(emulator, 'lmi-ext', '{"events":["INVOKE","SHUTDOWN"]}')

    // Assess
    assert.equal(result.status, 400)
    const error = errorOf(result)
    assert.equal(error.errorType, 'Extension.InvalidEventType')
    assert.match(error.errorMessage, /Lambda Managed Instances.*SHUTDOWN only/)
    assert.equal(result.headers['lambda-extension-identifier'], undefined)
    assert.deepEqual(emulator.extensions, [])
  })

  it('refuses a missing name, bad JSON and unknown or malformed events with a JSON 400', async (t) => {
    // Prepare
    const emulator = await start(t)
    const cases: Array<[name: string | undefined, body: string, errorType: string]> = [
      [undefined, '{"events":["SHUTDOWN"]}', 'Extension.InvalidExtensionName'],
      ['', '{"events":["SHUTDOWN"]}', 'Extension.InvalidExtensionName'],
      ['a', '{"events":', 'InvalidRequestFormat'],
      ['a', '', 'InvalidRequestFormat'],
      ['a', '["SHUTDOWN"]', 'InvalidRequestFormat'],
      ['a', '{"events":"SHUTDOWN"}', 'InvalidRequestFormat'],
      ['a', '{"events":[1]}', 'InvalidRequestFormat'],
      ['a', '{"events":["SHUTDOWN"],"configurationKeys":["k"]}', 'InvalidRequestFormat'],
      ['a', '{"events":["RESTORE"]}', 'Extension.InvalidEventType'],
    ]

    for (const [name, body, errorType] of cases) {
      // Act
      const result = await register(emulator, name, body)

      // Assess
      assert.equal(result.status, 400, `${name} ${body}`)
      assert.equal(result.headers['content-type'], 'application/json')
      assert.equal(errorOf(result).errorType, errorType, `${name} ${body}`)
      assert.equal(typeof errorOf(result).errorMessage, 'string')
    }
    assert.deepEqual(emulator.extensions, [])
  })

  it('refuses a second registration under the same name with 400 Extension.InvalidExtensionState', async (t) => {
    // Prepare
    const emulator = await start(t)
    const first = await registerShutdown(emulator, 'lmi-ext')

    // Act
    const second = await register(emulator, 'lmi-ext', '{"events":["SHUTDOWN"]}')

    // Assess
    assert.equal(second.status, 400)
    assert.equal(errorOf(second).errorType, 'Extension.InvalidExtensionState')
    assert.deepEqual(
      emulator.extensions.map(({ id }) => id),
      [first],
    )
  })

  it('answers event/next with 403 for a missing, malformed or unknown identifier', async (t) => {
    // Prepare
    const emulator = await start(t)
    await registerShutdown(emulator)
    const cases: Array<[id: string | undefined, errorType: string]> = [
      [undefined, 'Extension.MissingExtensionIdentifier'],
      ['not-a-uuid', 'Extension.InvalidExtensionIdentifier'],
      ['00000000-0000-4000-8000-000000000000', 'Extension.UnknownExtensionIdentifier'],
    ]

    for (const [id, errorType] of cases) {
      // Act
      const result = await poll(emulator, id).result

      // Assess
      assert.equal(result.status, 403)
      assert.equal(errorOf(result).errorType, errorType)
    }
  })

  it('holds event/next until shutdown releases SHUTDOWN with its reason and deadline', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const id = await registerShutdown(emulator)
    const held = await parkedPoll(emulator, id)
    const pending = track(held.result)
    const second = await poll(emulator, id).result
    assert.equal(second.status, 403)
    assert.equal(errorOf(second).errorType, 'Extension.InvalidExtensionState')
    assert.equal(pending.settled, false)
    const delivered = nextEvent<[ExtensionEventDelivery]>(emulator, 'extensionEvent')

    // Act
    const before = Date.now()
    const report = await emulator.shutdown(
      { runtime: runtime.child },
      { reason: 'timeout', phaseMs: 1000, runtimeMs: 300 },
    )
    const after = Date.now()
    const result = await held.result

    // Assess
    assert.equal(result.status, 200)
    assert.equal(result.headers['content-type'], 'application/json')
    const eventId = String(result.headers['lambda-extension-event-identifier'])
    assert.match(eventId, UUID)
    const event = json(result) as ShutdownEvent
    assert.equal(event.eventType, 'SHUTDOWN')
    assert.equal(event.shutdownReason, 'timeout')
    assert.ok(event.deadlineMs >= before + 1000 && event.deadlineMs <= after + 1000)
    const [delivery] = await delivered
    assert.deepEqual(delivery, { extensionId: id, name: 'lmi-extension', eventId, event })
    assert.equal(report.reason, 'timeout')
    assert.equal(report.extensionsRegistered, 1)
  })

  it('answers at once a poll that arrives after SHUTDOWN was released', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const id = await registerShutdown(emulator)
    await emulator.shutdown({ runtime: runtime.child }, { phaseMs: 1000 })

    // Act
    const result = await poll(emulator, id).result

    // Assess
    assert.equal(result.status, 200)
    assert.equal((json(result) as ShutdownEvent).shutdownReason, 'spindown')
  })

  it('forgets a poll whose connection closed and parks the next one', async (t) => {
    // Prepare
    const emulator = await start(t)
    const id = await registerShutdown(emulator)
    const first = await parkedPoll(emulator, id)

    // Act
    first.request.destroy()
    let second: HttpCall | undefined
    for (let attempt = 0; attempt < 100 && second === undefined; attempt += 1) {
      // The emulator learns of the closed socket asynchronously: until then it refuses (403).
      const waiting = nextEvent(emulator, 'extensionWaiting')
      const candidate = poll(emulator, id)
      const outcome = await Promise.race([candidate.result, waiting.then(() => 'parked')])
      if (outcome === 'parked') second = candidate
      else await new Promise((resolve) => setTimeout(resolve, 10))
    }

    // Assess
    assert.notEqual(second, undefined)
    await assert.rejects(first.result)
    const refused = await poll(emulator, id).result
    assert.equal(refused.status, 403)
    assert.equal(errorOf(refused).errorType, 'Extension.InvalidExtensionState')
  })

  it('records init/error and exit/error reports and answers 202', async (t) => {
    // Prepare
    const emulator = await start(t)
    const id = await registerShutdown(emulator, 'lmi-ext')
    const reported = nextEvent<[ExtensionErrorReport]>(emulator, 'extensionError')

    // Act
    const init = await call(extensionUrl(emulator, 'init/error'), {
      method: 'POST',
      headers: {
        'Lambda-Extension-Identifier': id,
        'Lambda-Extension-Function-Error-Type': 'Extension.ConfigInvalid',
      },
      body: JSON.stringify({ errorType: 'ConfigInvalid', errorMessage: 'no endpoint' }),
    }).result
    const exit = await call(extensionUrl(emulator, 'exit/error'), {
      method: 'POST',
      headers: {
        'Lambda-Extension-Identifier': id,
        'Lambda-Extension-Function-Error-Type': 'Extension.Crashed',
      },
    }).result
    const missingType = await call(extensionUrl(emulator, 'exit/error'), {
      method: 'POST',
      headers: { 'Lambda-Extension-Identifier': id },
    }).result
    const unknown = await call(extensionUrl(emulator, 'init/error'), {
      method: 'POST',
      headers: { 'Lambda-Extension-Function-Error-Type': 'Extension.Crashed' },
    }).result

    // Assess
    assert.equal(init.status, 202)
    assert.deepEqual(json(init), { status: 'OK' })
    assert.equal(exit.status, 202)
    assert.equal(missingType.status, 403)
    assert.equal(errorOf(missingType).errorType, 'Extension.MissingHeader')
    assert.equal(unknown.status, 403)
    assert.equal(errorOf(unknown).errorType, 'Extension.MissingExtensionIdentifier')
    const initReport = {
      extensionId: id,
      name: 'lmi-ext',
      kind: 'init',
      errorType: 'Extension.ConfigInvalid',
      error: { errorType: 'ConfigInvalid', errorMessage: 'no endpoint' },
    }
    assert.deepEqual(await reported, [initReport])
    assert.deepEqual(emulator.extensionErrors, [
      initReport,
      {
        extensionId: id,
        name: 'lmi-ext',
        kind: 'exit',
        errorType: 'Extension.Crashed',
        error: undefined,
      },
    ])
  })

  it('answers 404 for an unknown Extensions API path', async (t) => {
    // Prepare
    const emulator = await start(t)

    // Act
    const result = await call(extensionUrl(emulator, 'event/next'), { method: 'POST' }).result

    // Assess
    assert.equal(result.status, 404)
  })

  it('close() ends parked event/next polls and leaves no handles', async (t) => {
    // Prepare
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const baseline = process.getActiveResourcesInfo()
    const emulator = await createEmulator()
    const id = await registerShutdown(emulator)
    const held = await parkedPoll(emulator, id)

    // Act
    await emulator.close()

    // Assess
    await assert.rejects(held.result)
    await assert.rejects(emulator.shutdown({ runtime: runtime.child }), EmulatorClosedError)
    assert.equal(runtime.child.exitCode, null)
    assert.deepEqual(await leftoverResources(baseline), [])
  })
})

describe('shutdown()', { timeout: 120_000 }, () => {
  it('SIGKILLs the runtime at once, without SIGTERM, when no extension is registered', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const announced = nextEvent(emulator, 'shutdown')

    // Act
    const report = await emulator.shutdown({ runtime: runtime.child })

    // Assess
    assert.equal(report.extensionsRegistered, 0)
    assert.equal(report.reason, 'spindown')
    assert.equal(report.runtime.terminated, false)
    assert.equal(report.runtime.killed, true)
    assert.equal(report.runtime.signal, 'SIGKILL')
    assert.equal(report.runtime.code, null)
    assert.equal(report.runtime.pid, runtime.child.pid)
    assert.ok(report.runtime.exitedAfterMs !== null && report.runtime.exitedAfterMs < 5000)
    await runtime.closed
    assert.doesNotMatch(runtime.output(), /SIGTERM/)
    assert.deepEqual(report.extensions, [])
    assert.deepEqual(await announced, [report])
  })

  it('sends SIGTERM first with an extension registered and leaves a runtime that exits in time alone', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    await registerShutdown(emulator)

    // Act
    // A generous runtimeMs: the runtime exits within ms, but a loaded machine may be slow.
    const report = await emulator.shutdown(
      { runtime: runtime.child },
      { phaseMs: 5000, runtimeMs: 5000 },
    )

    // Assess
    assert.equal(report.extensionsRegistered, 1)
    assert.equal(report.runtime.terminated, true)
    assert.equal(report.runtime.killed, false)
    assert.equal(report.runtime.code, 0)
    assert.equal(report.runtime.signal, null)
    await runtime.printed('SIGTERM')
  })

  it('SIGKILLs a runtime that ignores SIGTERM once runtimeMs has passed', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, STUBBORN_RUNTIME)
    await registerShutdown(emulator)

    // Act
    const report = await emulator.shutdown(
      { runtime: runtime.child },
      { phaseMs: 1000, runtimeMs: 300 },
    )

    // Assess
    assert.equal(report.runtime.terminated, true)
    assert.equal(report.runtime.killed, true)
    assert.equal(report.runtime.signal, 'SIGKILL')
    const exitedAfterMs = report.runtime.exitedAfterMs ?? Number.NaN
    assert.ok(exitedAfterMs >= 250 && exitedAfterMs < 5000, `exited after ${exitedAfterMs} ms`)
    await runtime.printed('SIGTERM')
  })

  it('releases SHUTDOWN to an extension process only after the runtime exited', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, STUBBORN_RUNTIME)
    const registered = nextEvent(emulator, 'extensionRegistered')
    const extension = spawnExtension(t, emulator, 'exit')
    await registered
    const order: string[] = []
    runtime.child.once('exit', () => order.push('runtime exited'))
    emulator.on('extensionEvent', () => order.push('SHUTDOWN sent'))

    // Act
    const report = await emulator.shutdown(
      { runtime: runtime.child, extensions: [extension.child] },
      { reason: 'failure', phaseMs: 2000, runtimeMs: 300 },
    )

    // Assess
    assert.deepEqual(order, ['runtime exited', 'SHUTDOWN sent'])
    assert.equal(report.runtime.killed, true)
    const [extensionReport] = report.extensions
    assert.equal(extensionReport?.pid, extension.child.pid)
    assert.equal(extensionReport?.killed, false)
    assert.equal(extensionReport?.code, 0)
    assert.equal(extensionReport?.signal, null)
    assert.ok((extensionReport?.exitedAfterMs ?? Number.NaN) >= (report.runtime.exitedAfterMs ?? 0))
    await extension.closed
    const lines = extension
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string; status: number; event?: ShutdownEvent })
    assert.deepEqual(
      lines.map(({ step, status }) => [step, status]),
      [
        ['registered', 200],
        ['event', 200],
      ],
    )
    assert.equal(lines[1]?.event?.eventType, 'SHUTDOWN')
    assert.equal(lines[1]?.event?.shutdownReason, 'failure')
  })

  it('SIGKILLs an extension that ignores SHUTDOWN at the phase deadline', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const registered = nextEvent(emulator, 'extensionRegistered')
    const extension = spawnExtension(t, emulator, 'ignore')
    await registered

    // Act
    const report = await emulator.shutdown(
      { runtime: runtime.child, extensions: [extension.child] },
      { phaseMs: 1500, runtimeMs: 1200 },
    )

    // Assess
    assert.equal(report.runtime.killed, false)
    const [extensionReport] = report.extensions
    assert.equal(extensionReport?.killed, true)
    assert.equal(extensionReport?.signal, 'SIGKILL')
    const exitedAfterMs = extensionReport?.exitedAfterMs ?? Number.NaN
    assert.ok(exitedAfterMs >= 1450 && exitedAfterMs < 6000, `exited after ${exitedAfterMs} ms`)
    await extension.printed('"step":"event"')
    assert.ok(report.durationMs >= exitedAfterMs)
  })

  it('SIGKILLs extension processes at once when no extension subscribed to SHUTDOWN', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const extension = await spawnRuntime(t, STUBBORN_RUNTIME)
    const result = await register(emulator, 'no-events', '{"events":[]}')
    assert.equal(result.status, 200)

    // Act
    const report = await emulator.shutdown(
      { runtime: runtime.child, extensions: [extension.child] },
      { phaseMs: 20_000, runtimeMs: 5000 },
    )

    // Assess: killed long before the 20 s deadline
    assert.equal(report.extensionsRegistered, 1)
    assert.equal(report.runtime.terminated, true)
    assert.equal(report.runtime.killed, false)
    assert.equal(report.extensions[0]?.killed, true)
    assert.ok(report.durationMs < 10_000, `took ${report.durationMs} ms`)
  })

  it('hands out no invocation from the call on and returns the same promise when called twice', async (t) => {
    // Prepare
    const emulator = await start(t)
    const client = new RuntimeApiClient(emulator.url)
    t.after(() => client.close())
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)

    // Act
    const first = emulator.shutdown({ runtime: runtime.child })
    const second = emulator.shutdown({ runtime: runtime.child }, { reason: 'failure' })
    const pending = emulator.invoke({ n: 1 })
    pending.catch(() => {})
    const waiting = nextEvent<[number]>(emulator, 'waiting', (count) => count === 1)
    const poll = client.poll()
    await waiting
    await first

    // Assess
    assert.equal(second, first)
    const stats = emulator.stats()
    assert.equal(stats.queued, 1)
    assert.equal(stats.delivered, 0)
    assert.equal(stats.waiting, 1)
    await emulator.close()
    await assert.rejects(pending, EmulatorClosedError)
    await assert.rejects(poll.result)
  })

  it('refuses a registration once the shutdown started', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    await emulator.shutdown({ runtime: runtime.child })

    // Act
    const result = await register(emulator, 'late', '{"events":["SHUTDOWN"]}')

    // Assess
    assert.equal(result.status, 400)
    assert.equal(errorOf(result).errorType, 'Extension.RegistrationClosed')
  })

  it('reports processes that had already exited without signalling or waiting for them', async (t) => {
    // Prepare
    const emulator = await start(t)
    await registerShutdown(emulator)
    const runtime = spawnNode(t, ['-e', 'process.exit(3)'])
    const extension = spawnNode(t, ['-e', 'process.exit(0)'])
    await Promise.all([once(runtime.child, 'exit'), once(extension.child, 'exit')])

    // Act
    const report = await emulator.shutdown(
      { runtime: runtime.child, extensions: [extension.child] },
      { phaseMs: 60_000, runtimeMs: 30_000 },
    )

    // Assess
    assert.deepEqual(report.runtime, {
      pid: runtime.child.pid,
      terminated: false,
      killed: false,
      exitedAfterMs: 0,
      code: 3,
      signal: null,
    })
    assert.deepEqual(report.extensions, [
      { pid: extension.child.pid, killed: false, exitedAfterMs: 0, code: 0, signal: null },
    ])
    assert.ok(report.durationMs < 5000, `took ${report.durationMs} ms`)
  })

  it('rejects bad arguments with EmulatorArgumentError and signals nothing', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, GRACEFUL_RUNTIME)
    const child = runtime.child
    const invalid: Array<[processes: unknown, options?: unknown]> = [
      [undefined],
      [{}],
      [{ runtime: { pid: 1 } }],
      [{ runtime: child, extensions: child }],
      [{ runtime: child, extensions: [child] }],
      [{ runtime: child }, 'fast'],
      [{ runtime: child }, { reason: 'crash' }],
      [{ runtime: child }, { phaseMs: 1.5 }],
      [{ runtime: child }, { phaseMs: 0 }],
      [{ runtime: child }, { phaseMs: 120_000 }],
      [{ runtime: child }, { runtimeMs: -1 }],
      [{ runtime: child }, { phaseMs: 500, runtimeMs: 600 }],
      [{ runtime: child }, { grace: 10 }],
    ]

    for (const [processes, options] of invalid) {
      // Act / Assess
      await assert.rejects(
        // @ts-expect-error: invalid on purpose
        emulator.shutdown(processes, options),
        (error: unknown) =>
          error instanceof EmulatorArgumentError && error.code === 'LMI_EMULATOR_INVALID_ARGUMENT',
        JSON.stringify(options),
      )
    }
    assert.equal(child.exitCode, null)
    assert.doesNotMatch(runtime.output(), /SIGTERM/)
  })

  it('close() during a shutdown SIGKILLs what is left and still resolves the report', async (t) => {
    // Prepare
    const emulator = await start(t)
    const runtime = await spawnRuntime(t, STUBBORN_RUNTIME)
    await registerShutdown(emulator)
    const shutdown = emulator.shutdown(
      { runtime: runtime.child },
      { phaseMs: 60_000, runtimeMs: 30_000 },
    )
    await runtime.printed('SIGTERM')

    // Act
    await emulator.close()
    const report = await shutdown

    // Assess
    assert.equal(report.runtime.terminated, true)
    assert.equal(report.runtime.killed, true)
    assert.ok(report.durationMs < 5000)
  })
})
