import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { json, type RuntimeUnderTest, runtimePerTest } from './helpers/runtime-process.ts'

const start = runtimePerTest()

function deliveredCount(runtime: RuntimeUnderTest, count: number): Promise<void> {
  let seen = runtime.emulator.stats().delivered
  if (seen >= count) return Promise.resolve()
  return new Promise((resolve) => {
    const onDelivered = () => {
      seen++
      if (seen >= count) {
        runtime.emulator.off('delivered', onDelivered)
        resolve()
      }
    }
    runtime.emulator.on('delivered', onDelivered)
  })
}

describe('scheduling', () => {
  it('runs strictly one invocation at a time when AWS_LAMBDA_MAX_CONCURRENCY is unset', async () => {
    // Prepare: the platform would allow 8 at once; the runtime must still take one at a time.
    const runtime = await start({ handler: 'handlers.batch', emulator: { maxConcurrency: 8 } })
    // Act
    const results = await Promise.all(
      Array.from({ length: 20 }, () => runtime.emulator.invoke({ size: 1 })),
    )
    // Assess
    assert.ok(results.every((result) => result.status === 'success'))
    assert.equal(Math.max(...results.map((result) => json(result.payload).maxActive as number)), 1)
    // Classic Lambda's process-wide trace id, set per invocation as AWS's runtime does.
    for (const result of results) {
      const body = json(result.payload)
      assert.match(String(body.traceEnv), /^Root=/)
      assert.equal(body.traceEnv, body.traceId)
    }
    assert.equal(runtime.emulator.stats().peakInFlight, 1)
  })

  it('is in concurrent mode when AWS_LAMBDA_MAX_CONCURRENCY is set, even to 1: one at a time, no _X_AMZN_TRACE_ID', async () => {
    // Prepare: LMI accepts 1; AWS's runtime and InvokeStore decide the mode by the variable's
    // presence, and LMI does not support _X_AMZN_TRACE_ID.
    const runtime = await start({
      handler: 'handlers.batch',
      concurrency: 1,
      emulator: { maxConcurrency: 8 },
    })
    // Act
    const results = await Promise.all(
      Array.from({ length: 10 }, () => runtime.emulator.invoke({ size: 1 })),
    )
    // Assess
    assert.ok(results.every((result) => result.status === 'success'))
    assert.equal(runtime.emulator.stats().peakInFlight, 1)
    for (const result of results) {
      const body = json(result.payload)
      assert.match(String(body.traceId), /^Root=/)
      assert.equal(body.traceEnv, null)
    }
  })

  it('keeps exactly AWS_LAMBDA_MAX_CONCURRENCY invocations in flight, never more', async () => {
    // Prepare: the platform allows 64; the runtime is configured for 16. Invocations are held
    // in batches of 16, so a 17th slot would show up as 17 handlers running at once.
    const runtime = await start({
      handler: 'handlers.batch',
      concurrency: 16,
      emulator: { maxConcurrency: 64 },
    })
    // Act
    const results = await Promise.all(
      Array.from({ length: 160 }, () => runtime.emulator.invoke({ size: 16 })),
    )
    // Assess
    assert.ok(results.every((result) => result.status === 'success'))
    const peaks = results.map((result) => json(result.payload).maxActive as number)
    assert.equal(Math.max(...peaks), 16)
    assert.equal(runtime.emulator.stats().peakInFlight, 16)
    assert.ok(results.every((result) => json(result.payload).traceEnv === null))
  })

  it('answers each request id with its own invocation under load', async () => {
    const runtime = await start({ handler: 'handlers.echo', concurrency: 64 })
    // Act
    const results = await Promise.all(
      Array.from({ length: 600 }, (_, n) =>
        runtime.emulator.invoke({ n }, { tenantId: `tenant-${n % 7}` }),
      ),
    )
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      const body = json(result.payload)
      assert.equal(body.requestId, result.requestId)
      assert.deepEqual(body.event, { n })
      assert.equal(body.tenantId, `tenant-${n % 7}`)
      assert.equal(body.functionName, 'test-function')
    })
  })

  it('loads CommonJS handlers, and callback-style handlers on LMI with LMI_ALLOW_CALLBACK_HANDLERS=1', async () => {
    let runtime = await start({ handler: 'commonjs.handler', concurrency: 2 })
    const cjs = await runtime.emulator.invoke({})
    assert.deepEqual(json(cjs.payload), { cjs: true, requestId: cjs.requestId })
    await runtime.stop()
    runtime = await start({
      handler: 'handlers.callbackStyle',
      concurrency: 2,
      env: { LMI_ALLOW_CALLBACK_HANDLERS: '1' },
    })
    const callbacks = await Promise.all([runtime.emulator.invoke({}), runtime.emulator.invoke({})])
    for (const callback of callbacks) {
      assert.deepEqual(json(callback.payload), { viaCallback: true, requestId: callback.requestId })
    }
    await runtime.waitForLog((record) => record.code === 'LMI_CALLBACK_HANDLER_ALLOWED')
  })

  it('runs callback-style handlers in classic mode on nodejs22.x, as AWS does', async () => {
    const runtime = await start({
      handler: 'handlers.callbackStyle',
      env: { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' },
    })
    const callback = await runtime.emulator.invoke({})
    assert.deepEqual(json(callback.payload), { viaCallback: true, requestId: callback.requestId })
  })
})

describe('the lmi() chain on the runtime', () => {
  it('runs in the invocation the runtime bound, with its signal and ids', async () => {
    const runtime = await start({ handler: 'handlers.chained', concurrency: 8 })
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, n) => runtime.emulator.invoke({ n }, { tenantId: `t${n}` })),
    )
    results.forEach((result, n) => {
      assert.deepEqual(json(result.payload), {
        n,
        sameContext: true,
        sameSignal: true,
        requestId: result.requestId,
        tenantId: `t${n}`,
      })
    })
  })
})

describe('invocation store', () => {
  it('gives every interleaved invocation its own request, trace and tenant id in InvokeStore', async () => {
    const runtime = await start({ handler: 'handlers.invokeStore', concurrency: 32 })
    // Act: all 32 read the store, wait until every other one has too, then read it again.
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, n) =>
        runtime.emulator.invoke({ size: 32, delay: n % 3 }, { tenantId: `t${n}` }),
      ),
    )
    // Assess
    for (const result of results) {
      assert.equal(result.status, 'success')
      const { own, before, after } = json(result.payload) as Record<string, Record<string, unknown>>
      assert.equal(own?.requestId, result.requestId)
      assert.deepEqual(before, own)
      assert.deepEqual(after, own)
      assert.ok(typeof own?.traceId === 'string' && own.traceId.startsWith('Root='))
    }
  })
})

describe('errors', () => {
  it("reports the error's own type, message and stack, with the error-type header", async () => {
    const runtime = await start({ handler: 'handlers.fails', concurrency: 4 })
    // Act
    const [custom, named, sync, plain] = await Promise.all(
      ['custom', 'named', 'sync', 'plain'].map((kind) => runtime.emulator.invoke({ kind })),
    )
    // Assess
    assert.equal(custom?.status, 'error')
    assert.equal(custom?.error?.errorType, 'PaymentDeclinedError')
    assert.equal(custom?.error?.errorMessage, 'card declined')
    assert.equal(custom?.errorTypeHeader, 'PaymentDeclinedError')
    assert.ok(custom?.error?.stackTrace?.some((line) => line.includes('handlers.mjs')))
    // AWS's Node runtime's field too: the stack as error.stack prints it.
    const trace = custom?.error?.trace ?? []
    assert.equal(trace[0], 'PaymentDeclinedError: card declined')
    assert.deepEqual(
      trace.slice(1),
      custom?.error?.stackTrace?.map((frame) => `    ${frame}`),
    )
    // The X-Ray error cause, as AWS's runtime sends it with the post.
    const cause = JSON.parse(
      custom?.responseHeaders['lambda-runtime-function-xray-error-cause'] ?? '',
    )
    assert.equal(cause.working_directory, process.cwd())
    assert.equal(cause.exceptions[0].type, 'PaymentDeclinedError')
    assert.equal(cause.exceptions[0].message, 'card declined')
    assert.ok(cause.paths.some((path: string) => path.endsWith('fixtures/handlers.mjs')))
    assert.equal(named?.error?.errorType, 'ValidationError')
    assert.equal(sync?.error?.errorType, 'SyntaxError')
    assert.equal(plain?.error?.errorType, 'Error')
    const logged = await runtime.waitForLog((record) => record.errorType === 'PaymentDeclinedError')
    assert.equal(logged.level, 'ERROR')
    assert.equal(logged.requestId, custom?.requestId)
  })

  it('answers an oversized result with Function.ResponseSizeTooLarge and keeps serving', async () => {
    const runtime = await start({ handler: 'handlers.huge', concurrency: 2 })
    // Act
    const oversized = await runtime.emulator.invoke({ bytes: 7 * 1024 * 1024 })
    const fine = await runtime.emulator.invoke({ bytes: 10 })
    // Assess
    assert.equal(oversized.status, 'error')
    assert.equal(oversized.error?.errorType, 'Function.ResponseSizeTooLarge')
    assert.equal(fine.status, 'success')
    assert.equal(json<string>(fine.payload), 'x'.repeat(10))
  })

  it('reports a result that cannot be serialised as Runtime.SerializationError', async () => {
    const runtime = await start({ handler: 'handlers.cyclic', concurrency: 2 })
    const result = await runtime.emulator.invoke({})
    assert.equal(result.error?.errorType, 'Runtime.SerializationError')
  })

  it('answers a result that has no JSON at all (a function, a symbol) as Runtime.SerializationError', async () => {
    const runtime = await start({ handler: 'handlers.noJson', concurrency: 2 })
    // Act
    const [fn, symbol] = await Promise.all([
      runtime.emulator.invoke({ kind: 'function' }),
      runtime.emulator.invoke({ kind: 'symbol' }),
    ])
    // Assess: answered at once, not left for Lambda to time out.
    assert.equal(fn.error?.errorType, 'Runtime.SerializationError')
    assert.match(fn.error?.errorMessage ?? '', /function has no JSON form/)
    assert.equal(symbol.error?.errorType, 'Runtime.SerializationError')
  })

  it('reports an init failure to /runtime/init/error and exits 1', async () => {
    const runtime = await start({ handler: 'throws-at-init.handler', concurrency: 4 })
    // Act
    const [initError] = (await once(runtime.emulator, 'initError')) as [{ errorType: string }]
    const { code } = await runtime.exited
    // Assess
    assert.equal(initError.errorType, 'RangeError')
    assert.equal(code, 1)
  })

  it('reports a missing export as Runtime.HandlerNotFound', async () => {
    const runtime = await start({ handler: 'handlers.nope', concurrency: 4 })
    const [initError] = (await once(runtime.emulator, 'initError')) as [{ errorType: string }]
    assert.equal(initError.errorType, 'Runtime.HandlerNotFound')
    assert.equal((await runtime.exited).code, 1)
  })

  it('exits promptly when an error endpoint answers 500', async () => {
    const runtime = await start({ handler: 'handlers.fails', concurrency: 4 })
    runtime.emulator.inject({ endpoint: 'error', kind: 'status', status: 500 })
    // Act
    const pending = runtime.emulator.invoke({ kind: 'plain' })
    const { code } = await runtime.exited
    // Assess
    assert.equal(code, 1)
    await runtime.emulator.close()
    await pending.catch(() => {})
  })
})

describe('containment', () => {
  for (const throwIn of ['timer', 'rejection'] as const) {
    it(`fails only the invocation whose ${throwIn} escaped, with 64 in flight`, async () => {
      const runtime = await start({ handler: 'handlers.contain', concurrency: 64 })
      // Act: 64 wait for each other; then invocation 17 lets a fault escape its promise chain.
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, n) =>
          runtime.emulator.invoke({ size: 64, throwIn: n === 17 ? throwIn : undefined }),
        ),
      )
      // Assess
      const failed = results.filter((result) => result.status !== 'success')
      assert.equal(failed.length, 1)
      assert.equal(failed[0]?.requestId, results[17]?.requestId)
      const expectedType =
        throwIn === 'timer' ? 'Runtime.UncaughtException' : 'Runtime.UnhandledPromiseRejection'
      assert.equal(failed[0]?.error?.errorType, expectedType)
      assert.match(
        failed[0]?.error?.errorMessage ?? '',
        throwIn === 'timer' ? /TypeError/ : /RangeError/,
      )
      assert.equal(runtime.emulator.stats().peakInFlight, 64)
      // The process is alive and still serving.
      const after = await runtime.emulator.invoke({ size: 1 })
      assert.equal(after.status, 'success')
      assert.equal(runtime.child.exitCode, null)
    })
  }

  it('drains in-flight work and exits 1 on a fault no invocation owns', async () => {
    const runtime = await start({ handler: 'handlers.arm', concurrency: 4 })
    // Act: one invocation arms init-time work that then throws outside any invocation.
    const held = runtime.emulator.invoke({})
    await deliveredCount(runtime, 1)
    const arming = runtime.emulator.invoke({ arm: true })
    const [heldResult, armingResult] = await Promise.all([held, arming])
    const { code } = await runtime.exited
    // Assess
    assert.equal(heldResult.status, 'success')
    assert.equal(armingResult.status, 'success')
    assert.equal(code, 1)
    const fatal = await runtime.waitForLog((record) => record.code === 'LMI_UNATTRIBUTABLE_FAULT')
    assert.equal(fatal.level, 'FATAL')
  })
})

describe('deadlines', () => {
  it('aborts the signal at the deadline and reports the timeout', async () => {
    const runtime = await start({
      handler: 'handlers.honoursSignal',
      concurrency: 2,
      emulator: { timeoutMs: 200, timeoutGraceMs: 2000 },
    })
    // Act
    const result = await runtime.emulator.invoke({})
    // Assess
    assert.equal(result.status, 'timeout')
    assert.equal(result.timedOutBy, 'runtime')
    assert.equal(result.error?.errorType, 'Sandbox.Timedout')
    // Lambda's timeouts are whole seconds: the runtime reports the configured value rounded up.
    assert.match(result.error?.errorMessage ?? '', /Task timed out after 1\.00 seconds/)
    const aborted = await runtime.waitForLog((record) => String(record.message).includes('aborted'))
    assert.deepEqual(JSON.parse(String(aborted.message)), {
      aborted: true,
      reason: 'Sandbox.Timedout',
    })
  })

  it('frees the slot of a handler that ignores its signal and discards its late result', async () => {
    const runtime = await start({
      handler: 'handlers.ignoresSignal',
      concurrency: 1,
      emulator: { timeoutMs: 100, timeoutGraceMs: 2000 },
    })
    // Act: the first invocation sleeps past its deadline; the next must still be served.
    const late = await runtime.emulator.invoke({ sleepMs: 400 })
    const next = await runtime.emulator.invoke({ sleepMs: 0 })
    // Assess
    assert.equal(late.status, 'timeout')
    assert.equal(late.timedOutBy, 'runtime')
    assert.equal(next.status, 'success')
    const warning = await runtime.waitForLog((record) => record.code === 'LMI_LATE_SETTLE')
    assert.equal(warning.requestId, late.requestId)
  })
})

describe('shutdown', () => {
  it('on SIGTERM stops polling, finishes in-flight invocations, runs hooks and exits 0', async () => {
    const runtime = await start({ handler: 'handlers.untilSigterm', concurrency: 8 })
    // Act: 8 in flight (each ends only after SIGTERM) and 4 more queued behind them.
    const inFlight = Array.from({ length: 8 }, () => runtime.emulator.invoke({}))
    await runtime.waitForLogs((record) => record.message === 'started', 8)
    const queued = Array.from({ length: 4 }, () => runtime.emulator.invoke({}))
    runtime.child.kill('SIGTERM')
    const results = await Promise.all(inFlight)
    const { code } = await runtime.exited
    // Assess
    assert.equal(code, 0)
    for (const result of results) {
      assert.equal(result.status, 'success')
      assert.equal(json(result.payload).finishedAfterSigterm, true)
    }
    assert.equal(runtime.emulator.stats().delivered, 8)
    await runtime.waitForLog((record) => String(record.message).includes('shutdownHook'))
    await runtime.emulator.close()
    await Promise.allSettled(queued)
  })
})

describe('Runtime API faults', () => {
  it('recovers from failing, dropped and slow /next answers without losing an invocation', async () => {
    const runtime = await start({ handler: 'handlers.echo', concurrency: 4 })
    runtime.emulator.inject({ endpoint: 'next', kind: 'status', status: 500, times: 3 })
    runtime.emulator.inject({ endpoint: 'next', kind: 'drop', times: 2 })
    runtime.emulator.inject({ endpoint: 'next', kind: 'delay', ms: 50, times: 2 })
    // Act
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, n) => runtime.emulator.invoke({ n })),
    )
    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(json(result.payload).event, { n })
    })
    await runtime.waitForLog((record) => record.code === 'LMI_NEXT_RETRY')
  })

  it('retries a response whose connection was dropped', async () => {
    const runtime = await start({ handler: 'handlers.echo', concurrency: 2 })
    runtime.emulator.inject({ endpoint: 'response', kind: 'drop' })
    const result = await runtime.emulator.invoke({ n: 1 })
    assert.equal(result.status, 'success')
  })
})

describe('streaming', () => {
  it('streams the body of an awslambda.streamifyResponse handler', async () => {
    const runtime = await start({ handler: 'handlers.streams', concurrency: 4 })
    const result = await runtime.emulator.invoke({ parts: ['a', 'b', 'c'] })
    assert.equal(result.status, 'success')
    assert.equal(result.streamed, true)
    assert.equal(result.payload.toString(), 'abc')
  })

  it("does not report its own streamed answer as the invocation's escaped work (detectors on)", async () => {
    // The answer's POST starts inside the invocation, at its first write, and ends after it.
    const runtime = await start({
      handler: 'handlers.streams',
      concurrency: 4,
      env: { LMI_SHARED_STATE: 'warn' },
    })
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, n) =>
        runtime.emulator.invoke({ parts: [`${n}`], http: n % 2 === 0 }),
      ),
    )
    assert.ok(results.every((result) => result.status === 'success' && result.streamed))
    await runtime.stop()
    const escaped = runtime.logs.filter((record) => String(record.code).startsWith('LMI_ESCAPED'))
    assert.deepEqual(escaped, [])
  })

  it('writes the HttpResponseStream prelude before the body', async () => {
    const runtime = await start({ handler: 'handlers.streams', concurrency: 4 })
    const result = await runtime.emulator.invoke({ parts: ['hello'], http: true })
    assert.equal(
      result.responseHeaders['content-type'],
      'application/vnd.awslambda.http-integration-response',
    )
    const text = result.payload.toString('latin1')
    const split = text.indexOf('\0'.repeat(8))
    assert.deepEqual(JSON.parse(text.slice(0, split)), {
      statusCode: 201,
      headers: { 'x-streamed': 'yes' },
    })
    assert.equal(text.slice(split + 8), 'hello')
  })

  it('sends an error after the first byte in the trailers', async () => {
    const runtime = await start({ handler: 'handlers.streams', concurrency: 4 })
    const result = await runtime.emulator.invoke({ parts: ['partial'], failAfter: true })
    assert.equal(result.status, 'error')
    assert.equal(result.error?.errorType, 'RangeError')
    assert.equal(result.payload.toString(), 'partial')
  })

  it('reports a failure before the first byte on the error endpoint', async () => {
    const runtime = await start({ handler: 'handlers.streamFailsEarly', concurrency: 4 })
    const result = await runtime.emulator.invoke({})
    assert.equal(result.status, 'error')
    assert.equal(result.error?.errorType, 'TypeError')
    assert.equal(result.streamed, false)
  })
})

describe('shared-state detectors (LMI_SHARED_STATE) on plain handlers', () => {
  it('warn: answers, and logs the finding with its code and request id', async () => {
    const runtime = await start({
      handler: 'handlers.leaksTimer',
      concurrency: 2,
      env: { LMI_SHARED_STATE: 'warn' },
    })
    const result = await runtime.emulator.invoke({ n: 1 })
    const finding = await runtime.waitForLog((record) => record.code === 'LMI_ESCAPED_TIMER')

    assert.equal(result.status, 'success')
    assert.equal(finding.level, 'WARN')
    assert.equal(finding.requestId, result.requestId)
    assert.match(String(finding.stack), /handlers\.mjs/)
  })

  it('throw: the invocation that leaves a timer behind fails with SharedStateError', async () => {
    const runtime = await start({
      handler: 'handlers.leaksTimer',
      concurrency: 2,
      env: { LMI_SHARED_STATE: 'throw' },
    })
    const result = await runtime.emulator.invoke({ n: 1 })

    assert.equal(result.status, 'error')
    assert.equal(result.error?.errorType, 'SharedStateError')
  })
})

describe('logs', () => {
  // Without the fix the runtime never exits: the timeout turns that hang into a failure.
  it('exits, rather than spinning, when whoever reads its logs is gone (EPIPE)', {
    timeout: 30_000,
  }, async () => {
    const runtime = await start({ handler: 'handlers.logs', concurrency: 2 })
    runtime.child.stdout?.destroy() // the reading end of its stdout pipe closes

    const answer = runtime.emulator.invoke({ n: 1 }).catch((error: unknown) => error) // logs into the closed pipe
    const { code } = await runtime.exited
    await runtime.stop() // the emulator gives up on the invocation its runtime took down
    await answer

    assert.equal(code, 1)
  })

  it('writes console output as JSON lines with the request and tenant ids, honouring the level', async () => {
    const runtime = await start({
      handler: 'handlers.logs',
      concurrency: 4,
      env: { AWS_LAMBDA_LOG_LEVEL: 'INFO' },
    })
    const result = await runtime.emulator.invoke({ n: 7 }, { tenantId: 'acme' })
    const line = await runtime.waitForLog((record) => record.message === 'plain log 7')
    assert.equal(line.level, 'INFO')
    assert.equal(line.requestId, result.requestId)
    assert.equal(line.tenantId, 'acme')
    const error = await runtime.waitForLog((record) => record.errorType === 'TypeError')
    assert.equal(error.level, 'ERROR')
    assert.equal(error.errorMessage, 'logged error')
    assert.ok(!runtime.logs.some((record) => record.message === 'debug line'))
  })
})
