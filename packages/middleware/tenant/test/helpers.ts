import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

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
