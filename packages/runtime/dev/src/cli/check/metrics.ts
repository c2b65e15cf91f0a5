// Metrics, as evidence: the CloudWatch Embedded Metric Format (EMF) lines a handler writes
// (Powertools Metrics, aws-embedded-metrics, or by hand) are log lines with a `_aws` header, and
// LogComparison compares them like any other line. This file only tells which lines are
// metrics and what each field of one is — a dimension, a metric value, a property (Powertools'
// metadata, aws-embedded-metrics' properties) or part of the `_aws` header — so that a leak in
// one is reported as LMI_CONCURRENCY_DEPENDENT_METRIC, by field, and never as a log finding.
//
// `_aws.Timestamp` is the publishing time: it differs on every line and can hold no other
// invocation's value, so a leak found there (an event holding the same number) is dropped; the
// other volatile values are masked as in any log line (see logs.ts).

import { isRecord } from '@lmi/core/internal'
import { renderPath, type Segment } from './diff.ts'
import type { LogLeak } from './logs.ts'

/**
 * What a field of an EMF line is: a `dimension` (named in a `Dimensions` set), a metric `value`
 * (named in `Metrics`), a `property` (any other field: Powertools' metadata, aws-embedded-metrics'
 * properties) or part of the `_aws` header (`declaration`: namespace, names, units).
 *
 * @example
 * ```ts
 * const kind: MetricFieldKind = 'dimension'
 * ```
 */
export type MetricFieldKind = 'dimension' | 'value' | 'property' | 'declaration'

/**
 * The field of an EMF line a leaked value was found in.
 *
 * @example
 * ```ts
 * const field: MetricField = { kind: 'dimension', name: 'customer' }
 * ```
 */
export interface MetricField {
  readonly kind: MetricFieldKind
  /**
   * The dimension or metric name; for a property or the header, the field's path below the
   * EMF object (`order.customer`, `_aws.CloudWatchMetrics[0].Namespace`); `undefined` when the
   * value was found in no field (in a key).
   */
  readonly name: string | undefined
}

/**
 * An EMF object found in a line: where it is (the line itself, or the JSON `message` of a log
 * record that wraps it) and the dimension and metric names its directives declare.
 *
 * @example
 * ```ts
 * const emf: EmfLine = { root: [], dimensions: new Set(['service', 'customer']), metrics: new Set(['orders']) }
 * ```
 */
export interface EmfLine {
  /** The path of the EMF object in the line: `[]`, or `['message']` when wrapped. */
  readonly root: readonly Segment[]
  readonly dimensions: ReadonlySet<string>
  readonly metrics: ReadonlySet<string>
}

const HEADER = '_aws'

/**
 * The directives of an EMF object (`_aws.CloudWatchMetrics`); `undefined` when the value is
 * not one.
 */
function directivesOf(value: unknown): unknown[] | undefined {
  if (!isRecord(value)) return undefined
  const header = value[HEADER]
  if (!isRecord(header)) return undefined
  const directives = header.CloudWatchMetrics
  return Array.isArray(directives) ? directives : undefined
}

function parseJson(text: string): unknown {
  const first = text.trimStart()[0]
  if (first !== '{') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * The EMF object a line holds, with the dimension and metric names it declares; `undefined`
 * for any other line. Recognised: a JSON object with `_aws.CloudWatchMetrics` (an array), as
 * Powertools Metrics and aws-embedded-metrics write it, or a log record whose `message` is
 * such an object as JSON text (`console.log(JSON.stringify(emf))` under Lambda's JSON format).
 *
 * @example
 * ```ts
 * parseEmf('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"shop","Dimensions":[["customer"]],"Metrics":[{"Name":"orders"}]}]},"customer":"bob","orders":1}')
 * // => { root: [], dimensions: Set { 'customer' }, metrics: Set { 'orders' } }
 * parseEmf('{"level":"INFO","message":"order placed"}') // => undefined
 * ```
 */
export function parseEmf(text: string): EmfLine | undefined {
  const parsed = parseJson(text)
  let root: Segment[] = []
  let emf: unknown = parsed
  let directives = directivesOf(parsed)
  if (directives === undefined && isRecord(parsed) && typeof parsed.message === 'string') {
    emf = parseJson(parsed.message)
    directives = directivesOf(emf)
    root = ['message']
  }
  if (directives === undefined) return undefined
  const dimensions = new Set<string>()
  const metrics = new Set<string>()
  for (const directive of directives) {
    if (!isRecord(directive)) continue
    for (const set of Array.isArray(directive.Dimensions) ? directive.Dimensions : []) {
      for (const name of Array.isArray(set) ? set : []) {
        if (typeof name === 'string') dimensions.add(name)
      }
    }
    for (const metric of Array.isArray(directive.Metrics) ? directive.Metrics : []) {
      if (isRecord(metric) && typeof metric.Name === 'string') metrics.add(metric.Name)
    }
  }
  return { root, dimensions, metrics }
}

/**
 * What the field at `path` (a JSON path as LogComparison renders it) of an EMF line is;
 * `undefined` for a field of the log record that wraps the EMF object (a log field).
 *
 * @example
 * ```ts
 * metricField(emf, '$.customer') // => { kind: 'dimension', name: 'customer' }
 * metricField(emf, '$._aws.CloudWatchMetrics[0].Namespace')
 * // => { kind: 'declaration', name: '_aws.CloudWatchMetrics[0].Namespace' }
 * ```
 */
export function metricField(emf: EmfLine, path: string | undefined): MetricField | undefined {
  if (path === undefined) return { kind: 'property', name: undefined }
  const root = renderPath(emf.root)
  if (path !== root && !path.startsWith(`${root}.`) && !path.startsWith(`${root}[`)) {
    return undefined
  }
  const rest = path.slice(root.length)
  const relative = rest.replace(/^\./, '')
  // The first key below the EMF object: `.name`, or `["odd name"]`.
  const match = /^(?:\.([^.[]+)|\[("(?:[^"\\]|\\.)*")\])/.exec(rest)
  const key = match === null ? undefined : (match[1] ?? (JSON.parse(match[2] as string) as string))
  if (key === HEADER) return { kind: 'declaration', name: relative }
  if (key !== undefined && emf.dimensions.has(key)) return { kind: 'dimension', name: key }
  if (key !== undefined && emf.metrics.has(key)) return { kind: 'value', name: key }
  return { kind: 'property', name: relative === '' ? undefined : relative }
}

/**
 * The leaks of one line, each marked with the metric field it was found in when the line is
 * an EMF line (see {@link parseEmf}); a leak in `_aws.Timestamp` is dropped. Other lines'
 * leaks, and those in the fields of a log record wrapping an EMF object, are returned as they
 * are.
 *
 * @example
 * ```ts
 * markMetricLeaks(line.text, leaks) // => [{ …leak, metric: { kind: 'dimension', name: 'customer' } }]
 * ```
 */
export function markMetricLeaks(text: string, leaks: LogLeak[]): LogLeak[] {
  if (leaks.length === 0) return leaks
  const emf = parseEmf(text)
  if (emf === undefined) return leaks
  const timestamp = renderPath([...emf.root, HEADER, 'Timestamp'])
  const marked: LogLeak[] = []
  for (const leak of leaks) {
    if (leak.path === timestamp) continue
    const metric = metricField(emf, leak.path)
    marked.push(metric === undefined ? leak : { ...leak, metric })
  }
  return marked
}

/**
 * The subject of a metric finding: what kind of field, and its name.
 *
 * @example
 * ```ts
 * metricSubject({ kind: 'dimension', name: 'customer' }, 'value') // => 'metric dimension customer'
 * metricSubject({ kind: 'property', name: 'requestId' }, 'request-id')
 * // => "metric property requestId (another request's id)"
 * ```
 */
export function metricSubject(field: MetricField, kind: LogLeak['kind']): string {
  const where = field.name === undefined ? 'metric line' : `metric ${field.kind} ${field.name}`
  return kind === 'request-id' ? `${where} (another request's id)` : where
}
