import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FINDING_CODES } from '@lmi/core'
import fc from 'fast-check'
import { parseFindingLine } from '../src/cli/check/detectors.ts'
import {
  buildReference,
  compareOutcome,
  compileIgnore,
  JsonText,
  maskOf,
  type NormalizedOutcome,
  Normalizer,
  renderPath,
  type Segment,
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
import { inheritedExecArgv } from '../src/cli/check/settings.ts'
import type { CheckResult } from '../src/cli/check/types.ts'
import type { InvokeResult } from '../src/emulator/index.ts'
import { CheckEventsError, CheckHandlerError, CheckUsageError } from '../src/errors.ts'
import { check, corpus, describeFindings, eventsFile, packageDir } from './helpers/check.ts'

const lmiBin = join(packageDir, 'bin', 'lmi.js')
const eventsDir = `${corpus}/events-dir`

const DEPENDENT = FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE

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
    })
    // Assess
    assert.ok(
      result.findings.some((finding) => finding.code === DEPENDENT),
      describeFindings(result),
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

async function lmi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--conditions=@lmi/source', lmiBin, ...args], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = (await once(child, 'exit')) as [number]
  return { code, stdout, stderr }
}

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
