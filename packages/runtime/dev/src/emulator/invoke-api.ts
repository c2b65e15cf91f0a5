import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { JSON_CONTENT_TYPE } from '@lmi/core/internal'
import type { InvocationInit, InvocationTable } from './invocations.ts'
import { checkHeaderValue } from './options.ts'
import {
  EMPTY_EVENT,
  firstHeader,
  headerJson,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  readBody,
  sendError,
} from './protocol.ts'
import type { InvokeResult } from './types.ts'

/** The invocation an invoke request describes; throws for a header it cannot use. */
function initFromHeaders(req: IncomingMessage, timeoutMs: number): InvocationInit {
  const tenantId = firstHeader(req.headers['x-amz-tenant-id'])
  const clientContext = firstHeader(req.headers['x-amz-client-context'])
  let clientContextJson: string | undefined
  if (clientContext !== undefined) {
    // Re-serialised: the decoded JSON may hold newlines or Unicode a header cannot carry.
    clientContextJson = headerJson(
      JSON.stringify(JSON.parse(Buffer.from(clientContext, 'base64').toString())),
    )
  }
  return {
    requestId: undefined,
    tenantId: tenantId === undefined ? undefined : checkHeaderValue(tenantId, 'X-Amz-Tenant-Id'),
    traceId: undefined,
    clientContext: clientContextJson,
    identity: undefined,
    timeoutMs,
    deadlineHeader: undefined,
  }
}

/** Answers the invoke request with the invocation's result, as Lambda's Invoke API does. */
function answerInvoke(res: ServerResponse, result: InvokeResult, functionVersion: string): void {
  if (res.destroyed) return
  const failed = result.status !== 'success'
  if (res.headersSent) {
    // The response was streamed through: only the trailer can still say it failed.
    if (failed) res.addTrailers({ 'X-Amz-Function-Error': 'Unhandled' })
    res.end()
    return
  }
  const body = failed ? Buffer.from(JSON.stringify(result.error)) : result.payload
  const headers: OutgoingHttpHeaders = {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': body.length,
    'X-Amzn-RequestId': result.requestId,
    'X-Amz-Executed-Version': functionVersion,
  }
  if (failed) headers['X-Amz-Function-Error'] = 'Unhandled'
  res.writeHead(200, headers)
  res.end(body)
}

/**
 * The RIE-compatible invoke endpoint, `POST /2015-03-31/functions/<name>/invocations`: queues
 * the request body as an event on `table` and answers with the invocation's result (a
 * streamed response passes through as it arrives).
 */
export class InvokeApi {
  readonly #table: InvocationTable
  readonly #timeoutMs: number
  readonly #functionVersion: string

  constructor(
    table: InvocationTable,
    options: { readonly timeoutMs: number; readonly functionVersion: string },
  ) {
    this.#table = table
    this.#timeoutMs = options.timeoutMs
    this.#functionVersion = options.functionVersion
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const table = this.#table
    const timeoutMs = this.#timeoutMs
    const functionVersion = this.#functionVersion
    readBody(req, LAMBDA_RESPONSE_LIMIT_BYTES, function onInvokeBody(body, _size, complete) {
      if (!complete) return
      if (body === undefined) {
        sendError(
          res,
          413,
          'RequestEntityTooLargeException',
          `Request must be smaller than ${LAMBDA_RESPONSE_LIMIT_BYTES} bytes for the Invoke operation`,
        )
        return
      }
      let init: InvocationInit
      try {
        if (body.length > 0) JSON.parse(body.toString())
        init = initFromHeaders(req, timeoutMs)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        sendError(res, 400, 'InvalidRequestContentException', `Could not parse request: ${message}`)
        return
      }
      let pending: Promise<InvokeResult>
      try {
        pending = table.add(body.length === 0 ? EMPTY_EVENT : body, init, res)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        sendError(res, 400, 'InvalidRequestContentException', message)
        return
      }
      pending.then(
        function answer(result) {
          answerInvoke(res, result, functionVersion)
        },
        function invokeAbandoned() {
          // Only close() rejects, and it destroys this socket too.
          res.destroy()
        },
      )
    })
  }
}
