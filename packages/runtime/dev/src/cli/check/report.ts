import { FINDING_CODES, type FindingCode } from '@lmi/core'
import { formatRequestExample } from './requests.ts'
import type { CheckFinding, CheckResult, DifferenceExample, LogExample } from './types.ts'

/** What each code means, in a few words, for the report's headings. */
const TITLES: Record<FindingCode, string> = {
  [FINDING_CODES.ENV_WRITE]: 'process.env written during an invocation',
  [FINDING_CODES.GLOBAL_CREATE]: 'global created during an invocation',
  [FINDING_CODES.GLOBAL_WRITE]: 'global changed during an invocation',
  [FINDING_CODES.CROSS_READ]: 'shared state read after another running invocation wrote it',
  [FINDING_CODES.CROSS_WRITE]: 'shared state written by two running invocations',
  [FINDING_CODES.ESCAPED_TIMER]: 'timer still pending after the invocation answered',
  [FINDING_CODES.ESCAPED_REQUEST]: 'request still running after the invocation answered',
  [FINDING_CODES.ESCAPED_PROMISE]: 'async work settled after the invocation answered',
  [FINDING_CODES.TMP_OUTSIDE_SCOPE]: "/tmp path used outside the invocation's own directory",
  [FINDING_CODES.TMP_SHARED_PATH]: 'same /tmp path written by two running invocations',
  [FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE]: 'response depends on concurrency',
  [FINDING_CODES.CONCURRENCY_DEPENDENT_LOG]: "log line carries another invocation's value",
  [FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC]:
    "metric (EMF) line carries another invocation's value",
  [FINDING_CODES.ESCAPED_LOG]: 'log line written outside its invocation',
  [FINDING_CODES.CONCURRENCY_DEPENDENT_REQUEST]:
    "outgoing request carries another invocation's value",
}

const MAX_EVENTS_LISTED = 4

function listEvents(events: readonly string[]): string {
  if (events.length <= MAX_EVENTS_LISTED) return events.join(', ')
  return `${events.slice(0, MAX_EVENTS_LISTED).join(', ')}, … (${events.length} events)`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

function formatExample(example: DifferenceExample): string[] {
  const lines: string[] = []
  for (const [index, difference] of example.differences.entries()) {
    const where = difference.path === '$' ? '' : `${difference.path} `
    const from =
      difference.likelyFrom.length === 0
        ? ''
        : ` (what ${difference.likelyFrom.join(' / ')} ${difference.likelyFrom.length === 1 ? 'gets' : 'get'} alone)`
    const head = index === 0 ? `${example.event}: ` : ' '.repeat(example.event.length + 2)
    lines.push(`    ${head}${where}expected ${difference.expected}, got ${difference.got}${from}`)
  }
  lines.push(
    `      request ${example.requestId} (round ${example.round}) vs alone ${example.referenceRequestId}`,
  )
  return lines
}

function formatLogExample(example: LogExample, verb = 'logs'): string[] {
  const lines: string[] = []
  if (example.requestId !== undefined && example.otherRequestId !== undefined) {
    const value = example.path === undefined ? example.value : `${example.path} ${example.value}`
    const other =
      example.otherPhase === 'solo'
        ? `what ${example.otherEvent} ${verb} alone (${example.otherRequestId})`
        : `the request id of ${example.otherEvent}'s invocation ${example.otherRequestId}`
    lines.push(
      `    ${example.event} (request ${example.requestId}, round ${example.round}) wrote ${value}: ${other}`,
    )
  } else if (example.requestId !== undefined) {
    lines.push(`    ${example.event ?? 'an invocation'} (request ${example.requestId}) wrote:`)
  } else {
    lines.push('    written by no invocation:')
  }
  lines.push(`      ${example.line}`)
  return lines
}

function formatFinding(finding: CheckFinding, concurrent: number): string[] {
  const lines = [`  ${finding.subject}`]
  if (
    finding.code === FINDING_CODES.CONCURRENCY_DEPENDENT_LOG ||
    finding.code === FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC
  ) {
    const metric = finding.code === FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC
    const compared = metric ? 'metric (EMF) lines' : 'log lines'
    lines.push(
      `    ${plural(finding.occurrences, 'line')} of concurrent invocations; events: ${listEvents(finding.events)}`,
    )
    lines.push(
      `    where: ${finding.location === undefined ? `not known (found by comparing ${compared} with the solo runs)` : `${finding.location} (writes most of these lines)`}`,
    )
    if (finding.hint !== undefined) lines.push(`    usual cause: ${finding.hint}`)
    for (const example of finding.lines ?? []) {
      lines.push(...formatLogExample(example, metric ? 'publishes' : 'logs'))
    }
    return lines
  }
  if (finding.code === FINDING_CODES.CONCURRENCY_DEPENDENT_REQUEST) {
    lines.push(
      `    ${plural(finding.occurrences, 'request')} of concurrent invocations; events: ${listEvents(finding.events)}`,
    )
    lines.push(
      `    where: ${finding.location ?? 'not known (found by comparing outgoing requests with the solo runs)'}`,
    )
    if (finding.hint !== undefined) lines.push(`    usual cause: ${finding.hint}`)
    for (const example of finding.requests ?? []) lines.push(...formatRequestExample(example))
    return lines
  }
  if (finding.code === FINDING_CODES.ESCAPED_LOG) {
    lines.push(`    where: ${finding.location ?? 'not known (no user-code frame on the stack)'}`)
    lines.push(
      `    ${plural(finding.occurrences, 'line')}, seen in the ${finding.phases.join(' and ')} phase${finding.phases.length === 1 ? '' : 's'}` +
        (finding.events.length > 0 ? `; events: ${listEvents(finding.events)}` : ''),
    )
    if (finding.hint !== undefined) lines.push(`    usual cause: ${finding.hint}`)
    for (const example of finding.lines ?? []) lines.push(...formatLogExample(example))
    return lines
  }
  if (finding.code === FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE) {
    lines.push(
      `    ${finding.occurrences} of ${concurrent} concurrent invocations differ; events: ${listEvents(finding.events)}`,
    )
    lines.push(
      '    where: not known (found by comparing responses; look at what computes that path)',
    )
    for (const example of finding.examples) lines.push(...formatExample(example))
    return lines
  }
  lines.push(`    ${finding.message}`)
  lines.push(`    where: ${finding.location ?? 'not known (no user-code frame on the stack)'}`)
  const requests = [finding.requestId, finding.otherRequestId].filter(
    (id): id is string => id !== undefined,
  )
  // Each runtime process reports a code, subject and place once: this counts processes, mostly.
  const seen = `seen in the ${finding.phases.join(' and ')} phase${finding.phases.length === 1 ? '' : 's'} (${plural(finding.occurrences, 'report')})`
  const requestText =
    requests.length === 0
      ? 'request unknown'
      : requests.length === 1
        ? `request ${requests[0]}`
        : `requests ${requests[0]} and ${requests[1]}`
  lines.push(`    ${requestText}; ${seen}`)
  if (finding.events.length > 0) lines.push(`    events: ${listEvents(finding.events)}`)
  return lines
}

/**
 * The readable report of a check: a summary line, then the findings grouped by code and
 * subject (with where in the user's code, the request ids involved and, for differing
 * responses, expected vs got), notes, and a verdict naming the seed to replay with.
 *
 * @example
 * ```ts
 * const result = await runCheck({ handler: 'src/app.handler', events: 'events.json' })
 * process.stdout.write(formatReport(result))
 * // lmi check src/app.handler
 * //   6 events; 12 solo runs, each in a fresh process; 2 rounds of 48 invocations at concurrency 24; seed 1234
 * //
 * // ✖ LMI_CONCURRENCY_DEPENDENT_RESPONSE: response depends on concurrency
 * //   response $.user
 * //     41 of 96 concurrent invocations differ; events: events.json[0], …
 * // …
 * ```
 */
export function formatReport(result: CheckResult): string {
  const lines: string[] = [
    `lmi check ${result.handler}`,
    `  ${plural(result.events.length, 'event')}; ${result.invocations.solo} solo runs, each in a fresh process; ` +
      `${plural(result.rounds, 'round')} of ${result.invocationsPerRound} invocations ` +
      `at concurrency ${result.concurrency}; seed ${result.seed}`,
    `  compared with the solo runs: ${describeCompared(result.compared)}`,
  ]
  let code: FindingCode | undefined
  for (const finding of result.findings) {
    if (finding.code !== code) {
      code = finding.code
      lines.push('', `✖ ${code}: ${TITLES[code] ?? code}`)
    }
    lines.push(...formatFinding(finding, result.invocations.concurrent))
  }
  if (result.notes.length > 0) {
    lines.push('', 'Notes:')
    for (const note of result.notes) lines.push(`  - ${note}`)
  }
  lines.push('')
  if (result.findings.length === 0) {
    lines.push(`✔ No findings (${seconds(result.durationMs)})`)
  } else {
    const codes = [...new Set(result.findings.map((finding) => finding.code))]
    lines.push(
      `✖ ${plural(result.findings.length, 'finding')} (${codes.join(', ')}) in ${seconds(result.durationMs)}; ` +
        `replay the same order with --seed ${result.seed}`,
    )
  }
  return `${lines.join('\n')}\n`
}

/**
 * What a check compared, in words: `96 responses, 192 log lines (96 metric lines), 0 requests`.
 *
 * @example
 * ```ts
 * describeCompared({ responses: 96, logLines: 0, metricLines: 0, requests: 4 })
 * // => '96 responses, 0 log lines, 4 requests'
 * ```
 */
export function describeCompared(compared: CheckResult['compared']): string {
  const metric = compared.metricLines > 0 ? ` (${plural(compared.metricLines, 'metric line')})` : ''
  return `${plural(compared.responses, 'response')}, ${plural(compared.logLines, 'log line')}${metric}, ${plural(compared.requests, 'request')}`
}

/**
 * The `--json` document: the {@link CheckResult} with `ok` (no findings) first. `lmi check
 * --json` prints its `undefined` fields (a finding without location) as `null`.
 *
 * @example
 * ```ts
 * const json = toJsonReport(await runCheck(options))
 * // { ok: false, handler: 'src/app.handler', seed: 1234, findings: [{ code: 'LMI_…', … }], … }
 * ```
 */
export function toJsonReport(result: CheckResult): { ok: boolean } & CheckResult {
  return { ok: result.findings.length === 0, ...result }
}

/**
 * Pretty JSON where a field the result leaves `undefined` (no location, no other request) is
 * `null`: one shape for machines. What `lmi check --json` prints.
 *
 * @example
 * ```ts
 * process.stdout.write(toJsonText(toJsonReport(result)))
 * ```
 */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, (_key, field: unknown) => (field === undefined ? null : field), 2)}\n`
}
