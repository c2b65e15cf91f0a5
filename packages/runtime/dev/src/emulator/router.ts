import type { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { INVOKE_API_PREFIX, RUNTIME_API_PREFIX, RUNTIME_PATHS } from '@lmi/core/internal'
import { EXTENSION_PREFIX, type ExtensionsApi } from './extensions.ts'
import { type FaultPlan, type FaultTimers, markDropAck, markSlowBody } from './faults.ts'
import type { InvokeApi } from './invoke-api.ts'
import { isGone, sendError } from './protocol.ts'
import type { RuntimeApi } from './runtime-api.ts'
import type { EmulatorEventMap, FaultEndpoint } from './types.ts'

const INVOCATION_PREFIX = `${RUNTIME_API_PREFIX}/invocation/`
const INVOKE_SUFFIX = '/invocations'

/** What the server dispatches to. */
export interface Routes {
  readonly runtime: RuntimeApi
  readonly extensions: ExtensionsApi
  readonly invoke: InvokeApi
  /** Applied to Runtime API requests before they are served. */
  readonly faults: FaultPlan
  readonly faultTimers: FaultTimers
  /** Told of every fault applied (`'fault'`). */
  readonly emitter: EventEmitter<EmulatorEventMap>
}

function decodeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/**
 * The emulator's HTTP server (not yet listening): the Runtime API, the Extensions API and the
 * RIE-compatible invoke endpoint on one port, as on Lambda.
 */
export function createRouter(routes: Routes): Server {
  return createServer(
    {
      // Long polls must never be cut by the server: no header/request deadline, and idle
      // keep-alive connections of a quiet runtime survive between bursts.
      keepAliveTimeout: 300_000,
      headersTimeout: 0,
      requestTimeout: 0,
      noDelay: true,
    },
    function onRequest(req, res) {
      route(routes, req, res)
    },
  )
}

function route(routes: Routes, req: IncomingMessage, res: ServerResponse): void {
  const raw = req.url ?? '/'
  const query = raw.indexOf('?')
  const path = query === -1 ? raw : raw.slice(0, query)
  const method = req.method
  if (path.startsWith(`${RUNTIME_API_PREFIX}/`)) {
    if (path === RUNTIME_PATHS.next) {
      if (method === 'GET') {
        enter(routes, 'next', req, res, '')
        return
      }
    } else if (path.startsWith(INVOCATION_PREFIX)) {
      const slash = path.lastIndexOf('/')
      const encodedId = path.slice(INVOCATION_PREFIX.length, slash)
      const action = path.slice(slash + 1)
      if (method === 'POST' && encodedId !== '' && !encodedId.includes('/')) {
        if (action === 'response' || action === 'error') {
          // The id is one path segment, percent-encoded by the runtime: `a%2Fb` is `a/b`.
          const requestId = decodeSegment(encodedId)
          if (requestId === undefined) {
            sendError(res, 400, 'InvalidRequestID', `Malformed request ID: ${encodedId}`)
            return
          }
          enter(routes, action, req, res, requestId)
          return
        }
      }
    } else if (path === RUNTIME_PATHS.initError && method === 'POST') {
      enter(routes, 'init-error', req, res, '')
      return
    }
  } else if (path.startsWith(EXTENSION_PREFIX)) {
    if (routes.extensions.route(method, path.slice(EXTENSION_PREFIX.length), req, res)) return
  } else if (
    method === 'POST' &&
    path.startsWith(INVOKE_API_PREFIX) &&
    path.endsWith(INVOKE_SUFFIX)
  ) {
    routes.invoke.handle(req, res)
    return
  }
  sendError(res, 404, 'NotFound', `No route for ${method} ${path}`)
}

/** Applies the next injected fault for `endpoint`, if any, before the real handler. */
function enter(
  routes: Routes,
  endpoint: FaultEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): void {
  const runtime = routes.runtime
  const fault = routes.faults.take(endpoint)
  if (fault === undefined) {
    runtime.handle(endpoint, req, res, requestId)
    return
  }
  routes.emitter.emit('fault', fault)
  switch (fault.kind) {
    case 'status':
      sendError(
        res,
        fault.status,
        'InjectedFault',
        `Fault injected by the lmi emulator: ${endpoint} answered ${fault.status}`,
      )
      return
    case 'drop':
      req.socket.destroy()
      return
    case 'drop-ack':
      markDropAck(res)
      runtime.handle(endpoint, req, res, requestId)
      return
    case 'delay':
      routes.faultTimers.after(fault.ms, function delayedRequest() {
        if (!isGone(res)) runtime.handle(endpoint, req, res, requestId)
      })
      return
    case 'slow-body':
      markSlowBody(res, fault.ms)
      runtime.handle(endpoint, req, res, requestId)
      return
  }
}
