// `lmi check`'s recorded requests (LMI_CHECK_ATTRIBUTION=1), against the real runtime and the
// dev emulator, on one event loop and in worker threads: fixtures/requests.mjs sends a request
// through fetch, undici and node:http to a loopback server, each naming its request id.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { REQUEST_PREFIX, type RecordedRequest } from '../src/log/requests.ts'
import {
  json,
  RUNTIME_MODES,
  type RuntimeUnderTest,
  runtimePerTest,
} from './helpers/runtime-process.ts'

const EVENTS = 12
const CONCURRENCY = 6

function isRecordLine(record: Record<string, unknown>): boolean {
  return typeof record.raw === 'string' && record.raw.startsWith(REQUEST_PREFIX)
}

function recorded(runtime: RuntimeUnderTest): RecordedRequest[] {
  return runtime.logs
    .filter(isRecordLine)
    .map((record) => JSON.parse(String(record.raw).slice(REQUEST_PREFIX.length)) as RecordedRequest)
}

describe('recorded outgoing requests', () => {
  let server: Server
  let url: string
  const received: string[] = []
  before(async () => {
    server = createServer((request, response) => {
      received.push(`${request.method} ${request.url}`)
      request.resume()
      request.on('end', () => response.end('{}'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  async function exercise(runtime: RuntimeUnderTest): Promise<string[]> {
    const results = await Promise.all(
      Array.from({ length: EVENTS }, () => runtime.emulator.invoke({ url })),
    )
    return results.map((result) => {
      assert.equal(result.status, 'success', result.payload.toString())
      const { id } = json<{ id: string }>(result.payload)
      assert.equal(id, result.requestId)
      return id
    })
  }

  for (const mode of RUNTIME_MODES) {
    describe(mode.name, () => {
      const start = runtimePerTest(mode.env)

      it('writes one line per request of fetch, undici and node:http, with the invocation that made it', async () => {
        const runtime = await start({
          handler: 'requests.handler',
          concurrency: CONCURRENCY,
          env: { LMI_CHECK_ATTRIBUTION: '1' },
        })
        const ids = await exercise(runtime)
        await runtime.waitForLogs(isRecordLine, 3 * EVENTS)
        const records = recorded(runtime)
        // The runtime's own requests (the Runtime API) are not among them.
        assert.equal(records.length, 3 * EVENTS, JSON.stringify(records.map((record) => record.u)))
        for (const id of ids) {
          const own = records.filter((record) => record.h['x-id'] === id)
          assert.equal(own.length, 3, JSON.stringify(own))
          for (const record of own) {
            assert.deepEqual([record.r, record.e], [id, false])
            // Where the handler made it: its own line, not undici's or node:http's.
            assert.match(
              record.at ?? '',
              /fixtures[\\/]requests\.mjs:\d+:\d+$/,
              JSON.stringify(record),
            )
          }

          const fetched = own.find((record) => record.u === `${url}/fetch?id=${id}`)
          assert.ok(fetched, JSON.stringify(own))
          assert.equal(fetched.m, 'POST')
          assert.equal(fetched.h['content-type'], 'application/json')
          // Seen on Node 22 too, whose own undici publishes no body chunks: the undici package
          // the fixture loads (on the main thread, the runtime's client too) becomes the global
          // dispatcher, which fetch then goes through.
          assert.equal(fetched.b, JSON.stringify({ id, via: 'fetch' }))

          const viaUndici = own.find((record) => record.u === `${url}/undici`)
          assert.deepEqual(
            [viaUndici?.m, viaUndici?.b, viaUndici?.bt],
            ['POST', `undici ${id}`, undefined],
          )

          const viaHttp = own.find((record) => record.u === `${url}/http`)
          assert.ok(viaHttp, JSON.stringify(own))
          assert.equal(viaHttp.m, 'PUT')
          assert.equal(viaHttp.h['x-late'], id)
          assert.equal(viaHttp.h.host, new URL(url).host)
          assert.equal(viaHttp.b, JSON.stringify({ id, via: 'http' }))
        }
      })

      it("leaves out the runtime's own requests: streamed answers, sent over node:http", async () => {
        const runtime = await start({
          handler: 'requests.streamed',
          concurrency: CONCURRENCY,
          env: { LMI_CHECK_ATTRIBUTION: '1' },
        })
        const results = await Promise.all(
          Array.from({ length: EVENTS }, () => runtime.emulator.invoke({ url })),
        )
        for (const result of results) {
          assert.equal(result.status, 'success')
          assert.equal(result.streamed, true)
          assert.equal(result.payload.toString(), `streamed ${result.requestId}`)
        }
        // Every line the runtime wrote, read: its output ends when it exits.
        const stdout = runtime.child.stdout as NodeJS.ReadableStream
        const closed = once(stdout, 'close')
        runtime.child.kill('SIGTERM')
        await closed
        const records = recorded(runtime)
        assert.deepEqual(
          records.map((record) => [record.r, record.u]).sort(),
          results.map((result) => [result.requestId, `${url}/before-streaming`]).sort(),
        )
      })

      it('writes none without LMI_CHECK_ATTRIBUTION', async () => {
        const runtime = await start({ handler: 'requests.handler', concurrency: CONCURRENCY })
        const before = received.length
        await exercise(runtime)
        assert.equal(received.length - before, 3 * EVENTS)
        assert.deepEqual(recorded(runtime), [])
        assert.ok(!runtime.stderr.some((line) => line.includes(REQUEST_PREFIX.trim())))
      })
    })
  }
})
