import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FINDING_CODES } from '@lmi/core'
import { childExecArgv } from '@lmi/test-kit'
import fc from 'fast-check'
import { parseCheckArgs } from '../src/cli/check/cli.ts'
import { parseFindingLine } from '../src/cli/check/detectors.ts'
import {
  buildReference,
  buildReferences,
  compareOutcome,
  compileIgnore,
  JsonText,
  maskOf,
  type NormalizedOutcome,
  Normalizer,
  type Reference,
  renderPath,
  type Segment,
  traceable,
  volatileByShape,
} from '../src/cli/check/diff.ts'
import { loadEvents } from '../src/cli/check/events.ts'
import { locationOf } from '../src/cli/check/grouping.ts'
import { runCheck } from '../src/cli/check/index.ts'
import {
  invocationsPerRound,
  roundOrder,
  seededRandom,
  shuffled,
} from '../src/cli/check/schedule.ts'
import { inheritedExecArgv, resolveSettings } from '../src/cli/check/settings.ts'
import type { CheckResult } from '../src/cli/check/types.ts'
import type { InvokeResult } from '../src/emulator/index.ts'
import { CheckEventsError, CheckHandlerError, CheckUsageError } from '../src/errors.ts'
import { check, corpus, describeFindings, eventsFile, lmi, packageDir } from './helpers/check.ts'

const eventsDir = `${corpus}/events-dir`

const DEPENDENT = FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE

type SoloOutcome = { outcome: NormalizedOutcome; requestId: string }

function successResult(requestId: string, payload: unknown): InvokeResult {
  return {
    requestId,
    status: 'success',
    payload: Buffer.from(JSON.stringify(payload)),
    error: undefined,
    errorTypeHeader: undefined,
    timedOutBy: undefined,
    streamed: false,
    responseHeaders: {},
    tenantId: undefined,
    queuedAt: 0,
    deliveredAt: 0,
    endedAt: 0,
  }
}

// --- the method --------------------------------------------------------------------------------

describe('lmi check', () => {
  let scratch: string
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lmi-check-test-'))
  })
  after(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  it('reports the outcome of a handler that hangs only under concurrency, and does not hang', async () => {
    // Prepare: a module-level "lock" that the first invocation never releases.
    const file = join(scratch, 'lock.mjs')
    await writeFile(
      file,
      'let busy = false\nexport const handler = async () => {\n  if (busy) await new Promise(() => {})\n  busy = true\n  return { ok: true }\n}\n',
    )
    // Act
    const result = await runCheck({
      handler: join(scratch, 'lock.handler'),
      events: [{ a: 1 }, { b: 2 }],
      timeoutMs: 300,
      rounds: 1,
      seed: 1,
      execArgv: childExecArgv(),
    })
    // Assess
    const finding = result.findings.find((candidate) => candidate.code === DEPENDENT)
    assert.ok(finding, describeFindings(result))
    assert.equal(finding.subject, 'outcome')
    assert.equal(finding.examples[0]?.differences[0]?.got, 'a timeout')
    assert.ok(result.invocations.timedOut > 0)
    assert.match(result.notes.join('\n'), /timed out after 0\.3 s/)
  })

  it('checks a TypeScript handler (.mts) as it checks JavaScript: the shared counter is caught', async () => {
    // Prepare: the corpus' module-level counter bug, written in TypeScript.
    await writeFile(
      join(scratch, 'counter.mts'),
      'let last: unknown\n' +
        'export const handler = async (event: { id: number }): Promise<unknown> => {\n' +
        '  last = event.id\n  await new Promise((resolve) => setTimeout(resolve, 5))\n  return { id: last }\n}\n',
    )
    // Act
    const result = await runCheck({
      handler: join(scratch, 'counter.handler'),
      events: [{ id: 1 }, { id: 2 }, { id: 3 }],
      rounds: 1,
      seed: 7,
      execArgv: childExecArgv(),
    })
    // Assess
    assert.ok(
      result.findings.some((finding) => finding.code === DEPENDENT),
      describeFindings(result),
    )
  })

  it("with tenantIds, gives each event a tenant id and traces one found in another event's lines", async () => {
    // Prepare: the tenant id kept at module level, logged after an await.
    await writeFile(
      join(scratch, 'tenant-log.mjs'),
      'let tenant\n' +
        'export const handler = async (event, context) => {\n' +
        '  tenant = context.tenantId\n' +
        '  await new Promise((resolve) => setTimeout(resolve, 5))\n' +
        "  process.stdout.write(JSON.stringify({ msg: 'served', tenant }) + '\\n')\n" +
        '  return { ok: true }\n}\n',
    )
    const options = {
      handler: join(scratch, 'tenant-log.handler'),
      events: [{ n: 1 }, { n: 2 }, { n: 3 }],
      rounds: 1,
      seed: 3,
      execArgv: childExecArgv(),
    }
    // Act
    const [without, withIds] = await Promise.all([
      runCheck(options),
      runCheck({ ...options, tenantIds: true }),
    ])
    // Assess: without tenant ids there is nothing to leak; with them, whose it is is known.
    assert.deepEqual(without.findings, [], describeFindings(without))
    const finding = withIds.findings.find(
      (candidate) => candidate.code === FINDING_CODES.CONCURRENCY_DEPENDENT_LOG,
    )
    assert.ok(finding, describeFindings(withIds))
    assert.equal(finding.subject, 'log $.tenant')
    assert.match(finding.lines?.[0]?.line ?? '', /lmi-check-tenant-\d/)
    assert.throws(
      () => resolveSettings({ handler: 'a.handler', events: [], tenantIds: 'yes' as never }),
      (error: unknown) =>
        error instanceof CheckUsageError && /tenantIds must be true or false/.test(error.message),
    )
    assert.equal(
      parseCheckArgs(['a.handler', '-e', 'e.json', '--tenant-ids']).options.tenantIds,
      true,
    )
  })

  it('rejects a handler that does not load with the loader’s message', async () => {
    await assert.rejects(
      check('correct/frozen-config.nope'),
      (error: unknown) =>
        error instanceof CheckHandlerError &&
        error.errorType === 'Runtime.HandlerNotFound' &&
        /frozen-config\.nope is undefined or not exported/.test(error.message),
    )
    const broken = join(scratch, 'broken.mjs')
    await writeFile(broken, 'export const handler = async (event) => { return event.\n')
    await assert.rejects(
      runCheck({ handler: join(scratch, 'broken.handler'), events: [{}] }),
      (error: unknown) =>
        error instanceof CheckHandlerError && error.errorType === 'Runtime.UserCodeSyntaxError',
    )
  })

  it('rejects bad options before starting anything', async () => {
    await assert.rejects(runCheck({ handler: 'nodot', events: [{}] }), CheckUsageError)
    await assert.rejects(
      runCheck({ handler: 'a.handler', events: [{}], rounds: 0 }),
      /rounds must be an integer from 1/,
    )
    await assert.rejects(runCheck({ handler: 'a.handler', events: [{}], soloRuns: 1 }), /soloRuns/)
    await assert.rejects(runCheck({ handler: 'a.handler', events: [] }), CheckEventsError)
    await assert.rejects(
      runCheck({ handler: 'a.handler', events: [{}], ignore: ['$..x'] }),
      CheckUsageError,
    )
  })

  it('passes the loader options of this process to the runtime, and nothing else', () => {
    assert.deepEqual(
      inheritedExecArgv([
        '--test-isolation=process',
        '--conditions=@lmi/source',
        '--inspect-port=127.0.0.1:9229',
        '-C',
        'dev',
        '--import',
        './setup.mjs',
        '--enable-source-maps',
      ]),
      ['--conditions=@lmi/source', '-C', 'dev', '--import', './setup.mjs', '--enable-source-maps'],
    )
  })

  it('points a finding at the first frame of its stack, relative to the working directory', () => {
    assert.equal(
      locationOf('at handler (/srv/app/src/a.mjs:12:3)\nat x (/srv/app/b.mjs:1:1)', '/srv/app'),
      'src/a.mjs:12:3',
    )
    assert.equal(locationOf('at file:///srv/app/a.mjs:4:9', '/srv/app'), 'a.mjs:4:9')
    assert.equal(locationOf('at /elsewhere/a.cjs:4:9', '/srv/app'), '/elsewhere/a.cjs:4:9')
    assert.equal(locationOf(undefined, '/srv/app'), undefined)
  })

  it('reads finding lines of the detectors and nothing else', () => {
    const line = JSON.stringify({
      timestamp: 'x',
      level: 'WARN',
      message: 'process.env.X written',
      code: 'LMI_SHARED_ENV_WRITE',
      subject: 'process.env.X',
      requestId: 'r1',
      stack: 'at handler (/a.mjs:1:1)',
    })
    assert.deepEqual(parseFindingLine(line), {
      code: 'LMI_SHARED_ENV_WRITE',
      subject: 'process.env.X',
      message: 'process.env.X written',
      requestId: 'r1',
      otherRequestId: undefined,
      tenantId: undefined,
      stack: 'at handler (/a.mjs:1:1)',
    })
    assert.equal(
      parseFindingLine('{"level":"INFO","code":"LMI_SHUTDOWN","message":"x"}'),
      undefined,
    )
    assert.equal(
      parseFindingLine('{"code":"LMI_CONCURRENCY_DEPENDENT_RESPONSE","subject":"x"}'),
      undefined,
    )
    assert.equal(parseFindingLine('plain text LMI_SHARED_ENV_WRITE'), undefined)
  })
})

describe('lmi check events', () => {
  let scratch: string
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lmi-check-events-'))
  })
  after(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  it('reads a JSON array file, naming events by index', async () => {
    const events = await loadEvents(eventsFile, packageDir)
    assert.equal(events.length, 6)
    assert.equal(events[1]?.name, 'events.json[1]')
    assert.deepEqual(
      events[1]?.event,
      JSON.parse(readFileSync(join(packageDir, eventsFile), 'utf8'))[1],
    )
  })

  it('reads a directory of .json files in name order (numbers by value), ignoring other files', async () => {
    const events = await loadEvents(eventsDir, packageDir)
    assert.deepEqual(
      events.map((event) => event.name),
      ['01-alice.json', '02-bob.json', '10-carol.json'],
    )
  })

  it('says what is wrong with unusable events', async () => {
    await writeFile(join(scratch, 'object.json'), '{"user":"alice"}')
    await writeFile(join(scratch, 'invalid.json'), '[{"user": }]')
    await writeFile(join(scratch, 'empty.json'), '[]')
    await mkdir(join(scratch, 'no-json'))
    const cases: Array<[string, RegExp]> = [
      ['object.json', /object\.json must hold a JSON array of events/],
      ['invalid.json', /invalid\.json is not valid JSON/],
      ['empty.json', /empty array/],
      ['no-json', /holds no \.json files/],
      ['missing.json', /no events at missing\.json/],
    ]
    for (const [path, message] of cases) {
      await assert.rejects(loadEvents(path, scratch), (error: unknown) => {
        assert.ok(error instanceof CheckEventsError)
        assert.match(error.message, message)
        return true
      })
    }
  })
})

// --- comparing responses -----------------------------------------------------------------------

describe('lmi check response comparison', () => {
  const orderId = '0b6f3c1e-5d0a-4a57-9c51-1f2f0b7e8a01'
  const normalizer = new Normalizer([{ orderId }])
  const idA = '11111111-2222-4333-8444-555555555555'
  const idB = '66666666-7777-4888-9999-aaaaaaaaaaaa'

  it("replaces the invocation's own request id, random UUIDs and dates, but not the event's values", () => {
    const text = JSON.stringify({
      self: idA,
      other: idB,
      order: orderId,
      at: '2025-01-02T03:04:05.678Z',
      date: 'Thu, 02 Jan 2025 03:04:05 GMT',
      path: `/tmp/${idA}/x.json`,
    })
    assert.deepEqual(JSON.parse(normalizer.text(text, { requestId: idA })), {
      self: '<request-id>',
      other: '<uuid>',
      order: orderId,
      at: '<timestamp>',
      date: '<timestamp>',
      path: '/tmp/<request-id>/x.json',
    })
  })

  it('ignores what differs between solo runs and flags the rest, inside JSON bodies too', () => {
    const solo = (id: string, at: number): { outcome: NormalizedOutcome; requestId: string } => ({
      requestId: id,
      outcome: normalizer.outcome(
        successResult(id, { statusCode: 200, body: JSON.stringify({ user: 'alice', at, id }) }),
        { requestId: id },
      ),
    })
    const reference = buildReference([solo(idA, 1), solo(idB, 2)])
    const idC = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff'
    const same = normalizer.outcome(
      successResult(idC, {
        statusCode: 200,
        body: JSON.stringify({ user: 'alice', at: 3, id: idC }),
      }),
      { requestId: idC },
    )
    assert.deepEqual(compareOutcome(reference, same, compileIgnore([])), [])
    // Another invocation's request id and user: the shape of a module-level variable's leak.
    const leaked = normalizer.outcome(
      successResult(idC, {
        statusCode: 200,
        body: JSON.stringify({ user: 'bob', at: 3, id: idA }),
      }),
      { requestId: idC },
    )
    const differences = compareOutcome(reference, leaked, compileIgnore([]))
    assert.deepEqual(
      differences.map((difference) => renderPath(difference.segments)),
      ['$.body.user', '$.body.id'],
    )
    assert.deepEqual(
      compareOutcome(reference, leaked, compileIgnore(['$.body.user', 'body.id'])),
      [],
    )
  })

  it('compares errors by type and tells a response from an error or a timeout', () => {
    const error = (errorType: string, errorMessage: string): NormalizedOutcome => ({
      status: 'error',
      errorType,
      errorMessage,
    })
    const reference = buildReference([
      { outcome: error('TypeError', 'at 1'), requestId: 'a' },
      { outcome: error('TypeError', 'at 2'), requestId: 'b' },
    ])
    assert.deepEqual(compareOutcome(reference, error('TypeError', 'other'), compileIgnore([])), [])
    assert.equal(compareOutcome(reference, error('RangeError', 'x'), compileIgnore([])).length, 1)
    const [difference] = compareOutcome(reference, { status: 'timeout' }, compileIgnore([]))
    assert.equal(difference?.kind, 'outcome')
    assert.equal(difference?.got, 'a timeout')
  })

  it('does not compare an event whose solo runs disagree on the outcome', () => {
    const reference = buildReference([
      { outcome: { status: 'success', value: 1 }, requestId: 'a' },
      { outcome: { status: 'timeout' }, requestId: 'b' },
    ])
    assert.equal(reference.mask, true)
    assert.deepEqual(
      compareOutcome(reference, { status: 'success', value: 2 }, compileIgnore([])),
      [],
    )
  })

  const json = fc.jsonValue({ maxDepth: 3 })

  it('finds no difference between a value and itself, and some once it changed (property)', () => {
    fc.assert(
      fc.property(json, (value) => {
        const reference = buildReference([
          { outcome: { status: 'success', value }, requestId: 'a' },
          { outcome: { status: 'success', value }, requestId: 'b' },
        ])
        assert.equal(reference.mask, undefined)
        assert.deepEqual(
          compareOutcome(reference, { status: 'success', value }, compileIgnore([])),
          [],
        )
        const changed = { wrapped: value }
        const differences = compareOutcome(
          reference,
          { status: 'success', value: changed },
          compileIgnore([]),
        )
        assert.ok(differences.length > 0)
      }),
    )
  })

  it('ignores exactly the rendered path of a difference (property)', () => {
    const segment = fc.oneof(fc.string({ maxLength: 6 }), fc.nat({ max: 20 }))
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments: Segment[]) => {
        const ignored = compileIgnore([renderPath(segments)])
        assert.equal(ignored(segments), true)
        assert.equal(ignored([...segments, 'below']), true)
        assert.equal(ignored(segments.slice(0, -1)), false)
      }),
    )
  })

  /** The paths of the differences of a success `value` from a reference. */
  const differingPaths = (reference: Reference, value: unknown): string[] =>
    compareOutcome(reference, { status: 'success', value }, compileIgnore([])).map((difference) =>
      renderPath(difference.segments),
    )
  const success = (value: unknown, requestId = 'r'): SoloOutcome => ({
    outcome: { status: 'success', value },
    requestId,
  })

  it('masks a path for every event once the solo runs of any event differ there, list items alike', () => {
    const events = [{ user: 'alice' }, { user: 'bob' }]
    const runs = [
      // alice's runs differ at $.n and at $.items[1].k: volatile, whatever the event.
      [
        success({ user: 'alice', n: 1, note: 'a', items: [{ k: 1 }, { k: 2 }] }),
        success({ user: 'alice', n: 2, note: 'b', items: [{ k: 1 }, { k: 3 }] }),
      ],
      // bob's runs happen to agree.
      [
        success({ user: 'bob', n: 5, note: 'c', items: [{ k: 1 }, { k: 2 }] }),
        success({ user: 'bob', n: 5, note: 'c', items: [{ k: 1 }, { k: 2 }] }),
      ],
    ]
    const [, bob] = buildReferences(runs, events) as [Reference, Reference]
    const concurrent = { user: 'bob', n: 9, note: 'd', items: [{ k: 7 }, { k: 2 }] }
    assert.deepEqual(differingPaths(bob, concurrent), [])
    // Built from bob's runs alone (the old way), the same response differs at each of them.
    const alone = buildReference(runs[1] as SoloOutcome[])
    assert.deepEqual(differingPaths(alone, concurrent), ['$.n', '$.note', '$.items[0].k'])
    // A path no solo run ever varied at is still compared, and a volatile one still reports
    // another event's value.
    assert.deepEqual(differingPaths(bob, { ...concurrent, user: 'alice' }), ['$.user'])
    assert.deepEqual(differingPaths(bob, { ...concurrent, note: 'for alice' }), ['$.note'])
  })

  it('does not count values solo runs already showed for other events as a leak', () => {
    // A handler that lists every user: alice's solo response already names bob.
    const events = [{ user: 'alice' }, { user: 'bob' }]
    const [alice] = buildReferences(
      [
        [success({ seen: 'alice bob' }), success({ seen: 'bob alice' })],
        [success({ seen: 'bob' }), success({ seen: 'bob' })],
      ],
      events,
    ) as [Reference, Reference]
    assert.deepEqual(differingPaths(alice, { seen: 'bob' }), [])
  })

  it('treats durations, time left, clock readings and random ids as volatile by their shape', () => {
    const now = Date.now()
    // One solo run each: nothing differed between runs, only the shape says these vary.
    const value = {
      left: 9983,
      remainingTimeInMillis: 9983,
      tookMs: 0,
      timings: { db: 1 },
      createdAt: now,
      epochSeconds: Math.floor(now / 1000),
      seenAt: now - 5,
      random: 0.8123456789,
      elapsed: 1.2345678,
      requestHex: 'a3f9c2d4e5b6a7980112',
      ulid: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      token: 'V1StGXR8_Z5jdHi6B-myT',
      short: 'k2j3h4g5f6x',
      text: `done in 12ms at ${new Date(now).toISOString().slice(0, 10)}`,
      user: 'alice',
      invocation: 1,
      amount: 10,
    }
    const reference = buildReference([success(value)])
    const later = {
      ...value,
      left: 9974,
      remainingTimeInMillis: 9001,
      tookMs: 3,
      timings: { db: 4 },
      createdAt: now + 1500,
      epochSeconds: Math.floor(now / 1000) + 1,
      seenAt: now + 20,
      random: 0.3141592653,
      elapsed: 2.5183726,
      requestHex: '0b1c2d3e4f5a6b7c8d9e',
      ulid: '01HZX3K5VAB2C8D7E6F5G4H3J2',
      token: 'Uakgb_J5m9g-0JDMbcJqL',
      short: '9xq2m1zz0ab',
      text: `done in 4ms at ${new Date(now + 1000).toISOString().slice(0, 10)}`,
    }
    assert.deepEqual(differingPaths(reference, later), [])
    // Not a time or an id: a counter, an amount, a name.
    assert.deepEqual(
      differingPaths(reference, { ...later, user: 'bob', invocation: 7, amount: 20 }),
      ['$.user', '$.invocation', '$.amount'],
    )
    assert.equal(volatileByShape(9983, 9974, ['left']), true)
    assert.equal(volatileByShape(1, 7, ['invocation']), false)
    assert.equal(volatileByShape(1, 7, ['items', 0, 'count']), false)
    assert.equal(volatileByShape('order 1 of 2', 'order 2 of 2', ['status']), false)
    assert.equal(volatileByShape('alice', 'bob', ['createdAt']), false)
  })

  it('still reports a volatile value traced to another invocation: its request id, its event', () => {
    assert.equal(traceable('<request-id>', '<uuid>', ['id'], undefined), true)
    assert.equal(traceable('<uuid>', '<uuid>', ['id'], undefined), false)
    const events = [{ user: 'alice' }, { user: 'bob' }]
    const [alice] = buildReferences(
      [
        [success({ id: '<request-id>', at: 1, msg: 'hi alice 1ms' })],
        [success({ id: '<request-id>', at: 1, msg: 'hi bob 1ms' })],
      ],
      events,
    ) as [Reference, Reference]
    assert.deepEqual(differingPaths(alice, { id: '<request-id>', at: 2, msg: 'hi alice 7ms' }), [])
    assert.deepEqual(differingPaths(alice, { id: '<uuid>', at: 2, msg: 'hi alice 7ms' }), ['$.id'])
    // `at` is a time by its key: a number there is never evidence, a name is.
    assert.deepEqual(
      differingPaths(alice, { id: '<request-id>', at: 'bob', msg: 'hi alice 7ms' }),
      ['$.at'],
    )
  })

  it('treats a string holding JSON as the JSON it holds', () => {
    const mask = maskOf(new JsonText({ a: 1, b: 2 }), new JsonText({ a: 1, b: 3 }))
    assert.ok(mask instanceof Map)
    assert.equal(mask.get('b'), true)
    assert.equal(mask.has('a'), false)
  })
})

describe('lmi check schedule', () => {
  it('repeats every event equally, at least twice the concurrency, in a seeded order', () => {
    assert.equal(invocationsPerRound(6, 24), 48)
    assert.equal(invocationsPerRound(1, 4), 8)
    assert.equal(invocationsPerRound(100, 4), 100)
    const order = roundOrder(3, 4, seededRandom(9))
    assert.equal(order.length, 9)
    assert.deepEqual(
      [0, 1, 2].map((index) => order.filter((event) => event === index).length),
      [3, 3, 3],
    )
    assert.deepEqual(order, roundOrder(3, 4, seededRandom(9)))
    assert.notDeepEqual(
      shuffled([...Array(20).keys()], seededRandom(1)),
      shuffled([...Array(20).keys()], seededRandom(2)),
    )
  })
})

// --- the command line ------------------------------------------------------------------------

describe('lmi check command line', () => {
  let scratch: string
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lmi-check-cli-'))
  })
  after(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  it('exits 1 and prints the findings as JSON with --json, events from a directory', async () => {
    // Act
    const { code, stdout, stderr } = await lmi([
      'check',
      `${corpus}/buggy/counter.handler`,
      '--events',
      eventsDir,
      '--rounds',
      '1',
      '--seed',
      '7',
      '--json',
    ])
    // Assess
    assert.equal(code, 1, stderr)
    const report = JSON.parse(stdout) as Record<string, unknown> & CheckResult
    assert.equal(report.ok, false)
    assert.equal(report.seed, 7)
    assert.equal(report.handler, `${corpus}/buggy/counter.handler`)
    assert.deepEqual(
      report.events.map((event) => event.name),
      ['01-alice.json', '02-bob.json', '10-carol.json'],
    )
    assert.equal(report.concurrency, 12)
    assert.equal(report.invocations.solo, 6)
    assert.equal(report.invocations.concurrent, 24)
    const finding = report.findings.find((candidate) => candidate.code === DEPENDENT)
    assert.ok(finding)
    assert.equal(finding.subject, 'response $.invocation')
    assert.equal(finding.location, null)
    assert.deepEqual(Object.keys(finding.examples[0] ?? {}).sort(), [
      'differences',
      'event',
      'referenceRequestId',
      'requestId',
      'round',
    ])
    assert.match(finding.examples[0]?.differences[0]?.expected ?? '', /^1$/)
    // The progress is on stderr (occasional lines, not a terminal), never on stdout.
    assert.match(stderr, /lmi check: solo runs 6\/6 · findings 0/)
  })

  it('exits 0 with a readable report when there is nothing to find', async () => {
    const { code, stdout, stderr } = await lmi([
      'check',
      `${corpus}/correct/frozen-config.handler`,
      '-e',
      eventsDir,
      '-r',
      '1',
      '--quiet',
    ])
    assert.equal(code, 0, stderr)
    assert.match(stdout, /^lmi check test\/fixtures\/check\/correct\/frozen-config\.handler\n/)
    assert.match(stdout, /3 events; 6 solo runs/)
    assert.match(stdout, /✔ No findings/)
    assert.equal(stderr, '')
  })

  it('exits 2 with the loader’s message when the handler does not load', async () => {
    const { code, stderr } = await lmi([
      'check',
      `${corpus}/correct/frozen-config.nope`,
      '--events',
      eventsDir,
    ])
    assert.equal(code, 2)
    assert.match(
      stderr,
      /Runtime\.HandlerNotFound: .*frozen-config\.nope is undefined or not exported/,
    )
  })

  it('exits 2 naming the problem with unusable events', async () => {
    await writeFile(join(scratch, 'one.json'), '{"user":"alice"}')
    const notArray = await lmi(['check', 'a.handler', '--events', join(scratch, 'one.json')])
    assert.equal(notArray.code, 2)
    assert.match(notArray.stderr, /one\.json must hold a JSON array of events/)
    await writeFile(join(scratch, 'bad.json'), '[{')
    const invalid = await lmi([
      'check',
      'a.handler',
      '--events',
      join(scratch, 'bad.json'),
      '--json',
    ])
    assert.equal(invalid.code, 2)
    assert.match(invalid.stderr, /bad\.json is not valid JSON/)
    const json = JSON.parse(invalid.stdout) as { ok: boolean; error: { code: string } }
    assert.deepEqual([json.ok, json.error.code], [false, 'LMI_CHECK_EVENTS'])
  })

  it('exits 2 with its usage on bad arguments, 0 with --help', async () => {
    for (const args of [
      ['check'],
      ['check', 'a.handler'],
      ['check', 'a.handler', '--events', 'e.json', '--rounds', '0'],
      ['check', 'a.handler', '--events', 'e.json', '--frobnicate'],
    ]) {
      const { code, stderr } = await lmi(args)
      assert.equal(code, 2, args.join(' '))
      assert.match(stderr, /Usage: lmi check <path\/to\/module\.export> --events/)
    }
    const help = await lmi(['check', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Exit status: 0 no findings, 1 findings, 2/)
    const general = await lmi(['help'])
    assert.match(general.stdout, /lmi check <file\.export> --events/)
  })
})
