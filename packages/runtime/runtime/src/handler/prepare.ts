// Readying the thread that runs the handler — the main thread without worker threads, each
// worker with them: AWS's globals, the console, the detectors' findings, then the handler.
import {
  type ErrorResponse,
  HttpResponseStream,
  streamifyResponse,
  toErrorResponse,
} from '@lmi/core'
import { installDetectors, installInvokeStore, setFindingSink } from '@lmi/core/internal'
import type { RuntimeConfig } from '../config.ts'
import { CODES } from '../errors.ts'
import { attributionFromEnv, installAttribution } from '../log/attribution.ts'
import type { RuntimeLog } from '../log/log.ts'
import { installRequestRecording, requestRecordingFromEnv } from '../log/requests.ts'
import { type LoadedHandler, loadHandler, refuseCallbackHandler } from './load.ts'

/**
 * Installs what AWS's runtime puts on `globalThis.awslambda` (`streamifyResponse`,
 * `HttpResponseStream`, `InvokeStore`), so handlers written for it run unchanged. Idempotent.
 *
 * @example
 * ```ts
 * installAwsLambdaGlobal()
 * const handler = awslambda.streamifyResponse(async (event, stream) => stream.end('ok'))
 * ```
 */
export function installAwsLambdaGlobal(): void {
  installInvokeStore()
  const holder = globalThis as { awslambda?: Record<string, unknown> }
  holder.awslambda ??= {}
  holder.awslambda.streamifyResponse = streamifyResponse
  holder.awslambda.HttpResponseStream = HttpResponseStream
}

/**
 * Readies this thread to run the handler — `awslambda`, the console through the runtime's log,
 * findings to that log, the detectors `LMI_SHARED_STATE` asks for, `lmi check`'s attributed
 * output and recorded requests (`LMI_CHECK_ATTRIBUTION=1`) — and loads it. A handler that
 * cannot be loaded (or is refused) is logged and given to `reportInitError`; then
 * `undefined`, and the thread exits 1.
 *
 * @example
 * ```ts
 * const handler = await prepareHandler(config, log, process.env, (body) => reportInitError(config.runtimeApi, body))
 * if (handler === undefined) return 1
 * ```
 */
export async function prepareHandler(
  config: RuntimeConfig,
  log: RuntimeLog,
  env: NodeJS.ProcessEnv,
  reportInitError: (error: ErrorResponse) => unknown,
): Promise<LoadedHandler | undefined> {
  installAwsLambdaGlobal()
  log.patchConsole()
  // Before the handler loads: what it writes at init is attributed too.
  if (attributionFromEnv(env)) installAttribution()
  // Beside it, under the same flag: the outgoing requests, each with its invocation.
  if (requestRecordingFromEnv(env)) installRequestRecording(config.runtimeApi)
  // Findings go to the runtime's log, whoever installs the detectors (this, or an lmi() chain).
  setFindingSink(function logFinding({ message, ...fields }) {
    log.log('WARN', message, withoutUndefined(fields))
  })
  if (config.sharedState !== undefined) installDetectors(config.sharedState)
  try {
    const handler = await loadHandler(config.taskRoot, config.handler)
    const allowed = refuseCallbackHandler(handler, { concurrent: config.concurrent, env })
    if (allowed) {
      log.log(
        'WARN',
        `${config.handler} is a callback-style handler, which AWS's runtime refuses here; run anyway (LMI_ALLOW_CALLBACK_HANDLERS=1), each invocation with its own callback`,
        { code: CODES.CALLBACK_HANDLER_ALLOWED },
      )
    }
    return handler
  } catch (error) {
    const body = toErrorResponse(error)
    log.log('ERROR', body, { errorType: body.errorType, errorMessage: body.errorMessage })
    await reportInitError(body)
    return undefined
  }
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out
}
