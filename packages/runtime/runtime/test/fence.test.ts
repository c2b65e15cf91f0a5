import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { functionInfoFromEnv, InvocationState, invocationStorage } from '@lmi/core/internal'
import { createEmulator, type Emulator } from '@lmi/dev/emulator'
import { request as undiciRequest } from 'undici'
import { loadHandler } from '../src/handler/load.ts'
import { RuntimeLog } from '../src/log/log.ts'
import { ZOMBIE_FIRST_REPORT_MS } from '../src/scheduler/executor.ts'
import { RequestFence } from '../src/scheduler/fence.ts'
import { type Executors, LocalExecutors, Runtime } from '../src/scheduler/runtime.ts'
import { WorkerExecutors } from '../src/scheduler/workers.ts'
import { fixturesDir, json, RUNTIME_MODES, runtimePerTest } from './helpers/runtime-process.ts'

type Record_ = Record<string, unknown>
type ErrorLink = { name: string; code?: string; message: string }
type Call = { ok: true; status: number } | { ok: false; errors: ErrorLink[] }
type Report = Record<'fetch' | 'undici' | 'http', Call>

/**
 * The server the fixture's requests go to: counts every request that reaches it, and every
 * byte, so "nothing was sent" is checked on the wire and not only from the caller's side.
 */
class Sink {
  readonly server: Server
  requests: string[] = []
  bytes = 0
  readonly #sockets = new Set<Socket>()

  constructor() {
    this.server = createServer((request, response) => {
      this.requests.push(`${request.method} ${request.url}`)
      response.end('ok')
    })
    this.server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length
      })
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }
}

/** Resolves once `check` holds, polling: for state another process or thread updates. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

async function readReport(file: string): Promise<Report> {
  await until(() => existsSync(file), `the report ${file}`)
  return JSON.parse(readFileSync(file, 'utf8')) as Report
}

function assertFenced(report: Report, requestId: string, why: RegExp): void {
  const fetchCall = report.fetch
  assert.equal(fetchCall.ok, false)
  if (!fetchCall.ok) {
    // fetch wraps transport errors: TypeError('fetch failed', { cause })
    assert.equal(fetchCall.errors[0]?.name, 'TypeError')
    assert.equal(fetchCall.errors[1]?.name, 'RequestFencedError')
    assert.equal(fetchCall.errors[1]?.code, 'LMI_REQUEST_FENCED')
  }
  for (const name of ['undici', 'http'] as const) {
    const call = report[name]
    assert.equal(call.ok, false, `${name} went through`)
    if (!call.ok) {
      assert.equal(call.errors[0]?.name, 'RequestFencedError', name)
      assert.equal(call.errors[0]?.code, 'LMI_REQUEST_FENCED', name)
    }
  }
  for (const call of Object.values(report)) {
    if (call.ok) continue
    const fenced = call.errors.find((link) => link.name === 'RequestFencedError')
    assert.match(fenced?.message ?? '', new RegExp(requestId))
    assert.match(fenced?.message ?? '', why)
    assert.match(fenced?.message ?? '', /GET http:\/\/127\.0\.0\.1:\d+\/(fetch|undici|http) /)
    assert.match(fenced?.message ?? '', /LMI_FENCE_REQUESTS=0/)
    assert.doesNotMatch(fenced?.message ?? '', /s3cr3t/, 'the query string is left out')
  }
}

function assertWentThrough(report: Report): void {
  for (const [name, call] of Object.entries(report)) {
    assert.deepEqual(call, { ok: true, status: 200 }, `${name} was refused`)
  }
}

const code = (value: string) => (record: Record_) => record.code === value

let scratch: string
let sink: Sink
let reports = 0
const reportFile = () => join(scratch, `report-${++reports}.json`)

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'lmi-fence-'))
})
after(() => rmSync(scratch, { recursive: true, force: true }))
beforeEach(async () => {
  sink = new Sink()
  await sink.listen()
})
afterEach(() => sink.close())

for (const mode of RUNTIME_MODES) {
  describe(`the request fence, ${mode.name}`, () => {
    const start = runtimePerTest(mode.env)

    it('lets requests made before the deadline through', async () => {
      // Prepare
      const runtime = await start({ handler: 'fence.handler', concurrency: 2 })
      const report = reportFile()
      // Act
      const result = await runtime.emulator.invoke({ action: 'now', sink: sink.url, report })
      // Assess
      assert.equal(result.status, 'success')
      assertWentThrough(await readReport(report))
      assert.equal(sink.requests.length, 3)
      assert.equal(runtime.logs.filter(code('LMI_REQUEST_FENCED')).length, 0)
    })

    it('refuses fetch, undici and node:http requests made after the deadline, before a byte is sent', async () => {
      // Prepare
      const runtime = await start({ handler: 'fence.handler', concurrency: 2 })
      const report = reportFile()
      // Act
      const result = await runtime.emulator.invoke(
        { action: 'afterDeadline', sink: sink.url, report },
        { timeoutMs: 300 },
      )
      const outcome = await readReport(report)
      // Assess
      assert.equal(result.status, 'timeout')
      assertFenced(outcome, result.requestId, /its deadline passed \d+ ms ago/)
      assert.deepEqual(sink.requests, [], 'no late request reached the sink')
      assert.equal(sink.bytes, 0, 'not a byte of them was sent')
      // One line per invocation, not one per refused request.
      const settled = await runtime.waitForLog(code('LMI_LATE_SETTLE'))
      assert.equal(settled.requestId, result.requestId)
      const fenced = runtime.logs.filter(code('LMI_REQUEST_FENCED'))
      assert.equal(fenced.length, 1)
      assert.equal(fenced[0]?.level, 'WARN')
      assert.equal(fenced[0]?.requestId, result.requestId)
      assert.equal(fenced[0]?.method, 'GET')
      assert.match(String(fenced[0]?.url), /^http:\/\/127\.0\.0\.1:\d+\/fetch$/)
    })

    it('refuses requests made after the invocation was answered', async () => {
      // Prepare: a long timeout, so only the answer makes the invocation over.
      const runtime = await start({ handler: 'fence.handler', concurrency: 2 })
      const report = reportFile()
      // Act
      const result = await runtime.emulator.invoke(
        { action: 'afterAnswer', sink: sink.url, report },
        { timeoutMs: 30_000 },
      )
      const outcome = await readReport(report)
      // Assess
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload), { answered: true })
      assertFenced(outcome, result.requestId, /it has already been answered/)
      assert.deepEqual(sink.requests, [])
      assert.equal(sink.bytes, 0)
    })

    it('lets late requests through with LMI_FENCE_REQUESTS=0', async () => {
      // Prepare
      const runtime = await start({
        handler: 'fence.handler',
        concurrency: 2,
        env: { LMI_FENCE_REQUESTS: '0' },
      })
      const report = reportFile()
      // Act
      const result = await runtime.emulator.invoke(
        { action: 'afterDeadline', sink: sink.url, report },
        { timeoutMs: 300 },
      )
      // Assess
      assert.equal(result.status, 'timeout')
      assertWentThrough(await readReport(report))
      assert.equal(sink.requests.length, 3)
      assert.equal(runtime.logs.filter(code('LMI_REQUEST_FENCED')).length, 0)
    })

    it('reports handlers still running after their invocation ended (LMI_ZOMBIE_INVOCATIONS)', async () => {
      // Prepare
      const runtime = await start({ handler: 'fence.handler', concurrency: 2 })
      const release = join(scratch, `release-${++reports}`)
      // Act
      const result = await runtime.emulator.invoke(
        { action: 'zombie', release },
        { timeoutMs: 300 },
      )
      const zombies = await runtime.waitForLog(code('LMI_ZOMBIE_INVOCATIONS'))
      writeFileSync(release, '')
      const settled = await runtime.waitForLog(code('LMI_LATE_SETTLE'))
      // Assess
      assert.equal(result.status, 'timeout')
      assert.equal(zombies.level, 'WARN')
      assert.equal(zombies.count, 1)
      assert.deepEqual(zombies.requestIds, [result.requestId])
      // First reported ZOMBIE_FIRST_REPORT_MS after it appeared (timers never fire early).
      assert.ok(
        Number(zombies.oldestAgeMs) >= ZOMBIE_FIRST_REPORT_MS - 5,
        `oldestAgeMs ${zombies.oldestAgeMs}`,
      )
      assert.equal(settled.requestId, result.requestId)
    })
  })
}

/**
 * `Runtime.stats()` is read in this process: the runtime runs here, its handlers on this
 * thread (LocalExecutors) or in worker threads, against an emulator.
 */
describe('runtime.stats() counts late work', () => {
  const log = new RuntimeLog({ format: 'JSON', level: 'FATAL' })
  let emulator: Emulator
  let runtime: Runtime | undefined
  let running: Promise<void> | undefined
  const workerEnv = ['AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'AWS_LAMBDA_LOG_LEVEL'] as const

  beforeEach(async () => {
    emulator = await createEmulator({ maxConcurrency: 2, timeoutMs: 300 })
  })
  afterEach(async () => {
    await runtime?.stop()
    await running
    runtime = undefined
    for (const name of workerEnv) delete process.env[name]
    await emulator.close()
  })

  const modes: Array<{ name: string; executors: () => Promise<Executors> }> = [
    {
      name: 'handlers on the runtime’s thread',
      async executors() {
        return new LocalExecutors({
          runtimeApi: emulator.runtimeApi,
          handler: await loadHandler(fixturesDir, 'fence.handler'),
          functionInfo: functionInfoFromEnv({}),
          log,
          concurrency: 2,
          sequential: false,
          containFaults: false,
        })
      },
    },
    {
      name: 'handlers in worker threads, summed',
      async executors() {
        // What a worker thread reads at start: the runtime's environment.
        Object.assign(process.env, {
          AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
          LAMBDA_TASK_ROOT: fixturesDir,
          AWS_LAMBDA_LOG_LEVEL: 'FATAL',
        } satisfies Record<(typeof workerEnv)[number], string>)
        const started = await WorkerExecutors.start({
          workers: 2,
          concurrency: 2,
          handlerArg: 'fence.handler',
          log,
        })
        assert.ok('executors' in started)
        return started.executors
      },
    },
  ]

  for (const mode of modes) {
    it(`lateSettled, fencedRequests, lingering and oldestLingeringMs (${mode.name})`, async () => {
      // Prepare
      runtime = new Runtime({
        runtimeApi: emulator.runtimeApi,
        executors: await mode.executors(),
        concurrency: 2,
        functionInfo: functionInfoFromEnv({}),
        log,
      })
      running = runtime.start()
      const current = runtime
      const release = join(scratch, `release-${++reports}`)
      const report = reportFile()
      assert.deepEqual(
        {
          lingering: current.stats().lingering,
          oldestLingeringMs: current.stats().oldestLingeringMs,
          lateSettled: current.stats().lateSettled,
          fencedRequests: current.stats().fencedRequests,
        },
        { lingering: 0, oldestLingeringMs: 0, lateSettled: 0, fencedRequests: 0 },
      )
      // Act: one handler makes three requests after its deadline, one outlives it.
      const [late, zombie] = await Promise.all([
        emulator.invoke({ action: 'afterDeadline', sink: sink.url, report }),
        emulator.invoke({ action: 'zombie', release }),
      ])
      await readReport(report)
      await until(() => current.stats().fencedRequests === 3, 'fencedRequests 3')
      await until(() => current.stats().lateSettled === 1, 'lateSettled 1')
      await until(() => current.stats().lingering === 1, 'lingering 1')
      const lingeringStats = current.stats()
      writeFileSync(release, '')
      await until(() => current.stats().lateSettled === 2, 'lateSettled 2')
      // Assess
      assert.equal(late.status, 'timeout')
      assert.equal(zombie.status, 'timeout')
      assert.ok(lingeringStats.oldestLingeringMs > 0, `${lingeringStats.oldestLingeringMs}`)
      assert.equal(current.stats().lingering, 0)
      assert.equal(current.stats().oldestLingeringMs, 0)
      assert.equal(current.stats().fencedRequests, 3)
      assert.equal(current.stats().timedOut, 2)
      assert.deepEqual(sink.requests, [])
    })
  }
})

describe('RequestFence', () => {
  function endedInvocation(): InvocationState {
    const next = {
      requestId: 'fence-unit',
      deadlineMs: Date.now() - 1,
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test',
      traceId: undefined,
      clientContext: undefined,
      cognitoIdentity: undefined,
      tenantId: undefined,
    }
    return InvocationState.fromNext(next, functionInfoFromEnv({}))
  }

  function httpStatus(url: string, agent?: Agent): Promise<number | string> {
    return new Promise((resolve) => {
      const request = httpRequest(url, { agent }, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode ?? 0))
      })
      request.on('error', (error: Error) => resolve(error.name))
      request.end()
    })
  }

  async function undiciStatus(url: string): Promise<number | string> {
    try {
      const response = await undiciRequest(url)
      await response.body.dump()
      return response.statusCode
    } catch (error) {
      return (error as Error).name
    }
  }

  it('exempts the Runtime API’s origin (undici) and the streaming agent (node:http), in an invocation that is over', async () => {
    // Prepare: the sink plays the Runtime API; `other` is any other server.
    const other = new Sink()
    await other.listen()
    const runtimeAgent = new Agent({ keepAlive: true })
    const fence = new RequestFence({
      runtimeApi: sink.url.slice('http://'.length),
      log: new RuntimeLog({ format: 'JSON', level: 'FATAL' }),
    })
    fence.exempt(runtimeAgent)
    fence.install()
    try {
      // Act
      const statuses = await invocationStorage.run(endedInvocation(), async () => ({
        runtimeApiUndici: await undiciStatus(`${sink.url}/2018-06-01/runtime/invocation/next`),
        runtimeAgentHttp: await httpStatus(`${sink.url}/response`, runtimeAgent),
        sameHostOtherAgent: await httpStatus(`${sink.url}/handler`),
        otherUndici: await undiciStatus(`${other.url}/a`),
        otherHttp: await httpStatus(`${other.url}/b`),
      }))
      // Assess
      assert.deepEqual(statuses, {
        runtimeApiUndici: 200,
        runtimeAgentHttp: 200,
        sameHostOtherAgent: 'RequestFencedError',
        otherUndici: 'RequestFencedError',
        otherHttp: 'RequestFencedError',
      })
      assert.equal(fence.fenced, 3)
      assert.deepEqual(other.requests, [])
      assert.equal(other.bytes, 0)
      // Outside any invocation nothing is fenced.
      assert.equal(await undiciStatus(`${other.url}/init`), 200)
    } finally {
      fence.uninstall()
      runtimeAgent.destroy()
      await other.close()
    }
  })
})
