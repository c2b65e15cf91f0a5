// lmi check's comparison of outgoing requests (requests.ts), its findings and report, on
// synthetic recorded requests; the local sink (sink.ts) and its settings. The runtime's side of
// the recording is tested in @lmi/runtime (requests.test.ts), the whole chain on the corpus
// (check-corpus.test.ts, outgoing-header).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import type { Socket } from 'node:net'
import { describe, it } from 'node:test'
import { FINDING_CODES } from '@lmi/core'
import { REQUEST_PREFIX, type RecordedRequest } from '@lmi/runtime'
import { parseCheckArgs } from '../src/cli/check/cli.ts'
import type { CheckEvent } from '../src/cli/check/events.ts'
import { groupFindings } from '../src/cli/check/grouping.ts'
import type { LogInvocation } from '../src/cli/check/logs.ts'
import { formatReport, toJsonReport } from '../src/cli/check/report.ts'
import {
  parseRequestLine,
  requestLeaks,
  requestRecord,
  requestSubject,
} from '../src/cli/check/requests.ts'
import { CheckRun, type Evidence } from '../src/cli/check/run.ts'
import { newTraceId } from '../src/cli/check/schedule.ts'
import { resolveSettings } from '../src/cli/check/settings.ts'
import { SINK_URL_ENV, startSink } from '../src/cli/check/sink.ts'
import type { CheckFinding } from '../src/cli/check/types.ts'
import { CheckUsageError } from '../src/errors.ts'
import { resultWith } from './helpers/check.ts'

const EVENTS: CheckEvent[] = [
  { name: 'events[0]', index: 0, event: { customer: 'alice', tenant: 'acme', order: 1234 } },
  { name: 'events[1]', index: 1, event: { customer: 'bob', tenant: 'acme', order: 5678 } },
  { name: 'events[2]', index: 2, event: { customer: 'carol', tenant: 'globex', order: 9012 } },
]
const SINK = 'http://127.0.0.1:41234'

type Made = (ids: { event: CheckEvent; requestId: string; traceRoot: string }) => RecordedRequest[]

/** Invocations and the requests they made, built up as a check run would collect them. */
class Requests {
  readonly invocations = new Map<string, LogInvocation>()
  readonly requests = new Map<string, RecordedRequest[]>()

  /** An invocation of `event` that made the requests `made` gives. */
  add(phase: 'solo' | 'concurrent', event: number, made: Made): string {
    const requestId = randomUUID()
    const { root } = newTraceId()
    const info = { event: EVENTS[event] as CheckEvent, phase, round: phase === 'solo' ? 0 : 1 }
    this.invocations.set(requestId, { ...info, traceRoot: root })
    this.requests.set(requestId, made({ event: info.event, requestId, traceRoot: root }))
    return requestId
  }

  /** Two solo runs of each event. */
  solo(made: Made): void {
    for (let run = 0; run < 2; run++)
      for (const event of EVENTS) this.add('solo', event.index, made)
  }

  evidence(): Evidence {
    return {
      invocations: this.invocations,
      detectorFindings: [],
      differing: [],
      concurrentInvocations: [...this.invocations.values()].filter(
        (info) => info.phase === 'concurrent',
      ).length,
      writtenLines: new Map(),
      escapedLines: [],
      requests: this.requests,
    }
  }

  findings(): CheckFinding[] {
    return groupFindings(this.evidence(), { cwd: '/app', events: EVENTS, references: [] })
  }
}

function tenantOf(event: CheckEvent): string {
  return (event.event as { tenant: string }).tenant
}

function customerOf(event: CheckEvent): string {
  return (event.event as { customer: string }).customer
}

/** A POST of an order, as a client would make it, with the headers that change on every call. */
function order(
  tenant: string,
  customer: string,
  { requestId, traceRoot }: { requestId: string; traceRoot: string },
): RecordedRequest {
  const body = JSON.stringify({ customer, sentAt: new Date().toISOString(), nonce: randomUUID() })
  return {
    r: requestId,
    e: false,
    m: 'POST',
    u: `${SINK}/orders?ts=${Date.now()}&rnd=${Math.random()}`,
    h: {
      'x-tenant-id': tenant,
      'content-type': 'application/json',
      'content-length': String(body.length),
      date: new Date().toUTCString(),
      'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d+/g, ''),
      'x-amzn-trace-id': `Root=${traceRoot};Parent=${randomUUID().slice(0, 16).replace('-', '')};Sampled=1`,
      'x-request-id': requestId,
      'user-agent': 'orders-client/1.0',
    },
    b: body,
  }
}

const ownOrder: Made = (ids) => [order(tenantOf(ids.event), customerOf(ids.event), ids)]

describe('lmi check requests: recorded requests', () => {
  it('parses the runtime request lines and nothing else', () => {
    const line = (record: object) => `${REQUEST_PREFIX}${JSON.stringify(record)}`
    assert.deepEqual(
      parseRequestLine(line({ r: 'a', e: false, m: 'GET', u: `${SINK}/`, h: { x: '1', n: 2 } })),
      { r: 'a', e: false, m: 'GET', u: `${SINK}/`, h: { x: '1' } },
    )
    assert.deepEqual(
      parseRequestLine(
        line({
          r: null,
          e: true,
          m: 'PUT',
          u: `${SINK}/`,
          h: {},
          b: 'x',
          bt: true,
          at: 'a.mjs:1:2',
        }),
      ),
      { r: null, e: true, m: 'PUT', u: `${SINK}/`, h: {}, b: 'x', bt: true, at: 'a.mjs:1:2' },
    )
    assert.equal(parseRequestLine(`{"r":"a","m":"GET","u":"/","h":{}}`), undefined)
    assert.equal(parseRequestLine(`${REQUEST_PREFIX}{not json`), undefined)
    assert.equal(parseRequestLine(line({ r: 1, e: false, m: 'GET', u: '/', h: {} })), undefined)
    assert.equal(parseRequestLine(line({ r: 'a', e: false, m: 'GET', u: '/' })), undefined)
  })

  it('compares a request as its method, URL, query, headers and body (a form body by field)', () => {
    assert.deepEqual(
      requestRecord({
        r: 'a',
        e: false,
        m: 'POST',
        u: `${SINK}/t?tenant=acme&x=1&x=2`,
        h: { 'content-type': 'application/x-www-form-urlencoded' },
        b: 'customer=alice&__proto__=p',
      }),
      {
        method: 'POST',
        url: `${SINK}/t`,
        query: { tenant: 'acme', x: '1, 2' },
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Object.defineProperty({ customer: 'alice' }, '__proto__', {
          value: 'p',
          enumerable: true,
          writable: true,
          configurable: true,
        }),
      },
    )
    assert.deepEqual(requestRecord({ r: 'a', e: false, m: 'GET', u: `${SINK}/`, h: {} }), {
      method: 'GET',
      url: `${SINK}/`,
      headers: {},
    })
  })

  it('names the place of a value in the request', () => {
    assert.equal(requestSubject('$.headers["x-tenant-id"]'), 'request header x-tenant-id')
    assert.equal(requestSubject('$.headers.authorization'), 'request header authorization')
    assert.equal(requestSubject('$.headers["x-ctx"].tenant'), 'request header x-ctx $.tenant')
    assert.equal(requestSubject('$.url'), 'request url')
    assert.equal(requestSubject('$.method'), 'request method')
    assert.equal(requestSubject('$.query.tenant'), 'request query tenant')
    assert.equal(requestSubject('$.body'), 'request body $')
    assert.equal(requestSubject('$.body.customer.id'), 'request body $.customer.id')
    assert.equal(requestSubject('$.body[0].x'), 'request body $[0].x')
    assert.equal(requestSubject(undefined), 'request')
  })
})

describe('lmi check requests: comparison', () => {
  it("finds another event's tenant in a header, with both requests and events", () => {
    const requests = new Requests()
    requests.solo(ownOrder)
    // carol's invocation sends acme (alice's and bob's tenant); bob's sends globex.
    const carol = requests.add('concurrent', 2, (ids) => [order('acme', 'carol', ids)])
    requests.add('concurrent', 1, (ids) => [order('globex', 'bob', ids)])
    // alice's with bob's tenant: the same value, nothing to see.
    requests.add('concurrent', 0, (ids) => [order('acme', 'alice', ids)])
    const findings = requests.findings()
    assert.deepEqual(
      findings.map((finding) => [finding.code, finding.subject, finding.occurrences]),
      [[FINDING_CODES.CONCURRENCY_DEPENDENT_REQUEST, 'request header x-tenant-id', 2]],
    )
    const [finding] = findings as [CheckFinding]
    assert.equal(finding.requestId, carol)
    const example = finding.requests?.[0]
    assert.ok(example !== undefined)
    assert.equal(example.event, 'events[2]')
    assert.equal(example.value, '"acme"')
    assert.equal(example.otherPhase, 'solo')
    assert.equal(requests.invocations.get(finding.otherRequestId ?? '')?.phase, 'solo')
    assert.match(example.otherEvent, /^events\[[01]\]$/)
    assert.match(
      example.line,
      /^POST http:\/\/127\.0\.0\.1:41234\/orders\?ts=\d+.* x-tenant-id: acme$/,
    )
    assert.deepEqual(finding.events, ['events[0]', 'events[1]', 'events[2]'])
    assert.equal(finding.hint, 'state kept on a module-level client or its default headers')
    assert.deepEqual(finding.lines, undefined)
  })

  it('finds a body field, a URL path and a query parameter of another event', () => {
    const requests = new Requests()
    const made: Made = (ids) => {
      const customer = customerOf(ids.event)
      return [
        order(tenantOf(ids.event), customer, ids),
        { r: ids.requestId, e: false, m: 'GET', u: `${SINK}/customers/${customer}`, h: {} },
        { r: ids.requestId, e: false, m: 'GET', u: `${SINK}/search?who=${customer}`, h: {} },
      ]
    }
    requests.solo(made)
    requests.add('concurrent', 0, (ids) => made({ ...ids, event: EVENTS[1] as CheckEvent }))
    assert.deepEqual(
      requests.findings().map((finding) => finding.subject),
      ['request body $.customer', 'request query who', 'request url'],
    )
  })

  it('finds the request id and the trace id of another running invocation', () => {
    const requests = new Requests()
    requests.solo(ownOrder)
    const first = requests.add('concurrent', 0, ownOrder)
    const traceOfFirst = requests.invocations.get(first)?.traceRoot as string
    requests.add('concurrent', 1, (ids) => {
      const own = order('acme', 'bob', ids)
      return [
        { ...own, h: { ...own.h, 'x-amzn-trace-id': `Root=${traceOfFirst};Sampled=1` } },
        { ...own, b: JSON.stringify({ customer: 'bob', parent: first }) },
      ]
    })
    const findings = requests.findings()
    assert.deepEqual(
      findings.map((finding) => [finding.subject, finding.otherRequestId]),
      [
        ["request body $.parent (another request's id)", first],
        ["request header x-amzn-trace-id (another request's trace id)", first],
      ],
    )
    const report = formatReport(resultWith(findings, EVENTS))
    assert.match(report, /✖ LMI_CONCURRENCY_DEPENDENT_REQUEST: outgoing request carries/)
    assert.ok(report.includes(`the trace id of events[0]'s invocation ${first}`), report)
    assert.ok(report.includes(`the request id of events[0]'s invocation ${first}`), report)
  })

  it('raises nothing for dates, lengths, signatures, own ids and random values, however they differ', () => {
    const requests = new Requests()
    requests.solo(ownOrder)
    for (let round = 0; round < 4; round++) {
      for (const event of EVENTS) requests.add('concurrent', event.index, ownOrder)
    }
    assert.deepEqual(requests.findings(), [])
    assert.deepEqual(requestLeaks(EVENTS, requests.invocations, requests.requests), [])
  })

  it('reports a request finding with its requests, in text and JSON', () => {
    const requests = new Requests()
    requests.solo(ownOrder)
    const carol = requests.add('concurrent', 2, (ids) => [order('acme', 'carol', ids)])
    const report = formatReport(resultWith(requests.findings(), EVENTS))
    assert.match(report, /^ {2}request header x-tenant-id$/m)
    assert.match(report, /1 request of concurrent invocations; events: events\[0\], events\[2\]/)
    assert.match(
      report,
      /where: not known \(found by comparing outgoing requests with the solo runs\)/,
    )
    assert.match(report, /usual cause: state kept on a module-level client or its default headers/)
    assert.ok(
      report.includes(
        `events[2] (request ${carol}, round 1) sent "acme": what events[0] sends alone`,
      ),
      report,
    )
    const json = toJsonReport(resultWith(requests.findings(), EVENTS))
    assert.equal(json.ok, false)
    assert.equal(json.findings[0]?.requests?.[0]?.requestId, carol)
  })
})

describe('lmi check requests: the local sink', () => {
  it('answers 200 {} to any method, path and body, and closes kept-alive connections', async () => {
    const sink = await startSink()
    try {
      assert.match(sink.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        const response = await fetch(`${sink.url}/any/path?x=1`, {
          method,
          ...(method === 'GET' ? {} : { body: 'x'.repeat(100_000) }),
        })
        assert.equal(response.status, 200)
        assert.equal(response.headers.get('content-type'), 'application/json')
        assert.deepEqual(await response.json(), {})
      }
      const head = await fetch(sink.url, { method: 'HEAD' })
      assert.equal(head.status, 200)
      assert.equal(sink.received, 6)
      // A node:http request on a keep-alive agent leaves its socket open: close ends it.
      const socket = await new Promise<Socket>((resolve, reject) => {
        const request = httpRequest(`${sink.url}/kept`, { method: 'POST' }, (response) => {
          const kept = response.socket as Socket
          response.resume()
          response.on('end', () => resolve(kept))
        })
        request.on('error', reject)
        request.end('{}')
      })
      assert.equal(socket.destroyed, false)
      const socketClosed = once(socket, 'close')
      await sink.close()
      await socketClosed
    } finally {
      await sink.close()
    }
  })

  it('points the handler at the sink: LMI_CHECK_SINK_URL and the --sink-env names', async () => {
    const settings = resolveSettings({
      handler: 'app.handler',
      events: [{}],
      env: { API_URL: 'https://api.example.com', OTHER: 'kept' },
      sinkEnv: ['API_URL', 'PAYMENTS_ENDPOINT'],
    })
    const run = new CheckRun({ handler: 'app.handler', events: [{}] }, settings, [
      { name: 'events[0]', index: 0, event: {} },
    ])
    try {
      const sink = await run.openSink()
      assert.equal(await run.openSink(), sink)
      const { env } = run.processOptions(1, 'solo')
      assert.equal(env[SINK_URL_ENV], sink.url)
      assert.equal(env.API_URL, sink.url)
      assert.equal(env.PAYMENTS_ENDPOINT, sink.url)
      assert.equal(env.OTHER, 'kept')
    } finally {
      await run.stopAll()
    }
  })

  it('takes --sink-env names and refuses what is no variable name', () => {
    const { options } = parseCheckArgs([
      'app.handler',
      '-e',
      'events.json',
      '--sink-env',
      'API_URL',
      '--sink-env',
      'B_2',
    ])
    assert.deepEqual(options.sinkEnv, ['API_URL', 'B_2'])
    assert.deepEqual(resolveSettings({ handler: 'a.handler', events: [] }).sinkEnv, [])
    // Any value: a BigInt or a symbol is named in the message, not thrown from JSON.stringify.
    for (const bad of ['api-url', '', '1X', 'A=B', 10n, Symbol('x'), Object.create(null)]) {
      assert.throws(
        () =>
          resolveSettings({
            handler: 'a.handler',
            events: [],
            sinkEnv: [bad] as unknown as string[],
          }),
        (error: unknown) => error instanceof CheckUsageError && /sinkEnv names/.test(error.message),
      )
    }
  })
})
