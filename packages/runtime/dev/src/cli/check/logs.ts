// What the handler logs, as evidence: the lines its code writes, each attributed by the runtime
// to the invocation current at write time (`LMI_CHECK_ATTRIBUTION=1`: every chunk comes back
// as one `\u001eLMI-WRITE {r,e,s,t,at}` line), and their comparison with the solo runs.
//
// A concurrent line leaks when it carries a value of another invocation:
// - a value that event A's solo runs log, written by event B's invocation, that B's solo runs
//   never log. For a JSON line, its leaves by path, normalised as responses are (own request and
//   trace ids, UUIDs, timestamps) and with digits that no event holds masked (durations, counts,
//   epoch times), skipping paths whose values differ between two solo runs of any event; for a
//   text line, only the tokens that come from exactly one event (strings of 3+ characters,
//   numbers of 3+ digits), so that nothing but an event's own data can raise a finding;
// - the request id of another invocation of the same run (a module-level "current request").
// Lines written by an invocation that had already answered, or by none once invocations had
// started, are escaped (grouped by the code that wrote them).
// Metric (EMF) lines are compared the same way; metrics.ts marks their leaks by metric field, so
// that they are reported as metric findings, not log ones.

import { isRecord } from '@lmi/core/internal'
import { ATTRIBUTION_PREFIX } from '@lmi/runtime'
import { holdsWord, Normalizer, renderPath, type Segment } from './diff.ts'
import { type CheckEvent, traceableValue } from './events.ts'
import { type MetricField, markMetricLeaks } from './metrics.ts'

/** What the runtime puts before each attributed chunk (`LMI_CHECK_ATTRIBUTION=1`). */
export const WRITE_PREFIX: string = ATTRIBUTION_PREFIX

/**
 * One chunk the handler's code wrote, as the runtime reports it under `LMI_CHECK_ATTRIBUTION=1`.
 *
 * @example
 * ```ts
 * const chunk: WrittenChunk = { r: '9a1e…', e: false, s: 'out', t: '{"msg":"hi"}\n', at: undefined }
 * ```
 */
export interface WrittenChunk {
  /** Request id of the invocation current at write time; `null` when none. */
  readonly r: string | null
  /** That invocation had already answered. */
  readonly e: boolean
  readonly s: 'out' | 'err'
  /** The chunk, as text: any number of lines, the last one possibly unfinished. */
  readonly t: string
  /** `file:line:col` of the writing code (its first application frame), when known. */
  readonly at: string | undefined
}

/**
 * One line the handler wrote, attributed to an invocation.
 *
 * @example
 * ```ts
 * const line: WrittenLine = {
 *   requestId: '9a1e…', ended: false, stream: 'stdout', text: '{"customer":"alice"}', at: undefined,
 *   afterInvocations: true,
 * }
 * ```
 */
export interface WrittenLine {
  readonly requestId: string | null
  readonly ended: boolean
  readonly stream: 'stdout' | 'stderr'
  readonly text: string
  readonly at: string | undefined
  /** The process had been sent an invocation when the line was read (not written at init). */
  readonly afterInvocations: boolean
}

/**
 * The chunk an attributed output line carries; `undefined` for any other line.
 *
 * @example
 * ```ts
 * parseWriteLine('\u001eLMI-WRITE {"r":null,"e":false,"s":"out","t":"hi\\n","at":"a.mjs:1:1"}')
 * // => { r: null, e: false, s: 'out', t: 'hi\n', at: 'a.mjs:1:1' }
 * ```
 */
export function parseWriteLine(line: string): WrittenChunk | undefined {
  if (!line.startsWith(WRITE_PREFIX)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(line.slice(WRITE_PREFIX.length))
  } catch {
    return undefined
  }
  if (!isRecord(parsed)) return undefined
  const { r, e, s, t, at } = parsed
  if (r !== null && typeof r !== 'string') return undefined
  if (typeof t !== 'string' || (s !== 'out' && s !== 'err')) return undefined
  return { r, e: e === true, s, t, at: typeof at === 'string' ? at : undefined }
}

/**
 * Cuts attributed chunks into lines. A line written in several chunks (`process.stdout.write`
 * of its parts) is joined when the chunks come from the same invocation on the same stream.
 *
 * @example
 * ```ts
 * const splitter = new WriteSplitter()
 * splitter.push({ r: 'a', e: false, s: 'out', t: 'hel', at: undefined }) // => []
 * splitter.push({ r: 'a', e: false, s: 'out', t: 'lo\n', at: undefined }) // => [{ text: 'hello', … }]
 * ```
 */
export class WriteSplitter {
  readonly #pending = new Map<string, { text: string; chunk: WrittenChunk }>()

  /** The lines this chunk ends (blank lines left out). */
  push(chunk: WrittenChunk): Array<Omit<WrittenLine, 'afterInvocations'>> {
    const key = `${chunk.r ?? ''}\0${chunk.s}`
    const pending = this.#pending.get(key)
    const parts = `${pending?.text ?? ''}${chunk.t}`.split('\n')
    const rest = parts.pop() as string
    const first = pending?.chunk ?? chunk
    if (rest === '') this.#pending.delete(key)
    else this.#pending.set(key, { text: rest, chunk: first })
    const lines: Array<Omit<WrittenLine, 'afterInvocations'>> = []
    for (const [index, part] of parts.entries()) {
      // The first line may have begun in an earlier chunk: where it was written is that one's.
      lines.push(toLine(part, index === 0 ? first : chunk, chunk.e))
    }
    return lines.filter((line) => line.text.trim() !== '')
  }

  /** The unfinished lines, at the end of the output. */
  flush(): Array<Omit<WrittenLine, 'afterInvocations'>> {
    const lines = [...this.#pending.values()].map(({ text, chunk }) => toLine(text, chunk, chunk.e))
    this.#pending.clear()
    return lines.filter((line) => line.text.trim() !== '')
  }
}

function toLine(
  text: string,
  chunk: WrittenChunk,
  ended: boolean,
): Omit<WrittenLine, 'afterInvocations'> {
  return {
    requestId: chunk.r,
    ended: ended || chunk.e,
    stream: chunk.s === 'out' ? 'stdout' : 'stderr',
    text: text.endsWith('\r') ? text.slice(0, -1) : text,
    at: chunk.at,
  }
}

/**
 * The line is escaped: written by an invocation that had already answered, or by none after
 * the process was sent its first invocation.
 *
 * @example
 * ```ts
 * isEscaped({ requestId: null, ended: false, afterInvocations: true, … }) // => true
 * ```
 */
export function isEscaped(line: WrittenLine): boolean {
  return line.ended || (line.requestId === null && line.afterInvocations)
}

/**
 * What the comparison knows of an invocation: its event, phase, round and trace root.
 *
 * @example
 * ```ts
 * const info: LogInvocation = { event: events[0], phase: 'solo', round: 0, traceRoot: undefined }
 * ```
 */
export interface LogInvocation {
  readonly event: CheckEvent
  readonly phase: 'solo' | 'concurrent'
  readonly round: number
  readonly traceRoot?: string | undefined
}

/**
 * A concurrent log line that carries another invocation's value.
 *
 * @example
 * ```ts
 * const leak: LogLeak = {
 *   kind: 'value', requestId: '5f2c…', event: events[0], round: 1, otherRequestId: '9a1e…',
 *   otherEvent: events[1], otherPhase: 'solo', path: '$.customer', value: '"bob"',
 *   line: '{"customer":"bob",…}', stream: 'stdout',
 * }
 * ```
 */
export interface LogLeak {
  /** `value`: another event's value; `request-id`: another invocation's request id. */
  readonly kind: 'value' | 'request-id'
  /** The concurrent invocation that wrote the line. */
  readonly requestId: string
  readonly event: CheckEvent
  readonly round: number
  /** A solo run of the event the value belongs to, or the other concurrent invocation. */
  readonly otherRequestId: string
  readonly otherEvent: CheckEvent
  readonly otherPhase: 'solo' | 'concurrent'
  /** The JSON path of the value in the line; `undefined` in a text line. */
  readonly path: string | undefined
  /** The value (as JSON) or the token found. */
  readonly value: string
  /** The line, shortened. */
  readonly line: string
  readonly stream: 'stdout' | 'stderr'
  /** `file:line:col` of the code that wrote the line, as the runtime saw it. */
  readonly at?: string | undefined
  /** The line is a metric (EMF) line: the field the value was found in (metrics.ts). */
  readonly metric?: MetricField | undefined
}

const MAX_LINE = 300
const MAX_VALUE = 80
const MIN_STRING = 3
const MIN_DIGITS = 3
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi
const DIGITS = /\d+/g
const PLACEHOLDER_ONLY = /^(?:<[a-z-]+>|[\s\W#])*$/

/**
 * A line shortened for a report.
 *
 * @example
 * ```ts
 * shortLine('x'.repeat(400)).length // => 300
 * ```
 */
export function shortLine(text: string, max = MAX_LINE): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

function shortValue(value: string): string {
  return value.length <= MAX_VALUE ? value : `${value.slice(0, MAX_VALUE - 1)}…`
}

/**
 * The tokens of the events that can be traced to one event: leaf strings of 3+ characters and
 * numbers of 3+ digits that occur in that event only, with the event's index.
 *
 * @example
 * ```ts
 * eventTokens([{ user: 'alice', tenant: 'acme' }, { user: 'bob', tenant: 'acme' }])
 * // => Map { 'alice' => 0, 'bob' => 1 }
 * ```
 */
export function eventTokens(events: readonly unknown[]): Map<string, number> {
  const owners = new Map<string, number | undefined>()
  for (const [index, event] of events.entries()) {
    const own = new Set<string>()
    collectTokens(event, own, 0)
    for (const token of own) owners.set(token, owners.has(token) ? undefined : index)
  }
  const tokens = new Map<string, number>()
  for (const [token, owner] of owners) if (owner !== undefined) tokens.set(token, owner)
  return tokens
}

function collectTokens(value: unknown, out: Set<string>, depth: number): void {
  if (depth > 32) return
  if (typeof value === 'string') {
    if (value.trim().length >= MIN_STRING) out.add(value)
  } else if (typeof value === 'number') {
    if (Number.isFinite(value) && String(value).replace(/\D/g, '').length >= MIN_DIGITS) {
      out.add(String(value))
    }
  } else if (Array.isArray(value)) {
    for (const item of value) collectTokens(item, out, depth + 1)
  } else if (isRecord(value)) {
    for (const item of Object.values(value)) collectTokens(item, out, depth + 1)
  }
}

// Characters of the tokens found by splitting a line (ids, emails, paths, words); a token with
// any other character (a space) is looked for in each line, one by one.
const SIMPLE_TOKEN = /^[\p{L}\p{N}_.@:/+-]+$/u
const SIMPLE_RUN = /[\p{L}\p{N}_.@:/+-]+/gu
const SEGMENT = /[\p{L}\p{N}_]+|[^\p{L}\p{N}_]+/gu
const MAX_SEGMENTS = 15

/**
 * The event tokens a line holds, whole (as {@link holdsWord} finds them): simple tokens
 * by splitting the line into runs of word and separator segments, the others one by one.
 */
class TokenFinder {
  readonly #simple = new Set<string>()
  readonly #other: string[] = []

  constructor(tokens: Iterable<string>) {
    for (const token of tokens) {
      if (SIMPLE_TOKEN.test(token)) this.#simple.add(token)
      else this.#other.push(token)
    }
  }

  find(text: string): Set<string> {
    const found = new Set<string>()
    for (const [run] of text.matchAll(SIMPLE_RUN)) {
      const segments = run.match(SEGMENT) ?? []
      for (let start = 0; start < segments.length; start++) {
        let candidate = ''
        const end = Math.min(segments.length, start + MAX_SEGMENTS)
        for (let index = start; index < end; index++) {
          candidate += segments[index]
          if (this.#simple.has(candidate)) found.add(candidate)
        }
      }
    }
    for (const token of this.#other) if (holdsWord(text, token)) found.add(token)
    return found
  }
}

/** A JSON leaf of a log line: its path and its comparable value. */
interface Leaf {
  readonly segments: readonly Segment[]
  readonly path: string
  /** The value as JSON, digits no event holds masked. */
  readonly key: string
  readonly raw: unknown
}

/**
 * Compares log lines: see the top of this file. Made once per check from the events.
 *
 * @example
 * ```ts
 * const comparison = new LogComparison(events)
 * const leaks = comparison.leaks(invocations, linesByRequest)
 * ```
 */
export class LogComparison {
  readonly #events: readonly CheckEvent[]
  readonly #normalizer: Normalizer
  readonly #tokens: Map<string, number>
  readonly #finder: TokenFinder
  /** Numbers of the events (as text): digits kept in log values, all others masked. */
  readonly #eventNumbers: Set<string>

  constructor(events: readonly CheckEvent[]) {
    this.#events = events
    const values = events.map(traceableValue)
    this.#normalizer = new Normalizer(values)
    this.#tokens = eventTokens(values)
    this.#finder = new TokenFinder(this.#tokens.keys())
    this.#eventNumbers = new Set()
    for (const value of values) {
      for (const match of (JSON.stringify(value) ?? '').matchAll(DIGITS)) {
        if (match[0].length >= MIN_DIGITS) this.#eventNumbers.add(match[0])
      }
    }
  }

  /** The leaves of a JSON line (an object or array), normalised; `undefined` for a text line. */
  leaves(text: string, requestId: string, traceRoot: string | undefined): Leaf[] | undefined {
    const first = text.trimStart()[0]
    if (first !== '{' && first !== '[') return undefined
    let parsed: unknown
    try {
      parsed = JSON.parse(this.#normalizer.text(text, { requestId, traceRoot }))
    } catch {
      return undefined
    }
    const leaves: Leaf[] = []
    this.#collectLeaves(parsed, [], leaves, 0)
    return leaves
  }

  #collectLeaves(value: unknown, segments: Segment[], out: Leaf[], depth: number): void {
    if (depth > 32) return
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) {
        this.#collectLeaves(item, [...segments, index], out, depth + 1)
      }
      return
    }
    if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) {
        this.#collectLeaves(item, [...segments, key], out, depth + 1)
      }
      return
    }
    let key: string | undefined
    if (typeof value === 'string') {
      // JSON logged as a message (`console.log(JSON.stringify(…))` in Lambda's JSON format):
      // compared field by field, as a response's JSON `body` is.
      const first = value.trimStart()[0]
      if (first === '{' || first === '[') {
        try {
          this.#collectLeaves(JSON.parse(value), segments, out, depth + 1)
          return
        } catch {
          // Not JSON after all: a string like any other.
        }
      }
      const masked = value.replace(DIGITS, (digits) =>
        this.#eventNumbers.has(digits) ? digits : '#',
      )
      if (masked.trim().length >= MIN_STRING && !PLACEHOLDER_ONLY.test(masked)) {
        key = JSON.stringify(masked)
      }
    } else if (typeof value === 'number' && this.#eventNumbers.has(String(value))) {
      key = String(value)
    }
    if (key !== undefined) out.push({ segments, path: renderPath(segments), key, raw: value })
  }

  /**
   * The leaks of the concurrent lines (see the top of this file). `lines` holds every line an
   * invocation wrote, by its request id, both phases; escaped lines are left out of the
   * comparison (they are findings of their own).
   */
  leaks(
    invocations: ReadonlyMap<string, LogInvocation>,
    lines: ReadonlyMap<string, readonly WrittenLine[]>,
  ): LogLeak[] {
    const solo = this.#soloValues(invocations, lines)
    const leaks: LogLeak[] = []
    for (const [requestId, written] of lines) {
      const info = invocations.get(requestId)
      if (info?.phase !== 'concurrent') continue
      for (const line of written) {
        if (line.ended) continue
        // EMF lines are compared as any line; their leaks are marked as metrics' (metrics.ts).
        leaks.push(
          ...markMetricLeaks(line.text, this.#lineLeaks(line, requestId, info, invocations, solo)),
        )
      }
    }
    return leaks
  }

  #soloValues(
    invocations: ReadonlyMap<string, LogInvocation>,
    lines: ReadonlyMap<string, readonly WrittenLine[]>,
  ): SoloValues {
    const pairs = this.#events.map(() => new Map<string, string>())
    const tokens = this.#events.map(() => new Map<string, string>())
    const runs = this.#events.map(() => [] as Array<Map<string, Set<string>>>)
    for (const [requestId, written] of lines) {
      const info = invocations.get(requestId)
      if (info?.phase !== 'solo') continue
      const index = info.event.index
      const byPath = new Map<string, Set<string>>()
      for (const line of written) {
        const leaves = this.leaves(line.text, requestId, info.traceRoot)
        for (const leaf of leaves ?? []) {
          const pair = `${leaf.path}\0${leaf.key}`
          if (!pairs[index]?.has(pair)) pairs[index]?.set(pair, requestId)
          let values = byPath.get(leaf.path)
          if (values === undefined) {
            values = new Set()
            byPath.set(leaf.path, values)
          }
          values.add(leaf.key)
        }
        for (const token of this.#finder.find(line.text)) {
          if (!tokens[index]?.has(token)) tokens[index]?.set(token, requestId)
        }
      }
      runs[index]?.push(byPath)
    }
    // Whatever differs between two solo runs of an event is volatile there for every event.
    const volatile = new Set<string>()
    for (const eventRuns of runs) {
      const [first, ...rest] = eventRuns
      if (first === undefined) continue
      for (const other of rest) {
        for (const path of new Set([...first.keys(), ...other.keys()])) {
          const a = first.get(path)
          const b = other.get(path)
          if (a === undefined || b === undefined || a.size !== b.size) volatile.add(path)
          else if ([...a].some((key) => !b.has(key))) volatile.add(path)
        }
      }
    }
    return { pairs, tokens, volatile }
  }

  #lineLeaks(
    line: WrittenLine,
    requestId: string,
    info: LogInvocation,
    invocations: ReadonlyMap<string, LogInvocation>,
    solo: SoloValues,
  ): LogLeak[] {
    const leaks: LogLeak[] = []
    const base = {
      requestId,
      event: info.event,
      round: info.round,
      line: shortLine(line.text),
      stream: line.stream,
      at: line.at,
    }
    const leaves = this.leaves(line.text, requestId, info.traceRoot)
    // Another invocation's request id: looked for in the raw line (normalising hides it).
    for (const match of new Set([...line.text.matchAll(UUID)].map((found) => found[0]))) {
      const other = match === requestId ? undefined : invocations.get(match)
      if (other?.phase !== 'concurrent') continue
      leaks.push({
        ...base,
        kind: 'request-id',
        otherRequestId: match,
        otherEvent: other.event,
        otherPhase: 'concurrent',
        path: leaves === undefined ? undefined : this.#pathOf(line.text, match),
        value: match,
      })
    }
    if (leaks.length > 0) return leaks
    const own = info.event.index
    if (leaves !== undefined) {
      for (const leaf of leaves) {
        if (solo.volatile.has(leaf.path)) continue
        const pair = `${leaf.path}\0${leaf.key}`
        if (solo.pairs[own]?.has(pair)) continue
        const from = this.#otherEvent(own, (index) => solo.pairs[index]?.get(pair))
        if (from === undefined) continue
        leaks.push({
          ...base,
          kind: 'value',
          otherRequestId: from.requestId,
          otherEvent: from.event,
          otherPhase: 'solo',
          path: leaf.path,
          value: shortValue(JSON.stringify(leaf.raw) ?? String(leaf.raw)),
        })
      }
      if (leaks.length > 0) return leaks
    }
    // Tokens that came from an event: in a text line, or inside a JSON value the paths missed.
    for (const token of this.#finder.find(line.text)) {
      const owner = this.#tokens.get(token) as number
      if (owner === own || solo.tokens[own]?.has(token)) continue
      const soloRequestId = solo.tokens[owner]?.get(token)
      if (soloRequestId === undefined) continue
      leaks.push({
        ...base,
        kind: 'value',
        otherRequestId: soloRequestId,
        otherEvent: this.#events[owner] as CheckEvent,
        otherPhase: 'solo',
        path: leaves === undefined ? undefined : this.#pathOf(line.text, token),
        value: shortValue(token),
      })
    }
    return leaks
  }

  /** The first other event whose solo lines hold the value, and the solo run that logged it. */
  #otherEvent(
    own: number,
    requestIdOf: (index: number) => string | undefined,
  ): { event: CheckEvent; requestId: string } | undefined {
    for (const event of this.#events) {
      if (event.index === own) continue
      const requestId = requestIdOf(event.index)
      if (requestId !== undefined) return { event, requestId }
    }
    return undefined
  }

  /** The path of the first leaf of a JSON line whose string holds `token`. */
  #pathOf(text: string, token: string): string | undefined {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return undefined
    }
    return findPath(parsed, token, [], 0)
  }
}

function findPath(
  value: unknown,
  token: string,
  segments: Segment[],
  depth: number,
): string | undefined {
  if (depth > 32) return undefined
  if (typeof value === 'string' || typeof value === 'number') {
    return holdsWord(String(value), token) ? renderPath(segments) : undefined
  }
  const entries: Array<[Segment, unknown]> = Array.isArray(value)
    ? [...value.entries()]
    : isRecord(value)
      ? Object.entries(value)
      : []
  for (const [key, item] of entries) {
    const found = findPath(item, token, [...segments, key], depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

interface SoloValues {
  /** By event index: `path\0value` of its JSON lines → the solo request id that logged it. */
  readonly pairs: ReadonlyArray<Map<string, string>>
  /** By event index: the event tokens its lines held → the solo request id. */
  readonly tokens: ReadonlyArray<Map<string, string>>
  /** Paths whose values differ between two solo runs of some event. */
  readonly volatile: ReadonlySet<string>
}
