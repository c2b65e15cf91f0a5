import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { barrier, lambdaContext } from '@lmi/test-kit'
import middy from '@middy/core'
import {
  getInvocation,
  InvalidInvocationError,
  InvalidMiddlewareError,
  type LmiRequest,
  lmi,
  type Middleware,
  tryGetInvocation,
} from '../src/index.ts'

type Trace = string[]
type Build = (
  handler: (event: unknown, context: unknown) => unknown,
  // biome-ignore lint/suspicious/noExplicitAny: both builders
) => any

/** The same scenario through middy() and lmi(): calls, result and error must match. */
async function both(
  scenario: (build: Build, trace: Trace) => { run: () => Promise<unknown> },
): Promise<{ middy: unknown; lmi: unknown }> {
  const outcomes: Record<string, unknown> = {}
  const builders: Record<string, Build> = {
    middy: (handler) => middy(handler as never),
    lmi: (handler) => lmi(handler),
  }
  for (const [name, build] of Object.entries(builders)) {
    const trace: Trace = []
    const { run } = scenario(build, trace)
    try {
      outcomes[name] = { trace, result: await run() }
    } catch (error) {
      const { message, name: errorName, cause } = error as Error
      outcomes[name] = { trace, error: { message, errorName, cause: (cause as Error)?.message } }
    }
  }
  return outcomes as { middy: unknown; lmi: unknown }
}

function recorder(
  trace: Trace,
  name: string,
  returns: Partial<Record<'before' | 'after' | 'onError', unknown>> = {},
): Middleware {
  return {
    before: () => {
      trace.push(`${name}.before`)
      return returns.before
    },
    after: (request: LmiRequest) => {
      trace.push(`${name}.after:${JSON.stringify(request.response)}`)
      return returns.after
    },
    onError: (request: LmiRequest) => {
      trace.push(`${name}.onError:${(request.error as Error).message}`)
      return returns.onError
    },
  }
}

describe('lmi() follows @middy/core 7.9 semantics', () => {
  const context = lambdaContext('req-semantics')

  it('runs before hooks in use order, after and onError hooks in reverse', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build((event) => {
        trace.push('handler')
        return { echoed: event }
      })
        .use(recorder(trace, 'a'))
        .use([recorder(trace, 'b'), recorder(trace, 'c')])
        .before(() => void trace.push('inline.before'))
        .after(() => void trace.push('inline.after'))
      return { run: () => handler({ n: 1 }, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual((actual as { trace: Trace }).trace.slice(0, 5), [
      'a.before',
      'b.before',
      'c.before',
      'inline.before',
      'handler',
    ])
  })

  it('ends early when a before hook returns a value: no handler, no after hooks', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(() => trace.push('handler'))
        .use(recorder(trace, 'outer'))
        .use(recorder(trace, 'cache', { before: { cached: true } }))
        .use(recorder(trace, 'inner'))
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual(actual, { trace: ['outer.before', 'cache.before'], result: { cached: true } })
  })

  it('ends early with undefined when a hook sets request.earlyResponse = undefined', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(() => 'never').before((request: LmiRequest) => {
        trace.push('skip')
        request.earlyResponse = undefined
      })
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual(actual, { trace: ['skip'], result: undefined })
  })

  it('ends the after phase at the first after hook that returns', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(() => 'raw')
        .use(recorder(trace, 'outer'))
        .use(recorder(trace, 'serializer', { after: 'serialized' }))
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
  })

  it('lets the first onError hook that responds handle the error', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(() => {
        throw new Error('boom')
      })
        .use(recorder(trace, 'outer'))
        .use(recorder(trace, 'errors', { onError: { statusCode: 500 } }))
        .use(recorder(trace, 'inner'))
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual((actual as { result: unknown }).result, { statusCode: 500 })
  })

  it('rethrows the original error when no onError hook responds', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(async () => {
        throw new TypeError('unhandled')
      }).use(recorder(trace, 'logger'))
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
    assert.equal((actual as { error: { errorName: string } }).error.errorName, 'TypeError')
  })

  for (const kind of ['sync', 'async'] as const) {
    it(`takes an after hook's throw through the onError hooks once (${kind} handler)`, async () => {
      const { middy: expected, lmi: actual } = await both((build, trace) => {
        const handler = build(kind === 'sync' ? () => 'value' : async () => 'value')
          .use(recorder(trace, 'outer'))
          .use({
            after: () => {
              trace.push('inner.after')
              throw new RangeError('after failed')
            },
          })
        return { run: () => handler({}, context) }
      })
      assert.deepEqual(actual, expected)
      assert.deepEqual((actual as { trace: string[] }).trace, [
        'outer.before',
        'inner.after',
        'outer.onError:after failed',
      ])
    })
  }

  it('keeps the original error as cause when an onError hook throws a new one', async () => {
    const { middy: expected, lmi: actual } = await both((build) => {
      const handler = build(() => {
        throw new Error('original')
      }).onError(() => {
        throw new Error('from the hook')
      })
      return { run: () => handler({}, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual((actual as { error: unknown }).error, {
      message: 'from the hook',
      errorName: 'Error',
      cause: 'original',
    })
  })

  it('gives async hooks the same semantics (early response, onError, order)', async () => {
    const asyncRecorder = (trace: Trace, name: string, returns: Record<string, unknown> = {}) => ({
      before: async () => {
        trace.push(`${name}.before`)
        return returns.before
      },
      after: async (request: LmiRequest) => {
        trace.push(`${name}.after:${JSON.stringify(request.response)}`)
        return returns.after
      },
      onError: async (request: LmiRequest) => {
        trace.push(`${name}.onError:${(request.error as Error).message}`)
        return returns.onError
      },
    })
    for (const failing of [false, true]) {
      const { middy: expected, lmi: actual } = await both((build, trace) => {
        const handler = build(async () => {
          trace.push('handler')
          if (failing) throw new Error('async failure')
          return 'done'
        })
          .use(asyncRecorder(trace, 'outer'))
          .use(asyncRecorder(trace, 'errors', { onError: 'recovered' }))
          .use(asyncRecorder(trace, 'inner'))
        // Twice: the second invocation runs on lmi's all-async path.
        return { run: async () => [await handler({}, context), await handler({}, context)] }
      })
      assert.deepEqual(actual, expected)
    }
  })

  it('errors in before and after hooks go through onError too', async () => {
    for (const phase of ['before', 'after'] as const) {
      const { middy: expected, lmi: actual } = await both((build, trace) => {
        const handler = build(() => 'ok')
          .use({
            [phase]: () => {
              throw new Error(`${phase} failed`)
            },
          })
          .use(recorder(trace, 'errors', { onError: 'recovered' }))
        return { run: () => handler({}, context) }
      })
      assert.deepEqual(actual, expected)
    }
  })

  it('builds a fresh request per invocation whose internal may be reassigned', async () => {
    const { middy: expected, lmi: actual } = await both((build, trace) => {
      const handler = build(() => 'ok')
        .before((request: LmiRequest) => {
          trace.push(`seen:${JSON.stringify(Object.keys(request.internal))}`)
          request.internal = { ...request.internal, added: true }
        })
        .after((request: LmiRequest) => void trace.push(`after:${String(request.internal.added)}`))
      return { run: async () => [await handler({}, context), await handler({}, context)] }
    })
    assert.deepEqual(actual, expected)
  })

  it('replaces the handler with .handler() and defaults a missing event to {}', async () => {
    const { middy: expected, lmi: actual } = await both((build) => {
      const handler = build(() => 'first').handler?.((event: unknown) => ({ got: event }))
      return { run: () => handler(undefined, context) }
    })
    assert.deepEqual(actual, expected)
    assert.deepEqual((actual as { result: unknown }).result, { got: {} })
  })
})

describe('lmi() misuse is loud', () => {
  it('refuses a middleware with no hook, naming it', () => {
    assert.throws(() => lmi(() => 1).use({ name: 'empty' }), {
      name: 'InvalidMiddlewareError',
      code: 'LMI_INVALID_MIDDLEWARE',
      message:
        'Middleware must be an object containing at least one key among "before", "after", "onError"',
    })
    assert.throws(() => lmi(() => 1).use({ before: 'nope' } as never), InvalidMiddlewareError)
    assert.throws(() => lmi('handler' as never), InvalidMiddlewareError)
  })

  it('applies a change made after the first invocation from the next invocation on', async () => {
    const seen: string[] = []
    const handler = lmi(() => 'ok')
    await handler({}, lambdaContext('req-change-1'))
    handler.use({ before: () => void seen.push('added') })
    await handler({}, lambdaContext('req-change-2'))
    assert.deepEqual(seen, ['added'])
  })

  it('runs every invocation to its end on the chain it started with, under concurrency', async () => {
    // Invocation 1 is inside its before hooks when a second hook is added; invocation 2
    // starts after: 1 runs the old chain whole, 2 the new one.
    const seen: string[] = []
    const gate = Promise.withResolvers<void>()
    const handler = lmi((event: { n: number }) => event.n)
      .before(async (request) => {
        seen.push(`first ${(request.event as { n: number }).n}`)
        if ((request.event as { n: number }).n === 1) await gate.promise
      })
      .after(() => void seen.push('after'))
    const first = handler({ n: 1 }, lambdaContext('req-cow-1'))
    handler.before((request) => void seen.push(`second ${(request.event as { n: number }).n}`))
    handler.after(() => void seen.push('after 2'))
    const second = handler({ n: 2 }, lambdaContext('req-cow-2'))
    await new Promise((resolve) => setImmediate(resolve))
    gate.resolve()
    assert.deepEqual(await Promise.all([first, second]), [1, 2])
    const ofFirst = seen.filter((entry) => !entry.endsWith(' 2') && entry !== 'after 2')
    assert.deepEqual(
      seen.filter((entry) => entry.includes('second 1')),
      [],
    )
    assert.ok(ofFirst.includes('first 1'))
    assert.deepEqual(
      seen.filter((entry) => entry.endsWith(' 2') || entry === 'after 2'),
      ['first 2', 'second 2', 'after 2'],
    )
  })

  it('rejects a call whose context is not an object', async () => {
    const handler = lmi(() => 'ok')
    await assert.rejects(handler({}, 'context' as never), InvalidInvocationError)
  })
})

describe('lmi() binds the invocation context', () => {
  it('gives the handler and every hook the invocation, and nothing outside it', async () => {
    const seen: string[] = []
    const handler = lmi(async (_event, context) => {
      seen.push(`handler:${getInvocation().requestId}:${getInvocation().tenantId}`)
      return context.awsRequestId
    }).before(() => void seen.push(`before:${getInvocation().requestId}`))
    const result = await handler({}, lambdaContext('req-1', { tenantId: 'acme' }))
    assert.equal(result, 'req-1')
    assert.deepEqual(seen, ['before:req-1', 'handler:req-1:acme'])
    assert.equal(tryGetInvocation(), undefined)
  })

  it('keeps 100 concurrent interleaved invocations apart', async () => {
    // Every invocation reads its ids, waits until all 100 are in flight, then reads again.
    const size = 100
    const wait = barrier(size)
    const handler = lmi(async (event: { n: number }) => {
      const before = getInvocation()
      await wait()
      await new Promise((resolve) => setImmediate(resolve))
      const after = getInvocation()
      return {
        n: event.n,
        before: before.requestId,
        after: after.requestId,
        tenant: after.tenantId,
      }
    })
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) =>
        handler({ n }, lambdaContext(`req-${n}`, { tenantId: `tenant-${n}` })),
      ),
    )
    results.forEach((result, n) => {
      assert.deepEqual(result, { n, before: `req-${n}`, after: `req-${n}`, tenant: `tenant-${n}` })
    })
  })

  it('hands the handler a signal that aborts at the deadline', async () => {
    const handler = lmi(async (_event, _context, { signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      return { aborted: signal.aborted, reason: (signal.reason as Error).name }
    })
    const deadline = Date.now() + 30
    const result = await handler(
      {},
      lambdaContext('req-deadline', { getRemainingTimeInMillis: () => deadline - Date.now() }),
    )
    assert.deepEqual(result, { aborted: true, reason: 'Sandbox.Timedout' })
  })

  it('leaves no deadline timer behind once the invocation is over, even if it read its signal late', async () => {
    const timers = () =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = timers()
    const handler = lmi(async (_event, _context, options) => {
      await null
      return options.signal.aborted // read after the first await
    })
    assert.equal(await handler({}, lambdaContext('req-timer')), false)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(timers(), before)
  })
})
