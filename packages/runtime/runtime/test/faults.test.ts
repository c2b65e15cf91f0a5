// Issue 12, "the suite that keeps it true": the adversarial cases lmi's runtime already survives,
// run against the emulator's fault injection so they stay survived. Each case says what Lambda
// does (the platform fact) and what lmi guarantees, and checks that every invocation handed out
// got exactly one answer of the right kind.
//
// Already covered elsewhere, and not repeated here (runtime.test.ts):
// - a result over 6 MB becomes Function.ResponseSizeTooLarge before it is posted
//   ('answers an oversized result with Function.ResponseSizeTooLarge and keeps serving');
// - mixed 500 / dropped / slow /next answers at c4 ('recovers from failing, dropped and slow
//   /next answers without losing an invocation');
// - a dropped /response connection is retried ('retries a response whose connection was dropped');
// - a 500 from an error endpoint exits promptly ('exits promptly when an error endpoint answers 500').
// And in bins.test.ts: AWS_LAMBDA_MAX_CONCURRENCY=abc; in workers.test.ts: one init error for all
// worker threads.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEmulator, type Emulator, type InvokeResult } from '@lmi/dev/emulator'
import {
  json,
  pollsParked,
  type RuntimeUnderTest,
  runtimePerTest,
} from './helpers/runtime-process.ts'

const start = runtimePerTest()

const isCode = (code: string) => (record: Record<string, unknown>) => record.code === code

/**
 * Stops the runtime as Lambda would (SIGTERM: stop polling, finish what is in flight, exit 0),
 * so no answer can still be on its way, then checks the books: `handedOut` invocations
 * delivered, each ended once, nothing left in flight or queued, and the runtime never had an
 * answer refused (a second answer to one request id is refused with 400 InvalidStateTransition,
 * which the runtime logs as LMI_ANSWER_REFUSED), sent twice (LMI_ANSWER_DUPLICATE: none of these
 * faults loses an acknowledgement) or lost (LMI_ANSWER_FAILED).
 */
async function assertAnsweredOnceEach(
  runtime: RuntimeUnderTest,
  results: InvokeResult[],
  handedOut: number,
  emulator: Emulator = runtime.emulator,
): Promise<void> {
  runtime.child.kill('SIGTERM')
  assert.equal((await runtime.exited).code, 0)
  assert.equal(new Set(results.map((result) => result.requestId)).size, results.length)
  const stats = emulator.stats()
  assert.equal(stats.delivered, handedOut, 'each invocation handed out once')
  assert.equal(stats.succeeded + stats.failed + stats.timedOut, handedOut, 'each ended once')
  assert.equal(stats.inFlight, 0)
  assert.equal(stats.queued, 0)
  const troubleCodes = ['LMI_ANSWER_REFUSED', 'LMI_ANSWER_DUPLICATE', 'LMI_ANSWER_FAILED']
  const trouble = runtime.logs.filter((record) => troubleCodes.includes(record.code as string))
  assert.deepEqual(trouble, [])
}

describe('malformed events', () => {
  // Lambda: the Invoke API refuses a payload that is not JSON (400
  // InvalidRequestContentException), so the Runtime API should never hand one out. If it does,
  // AWS's runtime parses the event inside the invocation's try block: that invocation fails with
  // the parser's SyntaxError and the runtime goes on.
  // lmi: the same, per invocation: errorType SyntaxError (header too) with the parser's message,
  // the handler is never called with it, the other invocations in flight are untouched.
  it('fails only the invocations whose body is not JSON, with a SyntaxError, at c16', async () => {
    // Prepare
    const runtime = await start({ handler: 'handlers.echo', concurrency: 16 })
    const malformed = [
      Buffer.from('{"n": 5,'), // cut short
      Buffer.from('hello'), // not JSON at all
      Buffer.alloc(0), // empty
      Buffer.from([0x7b, 0xff, 0x7d]), // not UTF-8
    ]
    const isMalformed = (n: number) => n % 8 === 3
    const events = Array.from({ length: 96 }, (_, n) =>
      isMalformed(n) ? malformed[((n - 3) / 8) % malformed.length] : { n },
    )
    // Act
    const results = await Promise.all(events.map((event) => runtime.emulator.invoke(event)))
    // Assess
    results.forEach((result, n) => {
      if (isMalformed(n)) {
        assert.equal(result.status, 'error', `invocation ${n}`)
        assert.equal(result.error?.errorType, 'SyntaxError')
        assert.equal(result.errorTypeHeader, 'SyntaxError')
        assert.match(result.error?.errorMessage ?? '', /JSON/)
        return
      }
      assert.equal(result.status, 'success', `invocation ${n}`)
      const body = json(result.payload)
      assert.equal(body.requestId, result.requestId)
      assert.deepEqual(body.event, { n })
    })
    assert.equal(runtime.emulator.stats().failed, 12)
    await assertAnsweredOnceEach(runtime, results, 96)
  })
})

describe('a 413 from /response', () => {
  // Lambda: the Runtime API refuses a buffered response over 6 MB with 413, and the caller gets
  // the error Function.ResponseSizeTooLarge instead of the result.
  // lmi: whatever made the Runtime API say 413, the runtime answers that invocation with a
  // Function.ResponseSizeTooLarge error (never a crash, never a silent drop) and keeps serving.
  it('turns each 413 into one Function.ResponseSizeTooLarge answer, the others succeed, at c16', async () => {
    // Prepare
    const runtime = await start({ handler: 'handlers.echo', concurrency: 16 })
    runtime.emulator.inject({ endpoint: 'response', kind: 'status', status: 413, times: 4 })
    // Act
    const results = await Promise.all(
      Array.from({ length: 48 }, (_, n) => runtime.emulator.invoke({ n })),
    )
    // Assess
    const refused = results.filter((result) => result.status === 'error')
    assert.equal(refused.length, 4)
    for (const result of refused) {
      assert.equal(result.error?.errorType, 'Function.ResponseSizeTooLarge')
      assert.equal(result.errorTypeHeader, 'Function.ResponseSizeTooLarge')
      // A small body refused with a 413 is not said to exceed a limit it is far below.
      assert.match(
        result.error?.errorMessage ?? '',
        /^Response payload \(\d+ bytes\) refused by the Runtime API as too large \(HTTP 413\)\.$/,
      )
    }
    results.forEach((result, n) => {
      if (result.status === 'success') assert.deepEqual(json(result.payload).event, { n })
    })
    await assertAnsweredOnceEach(runtime, results, 48)
  })
})

/**
 * A TCP proxy between the runtime and the emulator that can reset every connection it carries
 * (RST both ways), the way a connection dies under a runtime that did nothing wrong.
 */
async function startResettingProxy(target: Promise<number>) {
  const pairs = new Set<[Socket, Socket]>()
  let accepted = 0
  const server = createServer({ noDelay: true }, function onRuntimeConnection(client) {
    accepted++
    client.pause()
    void target.then(function connectUpstream(port) {
      const upstream = connect({ port, host: '127.0.0.1', noDelay: true })
      const pair: [Socket, Socket] = [client, upstream]
      pairs.add(pair)
      function drop() {
        pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    runtimeApi: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Connections the runtime has opened so far. */
    get accepted(): number {
      return accepted
    },
    /**
     * Stops carrying answers on every open connection: what the emulator sends stays in its
     * socket once the kernel buffers are full. Connections opened later are not affected.
     */
    freeze(): void {
      for (const [client, upstream] of pairs) {
        upstream.unpipe(client)
        upstream.pause()
      }
    },
    /** Resets every open connection; returns how many. */
    resetAll(): number {
      const count = pairs.size
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy()
        upstream.resetAndDestroy()
      }
      pairs.clear()
      return count
    },
    async close(): Promise<void> {
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('connection resets', () => {
  // Lambda: an invocation counts as handed out once /next has sent it. The emulator defines the
  // edge: a /next cut before its answer was sent (or before the event left the emulator) hands
  // out nothing, and the invocation goes to the next poll; once the answer has left, the
  // invocation is the runtime's to answer, once.
  // lmi: a failed /next is retried (LMI_NEXT_RETRY) and the slot serves again; an invocation it
  // has read is answered exactly once, on a new connection if its own was reset.
  it('a /next cut before its answer was sent hands nothing out: each invocation is served once, at c16', async () => {
    // Prepare
    const runtime = await start({ handler: 'handlers.echo', concurrency: 16 })
    runtime.emulator.inject({ endpoint: 'next', kind: 'drop', times: 8 })
    // Act
    const results = await Promise.all(
      Array.from({ length: 96 }, (_, n) => runtime.emulator.invoke({ n })),
    )
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload).event, { n })
    })
    await runtime.waitForLog(isCode('LMI_NEXT_RETRY'))
    await assertAnsweredOnceEach(runtime, results, 96)
  })

  it('a reset after the runtime read its /next answers, then of parked polls: each invocation is answered once', async (t) => {
    // Prepare: 16 handlers hold their events until SIGUSR2.
    const target = Promise.withResolvers<number>()
    const proxy = await startResettingProxy(target.promise)
    t.after(() => proxy.close())
    const runtime = await start({
      handler: 'faults.held',
      concurrency: 16,
      env: { AWS_LAMBDA_RUNTIME_API: proxy.runtimeApi },
      emulator: { timeoutMs: 60_000 },
    })
    target.resolve(runtime.emulator.port)
    const holding = (record: Record<string, unknown>) => record.message === 'holding'
    const firstRound = Array.from({ length: 16 }, (_, n) => runtime.emulator.invoke({ n }))
    await runtime.waitForLogs(holding, 16)

    // Act 1: every connection dies while its invocation runs; then the handlers answer.
    const opened = proxy.accepted
    assert.ok(proxy.resetAll() > 0)
    runtime.child.kill('SIGUSR2')
    const first = await Promise.all(firstRound)
    assert.ok(proxy.accepted > opened, 'answered on new connections')

    // Act 2: every slot is parked in /next again; those polls die before anything is sent.
    await pollsParked(runtime.emulator, 16)
    const retriesBefore = runtime.logs.filter(isCode('LMI_NEXT_RETRY')).length
    assert.ok(proxy.resetAll() > 0)
    await runtime.waitForLogs(isCode('LMI_NEXT_RETRY'), retriesBefore + 16)
    await pollsParked(runtime.emulator, 16)
    const secondRound = Array.from({ length: 16 }, (_, n) => runtime.emulator.invoke({ n: 16 + n }))
    await runtime.waitForLogs(holding, 32)
    runtime.child.kill('SIGUSR2')
    const second = await Promise.all(secondRound)

    // Assess
    const results = [...first, ...second]
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload), { requestId: result.requestId, event: { n } })
    })
    await assertAnsweredOnceEach(runtime, results, 32)
  })

  it('a /next answer reset before any of it reached the runtime is delivered again, and answered once', async (t) => {
    // Prepare: every slot parked in /next, then the proxy stops carrying their answers. The event
    // is far larger than loopback socket buffers hold (and than Lambda allows: this is about the
    // transport), so it cannot all leave the emulator.
    const target = Promise.withResolvers<number>()
    const proxy = await startResettingProxy(target.promise)
    t.after(() => proxy.close())
    const runtime = await start({
      handler: 'faults.digest',
      concurrency: 16,
      env: { AWS_LAMBDA_RUNTIME_API: proxy.runtimeApi },
      emulator: { timeoutMs: 120_000 },
    })
    target.resolve(runtime.emulator.port)
    await pollsParked(runtime.emulator, 16)
    proxy.freeze()
    const data = randomBytes(18 * 1024 * 1024).toString('base64url')
    const deliveries: string[] = []
    runtime.emulator.on('delivered', ({ requestId }) => deliveries.push(requestId))
    const firstDelivery = once(runtime.emulator, 'delivered')
    const pending = runtime.emulator.invoke({ data })
    await firstDelivery

    // Act
    proxy.resetAll()
    const result = await pending

    // Assess
    assert.equal(result.status, 'success')
    assert.deepEqual(json(result.payload), {
      requestId: result.requestId,
      length: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    })
    assert.deepEqual(deliveries, [result.requestId, result.requestId], 'delivered twice')
    await assertAnsweredOnceEach(runtime, [result], 1)
  })
})

describe('a slow /next', () => {
  // Lambda: /next is a long poll that may legitimately take minutes (AWS: never put a timeout on
  // it); in LMI each of the runtime's concurrent polls is answered independently.
  // lmi: one slot stuck in a slow /next neither times it out nor holds up the others: the other
  // 15 slots keep serving at full concurrency.
  it('keeps the other 15 slots serving while one /next hangs', async () => {
    // Prepare: the first /next to arrive is held for 10 minutes.
    const runtime = await start({ handler: 'handlers.batch', concurrency: 16 })
    runtime.emulator.inject({ endpoint: 'next', kind: 'delay', ms: 600_000 })
    await once(runtime.emulator, 'fault')
    await pollsParked(runtime.emulator, 15)
    // Act: batches of 15 that each wait until all 15 run at once.
    const results = await Promise.all(
      Array.from({ length: 150 }, () => runtime.emulator.invoke({ size: 15 })),
    )
    // Assess
    assert.ok(results.every((result) => result.status === 'success'))
    assert.equal(Math.max(...results.map((result) => json(result.payload).maxActive as number)), 15)
    assert.equal(runtime.emulator.stats().peakInFlight, 15)
    assert.deepEqual(runtime.logs.filter(isCode('LMI_NEXT_RETRY')), [])
    await assertAnsweredOnceEach(runtime, results, 150)
  })
})

describe('the Runtime API down for 2 s', () => {
  // Lambda: the Runtime API is the platform's own local endpoint; a runtime that cannot reach
  // it has nothing to serve and is expected to keep trying, not to exit or spin.
  // lmi: every slot retries /next with capped exponential backoff (10 ms doubling to 1 s),
  // logs LMI_NEXT_RETRY for its first 3 attempts and then every 50th only, and serves again
  // at full concurrency once the API is back on the same address.
  // The emulator needs no new fault for this: close() takes it down (refused, then a listener
  // that resets every connection stands in for a broken one), and a new emulator on the same
  // port brings it back. The two 1 s waits are the outage itself, not a way to order events.
  it('retries with backoff while refused or reset, logs a bounded number of retries, then serves', async (t) => {
    // Prepare: the runtime serves a first batch and parks all 16 polls.
    const runtime = await start({
      handler: 'handlers.batch',
      concurrency: 16,
      emulator: { timeoutMs: 60_000 },
    })
    const down = runtime.emulator
    const served = await Promise.all(Array.from({ length: 16 }, () => down.invoke({ size: 16 })))
    await pollsParked(down, 16)
    const port = down.port

    // Act 1: down. For a second nothing listens (connection refused)...
    await down.close()
    await runtime.waitForLogs(
      (record) => record.code === 'LMI_NEXT_RETRY' && record.attempt === 1,
      16,
    )
    await sleep(1000)
    // ...then for a second something listens and resets every connection.
    let connections = 0
    const refusing = createServer(function refuse(socket) {
      connections++
      socket.resetAndDestroy()
    })
    refusing.listen(port, '127.0.0.1')
    await once(refusing, 'listening')
    await sleep(1000)
    await new Promise((resolve) => refusing.close(resolve))

    // Act 2: back, same address.
    const up = await createEmulator({ port, maxConcurrency: 16, timeoutMs: 60_000 })
    t.after(() => up.close())
    await pollsParked(up, 16)
    const servedAgain = await Promise.all(Array.from({ length: 64 }, () => up.invoke({ size: 16 })))

    // Assess: backoff. After a second of failures each slot waits 640 ms to 1 s between tries,
    // so the second second sees 1 or 2 tries per slot (3 leaves room for a loaded machine;
    // retrying without backoff would be thousands).
    const retries = runtime.logs.filter(isCode('LMI_NEXT_RETRY'))
    t.diagnostic(`${connections} connections reset, ${retries.length} LMI_NEXT_RETRY lines`)
    assert.ok(connections >= 1, 'the slots kept trying while the API was down')
    assert.ok(connections <= 3 * 16, `${connections} connections in the second second`)
    assert.ok(retries.length <= 3 * 16, `${retries.length} LMI_NEXT_RETRY lines`)
    assert.ok(retries.every((record) => [1, 2, 3].includes(record.attempt as number)))
    assert.equal(retries.filter((record) => record.attempt === 1).length, 16)
    // Served before and after, at full concurrency.
    assert.ok([...served, ...servedAgain].every((result) => result.status === 'success'))
    assert.equal(up.stats().peakInFlight, 16)
    await assertAnsweredOnceEach(runtime, servedAgain, 64, up)
  })
})

describe('init failures', () => {
  // Lambda: a function that cannot initialise is reported once to /runtime/init/error with an
  // errorType that says why — Runtime.ImportModuleError (module or dependency not found),
  // Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound (export missing or not a function),
  // Runtime.MalformedHandlerName, or the type of what the module's top level threw or rejected
  // with — and the runtime exits; no invocation is ever handed to it.
  // lmi: the same types, one init error, exit code 1, not a single /next; invocations already
  // queued fail with the init error. A bad AWS_LAMBDA_MAX_CONCURRENCY or LMI_WORKERS (Lambda
  // validates the former before starting anything) is reported as InvalidConfigurationError;
  // a callback-style handler where AWS's runtime refuses one, as Runtime.CallbackHandlerDeprecated.
  let taskRoot = ''
  before(async () => {
    taskRoot = await mkdtemp(join(tmpdir(), 'lmi-init-failures-'))
    const modules: Record<string, string> = {
      // Written here, not in fixtures/: the linter must not read a file that is broken on purpose.
      'syntax-error.mjs': 'export const handler = async (event) => {\n  return { event\n}\n',
      'not-a-function.mjs': "export const handler = { not: 'a function' }\n",
      'throws.mjs': "throw new RangeError('configuration missing at init')\n",
      'rejects.mjs':
        "await Promise.reject(new TypeError('secret unavailable at init'))\nexport const handler = async () => 'unreachable'\n",
      'missing-dependency.mjs':
        "import 'lmi-package-that-does-not-exist'\nexport const handler = async () => 'unreachable'\n",
      'callback.mjs':
        'export const handler = (event, context, callback) => callback(null, event)\n',
      'async-callback.mjs': 'export const handler = async (event, context, callback) => event\n',
    }
    for (const [name, source] of Object.entries(modules)) {
      await writeFile(join(taskRoot, name), source)
    }
  })
  after(() => rm(taskRoot, { recursive: true, force: true }))

  const cases: Array<{
    what: string
    handler: string
    env?: Record<string, string>
    errorType: string
    message: RegExp
  }> = [
    {
      what: 'module not found',
      handler: 'nowhere.handler',
      errorType: 'Runtime.ImportModuleError',
      message: /Cannot find module 'nowhere'/,
    },
    {
      what: 'a dependency not found',
      handler: 'missing-dependency.handler',
      errorType: 'Runtime.ImportModuleError',
      message: /lmi-package-that-does-not-exist/,
    },
    {
      what: 'syntax error',
      handler: 'syntax-error.handler',
      errorType: 'Runtime.UserCodeSyntaxError',
      message: /SyntaxError/,
    },
    {
      what: 'malformed handler name',
      handler: 'syntax-error',
      errorType: 'Runtime.MalformedHandlerName',
      message: /syntax-error/,
    },
    {
      what: 'export missing',
      handler: 'not-a-function.nope',
      errorType: 'Runtime.HandlerNotFound',
      message: /not-a-function\.nope/,
    },
    {
      what: 'handler not a function',
      handler: 'not-a-function.handler',
      errorType: 'Runtime.HandlerNotFound',
      message: /not-a-function\.handler/,
    },
    {
      what: 'top-level throw',
      handler: 'throws.handler',
      errorType: 'RangeError',
      message: /configuration missing at init/,
    },
    {
      what: 'top-level await rejected',
      handler: 'rejects.handler',
      errorType: 'TypeError',
      message: /secret unavailable at init/,
    },
    {
      what: 'AWS_LAMBDA_MAX_CONCURRENCY=0',
      handler: 'throws.handler',
      env: { AWS_LAMBDA_MAX_CONCURRENCY: '0' },
      errorType: 'InvalidConfigurationError',
      message: /AWS_LAMBDA_MAX_CONCURRENCY must be a positive integer, got "0"/,
    },
    {
      what: 'LMI_WORKERS=-1',
      handler: 'throws.handler',
      env: { AWS_LAMBDA_MAX_CONCURRENCY: '16', LMI_WORKERS: '-1' },
      errorType: 'InvalidConfigurationError',
      message: /LMI_WORKERS must be 0 or a positive integer, got "-1"/,
    },
    {
      what: 'AWS_LAMBDA_NODEJS_WORKER_COUNT=many',
      handler: 'throws.handler',
      env: {
        AWS_LAMBDA_MAX_CONCURRENCY: '16',
        LMI_WORKERS: '',
        AWS_LAMBDA_NODEJS_WORKER_COUNT: 'many',
      },
      errorType: 'InvalidConfigurationError',
      message: /AWS_LAMBDA_NODEJS_WORKER_COUNT must be a positive integer, got "many"/,
    },
    // AWS's runtime refuses callback-style handlers on LMI, async ones declaring 3 parameters
    // included, with a message that names the Node.js runtime.
    {
      what: 'a callback handler on LMI, nodejs24.x',
      handler: 'callback.handler',
      env: { AWS_LAMBDA_MAX_CONCURRENCY: '16', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x' },
      errorType: 'Runtime.CallbackHandlerDeprecated',
      message:
        /^ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node\.js 24\..*LMI_ALLOW_CALLBACK_HANDLERS=1/,
    },
    {
      what: 'an async handler declaring a callback, on LMI, nodejs22.x',
      handler: 'async-callback.handler',
      env: { AWS_LAMBDA_MAX_CONCURRENCY: '16', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' },
      errorType: 'Runtime.CallbackHandlerDeprecated',
      message:
        /^ERROR: AWS Lambda does not support callback-based function handlers when using Node\.js 22 with Managed Instances\./,
    },
  ]

  for (const { what, handler, env, errorType, message } of cases) {
    it(`${what}: ${errorType} on /runtime/init/error, exit 1, nothing polled`, async () => {
      // Prepare: at c16 unless the case is about the concurrency itself.
      const runtime = await start({
        handler,
        ...(env === undefined ? { concurrency: 16 } : {}),
        env: { LAMBDA_TASK_ROOT: taskRoot, ...env },
        emulator: { maxConcurrency: 16 },
      })
      let polls = 0
      runtime.emulator.on('waiting', () => polls++)
      runtime.emulator.on('delivered', () => polls++)
      let initErrors = 0
      runtime.emulator.on('initError', () => initErrors++)
      const reported = once(runtime.emulator, 'initError')
      // Act: an invocation is already waiting when the runtime starts.
      const queued = runtime.emulator.invoke({ queued: true })
      const [initError] = (await reported) as [{ errorType: string; errorMessage: string }]
      const { code } = await runtime.exited
      // Assess
      assert.equal(initError.errorType, errorType)
      assert.match(initError.errorMessage, message)
      assert.equal(code, 1)
      assert.equal(initErrors, 1)
      const result = await queued
      assert.equal(result.status, 'error')
      assert.equal(result.error?.errorType, errorType)
      assert.equal(result.deliveredAt, undefined)
      assert.equal(polls, 0, 'no /next was ever sent')
      assert.equal(runtime.emulator.stats().delivered, 0)
    })
  }
})

describe('6 MB events', () => {
  // Lambda: a synchronous invocation's request payload may be up to 6 MB (6,291,456 bytes);
  // the Runtime API hands it out whole in the /next body.
  // lmi: /next has no size limit of its own; a 6 MB event reaches the handler intact, with
  // other invocations in flight beside it.
  it('delivers 6 MB events intact to the handler, beside small ones, at c16', async () => {
    // Prepare: random (base64url, so JSON needs no escapes) events of exactly 6 MB.
    const limit = 6 * 1024 * 1024
    const runtime = await start({
      handler: 'faults.digest',
      concurrency: 16,
      emulator: { timeoutMs: 60_000 },
    })
    const datas = Array.from({ length: 16 }, (_, n) =>
      n % 4 === 0
        ? randomBytes(limit)
            .toString('base64url')
            .slice(0, limit - '{"data":""}'.length)
        : `small ${n}`,
    )
    const bodies = datas.map((data) => Buffer.from(JSON.stringify({ data })))
    assert.equal(bodies[0]?.length, limit)
    // Act
    const results = await Promise.all(bodies.map((body) => runtime.emulator.invoke(body)))
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload), {
        requestId: result.requestId,
        length: datas[n]?.length,
        sha256: createHash('sha256')
          .update(datas[n] ?? '')
          .digest('hex'),
      })
    })
    await assertAnsweredOnceEach(runtime, results, 16)
  })
})

describe('1000 tenants', () => {
  // Lambda: in tenant isolation mode each invocation carries its tenant in
  // Lambda-Runtime-Aws-Tenant-Id; AWS's runtime puts it on context.tenantId (not into
  // InvokeStore) and on its JSON log lines.
  // lmi: at c16, interleaved, each invocation sees its own tenant id in context.tenantId,
  // getInvocation().tenantId and InvokeStore.getTenantId(), and its log lines carry it with its
  // request id — never a neighbour's.
  it('gives each of 1000 interleaved invocations its own tenant id everywhere, logs too', async () => {
    // Prepare
    const runtime = await start({ handler: 'faults.tenants', concurrency: 16 })
    const tenantOf = (n: number) => `tenant-${n}-${(n * 7919) % 1000}`
    await pollsParked(runtime.emulator, 16)
    // Act: batches of 8 that each wait until all 8 are in flight.
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, n) =>
        runtime.emulator.invoke({ n, size: 8 }, { tenantId: tenantOf(n) }),
      ),
    )
    const line = (record: Record<string, unknown>) =>
      String(record.message).startsWith('tenant line ')
    await runtime.waitForLogs(line, 1000)
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload), {
        n,
        requestId: result.requestId,
        contextTenantId: tenantOf(n),
        invocationTenantId: tenantOf(n),
        storeTenantId: tenantOf(n),
      })
    })
    const logged = runtime.logs.filter(line)
    assert.equal(logged.length, 1000)
    for (const record of logged) {
      const n = Number(String(record.message).slice('tenant line '.length))
      assert.equal(record.tenantId, tenantOf(n))
      assert.equal(record.requestId, results[n]?.requestId)
    }
    assert.equal(runtime.emulator.stats().peakInFlight, 16)
    await assertAnsweredOnceEach(runtime, results, 1000)
  })
})
