// The runtime's shared-state detectors as evidence: the finding lines they write
// (`LMI_SHARED_STATE=warn`) among the runtime's output, parsed. Grouped in grouping.ts.
import { FINDING_CODES, type FindingCode } from '@lmi/core'

/** Codes the runtime's detectors report; `lmi check`'s own code is not among them. */
const DETECTOR_CODES: ReadonlySet<string> = new Set(
  Object.values(FINDING_CODES).filter(
    (code) => code !== FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE,
  ),
)

/**
 * A finding line the runtime's detectors wrote (`LMI_SHARED_STATE=warn`), as parsed.
 *
 * @example
 * ```ts
 * const finding: DetectorFinding = {
 *   code: 'LMI_SHARED_ENV_WRITE', subject: 'process.env.TENANT', message: '…',
 *   requestId: '9f…', otherRequestId: undefined, tenantId: undefined, stack: 'at handler (/app/env.mjs:3:3)',
 * }
 * ```
 */
export interface DetectorFinding {
  readonly code: FindingCode
  readonly subject: string
  readonly message: string
  readonly requestId: string | undefined
  readonly otherRequestId: string | undefined
  readonly tenantId: string | undefined
  readonly stack: string | undefined
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/**
 * The finding a log line carries, if it is one of the detectors' (not lmi check's own code,
 * not another `LMI_` log line of the runtime).
 *
 * @example
 * ```ts
 * parseFindingLine('{"level":"WARN","code":"LMI_SHARED_ENV_WRITE","subject":"process.env.X",…}')
 * // => { code: 'LMI_SHARED_ENV_WRITE', subject: 'process.env.X', … }
 * ```
 */
export function parseFindingLine(line: string): DetectorFinding | undefined {
  if (!line.startsWith('{') || !line.includes('"LMI_')) return undefined
  let record: Record<string, unknown>
  try {
    record = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  const code = record.code
  const subject = record.subject
  if (typeof code !== 'string' || !DETECTOR_CODES.has(code) || typeof subject !== 'string') {
    return undefined
  }
  return {
    code: code as FindingCode,
    subject,
    message: text(record.message) ?? code,
    requestId: text(record.requestId),
    otherRequestId: text(record.otherRequestId),
    tenantId: text(record.tenantId),
    stack: text(record.stack),
  }
}
