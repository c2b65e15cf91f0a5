// A streaming lmi() chain on AWS's runtime, with the shared-state detectors on: AWS's runtime
// sends a streamed answer on a node:http request it opens at the handler's first write — inside
// the invocation's context — and ends after the handler has answered. That request is the
// runtime's, not the invocation's escaped work. Its own process (node --test runs each file
// alone): the Runtime API address is set before the first lmi() installs the detectors.
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { after, describe, it } from 'node:test'
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import type { Finding } from '../src/detect/findings.ts'
import { executionModeStreamifyResponse, type LambdaContext, lmi } from '../src/index.ts'

const { REQUEST_ID } = InvokeStoreBase.PROTECTED_KEYS

/** Answers every request once its body has arrived; holds `/hold` until released. */
async function server(): Promise<{ address: string; release(): void; close(): void }> {
  const held: ServerResponse[] = []
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    req.on('end', () => (req.url === '/hold' ? held.push(res) : res.end('ok')))
  })
  http.listen(0, '127.0.0.1')
  await new Promise((resolve) => http.once('listening', resolve))
  const { port } = http.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    release: () => {
      for (const res of held.splice(0)) res.end('ok')
    },
    close: () => {
      http.closeAllConnections()
      http.close()
    },
  }
}

const runtimeApi = await server()
const elsewhere = await server()
process.env.AWS_LAMBDA_RUNTIME_API = runtimeApi.address
after(() => {
  runtimeApi.close()
  elsewhere.close()
})

/** The response stream AWS's runtime passes: its POST /response opens at the first write. */
class AwsResponseStream extends Writable {
  #request: ReturnType<typeof request> | undefined
  readonly answered: Promise<void>
  #answered = Promise.withResolvers<void>()
  constructor(requestId: string) {
    super()
    this.answered = this.#answered.promise
    this.requestId = requestId
  }
  readonly requestId: string
  setContentType(): void {}
  #open() {
    this.#request ??= request(
      {
        host: '127.0.0.1',
        port: Number(runtimeApi.address.split(':')[1]),
        method: 'POST',
        path: `/2018-06-01/runtime/invocation/${this.requestId}/response`,
      },
      (res) => {
        res.resume()
        res.on('end', () => this.#answered.resolve())
      },
    )
    return this.#request
  }
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.#open().write(chunk, callback)
  }
  override _final(callback: () => void): void {
    // Ended a turn later, as the handler's promise settles first on AWS's runtime.
    setImmediate(() => this.#open().end(callback))
  }
}

describe('a streaming lmi() chain on AWS runtime, detectors on', () => {
  it("does not report AWS's streamed answer as escaped work; a request of its own still is", async () => {
    const findings: Finding[] = []
    const collect = (message: unknown) => findings.push(message as Finding)
    diagnosticsChannel.subscribe('lmi:shared-state:finding', collect)
    const store = await InvokeStore.getInstanceAsync(true)
    const handler = lmi(
      async (event: { leak: boolean }) => {
        if (event.leak) {
          // Left running after the answer: the invocation's own escaped work.
          request({
            host: '127.0.0.1',
            port: Number(elsewhere.address.split(':')[1]),
            path: '/hold',
          })
            .on('error', () => {})
            .end()
        }
        return { statusCode: 200, body: 'streamed' }
      },
      { executionMode: executionModeStreamifyResponse },
    ) as unknown as (event: unknown, stream: Writable, context: LambdaContext) => Promise<unknown>
    for (const [requestId, leak] of [
      ['req-clean', false],
      ['req-leak', true],
    ] as const) {
      const stream = new AwsResponseStream(requestId)
      const context = {
        awsRequestId: requestId,
        getRemainingTimeInMillis: () => 5000,
      } as LambdaContext
      await store.run({ [REQUEST_ID]: requestId }, () => handler({ leak }, stream, context))
      await stream.answered
    }
    elsewhere.release()
    diagnosticsChannel.unsubscribe('lmi:shared-state:finding', collect)
    const escaped = findings.filter((finding) => finding.code === 'LMI_ESCAPED_REQUEST')
    assert.deepEqual(
      escaped.map((finding) => [finding.requestId, finding.subject]),
      [['req-leak', `GET 127.0.0.1/hold`]],
    )
  })
})
