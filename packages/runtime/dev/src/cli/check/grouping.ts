// Turning a run's evidence into the findings of the result: the detectors' finding lines
// grouped by code, subject and place; differing responses grouped by the paths that differ;
// log lines that carry another invocation's value grouped by field (metric lines by metric
// field, under their own code), outgoing requests by place in the request, escaped lines by
// place.
import { isAbsolute, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FINDING_CODES } from '@lmi/core'
import type { DetectorFinding } from './detectors.ts'
import {
  ABSENT,
  type RawDifference,
  type Reference,
  renderPath,
  renderValue,
  sameValue,
  valueAt,
} from './diff.ts'
import type { CheckEvent } from './events.ts'
import { LogComparison, type LogLeak, shortLine, type WrittenLine } from './logs.ts'
import { metricSubject, parseEmf } from './metrics.ts'
import {
  REQUEST_HINT,
  type RequestLeak,
  requestLeakSubject,
  requestLeaks,
  requestLine,
} from './requests.ts'
import type { DifferingResponse, Evidence, Phase } from './run.ts'
import type {
  CheckFinding,
  CheckResult,
  DifferenceExample,
  LogExample,
  RequestExample,
  ResponseDifference,
} from './types.ts'

const EXAMPLES_PER_FINDING = 3
const LIKELY_FROM_MAX = 3

/** The usual cause of each log finding, in a line. */
const LOG_HINTS = {
  dependent:
    "state kept on a module-level logger or client (a logger's keys, a 'current request' variable)",
  escaped: 'a line written by work that outlived its invocation, or by no invocation',
  metric: 'dimensions or metadata kept on a module-level Metrics instance',
} as const

/**
 * What grouping needs besides the evidence: where the handler runs (locations are shown
 * relative to it), the events, and each event's reference.
 *
 * @example
 * ```ts
 * const context: GroupingContext = { cwd: settings.cwd, events, references }
 * ```
 */
export interface GroupingContext {
  readonly cwd: string
  readonly events: readonly CheckEvent[]
  /** By event index. */
  readonly references: readonly Reference[]
}

/**
 * What the concurrent phase gave to compare with the solo runs: its answered responses, the
 * log lines (metric lines among them) and the outgoing requests its invocations made while
 * they ran.
 *
 * @example
 * ```ts
 * comparedEvidence(run) // => { responses: 96, logLines: 192, metricLines: 96, requests: 0 }
 * ```
 */
export function comparedEvidence(evidence: Evidence): CheckResult['compared'] {
  let logLines = 0
  let metricLines = 0
  let requests = 0
  for (const [requestId, info] of evidence.invocations) {
    if (info.phase !== 'concurrent') continue
    for (const line of evidence.writtenLines.get(requestId) ?? []) {
      if (line.ended) continue
      logLines++
      if (parseEmf(line.text) !== undefined) metricLines++
    }
    requests += evidence.requests?.get(requestId)?.length ?? 0
  }
  return { responses: evidence.concurrentInvocations, logLines, metricLines, requests }
}

/**
 * Every finding of a run, grouped, sorted by code, then subject, then location.
 *
 * @example
 * ```ts
 * const findings = groupFindings(run, { cwd: settings.cwd, events, references })
 * ```
 */
export function groupFindings(evidence: Evidence, context: GroupingContext): CheckFinding[] {
  return [
    ...groupDetectorFindings(evidence, context.cwd),
    ...groupDifferences(evidence, context),
    ...groupLogLeaks(evidence, context),
    ...groupEscapedLines(evidence, context.cwd),
    // Outgoing requests that carry another invocation's value (requests.ts).
    ...groupRequestLeaks(evidence, context),
  ].sort(
    (a, b) =>
      a.code.localeCompare(b.code) ||
      a.subject.localeCompare(b.subject) ||
      (a.location ?? '').localeCompare(b.location ?? ''),
  )
}

const FRAME_LOCATION = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/

/**
 * `file:line:column` of a stack's first frame, relative to `cwd` when inside it.
 *
 * @example
 * ```ts
 * locationOf('at handler (/app/src/a.mjs:3:7)', '/app') // => 'src/a.mjs:3:7'
 * ```
 */
export function locationOf(stack: string | undefined, cwd: string): string | undefined {
  if (stack === undefined) return undefined
  const first = stack
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '')
  if (first === undefined) return undefined
  const match = FRAME_LOCATION.exec(first)
  if (match === null) return undefined
  let file = match[1] as string
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file)
    } catch {
      // Not a file URL Node can map: keep it as it is.
    }
  }
  if (isAbsolute(file)) {
    const inside = relative(cwd, file)
    if (inside !== '' && !inside.startsWith(`..${sep}`) && inside !== '..' && !isAbsolute(inside)) {
      file = inside
    }
  }
  return `${file}:${match[2]}:${match[3]}`
}

function sortedNames(events: Iterable<CheckEvent>): string[] {
  return [...new Set(events)].sort((a, b) => a.index - b.index).map((event) => event.name)
}

/** Groups the detectors' finding lines by code, subject and place. */
function groupDetectorFindings(evidence: Evidence, cwd: string): CheckFinding[] {
  const groups = new Map<
    string,
    {
      first: DetectorFinding
      withOther: DetectorFinding | undefined
      location: string | undefined
      events: Set<CheckEvent>
      phases: Set<Phase>
      occurrences: number
    }
  >()
  for (const { finding, phase } of evidence.detectorFindings) {
    const location = locationOf(finding.stack, cwd)
    const key = `${finding.code}\0${finding.subject}\0${location ?? ''}`
    let group = groups.get(key)
    if (group === undefined) {
      group = {
        first: finding,
        withOther: undefined,
        location,
        events: new Set(),
        phases: new Set(),
        occurrences: 0,
      }
      groups.set(key, group)
    }
    group.occurrences++
    group.phases.add(phase)
    if (group.withOther === undefined && finding.otherRequestId !== undefined) {
      group.withOther = finding
    }
    for (const id of [finding.requestId, finding.otherRequestId]) {
      const info = id === undefined ? undefined : evidence.invocations.get(id)
      if (info !== undefined) group.events.add(info.event)
    }
  }
  return [...groups.values()].map((group) => {
    const shown = group.withOther ?? group.first
    return {
      code: shown.code,
      subject: shown.subject,
      message: shown.message,
      location: group.location,
      stack: shown.stack,
      requestId: shown.requestId,
      otherRequestId: shown.otherRequestId,
      events: sortedNames(group.events),
      phases: (['solo', 'concurrent'] as const).filter((phase) => group.phases.has(phase)),
      occurrences: group.occurrences,
      examples: [],
    }
  })
}

/** The keys a differing response is grouped by: `outcome`, or the paths that differ. */
function keysOf(differences: readonly RawDifference[]): string[] {
  if (differences.some((difference) => difference.kind === 'outcome')) return ['outcome']
  return [...new Set(differences.map((difference) => renderPath(difference.segments)))]
}

const MAX_SUBJECT_PATHS = 6

function subjectOf(keys: readonly string[]): string {
  if (keys.includes('outcome')) return 'outcome'
  const sorted = [...keys].sort()
  const shown = sorted.slice(0, MAX_SUBJECT_PATHS).join(', ')
  return `response ${shown}${sorted.length > MAX_SUBJECT_PATHS ? ', …' : ''}`
}

/**
 * Groups differing responses into findings: two belong together when they differ at a common
 * path (connected components), so one shared variable that shows at `$.user` in one response
 * and at `$.user` and `$.plan` in another is one finding, while an error instead of a
 * response (`outcome`) and unrelated paths are findings of their own.
 */
function groupDifferences(evidence: Evidence, context: GroupingContext): CheckFinding[] {
  const { references } = context
  const parent = new Map<string, string>()
  const root = (key: string): string => {
    let current = key
    for (;;) {
      const up = parent.get(current) ?? current
      if (up === current) return current
      parent.set(current, parent.get(up) ?? up)
      current = up
    }
  }
  const keyed = evidence.differing.map((differing) => ({
    differing,
    keys: keysOf(differing.differences),
  }))
  for (const { keys } of keyed) {
    const [first, ...rest] = keys
    if (first === undefined) continue
    if (!parent.has(first)) parent.set(first, first)
    for (const key of rest) {
      if (!parent.has(key)) parent.set(key, key)
      parent.set(root(key), root(first))
    }
  }
  const components = new Map<string, { keys: Set<string>; members: DifferingResponse[] }>()
  for (const { differing, keys } of keyed) {
    const component = root(keys[0] as string)
    let entry = components.get(component)
    if (entry === undefined) {
      entry = { keys: new Set(), members: [] }
      components.set(component, entry)
    }
    for (const key of keys) entry.keys.add(key)
    entry.members.push(differing)
  }
  const groups = new Map<string, DifferingResponse[]>()
  for (const { keys, members } of components.values()) groups.set(subjectOf([...keys]), members)
  const findings: CheckFinding[] = []
  for (const [subject, group] of groups) {
    const examples: DifferenceExample[] = []
    const seen = new Set<CheckEvent>()
    for (const differing of group) {
      if (examples.length >= EXAMPLES_PER_FINDING) break
      if (seen.has(differing.event)) continue
      seen.add(differing.event)
      const reference = references[differing.event.index] as Reference
      examples.push({
        event: differing.event.name,
        requestId: differing.requestId,
        referenceRequestId: reference.requestId,
        round: differing.round,
        differences: differing.differences.map((difference) =>
          renderDifference(difference, differing.event, context.events, references),
        ),
      })
    }
    const first = examples[0] as DifferenceExample
    const events = sortedNames(group.map((differing) => differing.event))
    const detail = first.differences
      .map((difference) =>
        difference.path === '$'
          ? `expected ${difference.expected}, got ${difference.got}`
          : `${difference.path}: expected ${difference.expected}, got ${difference.got}`,
      )
      .join('; ')
    findings.push({
      code: FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE,
      subject,
      message:
        `Response depends on concurrency: ${group.length} of ${evidence.concurrentInvocations} concurrent ` +
        `invocations (${events.length} of ${context.events.length} events) answered differently than ` +
        `the same event alone (${first.event}: ${detail}). Some state is shared between ` +
        'invocations: a module-level variable, a cache keyed without the user or tenant, a fixed file name…',
      location: undefined,
      stack: undefined,
      requestId: first.requestId,
      otherRequestId: first.referenceRequestId,
      events,
      phases: ['concurrent'],
      occurrences: group.length,
      examples,
    })
  }
  return findings
}

function renderDifference(
  difference: RawDifference,
  event: CheckEvent,
  events: readonly CheckEvent[],
  references: readonly Reference[],
): ResponseDifference {
  const path = renderPath(difference.segments)
  if (difference.kind === 'outcome') {
    return {
      path,
      expected: String(difference.expected),
      got: String(difference.got),
      likelyFrom: [],
    }
  }
  const likelyFrom: string[] = []
  if (difference.got !== ABSENT) {
    for (const other of events) {
      if (other === event) continue
      const outcome = references[other.index]?.outcome
      if (outcome?.status !== 'success') continue
      if (sameValue(valueAt(outcome.value, difference.segments), difference.got)) {
        likelyFrom.push(other.name)
      }
    }
  }
  return {
    path,
    expected: renderValue(difference.expected),
    got: renderValue(difference.got),
    // Many matches say nothing about where a value came from.
    likelyFrom: likelyFrom.length <= LIKELY_FROM_MAX ? likelyFrom : [],
  }
}

function leakSubject(leak: LogLeak): string {
  if (leak.metric !== undefined) return metricSubject(leak.metric, leak.kind)
  const where = leak.path === undefined ? 'log text' : `log ${leak.path}`
  return leak.kind === 'request-id' ? `${where} (another request's id)` : where
}

function leakExample(leak: LogLeak): LogExample {
  return {
    event: leak.event.name,
    requestId: leak.requestId,
    round: leak.round,
    stream: leak.stream,
    otherEvent: leak.otherEvent.name,
    otherRequestId: leak.otherRequestId,
    otherPhase: leak.otherPhase,
    path: leak.path,
    value: leak.value,
    line: leak.line,
    at: undefined,
  }
}

/**
 * Leaks grouped by subject, in the order first seen, each group with up to
 * {@link EXAMPLES_PER_FINDING} of its leaks, from different events, as its examples.
 */
function bySubject<Leak extends { readonly event: CheckEvent }>(
  leaks: Iterable<Leak>,
  subjectFor: (leak: Leak) => string,
): Array<{ subject: string; group: Leak[]; examples: Leak[] }> {
  const groups = new Map<string, Leak[]>()
  for (const leak of leaks) {
    const subject = subjectFor(leak)
    const group = groups.get(subject)
    if (group === undefined) groups.set(subject, [leak])
    else group.push(leak)
  }
  return [...groups].map(([subject, group]) => {
    const examples: Leak[] = []
    const seen = new Set<CheckEvent>()
    for (const leak of group) {
      if (examples.length >= EXAMPLES_PER_FINDING) break
      if (seen.has(leak.event)) continue
      seen.add(leak.event)
      examples.push(leak)
    }
    return { subject, group, examples }
  })
}

/**
 * Where most of a group's lines (or requests) were written (made), relative to `cwd`: the
 * runtime names the first application frame of each.
 */
function commonLocation(
  places: ReadonlyArray<string | undefined>,
  cwd: string,
): string | undefined {
  const counts = new Map<string, number>()
  for (const place of places) {
    if (place !== undefined) counts.set(place, (counts.get(place) ?? 0) + 1)
  }
  let best: string | undefined
  let most = 0
  for (const [place, count] of counts) {
    if (count > most) {
      best = place
      most = count
    }
  }
  return locationOf(best, cwd)
}

/** What a finding made of concurrent leaks says besides its code and text. */
function concurrentLeak(
  first: { readonly requestId: string; readonly otherRequestId: string },
  events: string[],
  occurrences: number,
  location: string | undefined,
): Pick<
  CheckFinding,
  | 'location'
  | 'stack'
  | 'requestId'
  | 'otherRequestId'
  | 'events'
  | 'phases'
  | 'occurrences'
  | 'examples'
> {
  return {
    location,
    stack: undefined,
    requestId: first.requestId,
    otherRequestId: first.otherRequestId,
    events,
    phases: ['concurrent'],
    occurrences,
    examples: [],
  }
}

/**
 * Groups the log lines that carry another invocation's value: one finding per field (or per
 * kind, in text lines), with up to three lines written by different events.
 */
function groupLogLeaks(evidence: Evidence, context: GroupingContext): CheckFinding[] {
  if (evidence.writtenLines.size === 0) return []
  const leaks = new LogComparison(context.events).leaks(evidence.invocations, evidence.writtenLines)
  return bySubject(leaks, leakSubject).map(({ subject, group, examples }) => {
    const first = group[0] as LogLeak
    const lines = new Set(group.map((leak) => `${leak.requestId}\0${leak.line}`)).size
    const writers = new Set(group.map((leak) => leak.requestId)).size
    const events = sortedNames(group.flatMap((leak) => [leak.event, leak.otherEvent]))
    // Metric (EMF) lines: their own code and cause; subjects never mix the two (metrics.ts).
    const metric = first.metric !== undefined
    const whose =
      first.kind === 'request-id'
        ? `the request id of ${first.otherEvent.name}'s invocation ${first.otherRequestId}, running at the same time`
        : `${first.value}, which ${first.otherEvent.name} ${metric ? 'publishes' : 'logs'} alone and ${first.event.name} never does`
    const hint = metric ? LOG_HINTS.metric : LOG_HINTS.dependent
    return {
      code: metric
        ? FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC
        : FINDING_CODES.CONCURRENCY_DEPENDENT_LOG,
      subject,
      message:
        `${metric ? 'Metrics' : 'Log lines'} depend on concurrency: ${lines} ${metric ? 'metric (EMF) ' : ''}line(s) written by ${writers} of ` +
        `${evidence.concurrentInvocations} concurrent invocations carry another invocation's value ` +
        `(${first.event.name} wrote ${whose}). Usual cause: ${hint}.`,
      ...concurrentLeak(
        first,
        events,
        lines,
        commonLocation(
          group.map((leak) => leak.at),
          context.cwd,
        ),
      ),
      lines: examples.map(leakExample),
      hint,
    }
  })
}

/**
 * Groups the requests that carry another invocation's value into
 * `LMI_CONCURRENCY_DEPENDENT_REQUEST` findings: one per place in the request (a header, the
 * URL, a body field), with up to three requests made by different events.
 */
function groupRequestLeaks(evidence: Evidence, context: GroupingContext): CheckFinding[] {
  const requests = evidence.requests
  if (requests === undefined || requests.size === 0) return []
  const leaks = requestLeaks(context.events, evidence.invocations, requests)
  return bySubject(leaks, requestLeakSubject).map(({ subject, group, examples }) => {
    const first = group[0] as RequestLeak
    const made = new Set(group.map((leak) => leak.request ?? `${leak.requestId}\0${leak.line}`))
    const senders = new Set(group.map((leak) => leak.requestId)).size
    const events = sortedNames(group.flatMap((leak) => [leak.event, leak.otherEvent]))
    const whose =
      first.kind === 'value'
        ? `${first.value}, which ${first.otherEvent.name} sends alone and ${first.event.name} never does`
        : `the ${first.kind === 'trace-id' ? 'trace id' : 'request id'} of ${first.otherEvent.name}'s invocation ${first.otherRequestId}, running at the same time`
    return {
      code: FINDING_CODES.CONCURRENCY_DEPENDENT_REQUEST,
      subject,
      message:
        `Outgoing requests depend on concurrency: ${made.size} request(s) made by ${senders} of ` +
        `${evidence.concurrentInvocations} concurrent invocations carry another invocation's value ` +
        `(${first.event.name} sent ${whose}). Usual cause: ${REQUEST_HINT}.`,
      ...concurrentLeak(
        first,
        events,
        made.size,
        commonLocation(
          group.map((leak) => leak.request?.at),
          context.cwd,
        ),
      ),
      requests: examples.map(
        (leak): RequestExample => ({
          event: leak.event.name,
          requestId: leak.requestId,
          round: leak.round,
          otherEvent: leak.otherEvent.name,
          otherRequestId: leak.otherRequestId,
          otherPhase: leak.otherPhase,
          kind: leak.kind,
          path: leak.path,
          value: leak.value,
          line: requestLine(leak, subject),
        }),
      ),
      hint: REQUEST_HINT,
    }
  })
}

/** Groups the escaped lines by what they are (after the answer, or outside) and by place. */
function groupEscapedLines(evidence: Evidence, cwd: string): CheckFinding[] {
  const groups = new Map<
    string,
    {
      subject: string
      location: string | undefined
      lines: Array<Pick<WrittenLine, 'text' | 'requestId' | 'stream' | 'at'>>
      phases: Set<Phase>
      events: Set<CheckEvent>
      requestId: string | undefined
    }
  >()
  for (const { line, phase } of evidence.escapedLines) {
    const subject = line.ended
      ? 'log line written after its invocation answered'
      : 'log line written outside any invocation'
    const location = locationOf(line.at, cwd)
    const key = `${subject}\0${location ?? ''}`
    let group = groups.get(key)
    if (group === undefined) {
      group = {
        subject,
        location,
        lines: [],
        phases: new Set(),
        events: new Set(),
        requestId: undefined,
      }
      groups.set(key, group)
    }
    group.lines.push(line)
    group.phases.add(phase)
    const info = line.requestId === null ? undefined : evidence.invocations.get(line.requestId)
    if (info !== undefined) group.events.add(info.event)
    group.requestId ??= line.requestId ?? undefined
  }
  return [...groups.values()].map((group) => {
    const first = group.lines[0] as (typeof group.lines)[number]
    const examples: LogExample[] = group.lines.slice(0, EXAMPLES_PER_FINDING).map((line) => {
      const info = line.requestId === null ? undefined : evidence.invocations.get(line.requestId)
      return {
        event: info?.event.name,
        requestId: line.requestId ?? undefined,
        round: info?.round ?? 0,
        stream: line.stream,
        otherEvent: undefined,
        otherRequestId: undefined,
        otherPhase: undefined,
        path: undefined,
        value: undefined,
        line: shortLine(line.text),
        at: line.at,
      }
    })
    const who =
      first.requestId === null
        ? 'by no invocation, after invocations had started'
        : `by invocation ${first.requestId} after it had answered`
    return {
      code: FINDING_CODES.ESCAPED_LOG,
      subject: group.subject,
      message:
        `${group.lines.length} log line(s) written ${who} (first: ${JSON.stringify(shortLine(first.text, 120))}). ` +
        `Usual cause: ${LOG_HINTS.escaped}.`,
      location: group.location,
      stack: first.at === undefined ? undefined : `at ${first.at}`,
      requestId: group.requestId,
      otherRequestId: undefined,
      events: sortedNames(group.events),
      phases: (['solo', 'concurrent'] as const).filter((phase) => group.phases.has(phase)),
      occurrences: group.lines.length,
      examples: [],
      lines: examples,
      hint: LOG_HINTS.escaped,
    }
  })
}
