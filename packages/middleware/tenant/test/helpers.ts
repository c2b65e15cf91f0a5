import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LambdaContext } from '@lmi/core'

/** A Lambda context as a runtime hands it to the handler (`tenantId` from tenant isolation). */
export function lambdaContext(requestId: string, tenantId?: string): LambdaContext {
  const deadline = Date.now() + 30_000
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'orders',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/orders',
    logStreamName: 'stream',
    tenantId,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
}

/** Resolves once `size` callers have arrived: every invocation waits for all the others. */
export function barrier(size: number): () => Promise<void> {
  let arrived = 0
  const all = Promise.withResolvers<void>()
  return () => {
    arrived++
    if (arrived === size) all.resolve()
    return all.promise
  }
}

const eventsDir = new URL('./fixtures/events/', import.meta.url)

/** A fresh copy of a captured event (test/fixtures/events). */
// biome-ignore lint/suspicious/noExplicitAny: tests reach into event shapes freely
export function loadEvent(name: string): Record<string, any> {
  return JSON.parse(readFileSync(new URL(name, eventsDir), 'utf8'))
}

/** What the echo server saw of one request. */
export interface SeenRequest {
  path: string
  tenant: string | string[] | undefined
  headers: IncomingHttpHeaders
}

export interface EchoServer {
  origin: string
  /** Every request so far, in arrival order. */
  seen: SeenRequest[]
  close(): Promise<void>
}

/**
 * A loopback HTTP server on port 0 that answers every request with the `x-tenant-id` (or
 * `header`) it received, as JSON `{ path, tenant }`.
 */
export async function startEchoServer(header = 'x-tenant-id'): Promise<EchoServer> {
  const seen: SeenRequest[] = []
  const server = createServer(function echo(request, response) {
    const tenant = request.headers[header]
    seen.push({ path: request.url ?? '', tenant, headers: request.headers })
    request.resume()
    request.on('end', () => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ path: request.url, tenant: tenant ?? null }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
