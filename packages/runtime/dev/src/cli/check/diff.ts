// Comparing a response given under concurrency with the one the same event gets alone.
//
// Responses are normalised as text first, then compared as JSON trees:
// - the invocation's own request id and trace id become `<request-id>` / `<trace-id>`, so a
//   handler that echoes `context.awsRequestId` gives the same response every time, while one
//   that returns *another* invocation's id (a leak) does not;
// - other UUIDs, X-Ray trace roots, ISO-8601 and HTTP dates become `<uuid>`, `<trace-id>`,
//   `<timestamp>` — unless that exact text occurs in one of the events: values that come from
//   the event stay literal, so a response carrying another event's order id is still caught;
// - a string holding a JSON object or array (API Gateway's `body`) is compared as JSON;
// - a path where two solo runs of ANY event differ is volatile for every event (array indices
//   generalised), and so is a value that is a duration, time left, timestamp or random id by
//   its shape or its key (`tookMs`, `left`, an epoch near now, a hex id…): solo runs that
//   happen to agree on such a value prove nothing;
// - a difference at a volatile path is still reported when its value can be traced to another
//   invocation: another event's value, or another request's id where the reference had its own.
// Errors are compared by `errorType` only: messages often carry ids and times.

import { isRecord } from '@lmi/core/internal'
import type { InvokeResult } from '../../emulator/index.ts'
import { CheckUsageError } from '../../errors.ts'

/**
 * A key or an index on the way from a response's root to a value.
 *
 * @example
 * ```ts
 * const path: Segment[] = ['body', 'items', 0, 'id'] // $.body.items[0].id
 * ```
 */
export type Segment = string | number

/**
 * A string that held JSON (an object or an array): compared as the JSON it holds.
 *
 * @example
 * ```ts
 * new JsonText({ user: 'alice' }) // what '{"user":"alice"}' in a `body` becomes
 * ```
 */
export class JsonText {
  readonly value: unknown
  constructor(value: unknown) {
    this.value = value
  }
}

/**
 * Where a key present on one side is missing on the other.
 *
 * @example
 * ```ts
 * valueAt({ a: 1 }, ['b']) === ABSENT // true
 * ```
 */
export const ABSENT: unique symbol = Symbol('absent')

/**
 * How an invocation ended, normalised for comparison. `crashed`: the runtime process exited
 * (or the check stopped it) before the invocation ended.
 *
 * @example
 * ```ts
 * const outcome: NormalizedOutcome = { status: 'success', value: { user: 'alice' } }
 * ```
 */
export type NormalizedOutcome =
  | { readonly status: 'success'; readonly value: unknown }
  | { readonly status: 'error'; readonly errorType: string; readonly errorMessage: string }
  | { readonly status: 'timeout' }
  | { readonly status: 'crashed'; readonly detail: string }

/**
 * Which parts of a response vary on their own: `true` for a whole subtree, else the children
 * that do (by key or index). `undefined` where nothing does.
 *
 * @example
 * ```ts
 * const mask: Mask = new Map([['body', new Map([['at', true]])]]) // $.body.at varies
 * ```
 */
export type Mask = true | Map<Segment, Mask>

/**
 * What an event's responses under concurrency are compared with: its first solo outcome, and
 * the mask of what differed between its solo runs.
 *
 * @example
 * ```ts
 * const reference: Reference = { outcome: { status: 'success', value: 1 }, mask: undefined, requestId: '9a1e…' }
 * ```
 */
export interface Reference {
  readonly outcome: NormalizedOutcome
  readonly mask: Mask | undefined
  /** Request id of the solo invocation whose outcome is the reference. */
  readonly requestId: string
  /** What the solo runs of every event showed ({@link buildReferences}); absent when built alone. */
  readonly context?: ReferenceContext | undefined
}

/**
 * What an event's reference knows beyond its own solo runs: the paths where the solo runs of
 * any event differed, and the values that tell a leak from another invocation.
 *
 * @example
 * ```ts
 * const context: ReferenceContext = {
 *   volatilePaths: new Set([pathKey(['left'])]), foreignPaths: new Set(),
 *   ownValues: new Set(['alice']), otherValues: new Set(['bob']),
 * }
 * ```
 */
export interface ReferenceContext {
  /** {@link pathKey}s where two solo runs of some event differed: volatile for every event. */
  readonly volatilePaths: ReadonlySet<string>
  /** {@link pathKey}s where a solo run already held another event's value: no evidence there. */
  readonly foreignPaths: ReadonlySet<string>
  /** The strings of this event ({@link eventValues}). */
  readonly ownValues: ReadonlySet<string>
  /** The strings of the other events that this one does not have. */
  readonly otherValues: ReadonlySet<string>
}

/**
 * One place where a response differs from its reference.
 *
 * @example
 * ```ts
 * const difference: RawDifference = { kind: 'value', segments: ['user'], expected: 'alice', got: 'bob' }
 * ```
 */
export interface RawDifference {
  /** `outcome`: success vs error vs timeout (or the error type); `value`: inside the response. */
  readonly kind: 'outcome' | 'value'
  readonly segments: readonly Segment[]
  readonly expected: unknown
  readonly got: unknown
}

// `\b` keeps these from matching inside longer hex or digit runs.
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi
const TRACE_ROOT = /\b1-[0-9a-f]{8}-[0-9a-f]{24}\b/g
const ISO_DATE_TIME =
  /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?(?![\d:])/g
const HTTP_DATE =
  /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT\b/g

const VOLATILE_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [UUID, '<uuid>'],
  [TRACE_ROOT, '<trace-id>'],
  [ISO_DATE_TIME, '<timestamp>'],
  [HTTP_DATE, '<timestamp>'],
]

/**
 * The ids an invocation was sent with, replaced by placeholders in its response.
 *
 * @example
 * ```ts
 * const ids: InvocationIds = { requestId: '9a1e…', traceRoot: '1-67a1b2c3-0123456789abcdef01234567' }
 * ```
 */
export interface InvocationIds {
  readonly requestId: string
  /** The `Root=…` part's value (`1-…-…`), if the check set the trace id. */
  readonly traceRoot?: string | undefined
}

/**
 * Normalises response text (see the top of this file). Made once per check from the events:
 * ids and times that occur in an event are kept literal.
 *
 * @example
 * ```ts
 * const normalizer = new Normalizer([{ orderId: '6f1c…' }])
 * normalizer.text('{"at":"2025-01-01T00:00:00Z","id":"9b2e…"}', { requestId: '9b2e…' })
 * // => '{"at":"<timestamp>","id":"<request-id>"}'
 * ```
 */
export class Normalizer {
  readonly #kept = new Set<string>()

  constructor(events: readonly unknown[]) {
    for (const event of events) {
      const text = JSON.stringify(event) ?? ''
      for (const [pattern] of VOLATILE_PATTERNS) {
        for (const match of text.matchAll(pattern)) this.#kept.add(match[0])
      }
    }
  }

  text(text: string, ids: InvocationIds): string {
    let out = text.replaceAll(ids.requestId, '<request-id>')
    if (ids.traceRoot !== undefined) out = out.replaceAll(ids.traceRoot, '<own-trace-id>')
    const kept = this.#kept
    for (const [pattern, placeholder] of VOLATILE_PATTERNS) {
      out = out.replace(pattern, (match) => (kept.has(match) ? match : placeholder))
    }
    return out
  }

  /** The normalised outcome of an emulator result. */
  outcome(result: InvokeResult, ids: InvocationIds): NormalizedOutcome {
    switch (result.status) {
      case 'success':
        return { status: 'success', value: this.#value(result.payload, ids) }
      case 'error': {
        const errorType = result.error?.errorType ?? result.errorTypeHeader ?? 'Error'
        const errorMessage = this.text(result.error?.errorMessage ?? '', ids)
        return { status: 'error', errorType, errorMessage }
      }
      case 'timeout':
        return { status: 'timeout' }
    }
  }

  #value(payload: Buffer, ids: InvocationIds): unknown {
    if (payload.length === 0) return undefined
    const text = this.text(payload.toString('utf8'), ids)
    try {
      return wrapJsonStrings(JSON.parse(text), 0)
    } catch {
      // Not JSON (a streamed text response): compared as one string.
      return text
    }
  }
}

const MAX_DEPTH = 64

/** Copies a parsed JSON value, turning strings that hold a JSON object or array into {@link JsonText}. */
function wrapJsonStrings(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) return value
  if (typeof value === 'string') {
    const first = value.trimStart()[0]
    if (first !== '{' && first !== '[') return value
    try {
      return new JsonText(wrapJsonStrings(JSON.parse(value), depth + 1))
    } catch {
      return value
    }
  }
  if (Array.isArray(value)) return value.map((item) => wrapJsonStrings(item, depth + 1))
  if (typeof value === 'object' && value !== null) {
    // fromEntries defines own properties: a `__proto__` key stays a key.
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, wrapJsonStrings(item, depth + 1)]),
    )
  }
  return value
}

/** A JSON object: a record that is neither an array nor a {@link JsonText}. */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && !Array.isArray(value) && !(value instanceof JsonText)
}

function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key)
}

/**
 * What differs between two normalised values: `undefined` if nothing, `true` if they differ as
 * a whole (different types, array lengths, or primitive values), else the differing children.
 *
 * @example
 * ```ts
 * maskOf({ id: 1, at: 5 }, { id: 1, at: 9 }) // => Map { 'at' => true }
 * ```
 */
export function maskOf(a: unknown, b: unknown): Mask | undefined {
  if (a instanceof JsonText && b instanceof JsonText) return maskOf(a.value, b.value)
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return true
    const children = new Map<Segment, Mask>()
    for (let index = 0; index < a.length; index++) {
      const child = maskOf(a[index], b[index])
      if (child !== undefined) children.set(index, child)
    }
    return children.size === 0 ? undefined : children
  }
  if (isJsonObject(a) && isJsonObject(b)) {
    const children = new Map<Segment, Mask>()
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const child = has(a, key) && has(b, key) ? maskOf(a[key], b[key]) : true
      if (child !== undefined) children.set(key, child)
    }
    return children.size === 0 ? undefined : children
  }
  return Object.is(a, b) ? undefined : true
}

/**
 * Two normalised values are the same.
 *
 * @example
 * ```ts
 * sameValue({ a: [1] }, { a: [1] }) // => true
 * ```
 */
export function sameValue(a: unknown, b: unknown): boolean {
  return maskOf(a, b) === undefined
}

/**
 * The union of two masks: volatile in either is volatile.
 *
 * @example
 * ```ts
 * mergeMasks(new Map([['a', true]]), new Map([['b', true]])) // => Map { 'a' => true, 'b' => true }
 * ```
 */
export function mergeMasks(a: Mask | undefined, b: Mask | undefined): Mask | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a === true || b === true) return true
  const merged = new Map(a)
  for (const [key, child] of b) merged.set(key, mergeMasks(merged.get(key), child) ?? child)
  return merged
}

/**
 * The mask of two outcomes of the same event: different statuses or error types mask it all.
 *
 * @example
 * ```ts
 * outcomeMask({ status: 'timeout' }, { status: 'success', value: 1 }) // => true
 * ```
 */
export function outcomeMask(a: NormalizedOutcome, b: NormalizedOutcome): Mask | undefined {
  if (a.status !== b.status) return true
  if (a.status === 'success' && b.status === 'success') return maskOf(a.value, b.value)
  if (a.status === 'error' && b.status === 'error') {
    return a.errorType === b.errorType ? undefined : true
  }
  return undefined
}

/**
 * The reference of an event from its solo runs (at least one): the first run's outcome, masked
 * by everything any later run disagreed on.
 *
 * @example
 * ```ts
 * const reference = buildReference([
 *   { outcome: { status: 'success', value: { at: 1 } }, requestId: 'a' },
 *   { outcome: { status: 'success', value: { at: 2 } }, requestId: 'b' },
 * ]) // => { outcome: …{ at: 1 }, mask: Map { 'at' => true }, requestId: 'a' }
 * ```
 */
export function buildReference(
  runs: ReadonlyArray<{ readonly outcome: NormalizedOutcome; readonly requestId: string }>,
): Reference {
  const first = runs[0]
  if (first === undefined) throw new TypeError('buildReference needs at least one run')
  let mask: Mask | undefined
  for (const run of runs.slice(1)) mask = mergeMasks(mask, outcomeMask(first.outcome, run.outcome))
  return { outcome: first.outcome, mask, requestId: first.requestId }
}

/**
 * The references of all the events of a check at once (`runs[i]`: the solo runs of
 * `events[i]`): each as {@link buildReference} builds it, plus what the solo runs of every
 * event showed. A path where the responses of two solo runs of any event differ is volatile for
 * all of them: one event's two runs agreeing on a time left or a duration is chance, not proof.
 *
 * @example
 * ```ts
 * const references = buildReferences(soloRuns, events.map((event) => event.event))
 * ```
 */
export function buildReferences(
  runs: ReadonlyArray<
    ReadonlyArray<{ readonly outcome: NormalizedOutcome; readonly requestId: string }>
  >,
  events: readonly unknown[],
): Reference[] {
  const volatilePaths = new Set<string>()
  for (const eventRuns of runs) {
    const first = eventRuns[0]?.outcome
    if (first?.status !== 'success') continue
    for (const run of eventRuns.slice(1)) {
      // An error or a timeout in one run masks that event only: it says nothing about paths.
      if (run.outcome.status !== 'success') continue
      addMaskPaths(maskOf(first.value, run.outcome.value), '', volatilePaths)
    }
  }
  const values = events.map(eventValues)
  const others = values.map((own, index) => {
    const other = new Set<string>()
    for (const [otherIndex, theirs] of values.entries()) {
      if (otherIndex === index) continue
      for (const value of theirs) if (!own.has(value)) other.add(value)
    }
    return other
  })
  const foreignPaths = new Set<string>()
  for (const [index, eventRuns] of runs.entries()) {
    const other = others[index] ?? new Set<string>()
    for (const run of eventRuns) {
      if (run.outcome.status !== 'success') continue
      forEachString(run.outcome.value, '', (text, key) => {
        if (containsAny(text, other, [])) foreignPaths.add(key)
      })
    }
  }
  return runs.map((eventRuns, index) => ({
    ...buildReference(eventRuns),
    context: {
      volatilePaths,
      foreignPaths,
      ownValues: values[index] ?? new Set<string>(),
      otherValues: others[index] ?? new Set<string>(),
    },
  }))
}

/**
 * A path as the key of {@link ReferenceContext}'s sets: array indices generalised to `[*]`, so
 * that what varies in one item of a list varies in every item.
 *
 * @example
 * ```ts
 * pathKey(['items', 3, 'at']) === pathKey(['items', 0, 'at']) // true
 * ```
 */
export function pathKey(segments: readonly Segment[]): string {
  return segments.map(keyPart).join('')
}

function keyPart(segment: Segment): string {
  return typeof segment === 'number' ? '[*]' : `.${JSON.stringify(segment)}`
}

function addMaskPaths(mask: Mask | undefined, key: string, out: Set<string>): void {
  if (mask === undefined) return
  if (mask === true) {
    out.add(key)
    return
  }
  for (const [segment, child] of mask) addMaskPaths(child, key + keyPart(segment), out)
}

/** Calls `visit` with every string of a normalised value and its {@link pathKey}. */
function forEachString(
  value: unknown,
  key: string,
  visit: (text: string, key: string) => void,
  depth = 0,
): void {
  if (depth > MAX_DEPTH) return
  if (value instanceof JsonText) forEachString(value.value, key, visit, depth + 1)
  else if (typeof value === 'string') visit(value, key)
  else if (Array.isArray(value)) {
    for (const item of value) forEachString(item, `${key}[*]`, visit, depth + 1)
  } else if (isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      forEachString(item, key + keyPart(name), visit, depth + 1)
    }
  }
}

// Too short, or only digits and punctuation: found in unrelated text by chance.
const NOT_EVIDENCE = /^[\d\s\p{P}\p{S}]*$/u

/**
 * The strings of an event that would betray it in another invocation's response: its string
 * values (inside JSON-holding strings too), trimmed, at least 3 characters and not just digits.
 *
 * @example
 * ```ts
 * eventValues({ user: 'alice', amount: 10, body: '{"plan":"pro"}' }) // => Set { 'alice', 'pro' }
 * ```
 */
export function eventValues(event: unknown): Set<string> {
  const out = new Set<string>()
  forEachString(wrapJsonStrings(event, 0), '', (text) => {
    const value = text.trim()
    if (value.length >= 3 && !NOT_EVIDENCE.test(value)) out.add(value)
  })
  return out
}

const WORD_CHAR = /[\p{L}\p{N}_]/u

/** `text` holds one of `values` as a whole word, and none of the `besides` strings holds it. */
function containsAny(
  text: string,
  values: ReadonlySet<string>,
  besides: readonly string[],
): boolean {
  for (const value of values) {
    if (!holdsWord(text, value)) continue
    if (!besides.some((other) => holdsWord(other, value))) return true
  }
  return false
}

/**
 * `word` occurs in `text` as a whole: not inside a longer word or number (an edge that is not a
 * word character needs no boundary).
 *
 * @example
 * ```ts
 * holdsWord('user alice logged in', 'alice') // true
 * holdsWord('malice', 'alice') // false
 * ```
 */
export function holdsWord(text: string, word: string): boolean {
  for (let at = text.indexOf(word); at !== -1; at = text.indexOf(word, at + 1)) {
    const before = text[at - 1]
    const after = text[at + word.length]
    const startsWord =
      !WORD_CHAR.test(word[0] ?? '') || before === undefined || !WORD_CHAR.test(before)
    const endsWord =
      !WORD_CHAR.test(word.at(-1) ?? '') || after === undefined || !WORD_CHAR.test(after)
    if (startsWord && endsWord) return true
  }
  return false
}

/** The strings of a normalised value, in order. */
function stringsOf(value: unknown): string[] {
  const out: string[] = []
  forEachString(value, '', (text) => out.push(text))
  return out
}

/**
 * `got` can be traced to another invocation: it holds another event's value that `expected`
 * (the event's own solo response there) does not, or another request's id or trace where
 * `expected` had the invocation's own. Where a solo run already showed another event's values
 * (a handler listing every tenant, say) they are no evidence.
 *
 * @example
 * ```ts
 * traceable('<request-id>', '<uuid>', ['id'], undefined) // => true
 * ```
 */
export function traceable(
  expected: unknown,
  got: unknown,
  segments: readonly Segment[],
  context: ReferenceContext | undefined,
): boolean {
  const expectedStrings = stringsOf(expected)
  const gotStrings = stringsOf(got)
  for (const [own, other] of OWN_AND_OTHER) {
    if (
      expectedStrings.some((text) => text.includes(own)) &&
      gotStrings.some((text) => text.includes(other) && !text.includes(own))
    ) {
      return true
    }
  }
  if (context === undefined || context.otherValues.size === 0) return false
  const key = pathKey(segments)
  for (const foreign of context.foreignPaths) {
    if (foreign.startsWith(key) || key.startsWith(foreign)) return false
  }
  return gotStrings.some((text) => containsAny(text, context.otherValues, expectedStrings))
}

// What Normalizer.text puts for the invocation's own ids, and for anyone else's.
const OWN_AND_OTHER: ReadonlyArray<readonly [string, string]> = [
  ['<request-id>', '<uuid>'],
  ['<own-trace-id>', '<trace-id>'],
]

// Words of a key that name a time, a duration or a clock reading (`tookMs`: took, ms).
const TIME_WORDS = new Set([
  'left',
  'remaining',
  'elapsed',
  'duration',
  'durations',
  'took',
  'latency',
  'latencies',
  'time',
  'timing',
  'timings',
  'ms',
  'msec',
  'millis',
  'milliseconds',
  'ns',
  'nanos',
  'us',
  'micros',
  'sec',
  'secs',
  'seconds',
  'uptime',
  'ttl',
  'age',
  'deadline',
  'timestamp',
  'ts',
  'epoch',
  'now',
  'at',
  'date',
  'expires',
  'expiry',
  'expiration',
  'delay',
  'cpu',
])

/** One of the last two keys of the path names a time (`$.timings.db`, `$.body.tookMs`). */
function timeKeyed(segments: readonly Segment[]): boolean {
  const keys = segments.filter((segment): segment is string => typeof segment === 'string')
  return keys.slice(-2).some((key) =>
    key
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .some((word) => TIME_WORDS.has(word)),
  )
}

const YEAR_MS = 366 * 24 * 3600 * 1000

/** An epoch time within a year of now, in milliseconds or seconds (`Date.now()`, `… / 1000`). */
function nearNow(value: number): boolean {
  const now = Date.now()
  return Math.abs(value - now) < YEAR_MS || Math.abs(value - now / 1000) < YEAR_MS / 1000
}

/** A measurement or a random number: a fraction with many digits (`performance.now()`, `Math.random()`). */
function measured(value: number): boolean {
  if (!Number.isFinite(value) || Number.isInteger(value)) return false
  const text = String(value)
  return text.includes('e') || (text.split('.')[1]?.length ?? 0) >= 6
}

// Random ids and clock readings inside text, each replaced by a placeholder before comparing.
const TEXT_SHAPES: ReadonlyArray<readonly [RegExp, string | ((match: string) => string)]> = [
  [/\b[0-9A-HJKMNP-TV-Z]{26}\b/g, '<ulid>'],
  [/\b[0-9a-f]{16,}\b/gi, '<hex-id>'],
  // nanoid, base64url tokens: long, with digits, lower and upper case letters.
  [/(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])[\w-]{16,}(?![\w-])/g, '<token>'],
  // Math.random().toString(36).slice(2)
  [/\b(?=[0-9a-z]*\d)(?=[0-9a-z]*[a-z])[0-9a-z]{10,16}\b/g, '<token>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, (match) => (nearNow(Date.parse(match)) ? '<date>' : match)],
  [/\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b/g, '<time>'],
  [/\b\d{10}(?:\d{3})?\b/g, (match) => (nearNow(Number(match)) ? '<epoch>' : match)],
  [
    /\b\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds|milliseconds|min|minutes|h)\b/gi,
    '<duration>',
  ],
  [/\b\d+\.\d{6,}\b/g, '<measure>'],
]

function maskShapes(text: string, anyNumber: boolean): string {
  let out = text
  for (const [pattern, replacement] of TEXT_SHAPES) {
    out = out.replace(pattern, replacement as (match: string) => string)
  }
  return anyNumber ? out.replace(/\d+(?:\.\d+)?/g, '<n>') : out
}

/**
 * Two different values at `segments` are what a duration, a time left, a clock reading or a
 * random id gives from one call to the next: by the key (`took`, `left`, `createdAt`, …) for
 * numbers, by the number (an epoch near now, a fraction of many digits), or by what is left of
 * two strings once such values in them are masked. Solo runs that agree on them prove nothing.
 *
 * @example
 * ```ts
 * volatileByShape(9983, 9974, ['left']) // => true
 * volatileByShape(1, 7, ['invocation']) // => false
 * ```
 */
export function volatileByShape(
  expected: unknown,
  got: unknown,
  segments: readonly Segment[],
): boolean {
  if (typeof expected === 'number' && typeof got === 'number') {
    return (
      timeKeyed(segments) ||
      (nearNow(expected) && nearNow(got)) ||
      (measured(expected) && measured(got))
    )
  }
  if (typeof expected === 'string' && typeof got === 'string') {
    const keyed = timeKeyed(segments)
    return maskShapes(expected, keyed) === maskShapes(got, keyed)
  }
  return false
}

/**
 * A compiled `--ignore` pattern list: true when a path (or one of its ancestors) is ignored.
 *
 * @example
 * ```ts
 * const ignored: IgnoreMatcher = compileIgnore(['$.took'])
 * ```
 */
export type IgnoreMatcher = (segments: readonly Segment[]) => boolean

const NO_IGNORE: IgnoreMatcher = () => false
const WILDCARD = Symbol('*')

/**
 * Parses response paths to ignore, e.g. `$.body.took`, `body.items[*].at`, `$["x-amz-date"]`.
 * `*` (or `[*]`) matches any one key or index; a path also ignores everything below it.
 * Throws {@link CheckUsageError} for a malformed pattern.
 *
 * @example
 * ```ts
 * const ignored = compileIgnore(['$.body.took'])
 * ignored(['body', 'took']) // => true
 * ```
 */
export function compileIgnore(patterns: readonly string[]): IgnoreMatcher {
  if (patterns.length === 0) return NO_IGNORE
  const compiled = patterns.map(parsePattern)
  return function isIgnored(segments) {
    return compiled.some(
      (pattern) =>
        pattern.length <= segments.length &&
        pattern.every((part, index) => part === WILDCARD || part === segments[index]),
    )
  }
}

const PATTERN_TOKEN = /^(?:\.([A-Za-z_$][\w$-]*|\*)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\])/

function parsePattern(pattern: string): Array<Segment | typeof WILDCARD> {
  let rest = pattern.trim()
  if (rest.startsWith('$')) rest = rest.slice(1)
  else if (rest !== '' && rest[0] !== '.' && rest[0] !== '[') rest = `.${rest}`
  const parts: Array<Segment | typeof WILDCARD> = []
  while (rest !== '') {
    const match = PATTERN_TOKEN.exec(rest)
    if (match === null) {
      throw new CheckUsageError(
        `--ignore "${pattern}" is not a response path (e.g. $.body.took, $.items[*].at, $["x-id"])`,
      )
    }
    const [token, name, index, quoted] = match
    if (name !== undefined) parts.push(name === '*' ? WILDCARD : name)
    else if (index !== undefined) parts.push(index === '*' ? WILDCARD : Number(index))
    else parts.push(JSON.parse(`"${quoted ?? ''}"`) as string)
    rest = rest.slice(token.length)
  }
  if (parts.length === 0)
    throw new CheckUsageError(`--ignore "${pattern}" would ignore every response`)
  return parts
}

/**
 * A short description of an outcome, for an `outcome` difference.
 *
 * @example
 * ```ts
 * describeOutcome({ status: 'error', errorType: 'TypeError', errorMessage: 'x' }) // => 'error TypeError: x'
 * ```
 */
export function describeOutcome(outcome: NormalizedOutcome): string {
  switch (outcome.status) {
    case 'success':
      return 'a response'
    case 'error':
      return `error ${outcome.errorType}: ${outcome.errorMessage}`
    case 'timeout':
      return 'a timeout'
    case 'crashed':
      return `no answer (${outcome.detail})`
  }
}

/**
 * Where `got` differs from `reference`, skipping its volatile and ignored parts; at most
 * `limit` differences. Empty when the response is the same as alone.
 *
 * @example
 * ```ts
 * compareOutcome(reference, { status: 'success', value: { user: 'bob' } }, compileIgnore([]))
 * // => [{ kind: 'value', segments: ['user'], expected: 'alice', got: 'bob' }]
 * ```
 */
export function compareOutcome(
  reference: Reference,
  got: NormalizedOutcome,
  ignore: IgnoreMatcher,
  limit = 5,
): RawDifference[] {
  const expected = reference.outcome
  if (reference.mask === true) return []
  if (expected.status !== got.status) {
    return [
      {
        kind: 'outcome',
        segments: [],
        expected: describeOutcome(expected),
        got: describeOutcome(got),
      },
    ]
  }
  if (expected.status === 'error' && got.status === 'error') {
    if (expected.errorType === got.errorType) return []
    return [
      {
        kind: 'outcome',
        segments: [],
        expected: describeOutcome(expected),
        got: describeOutcome(got),
      },
    ]
  }
  if (expected.status !== 'success' || got.status !== 'success') return []
  const comparison: Comparison = { context: reference.context, ignore, out: [], limit }
  compareValues(expected.value, got.value, reference.mask, [], '', false, comparison)
  return comparison.out
}

interface Comparison {
  readonly context: ReferenceContext | undefined
  readonly ignore: IgnoreMatcher
  readonly out: RawDifference[]
  readonly limit: number
}

/**
 * Walks both values; `volatile`: an ancestor varied between solo runs, so only a difference
 * traceable to another invocation counts below it.
 */
function compareValues(
  expected: unknown,
  got: unknown,
  mask: Mask | undefined,
  segments: Segment[],
  key: string,
  volatile: boolean,
  comparison: Comparison,
): void {
  const { context, ignore, out, limit } = comparison
  if (out.length >= limit || ignore(segments)) return
  const here = volatile || mask === true || (context?.volatilePaths.has(key) ?? false)
  const children = mask === true ? undefined : mask
  if (expected instanceof JsonText && got instanceof JsonText) {
    compareValues(expected.value, got.value, children, segments, key, here, comparison)
    return
  }
  if (Array.isArray(expected) && Array.isArray(got) && expected.length === got.length) {
    for (let index = 0; index < expected.length; index++) {
      const child = children?.get(index)
      compareValues(
        expected[index],
        got[index],
        child,
        [...segments, index],
        `${key}[*]`,
        here,
        comparison,
      )
    }
    return
  }
  if (isJsonObject(expected) && isJsonObject(got)) {
    for (const name of new Set([...Object.keys(expected), ...Object.keys(got)])) {
      const child = children?.get(name)
      const path = [...segments, name]
      if (ignore(path)) continue
      const childKey = key + keyPart(name)
      if (!has(expected, name) || !has(got, name)) {
        if (out.length >= limit) return
        const difference: RawDifference = {
          kind: 'value',
          segments: path,
          expected: has(expected, name) ? expected[name] : ABSENT,
          got: has(got, name) ? got[name] : ABSENT,
        }
        const volatileChild =
          here || child === true || (context?.volatilePaths.has(childKey) ?? false)
        if (!volatileChild || traceable(difference.expected, difference.got, path, context)) {
          out.push(difference)
        }
        continue
      }
      compareValues(expected[name], got[name], child, path, childKey, here, comparison)
    }
    return
  }
  if (sameValue(expected, got)) return
  if (here || volatileByShape(expected, got, segments)) {
    if (!traceable(expected, got, segments, context)) return
  }
  out.push({ kind: 'value', segments, expected, got })
}

/**
 * The value at `segments` in a normalised value (through {@link JsonText}), or {@link ABSENT}.
 *
 * @example
 * ```ts
 * valueAt({ body: new JsonText({ user: 'bob' }) }, ['body', 'user']) // => 'bob'
 * ```
 */
export function valueAt(value: unknown, segments: readonly Segment[]): unknown {
  let current = value
  for (const segment of segments) {
    while (current instanceof JsonText) current = current.value
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return ABSENT
      current = current[segment]
    } else {
      if (!isJsonObject(current) || !has(current, segment)) return ABSENT
      current = current[segment]
    }
  }
  return current
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/**
 * A path as `$.body.items[0]["x-id"]`.
 *
 * @example
 * ```ts
 * renderPath(['body', 'items', 0, 'x-id']) // => '$.body.items[0]["x-id"]'
 * ```
 */
export function renderPath(segments: readonly Segment[]): string {
  let out = '$'
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (IDENTIFIER.test(segment)) out += `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

function unwrap(value: unknown): unknown {
  if (value instanceof JsonText) return unwrap(value.value)
  if (Array.isArray(value)) return value.map(unwrap)
  if (isJsonObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, unwrap(item)]))
  }
  return value
}

/**
 * A value for the report: JSON, shortened to `max` characters; `(absent)` for a missing key and
 * `(empty)` for an empty response.
 *
 * @example
 * ```ts
 * renderValue('bob') // => '"bob"'
 * ```
 */
export function renderValue(value: unknown, max = 80): string {
  if (value === ABSENT) return '(absent)'
  if (value === undefined) return '(empty)'
  const text = JSON.stringify(unwrap(value)) ?? String(value)
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
