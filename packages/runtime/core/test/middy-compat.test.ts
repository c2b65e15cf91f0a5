// The popular @middy/* middlewares, unchanged, through lmi() and through middy(): same events,
// same results, same logs. Events are real API Gateway captures (@lmi/test-kit's events/).
import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { Readable, Writable } from 'node:stream'
import { ReadableStream } from 'node:stream/web'
import { describe, it } from 'node:test'
import { lambdaContext, loadEvent } from '@lmi/test-kit'
import middy from '@middy/core'
import { executionModeStreamifyResponse as middyStreaming } from '@middy/core/StreamifyResponse'
import errorLogger from '@middy/error-logger'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpEventNormalizer from '@middy/http-event-normalizer'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import httpResponseSerializer from '@middy/http-response-serializer'
import inputOutputLogger from '@middy/input-output-logger'
import validator from '@middy/validator'
import { transpileSchema } from '@middy/validator/transpile'
import {
  executionModeStreamifyResponse,
  HttpResponseStream,
  type LambdaContext,
  lmi,
  type Middleware,
  streamifyResponse,
} from '../src/index.ts'

function httpApiEvent(body: string | undefined, headers: Record<string, string> = {}) {
  const event = loadEvent('apigw-http-jwt.json')
  return {
    ...event,
    headers: { ...(event.headers as Record<string, string>), ...headers },
    body,
    isBase64Encoded: false,
  }
}

type Handler = (event: never, context: LambdaContext) => unknown
// biome-ignore lint/suspicious/noExplicitAny: both builders take any middy middleware
type Chainable = { use(middleware: any): Chainable } & ((
  event: unknown,
  context: LambdaContext,
) => Promise<unknown>)

/**
 * Builds the chain twice (fresh middleware instances each time) and runs the same event
 * through middy() and lmi(). Returns both outcomes for comparison.
 */
async function compare(
  handler: Handler,
  middlewares: () => unknown[],
  event: unknown,
): Promise<{ middy: unknown; lmi: unknown }> {
  const outcome = async (chain: Chainable) => {
    for (const middleware of middlewares()) chain = chain.use(middleware)
    try {
      return { result: await chain(structuredClone(event), lambdaContext('req-compat')) }
    } catch (error) {
      const { name, message, statusCode } = error as Error & { statusCode?: number }
      return { error: { name, message, statusCode } }
    }
  }
  return {
    middy: await outcome(middy(handler as never) as unknown as Chainable),
    lmi: await outcome(lmi(handler as never) as unknown as Chainable),
  }
}

const echo: Handler = async (event: {
  body?: unknown
  headers?: unknown
  queryStringParameters?: unknown
}) => ({
  statusCode: 200,
  body: JSON.stringify({ body: event.body, query: event.queryStringParameters ?? null }),
})

describe('middy middlewares in lmi()', () => {
  it('http-header-normalizer + http-json-body-parser parse a JSON body', async () => {
    const outcomes = await compare(
      echo,
      () => [httpHeaderNormalizer(), httpJsonBodyParser()],
      httpApiEvent('{"name":"ada","qty":2}', { 'Content-Type': 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { body: string } }).result
    assert.deepEqual(JSON.parse(result.body).body, { name: 'ada', qty: 2 })
  })

  it('http-error-handler turns a malformed body into the same 4xx response', async () => {
    const outcomes = await compare(
      echo,
      () => [httpErrorHandler({ logger: false }), httpHeaderNormalizer(), httpJsonBodyParser()],
      httpApiEvent('{"name":', { 'content-type': 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { statusCode: number } }).result
    assert.ok(result.statusCode >= 400 && result.statusCode < 500)
  })

  it('http-event-normalizer fills the missing collections of a REST API event', async () => {
    const rest = {
      ...loadEvent('apigw-rest.json'),
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
    }
    const outcomes = await compare(echo, () => [httpEventNormalizer()], rest)
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { body: string } }).result
    assert.deepEqual(JSON.parse(result.body).query, {})
  })

  it('http-cors adds the same headers', async () => {
    const outcomes = await compare(
      echo,
      () => [httpCors({ origins: ['https://app.example.com'], credentials: true })],
      httpApiEvent(undefined, { origin: 'https://app.example.com' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    const result = (outcomes.lmi as { result: { headers: Record<string, string> } }).result
    assert.equal(result.headers['Access-Control-Allow-Origin'], 'https://app.example.com')
  })

  it('http-response-serializer negotiates and serializes the same way', async () => {
    const outcomes = await compare(
      async () => ({ statusCode: 200, body: { total: 42 } }),
      () => [
        httpHeaderNormalizer(),
        httpResponseSerializer({
          serializers: [
            {
              regex: /^application\/json$/,
              serializer: ({ body }: { body?: unknown }) => JSON.stringify(body),
            },
          ],
          defaultContentType: 'application/json',
        }),
      ],
      httpApiEvent(undefined, { accept: 'application/json' }),
    )
    assert.deepEqual(outcomes.lmi, outcomes.middy)
    assert.equal((outcomes.lmi as { result: { body: string } }).result.body, '{"total":42}')
  })

  it('validator rejects an invalid event with the same error, and http-error-handler answers it', async () => {
    const eventSchema = transpileSchema({
      type: 'object',
      required: ['body'],
      properties: {
        body: { type: 'object', required: ['qty'], properties: { qty: { type: 'integer' } } },
      },
    })
    const invalid = httpApiEvent('{"qty":"many"}', { 'content-type': 'application/json' })
    const bare = await compare(
      echo,
      () => [httpHeaderNormalizer(), httpJsonBodyParser(), validator({ eventSchema })],
      invalid,
    )
    assert.deepEqual(bare.lmi, bare.middy)
    assert.equal((bare.lmi as { error: { statusCode: number } }).error.statusCode, 400)
    const handled = await compare(
      echo,
      () => [
        httpErrorHandler({ logger: false }),
        httpHeaderNormalizer(),
        httpJsonBodyParser(),
        validator({ eventSchema }),
      ],
      invalid,
    )
    assert.deepEqual(handled.lmi, handled.middy)
  })

  it('input-output-logger and error-logger log the same records', async () => {
    const logs: Record<string, unknown[]> = { middy: [], lmi: [] }
    let target: unknown[] = []
    const logger = (message: unknown) => target.push(structuredClone(message))
    const failing: Handler = async () => {
      throw new RangeError('out of stock')
    }
    for (const which of ['middy', 'lmi'] as const) {
      target = logs[which] as unknown[]
      const chain = (which === 'middy'
        ? middy(failing as never)
        : lmi(failing as never)) as unknown as Chainable
      const built = chain.use(inputOutputLogger({ logger })).use(
        errorLogger({
          logger: (request: { error: unknown }) => logger({ error: String(request.error) }),
        }),
      )
      await assert.rejects(built({ orderId: 7 }, lambdaContext('req-logs')), RangeError)
    }
    assert.deepEqual(logs.lmi, logs.middy)
    assert.ok((logs.lmi as unknown[]).length >= 2)
  })

  it('accepts middy middlewares where the types ask for an lmi Middleware', () => {
    const asLmi: Middleware[] = [
      httpCors(),
      httpErrorHandler({ logger: false }),
      httpJsonBodyParser(),
    ]
    assert.equal(asLmi.length, 3)
  })
})

// ---------------------------------------------------------------------------------------------
// @middy/core's own behaviour, through lmi() and through middy() 7.9.2 side by side.

type Builder = (handler: (...args: never[]) => unknown) => {
  before(fn: (request: never) => unknown): ReturnType<Builder>
  after(fn: (request: never) => unknown): ReturnType<Builder>
  onError(fn: (request: never) => unknown): ReturnType<Builder>
} & ((event: unknown, context: LambdaContext) => Promise<unknown>)

const BUILDERS: Record<'middy' | 'lmi' | 'current', Builder> = {
  current: () => {
    throw new Error('set BUILDERS.current first')
  },
  middy: (handler) => middy(handler as never) as unknown as ReturnType<Builder>,
  lmi: (handler) => lmi(handler as never) as unknown as ReturnType<Builder>,
}

describe('@middy/core behaviour, lmi() against middy() 7.9.2', () => {
  describe('a store entered in a hook reaches what comes after it, from the first invocation on', () => {
    // Powertools enters its store in a before hook (middy's issue #1661); the first
    // invocation in which a hook turns out to be async is where lmi used to lose it.
    const mixes: Record<
      string,
      (als: AsyncLocalStorage<string>, seen: unknown[]) => () => unknown
    > = {
      'async before, then a sync before enters': (als, seen) => () =>
        BUILDERS.current(async () => seen.push(als.getStore()))
          .before(async () => {})
          .before(() => als.enterWith('A')) as never,
      'a sync before enters, then an async before': (als, seen) => () =>
        BUILDERS.current(async () => seen.push(als.getStore()))
          .before(() => als.enterWith('A'))
          .before(async () => {}) as never,
      'an async before enters after its await': (als, seen) => () =>
        BUILDERS.current(() => seen.push(als.getStore())).before(async () => {
          await Promise.resolve()
          als.enterWith('A')
        }) as never,
      'all sync, a sync handler': (als, seen) => () =>
        BUILDERS.current(() => seen.push(als.getStore())).before(() => als.enterWith('A')) as never,
      'an async after, then a sync after enters, read by the next after': (als, seen) => () =>
        BUILDERS.current(async () => 'done')
          .after(() => {
            seen.push(als.getStore())
          })
          .after(() => als.enterWith('B'))
          .after(async () => {}) as never,
      'async before, a sync before enters, the handler throws, onError reads it':
        (als, seen) => () =>
          BUILDERS.current(async () => {
            throw new Error('boom')
          })
            .onError((request: { response?: unknown }) => {
              seen.push(als.getStore())
              request.response = 'handled'
            })
            .before(async () => {})
            .before(() => als.enterWith('C')) as never,
    }
    for (const [name, build] of Object.entries(mixes)) {
      it(name, async () => {
        const seen: Record<string, unknown[]> = { middy: [], lmi: [] }
        for (const which of ['middy', 'lmi'] as const) {
          const als = new AsyncLocalStorage<string>()
          BUILDERS.current = BUILDERS[which]
          const handler = build(als, seen[which] as unknown[])() as Chainable
          // Each call from a context of its own, as Lambda invokes: nothing entered leaks
          // from one call into the next through the test's own context.
          await als.run('outside', () => handler({}, lambdaContext('req-als-1')))
          await als.run('outside', () => handler({}, lambdaContext('req-als-2')))
        }
        assert.deepEqual(seen.lmi, seen.middy)
        assert.equal((seen.lmi as unknown[]).length, 2)
      })
    }
  })
})

describe('@middy/core edges, lmi() against middy() 7.9.2', () => {
  it('a hook that adds a hook during the first invocation: that invocation ends as it began, the next runs it', async () => {
    const runs: Record<string, unknown[]> = { middy: [], lmi: [] }
    for (const which of ['middy', 'lmi'] as const) {
      const seen = runs[which] as unknown[]
      let added = false
      const handler = BUILDERS[which](async (event: { n: number }) => event.n)
      handler
        .before(() => {
          seen.push('before')
          if (added) return
          added = true
          handler.before(() => void seen.push('added before'))
        })
        .after(() => {
          seen.push('after')
        })
      for (const n of [1, 2]) {
        try {
          seen.push({ result: await handler({ n }, lambdaContext(`req-add-${n}`)) })
        } catch (error) {
          seen.push({ error: (error as Error).name })
        }
      }
    }
    assert.deepEqual(runs.lmi, runs.middy)
    assert.deepEqual(runs.lmi, [
      'before',
      'after',
      { result: 1 },
      'before',
      'added before',
      'after',
      { result: 2 },
    ])
  })

  it(".use({}) throws middy's message with middy's cause, as lmi's typed error", () => {
    const caught = (build: () => unknown) => {
      try {
        build()
      } catch (error) {
        return error as Error & { cause?: unknown }
      }
      assert.fail('did not throw')
    }
    const fromMiddy = caught(() => middy(() => 1).use({} as never))
    const fromLmi = caught(() => lmi(() => 1).use({} as never))
    assert.equal(fromLmi.message, fromMiddy.message)
    assert.deepEqual(fromLmi.cause, fromMiddy.cause)
    assert.equal(fromLmi.name, 'InvalidMiddlewareError')
    assert.equal((fromLmi as Error & { code?: string }).code, 'LMI_INVALID_MIDDLEWARE')
    // Falsy hooks count as absent in both.
    assert.equal(
      caught(() => lmi(() => 1).use({ before: null } as never)).message,
      fromMiddy.message,
    )
    assert.doesNotThrow(() => lmi(() => 1).use({ before: null, after: () => {} } as never))
    assert.doesNotThrow(() => middy(() => 1).use({ before: null, after: () => {} } as never))
  })
})

describe("middy's plugin argument, lmi() against middy() 7.9.2", () => {
  type Trace = unknown[]
  /** Every plugin hook, recording its name and arguments (a request as its event). */
  function recorder(trace: Trace, extra: Record<string, unknown> = {}) {
    const at = (name: string) => (arg?: unknown) => {
      trace.push(
        arg !== null && typeof arg === 'object' && 'event' in arg
          ? [name, (arg as { event: unknown }).event]
          : arg === undefined
            ? [name]
            : [name, arg],
      )
    }
    return {
      beforePrefetch: at('beforePrefetch'),
      requestStart: at('requestStart'),
      beforeMiddleware: at('beforeMiddleware'),
      afterMiddleware: at('afterMiddleware'),
      beforeHandler: at('beforeHandler'),
      afterHandler: at('afterHandler'),
      requestEnd: at('requestEnd'),
      ...extra,
    }
  }

  /** The same chain through both, with named hooks (sync and async) and the given plugin. */
  async function both(
    handler: (event: { n: number }, context: unknown, options: { signal: AbortSignal }) => unknown,
    plugin: (trace: Trace) => Record<string, unknown>,
    events: Array<{ n: number }>,
    contextFor: (n: number) => LambdaContext = (n) => lambdaContext(`req-plugin-${n}`),
  ): Promise<Record<'middy' | 'lmi', Trace>> {
    const traces: Record<'middy' | 'lmi', Trace> = { middy: [], lmi: [] }
    for (const which of ['middy', 'lmi'] as const) {
      const trace = traces[which]
      const chain = (which === 'middy'
        ? middy(handler as never, plugin(trace) as never)
        : lmi(handler as never, plugin(trace) as never)) as unknown as Chainable
      const named = {
        before: async function parse(request: { event: { n: number } }) {
          trace.push(['hook parse', request.event.n])
        },
        after: function shape(request: { response: unknown }) {
          trace.push(['hook shape', request.response])
        },
        onError: function recover(request: { error: Error; response: unknown }) {
          trace.push(['hook recover', request.error.message])
          if (request.error.message === 'recoverable') request.response = 'recovered'
        },
      }
      const built = chain.use(named)
      for (const event of events) {
        try {
          trace.push({ result: await built(event, contextFor(event.n)) })
        } catch (error) {
          const { name, message, cause } = error as Error
          trace.push({
            error: { name, message, cause: cause instanceof Error ? cause.message : cause },
          })
        }
      }
    }
    return traces
  }

  it('calls every hook in the same order with the same arguments: success, handled and unhandled errors', async () => {
    const traces = await both(
      async (event) => {
        if (event.n === 2) throw new Error('recoverable')
        if (event.n === 3) throw new Error('fatal')
        return `ok ${event.n}`
      },
      (trace) => recorder(trace),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    )
    assert.deepEqual(traces.lmi, traces.middy)
    assert.deepEqual((traces.lmi as unknown[]).slice(0, 10), [
      ['beforePrefetch'],
      ['requestStart', { n: 1 }],
      ['beforeMiddleware', 'parse'],
      ['hook parse', 1],
      ['afterMiddleware', 'parse'],
      ['beforeHandler'],
      ['afterHandler'],
      ['beforeMiddleware', 'shape'],
      ['hook shape', 'ok 1'],
      ['afterMiddleware', 'shape'],
    ])
  })

  it("requestEnd's error replaces a success and becomes the cause of a failure", async () => {
    const traces = await both(
      async (event) => {
        if (event.n === 2) throw new Error('fatal')
        return 'ok'
      },
      (trace) =>
        recorder(trace, {
          requestEnd: async () => {
            trace.push(['requestEnd'])
            throw new Error('requestEnd failed')
          },
        }),
      [{ n: 1 }, { n: 2 }],
    )
    assert.deepEqual(traces.lmi, traces.middy)
    assert.ok(
      (traces.lmi as unknown[]).some((entry) =>
        JSON.stringify(entry).includes('"cause":"requestEnd failed"'),
      ),
    )
  })

  it('the early timeout: timeoutEarlyResponse answers and the handler signal aborts, timeoutEarlyInMillis before the deadline', async () => {
    const aborts: number[] = []
    const traces = await both(
      (_event, _context, { signal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => aborts.push(Date.now()))
        }),
      (trace) =>
        recorder(trace, {
          beforePrefetch: undefined,
          timeoutEarlyInMillis: 50,
          timeoutEarlyResponse: () => ({ statusCode: 504 }),
        }),
      [{ n: 1 }],
      (n) => {
        const deadline = Date.now() + 100
        return {
          ...lambdaContext(`req-early-${n}`),
          getRemainingTimeInMillis: () => deadline - Date.now(),
        }
      },
    )
    assert.deepEqual(traces.lmi, traces.middy)
    assert.deepEqual((traces.lmi as unknown[]).at(-1), { result: { statusCode: 504 } })
    assert.equal(aborts.length, 2, 'the signal aborted under both')
  })

  it("the early timeout's default response is middy's TimeoutError", async () => {
    const traces = await both(
      () => new Promise(() => {}),
      () => ({ timeoutEarlyInMillis: 50 }),
      [{ n: 1 }],
      (n) => {
        const deadline = Date.now() + 80
        return {
          ...lambdaContext(`req-early-default-${n}`),
          getRemainingTimeInMillis: () => deadline - Date.now(),
        }
      },
    )
    assert.deepEqual(traces.lmi, traces.middy)
    assert.deepEqual(
      ((traces.lmi as unknown[]).at(-1) as { error: { name: string } }).error.name,
      'TimeoutError',
    )
  })

  it('takes the options first and the handler from .handler(), as middy(pluginConfig) does', async () => {
    const traces: Record<'middy' | 'lmi', unknown[]> = { middy: [], lmi: [] }
    for (const which of ['middy', 'lmi'] as const) {
      const trace = traces[which]
      const options = { requestStart: () => trace.push('requestStart') }
      const chain = (which === 'middy' ? middy(options) : lmi(options)) as unknown as {
        handler(fn: () => unknown): (event: unknown, context: LambdaContext) => Promise<unknown>
      }
      trace.push(await chain.handler(() => 'handled')({}, lambdaContext(`req-first-${which}`)))
    }
    assert.deepEqual(traces.lmi, traces.middy)
    assert.deepEqual(traces.lmi, ['requestStart', 'handled'])
  })

  it('refuses a plugin hook that is not a function, or an unknown option, at build time', () => {
    // Bad options are InvalidConfigurationError, as for every lmi middleware's options.
    assert.throws(() => lmi(() => 1, { requestStart: 'x' } as never), {
      code: 'LMI_INVALID_CONFIGURATION',
      message: 'lmi(handler, options): requestStart must be a function',
    })
    assert.throws(
      () => lmi(() => 1, { timeoutEarlyInMilis: 5 } as never),
      /unknown option timeoutEarlyInMilis/,
    )
    assert.throws(() => lmi(() => 1, { timeoutEarlyInMillis: -1 }), {
      code: 'LMI_INVALID_CONFIGURATION',
    })
    // middy's durable-context mode has no counterpart here: refused, not ignored.
    assert.throws(
      () => lmi(() => 1, { executionMode: function executionModeDurableContext() {} }),
      { code: 'LMI_INVALID_CONFIGURATION', message: /executionMode/ },
    )
  })
})

describe("streaming execution mode, lmi() against middy() 7.9.2's executionModeStreamifyResponse", () => {
  // middy's mode calls the awslambda global: AWS's runtime installs it, lmi's too; here lmi's
  // implementation (the marks and the HTTP prelude AWS's runtime uses) stands in.
  const globals = globalThis as { awslambda?: Record<string, unknown> }
  globals.awslambda ??= {}
  globals.awslambda.streamifyResponse ??= streamifyResponse
  globals.awslambda.HttpResponseStream ??= HttpResponseStream

  /** A response stream as a runtime gives one: content type, prelude hook, the bytes. */
  class RecordingStream extends Writable {
    contentType: string | undefined
    readonly chunks: Buffer[] = []
    _onBeforeFirstWrite: ((write: (chunk: string | Uint8Array) => void) => void) | undefined
    #started = false
    setContentType(type: string): void {
      this.contentType = type
    }
    override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
      if (!this.#started) {
        this.#started = true
        this._onBeforeFirstWrite?.((piece) => this.chunks.push(Buffer.from(piece)))
      }
      this.chunks.push(chunk)
      callback()
    }
    get text(): string {
      return Buffer.concat(this.chunks).toString('latin1')
    }
  }

  type Streaming = ((
    event: unknown,
    stream: Writable,
    context: LambdaContext,
  ) => Promise<unknown>) & {
    use(middleware: unknown): Streaming
  }

  async function both(
    handler: () => unknown,
    middlewares: () => unknown[] = () => [],
  ): Promise<Record<'middy' | 'lmi', unknown>> {
    const out: Record<'middy' | 'lmi', unknown> = { middy: undefined, lmi: undefined }
    for (const which of ['middy', 'lmi'] as const) {
      let chain = (which === 'middy'
        ? middy(handler as never, { executionMode: middyStreaming })
        : lmi(handler as never, {
            executionMode: executionModeStreamifyResponse,
          })) as unknown as Streaming
      for (const middleware of middlewares()) chain = chain.use(middleware)
      const stream = new RecordingStream()
      try {
        const returned = await chain({}, stream, lambdaContext(`req-stream-${which}`))
        out[which] = { returned, contentType: stream.contentType, body: stream.text }
      } catch (error) {
        const { name, message, cause } = error as Error
        out[which] = { error: { message, cause }, errorName: name }
      }
    }
    return out
  }

  const marked = (fn: unknown) =>
    (fn as Record<symbol, unknown>)[Symbol.for('aws.lambda.runtime.handler.streaming')]

  it('marks the chain as a streaming handler, as awslambda.streamifyResponse does', () => {
    const fromLmi = lmi(() => '', { executionMode: executionModeStreamifyResponse })
    const fromMiddy = middy(() => '', { executionMode: middyStreaming })
    assert.equal(marked(fromLmi), 'response')
    assert.equal(marked(fromLmi), marked(fromMiddy))
    // middy's own mode function is accepted by lmi too: a ported chain keeps its import.
    assert.equal(marked(lmi(() => '', { executionMode: middyStreaming as never })), 'response')
  })

  const bodies: Record<string, () => unknown> = {
    'an HTTP response with a string body': () => ({
      statusCode: 201,
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(40_000),
    }),
    'a plain string': () => 'plain text',
    'an HTTP response whose body is a Readable': () => ({
      statusCode: 200,
      body: Readable.from(['a', 'b', 'c']),
    }),
    'a web ReadableStream': () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('web stream'))
          controller.close()
        },
      }),
    'an HTTP response with no body': () => ({ statusCode: 204 }),
    undefined: () => undefined,
    'a body that cannot be streamed': () => ({ statusCode: 200, body: 42 }),
  }
  for (const [name, body] of Object.entries(bodies)) {
    it(`writes ${name} as middy does`, async () => {
      const out = await both(async () => body())
      // The error classes differ (lmi's is typed); message and cause must not.
      const { errorName: _ignored, ...lmiOut } = out.lmi as { errorName?: string }
      const { errorName: _also, ...middyOut } = out.middy as { errorName?: string }
      assert.deepEqual(lmiOut, middyOut)
    })
  }

  it('runs the plugin hooks in the same order: requestEnd after the body is written', async () => {
    const traces: Record<'middy' | 'lmi', unknown[]> = { middy: [], lmi: [] }
    for (const which of ['middy', 'lmi'] as const) {
      const trace = traces[which]
      const stream = new RecordingStream()
      stream.on('finish', () => trace.push('stream finished'))
      const plugin = {
        requestStart: () => trace.push('requestStart'),
        beforeHandler: () => trace.push('beforeHandler'),
        afterHandler: () => trace.push('afterHandler'),
        requestEnd: () => trace.push('requestEnd'),
      }
      const handler = async () => ({ statusCode: 200, body: Readable.from(['x']) })
      const chain = (which === 'middy'
        ? middy(handler, { ...plugin, executionMode: middyStreaming })
        : lmi(handler, {
            ...plugin,
            executionMode: executionModeStreamifyResponse,
          })) as unknown as Streaming
      await chain({}, stream, lambdaContext(`req-stream-plugin-${which}`))
    }
    assert.deepEqual(traces.lmi, traces.middy)
    assert.deepEqual(traces.lmi.at(-1), 'requestEnd')
  })

  it("after hooks see the handler's response and can change it before it is written", async () => {
    const out = await both(
      async () => ({ statusCode: 200, body: 'hello' }),
      () => [
        {
          after: (request: { response: { headers?: Record<string, string> } }) => {
            request.response.headers = { ...request.response.headers, 'x-after': 'yes' }
          },
        },
      ],
    )
    assert.deepEqual(out.lmi, out.middy)
    assert.match(String((out.lmi as { body: string }).body), /"x-after":"yes"/)
  })
})
