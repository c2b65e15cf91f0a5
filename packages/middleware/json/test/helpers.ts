// Shared by the test files: a request to drive one middleware hook by hand, a logger that
// records, non-HTTP events. Contexts and HTTP events come from @lmi/test-kit.
import type { LmiRequest } from '@lmi/core'
import { lambdaContext } from '@lmi/test-kit'
import type { ErrorLogRecord, HttpErrorsLogger } from '../src/index.ts'

/** A middy-shaped request, to call one hook directly. */
export function request(
  event: unknown,
  extra: Partial<LmiRequest<unknown>> = {},
): LmiRequest<unknown> {
  return {
    event,
    context: lambdaContext(),
    response: undefined,
    error: undefined,
    internal: {},
    ...extra,
  }
}

export type LogEntry = { level: 'warn' | 'error'; record: ErrorLogRecord }

/** A logger for `httpErrors({ logger })` that keeps what it is given. */
export function recordingLogger(): HttpErrorsLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return {
    entries,
    warn: (record) => entries.push({ level: 'warn', record }),
    error: (record) => entries.push({ level: 'error', record }),
  }
}

/** Non-HTTP events: the errors of these must reach the runtime unchanged. */
export const nonHttpEvents: Record<string, unknown> = {
  sqs: { Records: [{ messageId: '1', eventSource: 'aws:sqs', body: '{"a":1}' }] },
  eventBridge: { 'detail-type': 'OrderPlaced', source: 'shop', detail: { id: 1 } },
  stepFunctions: { orderId: 'o-1', amount: 12 },
  directInvoke: {},
}
