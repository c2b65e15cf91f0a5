import assert from 'node:assert/strict'
import { get as httpGet, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import { Pool } from 'undici'
import {
  createEmulator,
  type Emulator,
  EmulatorArgumentError,
  EmulatorClosedError,
  EmulatorError,
  type EmulatorOptions,
  type Fault,
  type InvocationError,
  type InvokeResult,
  LAMBDA_RESPONSE_LIMIT_BYTES,
} from '../src/emulator/index.ts'
import { leftoverResources, nextEvent, track } from './helpers/events.ts'
import { call, json } from './helpers/http.ts'
import { errorTrailer, RuntimeApiClient } from './helpers/runtime-api.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const TRACE_ID = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$/

async function start(
  t: TestContext,
  options?: EmulatorOptions,
): Promise<{ emulator: Emulator; runtime: RuntimeApiClient }> {
  const emulator = await createEmulator(options)
  const runtime = new RuntimeApiClient(emulator.url)
  t.after(async function closeEmulator() {
    runtime.close()
    await emulator.close()
  })
  return { emulator, runtime }
}

function invokeUrl(emulator: Emulator): string {
  return `${emulator.url}/2015-03-31/functions/function/invocations`
}

function waitingFor(emulator: Emulator, count: number): Promise<[number]> {
  return nextEvent<[number]>(emulator, 'waiting', (waiting) => waiting === count)
}

describe('createEmulator', () => {
  it('listens on an ephemeral loopback port and describes the function', async (t) => {
    // Prepare / Act
    const { emulator } = await start(t, {
      functionName: 'orders',
      region: 'eu-west-1',
      accountId: '111122223333',
      maxConcurrency: 8,
      memorySizeMb: 1024,
    })

    // Assess
    assert.ok(emulator.port > 0)
    assert.equal(emulator.runtimeApi, `127.0.0.1:${emulator.port}`)
    assert.equal(emulator.url, `http://127.0.0.1:${emulator.port}`)
    assert.equal(emulator.functionArn, 'arn:aws:lambda:eu-west-1:111122223333:function:orders')
    assert.equal(emulator.env['AWS_LAMBDA_RUNTIME_API'], emulator.runtimeApi)
    assert.equal(emulator.env['AWS_LAMBDA_FUNCTION_NAME'], 'orders')
    assert.equal(emulator.env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'], '1024')
    assert.equal(emulator.env['AWS_LAMBDA_MAX_CONCURRENCY'], '8')
    assert.equal(emulator.env['AWS_REGION'], 'eu-west-1')
    assert.equal(emulator.initError, undefined)
  })

  it('rejects invalid options with a coded EmulatorArgumentError', async () => {
    // Prepare
    const invalid: unknown[] = [
      { maxConcurrency: 0 },
      { maxConcurrency: 1.5 },
      { timeoutMs: -1 },
      { timeoutGraceMs: -5 },
      { port: 70_000 },
      { functionName: 'bad\nname' },
      { colour: 'blue' },
    ]

    // Act / Assess
    for (const options of invalid) {
      await assert.rejects(
        createEmulator(options as EmulatorOptions),
        (error: unknown) =>
          error instanceof EmulatorArgumentError && error.code === 'LMI_EMULATOR_INVALID_ARGUMENT',
        JSON.stringify(options),
      )
    }
  })
})

describe('errors', () => {
  it('recognise errors branded by another copy of the module', () => {
    // Prepare
    const foreign = Object.assign(new Error('closed elsewhere'), {
      [Symbol.for('@lmi/dev/emulator/EmulatorError')]: true,
      [Symbol.for('@lmi/dev/emulator/EmulatorClosedError')]: true,
    })
    const argument = new EmulatorArgumentError('bad')

    // Act / Assess
    assert.ok(foreign instanceof EmulatorClosedError)
    assert.ok(foreign instanceof EmulatorError)
    assert.ok(argument instanceof EmulatorError)
    assert.ok(!(argument instanceof EmulatorClosedError))
    assert.deepEqual(new EmulatorClosedError().toJSON(), {
      name: 'EmulatorClosedError',
      code: 'LMI_EMULATOR_CLOSED',
      message: 'the Runtime API emulator is closed',
    })
  })
})

describe('GET /runtime/invocation/next', () => {
  it('delivers the event bytes with every Lambda header the invoke asked for', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, {
      functionName: 'orders',
      region: 'eu-west-1',
      accountId: '111122223333',
    })
    const traceId = 'Root=1-65f00000-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1'
    const clientContext = { client: { app_title: 'shop' }, custom: { cart: 'é' }, env: {} }
    const identity = { cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' }
    const before = Date.now()
    const result = emulator.invoke(
      { orderId: 42 },
      { tenantId: 'tenant-a', traceId, clientContext, identity, timeoutMs: 1234 },
    )

    // Act
    const invocation = await runtime.next()
    const after = Date.now()

    // Assess
    const { headers } = invocation
    assert.equal(invocation.body.toString(), '{"orderId":42}')
    assert.equal(headers['content-type'], 'application/json')
    assert.match(invocation.requestId, UUID)
    assert.equal(
      headers['lambda-runtime-invoked-function-arn'],
      'arn:aws:lambda:eu-west-1:111122223333:function:orders',
    )
    assert.equal(headers['lambda-runtime-trace-id'], traceId)
    assert.equal(headers['lambda-runtime-aws-tenant-id'], 'tenant-a')
    assert.deepEqual(JSON.parse(String(headers['lambda-runtime-client-context'])), clientContext)
    assert.deepEqual(JSON.parse(String(headers['lambda-runtime-cognito-identity'])), identity)
    const deadline = Number(headers['lambda-runtime-deadline-ms'])
    assert.ok(deadline >= before + 1234 && deadline <= after + 1234, `deadline ${deadline}`)
    await runtime.respond(invocation.requestId, '{}')
    assert.equal((await result).tenantId, 'tenant-a')
  })

  it('makes up a UUID request id and a sampled X-Ray trace id, and omits absent headers', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const delivered = nextEvent<[{ requestId: string; deadlineMs: number }]>(emulator, 'delivered')
    const result = emulator.invoke({})

    // Act
    const invocation = await runtime.next()

    // Assess
    assert.match(invocation.requestId, UUID)
    assert.match(String(invocation.headers['lambda-runtime-trace-id']), TRACE_ID)
    assert.equal(invocation.headers['lambda-runtime-aws-tenant-id'], undefined)
    assert.equal(invocation.headers['lambda-runtime-client-context'], undefined)
    assert.equal(invocation.headers['lambda-runtime-cognito-identity'], undefined)
    const [event] = await delivered
    assert.equal(event.requestId, invocation.requestId)
    assert.equal(event.deadlineMs, Number(invocation.headers['lambda-runtime-deadline-ms']))
    await runtime.respond(invocation.requestId, '{}')
    await result
  })

  it('delivers queued invocations first in, first out', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const results = [1, 2, 3].map((n) => emulator.invoke({ n }))

    // Act
    const seen: unknown[] = []
    for (const n of [1, 2, 3]) {
      const invocation = await runtime.next()
      seen.push(invocation.event)
      await runtime.respond(invocation.requestId, String(n))
    }

    // Assess
    assert.deepEqual(seen, [{ n: 1 }, { n: 2 }, { n: 3 }])
    const payloads = (await Promise.all(results)).map((result) => result.payload.toString())
    assert.deepEqual(payloads, ['1', '2', '3'])
  })

  it('serves parked polls first in, first out', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2 })
    const firstParked = waitingFor(emulator, 1)
    const firstPoll = runtime.poll()
    await firstParked
    const secondParked = waitingFor(emulator, 2)
    const secondPoll = runtime.poll()
    const second = track(secondPoll.result)
    await secondParked

    // Act
    const resultA = emulator.invoke({ n: 1 })
    const invocationA = await runtime.next(firstPoll)

    // Assess
    assert.deepEqual(invocationA.event, { n: 1 })
    assert.equal(second.settled, false)
    const resultB = emulator.invoke({ n: 2 })
    const invocationB = await runtime.next(secondPoll)
    assert.deepEqual(invocationB.event, { n: 2 })
    await runtime.respond(invocationA.requestId, 'a')
    await runtime.respond(invocationB.requestId, 'b')
    await Promise.all([resultA, resultB])
  })

  it('holds a poll while maxConcurrency invocations are in flight', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2 })
    const results = [1, 2, 3].map((n) => emulator.invoke({ n }))
    const [a, b] = await Promise.all([runtime.next(), runtime.next()])
    assert.ok(a !== undefined && b !== undefined)
    const parked = waitingFor(emulator, 1)

    // Act
    const thirdPoll = runtime.poll()
    const third = track(thirdPoll.result)
    await parked

    // Assess: an invocation is queued, yet the poll is parked instead of answered.
    assert.equal(third.settled, false)
    assert.deepEqual(emulator.stats(), {
      queued: 1,
      inFlight: 2,
      peakInFlight: 2,
      waiting: 1,
      delivered: 2,
      succeeded: 0,
      failed: 0,
      timedOut: 0,
      refusedAnswers: 0,
    })
    await runtime.respond(a.requestId, 'a')
    const c = await runtime.next(thirdPoll)
    assert.deepEqual(c.event, { n: 3 })
    await runtime.respond(b.requestId, 'b')
    await runtime.respond(c.requestId, 'c')
    await Promise.all(results)
    assert.equal(emulator.stats().peakInFlight, 2)
    assert.equal(emulator.stats().succeeded, 3)
  })

  it('never hands an invocation to a poll whose socket closed', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const parked = waitingFor(emulator, 1)
    const doomed = runtime.poll()
    await parked
    const left = waitingFor(emulator, 0)
    doomed.request.destroy()
    await left
    const parkedAgain = waitingFor(emulator, 1)
    const survivor = runtime.poll()
    await parkedAgain

    // Act
    const result = emulator.invoke({ n: 1 })
    const invocation = await runtime.next(survivor)

    // Assess
    assert.deepEqual(invocation.event, { n: 1 })
    await assert.rejects(doomed.result)
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
    assert.equal(emulator.stats().delivered, 1)
  })

  it('requeues an invocation whose delivery never finished, for the next poll', async (t) => {
    // Prepare: a raw client that polls but never reads, so a large event cannot be flushed.
    // The function timeout (3 s by default) is not under test: copying 24 MB twice on a loaded
    // machine must not turn the invocation into a timeout.
    const { emulator, runtime } = await start(t, { timeoutMs: 120_000 })
    const rawParked = waitingFor(emulator, 1)
    const raw = connect(emulator.port, '127.0.0.1')
    t.after(() => raw.destroy())
    raw.write('GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: emulator\r\n\r\n')
    raw.pause()
    await rawParked
    const survivorParked = waitingFor(emulator, 2)
    const survivor = runtime.poll()
    await survivorParked
    // Far beyond what loopback socket buffers hold while nobody reads.
    const event = Buffer.alloc(24 * 1024 * 1024, 0x78)
    event[0] = 0x22
    event[event.length - 1] = 0x22
    const firstDelivery = nextEvent<[{ requestId: string }]>(emulator, 'delivered')
    const result = emulator.invoke(event)
    const [first] = await firstDelivery
    const redelivered = nextEvent<[{ requestId: string }]>(emulator, 'delivered')

    // Act
    raw.destroy()

    // Assess
    const [again] = await redelivered
    assert.equal(again.requestId, first.requestId)
    const invocation = await runtime.next(survivor)
    assert.equal(invocation.requestId, first.requestId)
    assert.equal(invocation.body.length, event.length)
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
    assert.equal(emulator.stats().delivered, 1)
  })

  it('resetPeak restarts the peak from the current in-flight count', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2 })
    const results = [emulator.invoke({}), emulator.invoke({})]
    const [a, b] = await Promise.all([runtime.next(), runtime.next()])
    assert.ok(a !== undefined && b !== undefined)
    await runtime.respond(a.requestId, 'a')

    // Act
    emulator.resetPeak()

    // Assess
    assert.equal(emulator.stats().peakInFlight, 1)
    await runtime.respond(b.requestId, 'b')
    await Promise.all(results)
  })
})

describe('routing', () => {
  it('answers 404 with a JSON error for anything that is not the Runtime API', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const requests = [
      { method: 'GET', path: '/nope' },
      { method: 'POST', path: '/2018-06-01/runtime/invocation/next' },
      { method: 'GET', path: '/2018-06-01/runtime/invocation/abc/response' },
      { method: 'POST', path: '/2018-06-01/runtime/invocation/abc/finish' },
      { method: 'POST', path: '/2018-06-01/runtime/invocation//response' },
    ]

    // Act
    const answers = await Promise.all(
      requests.map(
        ({ method, path }) =>
          call(`${emulator.url}${path}`, { method, agent: runtime.agent, body: '' }).result,
      ),
    )

    // Assess
    for (const answer of answers) {
      assert.equal(answer.status, 404)
      assert.equal(answer.headers['content-type'], 'application/json')
      assert.equal((json(answer) as InvocationError).errorType, 'NotFound')
    }
  })
})

describe('POST /runtime/invocation/{id}/response', () => {
  it('resolves invoke() with the buffered payload and the headers the runtime sent', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({ n: 1 })
    const invocation = await runtime.next()

    // Act
    const answer = await runtime.respond(invocation.requestId, '{"ok":true}', {
      'Content-Type': 'application/json',
      'X-Custom': 'yes',
    })

    // Assess
    assert.equal(answer.status, 202)
    assert.deepEqual(json(answer), { status: 'OK' })
    const ended = await result
    assert.equal(ended.requestId, invocation.requestId)
    assert.equal(ended.status, 'success')
    assert.equal(ended.payload.toString(), '{"ok":true}')
    assert.equal(ended.streamed, false)
    assert.equal(ended.error, undefined)
    assert.equal(ended.responseHeaders['x-custom'], 'yes')
    assert.ok(ended.deliveredAt !== undefined)
    assert.ok(ended.queuedAt <= ended.deliveredAt && ended.deliveredAt <= ended.endedAt)
    assert.equal(emulator.stats().inFlight, 0)
    assert.equal(emulator.stats().succeeded, 1)
  })

  it('answers 400 InvalidRequestID for an id it never delivered', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const queued = emulator.invoke({}, { requestId: 'queued-1' })

    // Act
    const unknown = await runtime.respond('no-such-id', '{}')
    const unknownError = await runtime.fail('no-such-id', '{}', 'Oops')
    const notDelivered = await runtime.respond('queued-1', '{}')

    // Assess
    for (const answer of [unknown, unknownError, notDelivered]) {
      assert.equal(answer.status, 400)
      assert.equal((json(answer) as InvocationError).errorType, 'InvalidRequestID')
    }
    const invocation = await runtime.next()
    assert.equal(invocation.requestId, 'queued-1')
    await runtime.respond('queued-1', '{}')
    assert.equal((await queued).status, 'success')
  })

  it('answers 400 InvalidStateTransition for an invocation that already ended', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    await runtime.respond(invocation.requestId, 'first')
    await result

    // Act
    const again = await runtime.respond(invocation.requestId, 'second')
    const error = await runtime.fail(invocation.requestId, '{}', 'Late')

    // Assess
    for (const answer of [again, error]) {
      assert.equal(answer.status, 400)
      assert.equal((json(answer) as InvocationError).errorType, 'InvalidStateTransition')
    }
    assert.equal((await result).payload.toString(), 'first')
  })

  it('accepts exactly 6 MB and refuses one byte more with 413 and Function.ResponseSizeTooLarge', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2 })
    const atLimit = emulator.invoke({ n: 1 })
    const overLimit = emulator.invoke({ n: 2 })
    const first = await runtime.next()
    const second = await runtime.next()

    // Act
    const accepted = await runtime.respond(
      first.requestId,
      Buffer.alloc(LAMBDA_RESPONSE_LIMIT_BYTES, 0x61),
    )
    const refused = await runtime.respond(
      second.requestId,
      Buffer.alloc(LAMBDA_RESPONSE_LIMIT_BYTES + 1, 0x61),
    )

    // Assess
    assert.equal(accepted.status, 202)
    assert.equal(refused.status, 413)
    assert.equal((json(refused) as InvocationError).errorType, 'RequestEntityTooLarge')
    const [ok, tooLarge] = await Promise.all([atLimit, overLimit])
    assert.equal(ok.status, 'success')
    assert.equal(ok.payload.length, LAMBDA_RESPONSE_LIMIT_BYTES)
    assert.equal(tooLarge.status, 'error')
    assert.equal(tooLarge.error?.errorType, 'Function.ResponseSizeTooLarge')
    assert.equal(tooLarge.payload.length, 0)
  })

  it('collects a streamed response chunk by chunk', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()

    // Act
    const stream = runtime.stream(invocation.requestId, { 'Content-Type': 'text/plain' })
    stream.request.write('hello ')
    stream.request.write('streamed ')
    stream.request.end('world')
    const answer = await stream.result

    // Assess
    assert.equal(answer.status, 202)
    const ended = await result
    assert.equal(ended.status, 'success')
    assert.equal(ended.streamed, true)
    assert.equal(ended.payload.toString(), 'hello streamed world')
    assert.equal(ended.responseHeaders['lambda-runtime-function-response-mode'], 'streaming')
  })

  it('ends a streamed response with the error in its trailers, keeping the bytes sent', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    const error = {
      errorType: 'StreamError',
      errorMessage: 'broke mid-stream',
      stackTrace: ['at x'],
    }

    // Act
    const stream = runtime.stream(invocation.requestId)
    stream.request.write('partial')
    stream.request.addTrailers({
      'Lambda-Runtime-Function-Error-Type': 'StreamError',
      'Lambda-Runtime-Function-Error-Body': errorTrailer(error),
    })
    stream.request.end()
    const answer = await stream.result

    // Assess
    assert.equal(answer.status, 202)
    const ended = await result
    assert.equal(ended.status, 'error')
    assert.equal(ended.streamed, true)
    assert.equal(ended.payload.toString(), 'partial')
    assert.deepEqual(ended.error, error)
    assert.equal(ended.errorTypeHeader, 'StreamError')
  })
})

describe('POST /runtime/invocation/{id}/error', () => {
  it('ends the invocation as an error with the body and the error type header', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    const error = {
      errorType: 'OrderNotFound',
      errorMessage: 'no order 42',
      stackTrace: ['at handler (index.js:1:1)'],
    }

    // Act
    const answer = await runtime.fail(invocation.requestId, JSON.stringify(error), 'OrderNotFound')

    // Assess
    assert.equal(answer.status, 202)
    const ended = await result
    assert.equal(ended.status, 'error')
    assert.deepEqual(ended.error, error)
    assert.equal(ended.errorTypeHeader, 'OrderNotFound')
    assert.equal(ended.payload.length, 0)
    assert.equal(ended.timedOutBy, undefined)
    assert.equal(emulator.stats().failed, 1)
  })

  it('keeps the header error type and the raw text when the body is not JSON', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()

    // Act
    await runtime.fail(invocation.requestId, 'Segmentation fault', 'Runtime.ExitError')

    // Assess
    assert.deepEqual((await result).error, {
      errorType: 'Runtime.ExitError',
      errorMessage: 'Segmentation fault',
    })
  })

  it('reports a Sandbox.Timedout error from the runtime as a timeout by the runtime', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    const error = {
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 3.00 seconds',
    }

    // Act
    await runtime.fail(invocation.requestId, JSON.stringify(error), 'Sandbox.Timedout')

    // Assess
    const ended = await result
    assert.equal(ended.status, 'timeout')
    assert.equal(ended.timedOutBy, 'runtime')
    assert.deepEqual(ended.error, error)
    assert.equal(emulator.stats().timedOut, 1)
  })
})

describe('deadlines', () => {
  it('times out an unanswered invocation and frees its slot for the next one', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { timeoutMs: 50, timeoutGraceMs: 10 })
    const ended = nextEvent<[InvokeResult]>(emulator, 'ended')
    const slow = emulator.invoke({ n: 1 })
    const following = emulator.invoke({ n: 2 })
    const invocation = await runtime.next()

    // Act
    const [timedOut] = await ended

    // Assess
    assert.equal(await slow, timedOut)
    assert.equal(timedOut.status, 'timeout')
    assert.equal(timedOut.timedOutBy, 'emulator')
    assert.deepEqual(timedOut.error, {
      errorType: 'Sandbox.Timedout',
      errorMessage: `RequestId: ${invocation.requestId} Error: Task timed out after 0.05 seconds`,
    })
    assert.equal(emulator.stats().inFlight, 0)
    assert.equal(emulator.stats().timedOut, 1)
    const late = await runtime.respond(invocation.requestId, 'late')
    assert.equal(late.status, 400)
    assert.equal((json(late) as InvocationError).errorType, 'InvalidStateTransition')
    const next = await runtime.next()
    assert.deepEqual(next.event, { n: 2 })
    await runtime.respond(next.requestId, 'in time')
    assert.equal((await following).status, 'success')
  })
})

describe('POST /runtime/init/error', () => {
  it('fails queued and later invocations with the init error', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const queued = [emulator.invoke({ n: 1 }), emulator.invoke({ n: 2 })]
    const reported = nextEvent<[InvocationError]>(emulator, 'initError')
    const error = {
      errorType: 'Runtime.ImportModuleError',
      errorMessage: "Cannot find module 'handler'",
      stackTrace: [],
    }

    // Act
    const answer = await runtime.initError(JSON.stringify(error), 'Runtime.ImportModuleError')

    // Assess
    assert.equal(answer.status, 202)
    assert.deepEqual((await reported)[0], error)
    assert.deepEqual(emulator.initError, error)
    for (const result of await Promise.all(queued)) {
      assert.equal(result.status, 'error')
      assert.deepEqual(result.error, error)
      assert.equal(result.deliveredAt, undefined)
    }
    const later = await emulator.invoke({ n: 3 })
    assert.equal(later.status, 'error')
    assert.deepEqual(later.error, error)
    assert.equal(emulator.stats().failed, 3)
    assert.equal(emulator.stats().queued, 0)
    const second = await runtime.initError('{}')
    assert.equal(second.status, 403)
  })
})

describe('POST /2015-03-31/functions/function/invocations (RIE)', () => {
  it('answers 200 with the payload and X-Amzn-RequestId', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const invoked = call(invokeUrl(emulator), {
      method: 'POST',
      body: '{"n":1}',
      agent: runtime.agent,
    })
    const invocation = await runtime.next()

    // Act
    await runtime.respond(invocation.requestId, '{"answer":42}')
    const answer = await invoked.result

    // Assess
    assert.deepEqual(invocation.event, { n: 1 })
    assert.equal(answer.status, 200)
    assert.equal(answer.body.toString(), '{"answer":42}')
    assert.equal(answer.headers['x-amzn-requestid'], invocation.requestId)
    assert.equal(answer.headers['x-amz-function-error'], undefined)
  })

  it('sends {} for an empty body and passes the tenant id and client context on', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const clientContext = { client: { installation_id: 'i-1' }, custom: { k: 'v' }, env: {} }
    const ended = nextEvent<[InvokeResult]>(emulator, 'ended')
    const invoked = call(invokeUrl(emulator), {
      method: 'POST',
      headers: {
        'X-Amz-Tenant-Id': 'tenant-b',
        'X-Amz-Client-Context': Buffer.from(JSON.stringify(clientContext)).toString('base64'),
      },
      agent: runtime.agent,
    })

    // Act
    const invocation = await runtime.next()
    await runtime.respond(invocation.requestId, 'null')

    // Assess
    assert.deepEqual(invocation.event, {})
    assert.equal(invocation.headers['lambda-runtime-aws-tenant-id'], 'tenant-b')
    assert.deepEqual(
      JSON.parse(String(invocation.headers['lambda-runtime-client-context'])),
      clientContext,
    )
    assert.equal((await invoked.result).status, 200)
    assert.equal((await ended)[0].tenantId, 'tenant-b')
  })

  it('marks function errors and timeouts with X-Amz-Function-Error', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2, timeoutMs: 50 })
    const failing = call(invokeUrl(emulator), {
      method: 'POST',
      body: '{"n":1}',
      agent: runtime.agent,
    })
    const first = await runtime.next()
    const hanging = call(invokeUrl(emulator), {
      method: 'POST',
      body: '{"n":2}',
      agent: runtime.agent,
    })
    await runtime.next()
    const error = { errorType: 'Boom', errorMessage: 'it broke', stackTrace: [] }

    // Act
    await runtime.fail(first.requestId, JSON.stringify(error), 'Boom')
    const [failed, timedOut] = await Promise.all([failing.result, hanging.result])

    // Assess
    assert.equal(failed.status, 200)
    assert.equal(failed.headers['x-amz-function-error'], 'Unhandled')
    assert.deepEqual(json(failed), error)
    assert.equal(timedOut.status, 200)
    assert.equal(timedOut.headers['x-amz-function-error'], 'Unhandled')
    assert.equal((json(timedOut) as InvocationError).errorType, 'Sandbox.Timedout')
  })

  it('refuses a body or client context that is not JSON with 400 and queues nothing', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)

    // Act
    const badBody = await call(invokeUrl(emulator), {
      method: 'POST',
      body: '{not json',
      agent: runtime.agent,
    }).result
    const badContext = await call(invokeUrl(emulator), {
      method: 'POST',
      headers: { 'X-Amz-Client-Context': Buffer.from('nope').toString('base64') },
      body: '{}',
      agent: runtime.agent,
    }).result

    // Assess
    for (const answer of [badBody, badContext]) {
      assert.equal(answer.status, 400)
      assert.equal((json(answer) as InvocationError).errorType, 'InvalidRequestContentException')
    }
    assert.equal(emulator.stats().queued, 0)
    assert.equal(emulator.stats().delivered, 0)
  })

  it('pipes a streamed response to the caller as the chunks arrive', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const firstChunk = Promise.withResolvers<Buffer>()
    const invoked = call(invokeUrl(emulator), {
      method: 'POST',
      body: '{}',
      agent: runtime.agent,
      onChunk: (chunk) => firstChunk.resolve(chunk),
    })
    const invocation = await runtime.next()
    const stream = runtime.stream(invocation.requestId, { 'Content-Type': 'text/event-stream' })

    // Act
    stream.request.write('data: one\n\n')
    const seen = await firstChunk.promise
    stream.request.end('data: two\n\n')

    // Assess: the caller saw the first chunk while the runtime's stream was still open.
    assert.equal(seen.toString(), 'data: one\n\n')
    assert.equal((await stream.result).status, 202)
    const answer = await invoked.result
    assert.equal(answer.status, 200)
    assert.equal(answer.headers['content-type'], 'text/event-stream')
    assert.equal(answer.headers['x-amzn-requestid'], invocation.requestId)
    assert.equal(answer.body.toString(), 'data: one\n\ndata: two\n\n')
    assert.equal(answer.trailers['x-amz-function-error'], undefined)
  })

  it('reports an error after streamed bytes in the X-Amz-Function-Error trailer', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const invoked = call(invokeUrl(emulator), { method: 'POST', body: '{}', agent: runtime.agent })
    const invocation = await runtime.next()

    // Act
    const stream = runtime.stream(invocation.requestId)
    stream.request.write('partial')
    stream.request.addTrailers({
      'Lambda-Runtime-Function-Error-Type': 'StreamError',
      'Lambda-Runtime-Function-Error-Body': errorTrailer({
        errorType: 'StreamError',
        errorMessage: 'x',
      }),
    })
    stream.request.end()
    const answer = await invoked.result

    // Assess
    assert.equal(answer.status, 200)
    assert.equal(answer.body.toString(), 'partial')
    assert.equal(answer.trailers['x-amz-function-error'], 'Unhandled')
  })
})

describe('fault injection', () => {
  it('status on /next answers that status and delivers nothing', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'next', kind: 'status', status: 500 })
    const result = emulator.invoke({ n: 1 })

    // Act
    const failed = await runtime.poll().result

    // Assess
    assert.equal(failed.status, 500)
    assert.equal((json(failed) as InvocationError).errorType, 'InjectedFault')
    assert.equal(emulator.stats().queued, 1)
    assert.equal(emulator.stats().delivered, 0)
    const invocation = await runtime.next()
    assert.deepEqual(invocation.event, { n: 1 })
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
  })

  it('drop on /next loses nothing: the retried poll gets the invocation', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'next', kind: 'drop' })
    const result = emulator.invoke({ n: 1 })

    // Act
    await assert.rejects(runtime.poll().result)

    // Assess
    assert.equal(emulator.stats().queued, 1)
    const invocation = await runtime.next()
    assert.deepEqual(invocation.event, { n: 1 })
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
  })

  it('delay on /next holds the poll back, then serves it as usual', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'next', kind: 'delay', ms: 30 })
    const applied = nextEvent<[Fault]>(emulator, 'fault')
    const held = runtime.poll()
    const [fault] = await applied

    // Act
    const result = emulator.invoke({ n: 1 })

    // Assess: without the fault the parked poll would have taken it at once.
    assert.equal(fault.kind, 'delay')
    assert.equal(emulator.stats().queued, 1)
    assert.equal(emulator.stats().waiting, 0)
    const invocation = await runtime.next(held)
    assert.deepEqual(invocation.event, { n: 1 })
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
  })

  it('status on /response leaves the invocation in flight for a retry', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    emulator.inject({ endpoint: 'response', kind: 'status', status: 500 })

    // Act
    const failed = await runtime.respond(invocation.requestId, 'first try')

    // Assess
    assert.equal(failed.status, 500)
    assert.equal(emulator.stats().inFlight, 1)
    const retried = await runtime.respond(invocation.requestId, 'second try')
    assert.equal(retried.status, 202)
    assert.equal((await result).payload.toString(), 'second try')
  })

  it('drop on /error leaves the invocation in flight for a retry', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    emulator.inject({ endpoint: 'error', kind: 'drop' })
    const body = JSON.stringify({ errorType: 'Boom', errorMessage: 'x' })

    // Act
    await assert.rejects(runtime.fail(invocation.requestId, body, 'Boom'))

    // Assess
    assert.equal(emulator.stats().inFlight, 1)
    assert.equal((await runtime.fail(invocation.requestId, body, 'Boom')).status, 202)
    assert.equal((await result).error?.errorType, 'Boom')
  })

  it('delay on /response keeps the invocation open until the request is handled', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = track(emulator.invoke({}))
    const invocation = await runtime.next()
    emulator.inject({ endpoint: 'response', kind: 'delay', ms: 30 })
    const applied = nextEvent<[Fault]>(emulator, 'fault')

    // Act
    const answer = runtime.respond(invocation.requestId, 'eventually')
    await applied

    // Assess
    assert.equal(emulator.stats().inFlight, 1)
    assert.equal(result.settled, false)
    assert.equal((await answer).status, 202)
    assert.equal((await result.promise).payload.toString(), 'eventually')
  })

  it('status on /init/error changes nothing', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'init-error', kind: 'status', status: 500 })

    // Act
    const answer = await runtime.initError('{"errorType":"X","errorMessage":"y"}')

    // Assess
    assert.equal(answer.status, 500)
    assert.equal(emulator.initError, undefined)
  })

  it('consumes faults in order, each the given number of times', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'next', kind: 'status', status: 503, times: 2 })
    emulator.inject({ endpoint: 'next', kind: 'status', status: 429 })
    const result = emulator.invoke({})

    // Act
    const statuses: number[] = []
    for (let attempt = 0; attempt < 3; attempt += 1) {
      statuses.push((await runtime.poll().result).status)
    }
    const invocation = await runtime.next()

    // Assess
    assert.deepEqual(statuses, [503, 503, 429])
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await result).status, 'success')
  })

  it('throws EmulatorArgumentError for a malformed fault', async (t) => {
    // Prepare
    const { emulator } = await start(t)
    const malformed: unknown[] = [
      { endpoint: 'nope', kind: 'drop' },
      { endpoint: 'next', kind: 'explode' },
      { endpoint: 'next', kind: 'status', status: 42 },
      { endpoint: 'next', kind: 'drop', times: 0 },
      { endpoint: 'next', kind: 'delay', ms: -1 },
    ]

    // Act / Assess
    for (const fault of malformed) {
      assert.throws(() => emulator.inject(fault as Fault), EmulatorArgumentError)
    }
  })
})

describe('invoke()', () => {
  it('rejects bad options and a request id still in use', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const running = emulator.invoke({}, { requestId: 'dup' })

    // Act / Assess
    await assert.rejects(emulator.invoke({}, { requestId: 'dup' }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({}, { requestId: 'a\nb' }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({}, { requestId: 'x'.repeat(257) }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({}, { deadlineHeader: 'x\ny' }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({}, { tenantId: 'x\ny' }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({}, { timeoutMs: 0 }), EmulatorArgumentError)
    await assert.rejects(emulator.invoke({ big: 1n }), EmulatorArgumentError)
    const invocation = await runtime.next()
    await runtime.respond(invocation.requestId, 'ok')
    assert.equal((await running).status, 'success')
  })

  it('sends bytes as they are and undefined as {}', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t, { maxConcurrency: 2 })
    const results = [emulator.invoke(Buffer.from('[1,2]')), emulator.invoke(undefined)]

    // Act
    const first = await runtime.next()
    const second = await runtime.next()

    // Assess
    assert.equal(first.body.toString(), '[1,2]')
    assert.equal(second.body.toString(), '{}')
    await runtime.respond(first.requestId, '1')
    await runtime.respond(second.requestId, '2')
    await Promise.all(results)
  })
})

describe('close()', () => {
  it('rejects pending invocations with EmulatorClosedError and leaves no handles', async () => {
    // Prepare
    const baseline = process.getActiveResourcesInfo()
    const emulator = await createEmulator({ timeoutMs: 60_000 })
    const runtime = new RuntimeApiClient(emulator.url)
    const delivered = emulator.invoke({ n: 1 })
    const queued = emulator.invoke({ n: 2 })
    await runtime.next()
    emulator.inject({ endpoint: 'next', kind: 'delay', ms: 60_000 })
    const applied = nextEvent(emulator, 'fault')
    const held = runtime.poll()
    await applied

    // Act
    const closing = emulator.close()

    // Assess
    assert.equal(emulator.close(), closing)
    await closing
    await assert.rejects(
      delivered,
      (error: unknown) =>
        error instanceof EmulatorClosedError && error.code === 'LMI_EMULATOR_CLOSED',
    )
    await assert.rejects(queued, EmulatorClosedError)
    await assert.rejects(held.result)
    await assert.rejects(emulator.invoke({}), EmulatorClosedError)
    runtime.close()
    assert.deepEqual(await leftoverResources(baseline), [])
  })
})

describe('under load', () => {
  it('serves 1000 invocations to 16 undici loops without exceeding maxConcurrency', async (t) => {
    // Prepare
    const { emulator } = await start(t, { maxConcurrency: 16 })
    const pool = new Pool(emulator.url, { connections: 32 })
    t.after(() => pool.destroy())
    let running = true
    async function loop(): Promise<void> {
      while (running) {
        try {
          const next = await pool.request({
            path: '/2018-06-01/runtime/invocation/next',
            method: 'GET',
          })
          const requestId = String(next.headers['lambda-runtime-aws-request-id'])
          const event = (await next.body.json()) as { n: number }
          const answer = await pool.request({
            path: `/2018-06-01/runtime/invocation/${requestId}/response`,
            method: 'POST',
            body: JSON.stringify({ n: event.n, requestId }),
          })
          await answer.body.dump()
        } catch (error) {
          if (running) throw error
        }
      }
    }
    const loops = Array.from({ length: 16 }, loop)

    // Act
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, n) => emulator.invoke({ n })),
    )
    running = false
    await emulator.close()
    await Promise.all(loops)

    // Assess
    results.forEach((result, n) => {
      assert.equal(result.status, 'success')
      assert.deepEqual(JSON.parse(result.payload.toString()), { n, requestId: result.requestId })
    })
    const stats = emulator.stats()
    assert.equal(stats.succeeded, 1000)
    assert.ok(stats.peakInFlight <= 16, `peak ${stats.peakInFlight}`)
  })
})

describe('slow-body fault and answer accounting', () => {
  it('slow-body on /next hands the invocation out with its headers and never requeues it', async (t) => {
    // Prepare: a short timeout, so the lost invocation ends soon.
    const { emulator } = await start(t, { timeoutMs: 100 })
    emulator.inject({ endpoint: 'next', kind: 'slow-body', ms: 60_000 })
    const result = emulator.invoke({ n: 1 })
    const delivered = nextEvent<[{ requestId: string }]>(emulator, 'delivered')
    // Act: read the headers, then drop the connection before the body.
    const { promise: headers, resolve } = Promise.withResolvers<IncomingMessage>()
    const request = httpGet(`${emulator.url}/2018-06-01/runtime/invocation/next`, resolve)
    request.on('error', () => {})
    const response = await headers
    const [{ requestId }] = await delivered
    request.destroy()
    const ended = await result
    // Assess
    assert.equal(response.statusCode, 200)
    assert.equal(response.headers['lambda-runtime-aws-request-id'], requestId)
    assert.equal(ended.status, 'timeout')
    assert.equal(ended.timedOutBy, 'emulator')
    assert.equal(emulator.stats().queued, 0)
    assert.equal(emulator.stats().delivered, 1)
  })

  it('slow-body sends the body after the headers, and the invocation is served', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'next', kind: 'slow-body', ms: 50 })
    const result = emulator.invoke({ n: 2 })
    // Act
    const invocation = await runtime.next()
    await runtime.respond(invocation.requestId, 'ok')
    // Assess
    assert.deepEqual(invocation.event, { n: 2 })
    assert.equal((await result).status, 'success')
  })

  it('refuses slow-body on any endpoint but next', async (t) => {
    // Prepare
    const { emulator } = await start(t)
    const fault = { endpoint: 'response', kind: 'slow-body', ms: 1 } as unknown as Fault
    // Act, Assess
    assert.throws(() => emulator.inject(fault), EmulatorArgumentError)
  })

  it('counts refused answers: a second answer to one invocation', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({ n: 3 })
    const invocation = await runtime.next()
    // Act
    await runtime.respond(invocation.requestId, 'first')
    const second = await runtime.respond(invocation.requestId, 'second')
    // Assess
    assert.equal(second.status, 400)
    assert.equal((await result).status, 'success')
    assert.equal(emulator.stats().refusedAnswers, 1)
  })
})
