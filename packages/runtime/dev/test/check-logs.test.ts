// lmi check's comparison of log lines (logs.ts) and its findings, on synthetic attributed
// lines: the runtime's side of the attribution is tested in @lmi/runtime, the whole chain on the
// corpus in check-corpus.test.ts.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { FINDING_CODES } from '@lmi/core'
import fc from 'fast-check'
import type { CheckEvent } from '../src/cli/check/events.ts'
import { comparedEvidence, groupFindings } from '../src/cli/check/grouping.ts'
import {
  eventTokens,
  isEscaped,
  LogComparison,
  type LogInvocation,
  parseWriteLine,
  WRITE_PREFIX,
  WriteSplitter,
  type WrittenLine,
} from '../src/cli/check/logs.ts'
import { type EmfLine, metricField, metricSubject, parseEmf } from '../src/cli/check/metrics.ts'
import { describeCompared, formatReport } from '../src/cli/check/report.ts'
import type { EscapedLine, Evidence } from '../src/cli/check/run.ts'
import { resultWith } from './helpers/check.ts'

function wrapped(chunk: object): string {
  return `${WRITE_PREFIX}${JSON.stringify(chunk)}`
}

function line(
  requestId: string | null,
  text: string,
  extra: Partial<WrittenLine> = {},
): WrittenLine {
  return {
    requestId,
    ended: false,
    stream: 'stdout',
    text,
    at: undefined,
    afterInvocations: true,
    ...extra,
  }
}

const EVENTS: CheckEvent[] = [
  { name: 'events.json[0]', index: 0, event: { customer: 'alice', tenant: 'acme', order: 1234 } },
  { name: 'events.json[1]', index: 1, event: { customer: 'bob', tenant: 'acme', order: 5678 } },
  { name: 'events.json[2]', index: 2, event: { customer: 'carol', tenant: 'globex', order: 9012 } },
]

/** Invocations and their lines, built up as a check run would collect them. */
class Lines {
  readonly invocations = new Map<string, LogInvocation>()
  readonly lines = new Map<string, WrittenLine[]>()

  /** An invocation of `event` that wrote `texts` (each may use `{id}` for its own request id). */
  add(phase: 'solo' | 'concurrent', event: number, texts: string[], ended = false): string {
    const requestId = randomUUID()
    this.invocations.set(requestId, {
      event: EVENTS[event] as CheckEvent,
      phase,
      round: phase === 'solo' ? 0 : 1,
      traceRoot: undefined,
    })
    this.lines.set(
      requestId,
      texts.map((text) => line(requestId, text.replaceAll('{id}', requestId), { ended })),
    )
    return requestId
  }

  /** Two solo runs of each event, writing what `texts` gives for it. */
  solo(texts: (event: CheckEvent) => string[]): void {
    for (let run = 0; run < 2; run++) {
      for (const event of EVENTS) this.add('solo', event.index, texts(event))
    }
  }

  leaks() {
    return new LogComparison(EVENTS).leaks(this.invocations, this.lines)
  }
}

function customerLine(event: CheckEvent): string {
  const { customer } = event.event as { customer: string }
  return JSON.stringify({ level: 'INFO', message: 'order placed', customer, requestId: '{id}' })
}

describe('lmi check log lines: attributed output', () => {
  it('parses the runtime attribution lines and nothing else', () => {
    assert.deepEqual(parseWriteLine(wrapped({ r: 'a', e: false, s: 'out', t: 'hi\n' })), {
      r: 'a',
      e: false,
      s: 'out',
      t: 'hi\n',
      at: undefined,
    })
    assert.deepEqual(
      parseWriteLine(wrapped({ r: null, e: false, s: 'err', t: 'x', at: '/app/a.mjs:1:2' })),
      { r: null, e: false, s: 'err', t: 'x', at: '/app/a.mjs:1:2' },
    )
    assert.equal(parseWriteLine('{"r":"a","e":false,"s":"out","t":"hi"}'), undefined)
    assert.equal(parseWriteLine(`${WRITE_PREFIX}{not json`), undefined)
    assert.equal(parseWriteLine(wrapped({ r: 1, e: false, s: 'out', t: 'hi' })), undefined)
    assert.equal(parseWriteLine(wrapped({ r: 'a', e: false, s: 'fd3', t: 'hi' })), undefined)
  })

  it('cuts chunks into lines and joins a line written in parts by the same invocation', () => {
    const splitter = new WriteSplitter()
    const chunk = (r: string | null, t: string) => ({
      r,
      e: false,
      s: 'out' as const,
      t,
      at: undefined,
    })
    assert.deepEqual(splitter.push(chunk('a', 'one\ntw')), [
      { requestId: 'a', ended: false, stream: 'stdout', text: 'one', at: undefined },
    ])
    // Another invocation's chunk in between does not end a's line.
    assert.deepEqual(
      splitter.push(chunk('b', 'bee\r\n\n')).map((written) => written.text),
      ['bee'],
    )
    assert.deepEqual(
      splitter.push(chunk('a', 'o\nthree')).map((written) => [written.requestId, written.text]),
      [['a', 'two']],
    )
    assert.deepEqual(
      splitter.flush().map((written) => [written.requestId, written.text]),
      [['a', 'three']],
    )
    assert.deepEqual(splitter.flush(), [])
  })

  it('gives the same lines however the writes cut the text (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z {}":]{0,12}$/), { maxLength: 8 }),
        fc.array(fc.nat(200), { maxLength: 6 }),
        (lines, cuts) => {
          const text = lines.map((written) => `${written}\n`).join('')
          const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort(
            (a, b) => a - b,
          )
          const splitter = new WriteSplitter()
          const got: string[] = []
          let from = 0
          for (const to of [...points, text.length]) {
            const t = text.slice(from, to)
            from = to
            if (t !== '') {
              got.push(
                ...splitter
                  .push({ r: 'a', e: false, s: 'out', t, at: undefined })
                  .map((l) => l.text),
              )
            }
          }
          got.push(...splitter.flush().map((l) => l.text))
          assert.deepEqual(
            got,
            lines.filter((written) => written.trim() !== ''),
          )
        },
      ),
    )
  })

  it('calls escaped a line written after the answer, or by no invocation once they started', () => {
    assert.equal(isEscaped(line('a', 'x', { ended: true })), true)
    assert.equal(isEscaped(line(null, 'x', { afterInvocations: true })), true)
    assert.equal(isEscaped(line(null, 'x', { afterInvocations: false })), false)
    assert.equal(isEscaped(line('a', 'x')), false)
  })

  it('traces only the tokens that occur in one event', () => {
    assert.deepEqual(
      eventTokens(EVENTS.map((event) => event.event)),
      new Map<string, number>([
        ['alice', 0],
        ['1234', 0],
        ['bob', 1],
        ['5678', 1],
        ['carol', 2],
        ['globex', 2],
        ['9012', 2],
      ]),
    )
  })
})

describe('lmi check log lines: comparison with the solo runs', () => {
  it("finds a JSON field holding another event's value, with both request ids", () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event)])
    for (const event of EVENTS) lines.add('concurrent', event.index, [customerLine(event)])
    const bob = lines.add('concurrent', 1, [customerLine(EVENTS[0] as CheckEvent)])
    const leaks = lines.leaks()
    assert.equal(leaks.length, 1)
    const [leak] = leaks
    assert.equal(leak?.kind, 'value')
    assert.equal(leak?.requestId, bob)
    assert.equal(leak?.event.name, 'events.json[1]')
    assert.equal(leak?.otherEvent.name, 'events.json[0]')
    assert.equal(leak?.otherPhase, 'solo')
    assert.equal(lines.invocations.get(leak?.otherRequestId ?? '')?.event.index, 0)
    assert.equal(leak?.path, '$.customer')
    assert.equal(leak?.value, '"alice"')
    assert.match(leak?.line ?? '', /"customer":"alice"/)
  })

  it('compares JSON logged as a message field by field', () => {
    const lines = new Lines()
    const wrapped = (user: string) =>
      JSON.stringify({ level: 'INFO', message: JSON.stringify({ user, at: Date.now() }) })
    lines.solo((event) => [wrapped((event.event as { customer: string }).customer)])
    lines.add('concurrent', 1, [wrapped('carol')])
    assert.deepEqual(
      lines.leaks().map((leak) => [leak.path, leak.value, leak.otherEvent.index]),
      [['$.message.user', '"carol"', 2]],
    )
  })

  it('finds an event token in a text line written by another event', () => {
    const lines = new Lines()
    lines.solo((event) => [`charging ${(event.event as { customer: string }).customer} now`])
    lines.add('concurrent', 2, ['charging alice now'])
    const leaks = lines.leaks()
    assert.deepEqual(
      leaks.map((leak) => [leak.event.index, leak.otherEvent.index, leak.path, leak.value]),
      [[2, 0, undefined, 'alice']],
    )
  })

  it('finds event tokens with separators and spaces whole, and not inside longer words', () => {
    const events: CheckEvent[] = [
      { name: 'a', index: 0, event: { email: 'ann@x.io', city: 'New York', path: '/orders' } },
      { name: 'b', index: 1, event: { email: 'ben@x.io', city: 'Paris', path: '/users' } },
    ]
    const invocations = new Map<string, LogInvocation>()
    const lines = new Map<string, WrittenLine[]>()
    const add = (phase: 'solo' | 'concurrent', event: number, text: string) => {
      const requestId = randomUUID()
      invocations.set(requestId, { event: events[event] as CheckEvent, phase, round: 1 })
      lines.set(requestId, [line(requestId, text)])
    }
    add('solo', 0, 'GET /orders for ann@x.io in New York')
    add('solo', 1, 'GET /users for ben@x.io in Paris')
    add('concurrent', 1, 'GET /users for ann@x.io in New York, /orders2 xben@x.io')
    const leaks = new LogComparison(events).leaks(invocations, lines)
    assert.deepEqual(leaks.map((leak) => leak.value).sort(), ['New York', 'ann@x.io'])
  })

  it("finds another running invocation's request id in a line", () => {
    const lines = new Lines()
    lines.solo(() => ['handling {id}'])
    const first = lines.add('concurrent', 0, ['handling {id}'])
    const second = lines.add('concurrent', 1, [`handling ${first}`])
    const leaks = lines.leaks()
    assert.equal(leaks.length, 1)
    assert.equal(leaks[0]?.kind, 'request-id')
    assert.equal(leaks[0]?.requestId, second)
    assert.equal(leaks[0]?.otherRequestId, first)
    assert.equal(leaks[0]?.otherPhase, 'concurrent')
    assert.equal(leaks[0]?.path, undefined)
  })

  it('gives the JSON path of a leaked request id', () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event)])
    const first = lines.add('concurrent', 0, [customerLine(EVENTS[0] as CheckEvent)])
    lines.add('concurrent', 1, [customerLine(EVENTS[1] as CheckEvent).replace('{id}', first)])
    const leaks = lines.leaks()
    assert.deepEqual(
      leaks.map((leak) => [leak.kind, leak.path]),
      [['request-id', '$.requestId']],
    )
  })

  it('finds nothing when every invocation logs what it logs alone', () => {
    const lines = new Lines()
    const texts = (event: CheckEvent) => [
      customerLine(event),
      `tenant ${(event.event as { tenant: string }).tenant} served {id}`,
      JSON.stringify({
        at: new Date().toISOString(),
        took: `${Math.floor(Math.random() * 20)} ms`,
      }),
    ]
    lines.solo(texts)
    for (let round = 0; round < 5; round++) {
      for (const event of EVENTS) lines.add('concurrent', event.index, texts(event))
    }
    assert.deepEqual(lines.leaks(), [])
  })

  it('never traces a value two events share, nor digits no event holds', () => {
    const lines = new Lines()
    lines.solo((event) => [
      `tenant ${(event.event as { tenant: string }).tenant}`,
      JSON.stringify({ message: `done in ${event.index + 1} ms`, count: event.index + 100 }),
    ])
    // Bob's tenant is alice's too; carol's durations and counts happen to be alice's.
    lines.add('concurrent', 1, ['tenant acme'])
    lines.add('concurrent', 2, [JSON.stringify({ message: 'done in 1 ms', count: 100 })])
    assert.deepEqual(lines.leaks(), [])
  })

  it('skips a path whose values differ between two solo runs of any event', () => {
    const lines = new Lines()
    // Each process picks one of two regions at random: alice happens to get a different one each time.
    lines.add('solo', 0, [JSON.stringify({ region: 'eu-west-1' })])
    lines.add('solo', 0, [JSON.stringify({ region: 'us-east-1' })])
    lines.add('solo', 1, [JSON.stringify({ region: 'us-east-1' })])
    lines.add('solo', 1, [JSON.stringify({ region: 'us-east-1' })])
    lines.add('concurrent', 1, [JSON.stringify({ region: 'eu-west-1' })])
    assert.deepEqual(lines.leaks(), [])
  })

  it('leaves the lines written after the answer to the escaped-log finding', () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event)])
    lines.add('concurrent', 1, [customerLine(EVENTS[0] as CheckEvent)], true)
    assert.deepEqual(lines.leaks(), [])
  })
})

function evidence(lines: Lines, escapedLines: EscapedLine[] = []): Evidence {
  return {
    invocations: lines.invocations,
    detectorFindings: [],
    differing: [],
    concurrentInvocations: [...lines.invocations.values()].filter(
      (info) => info.phase === 'concurrent',
    ).length,
    writtenLines: lines.lines,
    escapedLines,
  }
}

describe('lmi check log lines: findings and report', () => {
  it('groups leaks by field into LMI_CONCURRENCY_DEPENDENT_LOG, with the usual cause', () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event)])
    const bob = lines.add('concurrent', 1, [customerLine(EVENTS[0] as CheckEvent)])
    lines.add('concurrent', 2, [customerLine(EVENTS[0] as CheckEvent)])
    lines.add('concurrent', 0, [customerLine(EVENTS[2] as CheckEvent)])
    const findings = groupFindings(evidence(lines), { cwd: '/app', events: EVENTS, references: [] })
    assert.equal(findings.length, 1)
    const [finding] = findings
    assert.equal(finding?.code, FINDING_CODES.CONCURRENCY_DEPENDENT_LOG)
    assert.equal(finding?.subject, 'log $.customer')
    assert.equal(finding?.occurrences, 3)
    assert.equal(finding?.requestId, bob)
    assert.ok(finding?.otherRequestId !== undefined && finding.otherRequestId !== bob)
    assert.deepEqual(finding?.events, ['events.json[0]', 'events.json[1]', 'events.json[2]'])
    assert.equal(finding?.lines?.length, 3)
    assert.match(finding?.hint ?? '', /module-level logger or client/)
    const report = formatReport(resultWith(findings, EVENTS))
    assert.match(
      report,
      /✖ LMI_CONCURRENCY_DEPENDENT_LOG: log line carries another invocation's value/,
    )
    assert.match(report, /usual cause: state kept on a module-level logger or client/)
    assert.ok(report.includes(`request ${bob}, round 1) wrote $.customer "alice"`), report)
  })

  it('groups escaped lines by the code that wrote them into LMI_ESCAPED_LOG', () => {
    const lines = new Lines()
    const ended = lines.add('concurrent', 0, [])
    const escaped: EscapedLine[] = [
      {
        phase: 'concurrent',
        line: line(ended, 'audit done', { ended: true, at: '/app/src/a.mjs:9:5' }),
      },
      {
        phase: 'concurrent',
        line: line(ended, 'audit done', { ended: true, at: '/app/src/a.mjs:9:5' }),
      },
      { phase: 'solo', line: line(null, 'tick', { at: 'file:///app/src/b.mjs:3:1' }) },
    ]
    const findings = groupFindings(evidence(lines, escaped), {
      cwd: '/app',
      events: EVENTS,
      references: [],
    })
    assert.deepEqual(
      findings.map((finding) => [
        finding.code,
        finding.subject,
        finding.location,
        finding.occurrences,
      ]),
      [
        [
          FINDING_CODES.ESCAPED_LOG,
          'log line written after its invocation answered',
          'src/a.mjs:9:5',
          2,
        ],
        [FINDING_CODES.ESCAPED_LOG, 'log line written outside any invocation', 'src/b.mjs:3:1', 1],
      ],
    )
    assert.equal(findings[0]?.requestId, ended)
    assert.deepEqual(findings[0]?.events, ['events.json[0]'])
    assert.deepEqual(findings[1]?.phases, ['solo'])
    const report = formatReport(resultWith(findings, EVENTS))
    assert.match(report, /✖ LMI_ESCAPED_LOG: log line written outside its invocation/)
    assert.match(report, /where: src\/a\.mjs:9:5/)
    assert.match(report, /usual cause: a line written by work that outlived its invocation/)
  })
})

// --- metric (EMF) lines: compared as log lines, reported as LMI_CONCURRENCY_DEPENDENT_METRIC ---

/** An EMF line as Powertools Metrics writes it: `customer` a dimension, `orders` a metric. */
function emfLine(
  fields: Record<string, unknown>,
  timestamp = Date.now(),
  metrics = ['orders'],
): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: 'shop',
          Dimensions: [['service', 'customer']],
          Metrics: metrics.map((name) => ({ Name: name, Unit: 'Count' })),
        },
      ],
    },
    service: 'orders',
    orders: 1,
    ...fields,
  })
}

describe('lmi check: what the concurrent phase was compared by', () => {
  it('counts the concurrent invocations, their lines while running, metric lines among them', () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event), emfLine({ customer: customerOf(event) })])
    lines.add('concurrent', 0, [customerLine(EVENTS[0] as CheckEvent)])
    lines.add('concurrent', 1, [emfLine({ customer: 'bob' }), 'plain text'])
    // Written after the answer: the escaped-log finding's, not compared.
    lines.add('concurrent', 2, ['late'], true)
    const compared = comparedEvidence(evidence(lines))
    assert.deepEqual(compared, { responses: 3, logLines: 3, metricLines: 1, requests: 0 })
    const report = formatReport(resultWith([], EVENTS, compared))
    assert.match(
      report,
      /compared with the solo runs: 3 responses, 3 log lines \(1 metric line\), 0 requests/,
    )
    assert.equal(
      describeCompared({ ...compared, metricLines: 0, requests: 1 }),
      '3 responses, 3 log lines, 1 request',
    )
  })
})

function customerOf(event: CheckEvent): string {
  return (event.event as { customer: string }).customer
}

describe('lmi check metric lines: EMF recognition', () => {
  it('recognises Powertools and aws-embedded-metrics lines, and a JSON log record wrapping one', () => {
    const powertools = parseEmf(emfLine({ customer: 'bob' }))
    assert.deepEqual(powertools?.root, [])
    assert.deepEqual([...(powertools?.dimensions ?? [])], ['service', 'customer'])
    assert.deepEqual([...(powertools?.metrics ?? [])], ['orders'])
    // aws-embedded-metrics: several directives, LogGroup in the header, properties beside.
    const embedded = parseEmf(
      JSON.stringify({
        _aws: {
          Timestamp: 1,
          LogGroup: 'orders-metrics',
          CloudWatchMetrics: [
            { Namespace: 'a', Dimensions: [['tenant']], Metrics: [{ Name: 'latency' }] },
            { Namespace: 'b', Dimensions: [['region', 'tenant']], Metrics: [{ Name: 'size' }] },
          ],
        },
        tenant: 'acme',
        region: 'eu-west-1',
        latency: [12, 30],
        size: 4,
        traceId: 'abc',
      }),
    )
    assert.deepEqual([...(embedded?.dimensions ?? [])], ['tenant', 'region'])
    assert.deepEqual([...(embedded?.metrics ?? [])], ['latency', 'size'])
    const wrapped = parseEmf(
      JSON.stringify({ level: 'INFO', message: emfLine({ customer: 'bob' }), requestId: 'x' }),
    )
    assert.deepEqual(wrapped?.root, ['message'])
    assert.deepEqual([...(wrapped?.metrics ?? [])], ['orders'])
  })

  it('does not take other lines for metrics', () => {
    for (const text of [
      customerLine(EVENTS[0] as CheckEvent),
      'orders 1 _aws CloudWatchMetrics',
      JSON.stringify({ _aws: { Timestamp: 1 }, orders: 1 }),
      JSON.stringify({ _aws: 'CloudWatchMetrics' }),
      JSON.stringify({ message: 'not {json' }),
      '[{"_aws":{"CloudWatchMetrics":[]}}]',
      '{"_aws":{"CloudWatchMetrics":[]},',
    ]) {
      assert.equal(parseEmf(text), undefined, text)
    }
  })

  it('tells dimensions, metric values, properties and the header apart', () => {
    const emf = parseEmf(
      emfLine({ customer: 'bob', 'odd name': 'x', order: { id: 'a1' } }, 1, ['orders', 'latency']),
    ) as EmfLine
    assert.deepEqual(metricField(emf, '$.customer'), { kind: 'dimension', name: 'customer' })
    assert.deepEqual(metricField(emf, '$.orders'), { kind: 'value', name: 'orders' })
    assert.deepEqual(metricField(emf, '$.latency[1]'), { kind: 'value', name: 'latency' })
    assert.deepEqual(metricField(emf, '$.order.id'), { kind: 'property', name: 'order.id' })
    assert.deepEqual(metricField(emf, '$["odd name"]'), {
      kind: 'property',
      name: '["odd name"]',
    })
    assert.deepEqual(metricField(emf, '$._aws.CloudWatchMetrics[0].Namespace'), {
      kind: 'declaration',
      name: '_aws.CloudWatchMetrics[0].Namespace',
    })
    assert.deepEqual(metricField(emf, undefined), { kind: 'property', name: undefined })
    const wrapped = { ...emf, root: ['message'] }
    assert.deepEqual(metricField(wrapped, '$.message.customer'), {
      kind: 'dimension',
      name: 'customer',
    })
    // The wrapping log record's own fields are log fields.
    assert.equal(metricField(wrapped, '$.requestId'), undefined)
    assert.equal(metricField(wrapped, '$.messageId'), undefined)
  })

  it('names a finding by kind and name', () => {
    assert.equal(
      metricSubject({ kind: 'dimension', name: 'customer' }, 'value'),
      'metric dimension customer',
    )
    assert.equal(
      metricSubject({ kind: 'property', name: 'requestId' }, 'request-id'),
      "metric property requestId (another request's id)",
    )
    assert.equal(metricSubject({ kind: 'property', name: undefined }, 'value'), 'metric line')
  })
})

describe('lmi check metric lines: comparison with the solo runs', () => {
  it("marks a dimension holding another event's value as a metric leak, with both request ids", () => {
    const lines = new Lines()
    lines.solo((event) => [emfLine({ customer: customerOf(event) })])
    for (const event of EVENTS) {
      lines.add('concurrent', event.index, [emfLine({ customer: customerOf(event) })])
    }
    const bob = lines.add('concurrent', 1, [emfLine({ customer: 'alice' })])
    const leaks = lines.leaks()
    assert.equal(leaks.length, 1)
    const [leak] = leaks
    assert.deepEqual(leak?.metric, { kind: 'dimension', name: 'customer' })
    assert.equal(leak?.requestId, bob)
    assert.equal(leak?.otherEvent.index, 0)
    assert.equal(lines.invocations.get(leak?.otherRequestId ?? '')?.event.index, 0)
    assert.equal(leak?.path, '$.customer')
    assert.equal(leak?.value, '"alice"')
  })

  it('compares metric values and properties (metadata) the same way', () => {
    const lines = new Lines()
    const line = (event: CheckEvent) => {
      const { order, tenant } = event.event as { order: number; tenant: string }
      return emfLine({ customer: 'all', total: order, tenantName: tenant }, Date.now(), [
        'orders',
        'total',
      ])
    }
    lines.solo((event) => [line(event)])
    lines.add('concurrent', 2, [line(EVENTS[1] as CheckEvent)])
    assert.deepEqual(
      lines
        .leaks()
        .map((leak) => [leak.metric?.kind, leak.metric?.name, leak.value, leak.otherEvent.index])
        .sort(),
      [
        ['property', 'tenantName', '"acme"', 0],
        ['value', 'total', '5678', 1],
      ].sort(),
    )
  })

  it('marks a leak in an EMF line wrapped in a JSON log record', () => {
    const lines = new Lines()
    const wrapped = (customer: string) =>
      JSON.stringify({ level: 'INFO', message: emfLine({ customer }), requestId: '{id}' })
    lines.solo((event) => [wrapped(customerOf(event))])
    lines.add('concurrent', 0, [wrapped('carol')])
    assert.deepEqual(
      lines.leaks().map((leak) => [leak.path, leak.metric]),
      [['$.message.customer', { kind: 'dimension', name: 'customer' }]],
    )
  })

  it('never finds a leak in _aws.Timestamp, even one an event holds', () => {
    // The handler publishes with the event's own time (Powertools' setTimestamp).
    const events: CheckEvent[] = [
      { name: 'a', index: 0, event: { customer: 'alice', at: 1_796_181_716_044 } },
      { name: 'b', index: 1, event: { customer: 'bob', at: 1_796_181_799_999 } },
    ]
    const invocations = new Map<string, LogInvocation>()
    const written = new Map<string, WrittenLine[]>()
    const add = (phase: 'solo' | 'concurrent', event: number, text: string) => {
      const requestId = randomUUID()
      invocations.set(requestId, { event: events[event] as CheckEvent, phase, round: 1 })
      written.set(requestId, [line(requestId, text)])
    }
    for (let run = 0; run < 2; run++) {
      add('solo', 0, emfLine({ customer: 'alice' }, 1_796_181_716_044))
      add('solo', 1, emfLine({ customer: 'bob' }, 1_796_181_799_999))
    }
    add('concurrent', 1, emfLine({ customer: 'bob' }, 1_796_181_716_044))
    assert.deepEqual(new LogComparison(events).leaks(invocations, written), [])
  })

  it('finds nothing in metric lines that differ only by their times', () => {
    const lines = new Lines()
    let clock = 1_796_181_716_044
    const texts = (event: CheckEvent) => [
      emfLine({ customer: customerOf(event), took: clock % 997 }, clock++, ['orders', 'took']),
    ]
    lines.solo(texts)
    for (let round = 0; round < 5; round++) {
      for (const event of EVENTS) lines.add('concurrent', event.index, texts(event))
    }
    assert.deepEqual(lines.leaks(), [])
  })
})

describe('lmi check metric lines: findings and report', () => {
  it('reports metric leaks as LMI_CONCURRENCY_DEPENDENT_METRIC only, log leaks as LOG', () => {
    const lines = new Lines()
    lines.solo((event) => [customerLine(event), emfLine({ customer: customerOf(event) })])
    const bob = lines.add('concurrent', 1, [
      customerLine(EVENTS[1] as CheckEvent),
      emfLine({ customer: 'alice' }),
    ])
    lines.add('concurrent', 2, [
      customerLine(EVENTS[0] as CheckEvent),
      emfLine({ customer: 'carol' }),
    ])
    const findings = groupFindings(evidence(lines), { cwd: '/app', events: EVENTS, references: [] })
    assert.deepEqual(
      findings.map((finding) => [finding.code, finding.subject, finding.occurrences]),
      [
        [FINDING_CODES.CONCURRENCY_DEPENDENT_LOG, 'log $.customer', 1],
        [FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC, 'metric dimension customer', 1],
      ],
    )
    const metric = findings[1]
    assert.equal(metric?.requestId, bob)
    assert.ok(metric?.otherRequestId !== undefined && metric.otherRequestId !== bob)
    assert.deepEqual(metric?.events, ['events.json[0]', 'events.json[1]'])
    assert.match(metric?.lines?.[0]?.line ?? '', /"CloudWatchMetrics"/)
    assert.match(metric?.hint ?? '', /module-level Metrics instance/)
    assert.match(metric?.message ?? '', /^Metrics depend on concurrency: 1 metric \(EMF\) line/)
    const report = formatReport(resultWith(findings, EVENTS))
    assert.match(
      report,
      /✖ LMI_CONCURRENCY_DEPENDENT_METRIC: metric \(EMF\) line carries another invocation's value/,
    )
    assert.match(report, /found by comparing metric \(EMF\) lines with the solo runs/)
    assert.match(report, /usual cause: dimensions or metadata kept on a module-level Metrics/)
    assert.ok(
      report.includes(
        `request ${bob}, round 1) wrote $.customer "alice": what events.json[0] publishes alone`,
      ),
      report,
    )
    // The log finding of the same report keeps its own wording.
    assert.match(report, /wrote \$\.customer "alice": what events\.json\[0\] logs alone/)
  })

  it("reports another request's id in a metric property under the metric code", () => {
    const lines = new Lines()
    lines.solo(() => [emfLine({ requestId: '{id}' })])
    const first = lines.add('concurrent', 0, [emfLine({ requestId: '{id}' })])
    lines.add('concurrent', 1, [emfLine({ requestId: first })])
    const findings = groupFindings(evidence(lines), { cwd: '/app', events: EVENTS, references: [] })
    assert.deepEqual(
      findings.map((finding) => [finding.code, finding.subject, finding.otherRequestId]),
      [
        [
          FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC,
          "metric property requestId (another request's id)",
          first,
        ],
      ],
    )
  })
})
