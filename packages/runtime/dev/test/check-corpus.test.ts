// lmi check on its corpus (test/fixtures/check): every buggy handler caught with its codes, no
// correct one flagged. The slowest tests of the package (a check of 14 handlers, each in fresh
// processes): in a file of their own, so the test runner can run them beside the others, and
// left out of the suite's Node 22 pass (scripts/test-node22.mjs) — lmi check's method runs on
// Node 22 in check.test.ts, and the detectors the corpus exercises in
// packages/runtime/core/test/detectors.test.ts.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FINDING_CODES, type FindingCode } from '@lmi/core'
import { childExecArgv } from '@lmi/test-kit'
import { runCheck } from '../src/cli/check/index.ts'
import type { CheckResult } from '../src/cli/check/types.ts'
import { check, corpus, describeFindings, eventsFile, lmi, packageDir } from './helpers/check.ts'

const DEPENDENT = FINDING_CODES.CONCURRENCY_DEPENDENT_RESPONSE

// --- the corpus: every buggy handler caught with its code(s), no correct one flagged ---------

/**
 * Expected codes of each buggy handler. `differential` ones come from lmi check's own
 * comparison of responses; `detectors` ones from the runtime's shared-state detectors.
 */
const BUGGY: Record<string, { differential: FindingCode[]; detectors: FindingCode[] }> = {
  'module-variable': { differential: [DEPENDENT], detectors: [] },
  'shared-tmp': { differential: [DEPENDENT], detectors: [FINDING_CODES.TMP_SHARED_PATH] },
  'env-per-request': { differential: [DEPENDENT], detectors: [FINDING_CODES.ENV_WRITE] },
  'keyed-cache': { differential: [DEPENDENT], detectors: [] },
  'leaked-timer': { differential: [], detectors: [FINDING_CODES.ESCAPED_TIMER] },
  'fire-and-forget': { differential: [], detectors: [FINDING_CODES.ESCAPED_PROMISE] },
  'global-assign': { differential: [], detectors: [FINDING_CODES.GLOBAL_CREATE] },
  counter: { differential: [DEPENDENT], detectors: [] },
}

/** Codes a buggy handler above also gets from its log lines (see BUGGY_LOGS below). */
const ALSO_IN_LOGS: Record<string, FindingCode[]> = {
  // Its log helper reads the global: lines tagged with another request's user.
  'global-assign': [FINDING_CODES.CONCURRENCY_DEPENDENT_LOG],
}

const CORRECT = [
  'pool',
  'frozen-config',
  'request-tmp',
  'timestamps',
  'async-local',
  'keyed-cache',
] as const

/** Correct handlers whose responses hold times, durations and random ids, checked with 12 events. */
const VOLATILE = ['time-left', 'time-left', 'changing-values'] as const

// Two checks at once: each runs its own runtime processes and emulators, and one alone keeps
// little more than one of two CPUs busy (its solo phase runs one invocation at a time).
describe('lmi check on the corpus of buggy handlers', { concurrency: 2 }, () => {
  for (const [name, expected] of Object.entries(BUGGY)) {
    describe(`buggy/${name}`, () => {
      let result: Promise<CheckResult>
      before(() => {
        result = check(`buggy/${name}.handler`)
        // Each `it` awaits it; a rejection is reported there.
        result.catch(() => {})
      })
      if (name === 'shared-tmp') {
        after(async () => {
          await result.catch(() => {})
          await rm('/tmp/report.json', { force: true })
        })
      }

      for (const code of expected.differential) {
        it(`is caught as ${code} by comparing responses, with both request ids`, async () => {
          const checked = await result
          const finding = checked.findings.find((candidate) => candidate.code === code)
          assert.ok(finding, `no ${code} among ${describeFindings(checked)}`)
          const example = finding.examples[0]
          assert.ok(example !== undefined)
          assert.match(example.event, /^events\.json\[\d\]$/)
          assert.notEqual(example.requestId, example.referenceRequestId)
          assert.equal(finding.requestId, example.requestId)
          assert.equal(finding.otherRequestId, example.referenceRequestId)
          assert.ok(example.differences.length > 0)
        })
      }

      for (const code of expected.detectors) {
        it(`is caught as ${code} by the detectors, at the user's line`, async () => {
          const checked = await result
          const finding = checked.findings.find((candidate) => candidate.code === code)
          assert.ok(finding, `no ${code} among ${describeFindings(checked)}`)
          assert.match(finding.location ?? '', new RegExp(`buggy/${name}\\.[cm]?js:\\d+:\\d+$`))
          assert.ok(finding.requestId !== undefined)
          assert.ok(finding.events.length > 0)
        })
      }

      for (const code of ALSO_IN_LOGS[name] ?? []) {
        it(`is caught as ${code} by comparing log lines, with both request ids`, async () => {
          const checked = await result
          const finding = checked.findings.find((candidate) => candidate.code === code)
          assert.ok(finding, `no ${code} among ${describeFindings(checked)}`)
          assert.ok(finding.requestId !== undefined && finding.otherRequestId !== undefined)
          assert.notEqual(finding.requestId, finding.otherRequestId)
          assert.ok((finding.lines ?? []).length > 0)
        })
      }

      it('reports nothing that is not one of its codes', async () => {
        const checked = await result
        const allowed = new Set<FindingCode>([
          ...expected.differential,
          ...expected.detectors,
          ...(ALSO_IN_LOGS[name] ?? []),
          // The first invocation creates the global, the next ones change it.
          ...(name === 'global-assign' ? [FINDING_CODES.GLOBAL_WRITE] : []),
          // A fixed /tmp name is also outside any per-invocation directory.
          ...(name === 'shared-tmp' ? [FINDING_CODES.TMP_OUTSIDE_SCOPE] : []),
        ])
        const unexpected = checked.findings.filter((finding) => !allowed.has(finding.code))
        assert.deepEqual(unexpected, [])
      })
    })
  }
})

describe('lmi check on the corpus of correct handlers', { concurrency: 2 }, () => {
  for (const name of CORRECT) {
    it(`finds nothing in correct/${name}`, async () => {
      const result = await check(`correct/${name}.handler`)
      assert.deepEqual(result.findings, [], describeFindings(result))
      assert.equal(result.invocations.solo, 12)
      assert.equal(result.invocations.concurrent, 2 * result.invocationsPerRound)
      assert.equal(result.invocations.timedOut, 0)
      assert.equal(result.invocations.crashed, 0)
    })
  }

  // Values that change on every call, which two solo runs of one event may still agree on by
  // chance: checked with 12 events (more chances), the time-left handler twice (it gave a
  // false alarm one check in two before solo variation counted for every event), each with
  // another seed. check.test.ts holds the rules' unit tests.
  for (const [run, name] of VOLATILE.entries()) {
    it(`finds nothing in correct/${name} with 12 events (check ${run + 1})`, async () => {
      const result = await runCheck({
        handler: `${corpus}/correct/${name}.handler`,
        events: `${corpus}/many-events.json`,
        cwd: packageDir,
        rounds: 1,
        soloRuns: 2,
        seed: 20_251 + run,
        execArgv: childExecArgv(),
      })
      assert.deepEqual(result.findings, [], describeFindings(result))
      assert.equal(result.invocations.solo, 24)
      assert.equal(result.invocations.concurrent, result.invocationsPerRound)
      assert.equal(result.invocations.timedOut, 0)
      assert.equal(result.invocations.crashed, 0)
    })
  }
})

// --- log lines: what a handler logs, attributed to the invocation that wrote it -------------

/** Buggy handlers whose responses are right and whose log lines are not, with their code. */
const BUGGY_LOGS: Record<string, { code: FindingCode; subject: RegExp }> = {
  // Powertools Logger 2.28.0: appendKeys kept on the module-level logger.
  'powertools-append-keys': {
    code: FINDING_CODES.CONCURRENCY_DEPENDENT_LOG,
    subject: /^log \$\.customer$/,
  },
  'current-request-id': {
    code: FINDING_CODES.CONCURRENCY_DEPENDENT_LOG,
    subject: /^log \$\.message \(another request's id\)$/,
  },
  'pino-module-child': {
    code: FINDING_CODES.CONCURRENCY_DEPENDENT_LOG,
    subject: /^log \$\.(?:requestId|user)/,
  },
  'batched-log': {
    code: FINDING_CODES.ESCAPED_LOG,
    subject: /^log line written outside any invocation$/,
  },
  // Powertools Metrics 2.27.0: dimensions kept on the module-level Metrics instance.
  'powertools-metrics': {
    code: FINDING_CODES.CONCURRENCY_DEPENDENT_METRIC,
    subject: /^metric dimension customer$/,
  },
  // A module-level tenant sent as a header: requests carry another invocation's tenant.
  'outgoing-header': {
    code: FINDING_CODES.CONCURRENCY_DEPENDENT_REQUEST,
    subject: /^request header x-tenant-id$/,
  },
}

// Three events (two tenants, three users) are enough to tell whose value a line holds, and
// halve the solo phase's runtime processes, the bulk of a check's cost.
const logEvents = (
  JSON.parse(readFileSync(join(packageDir, eventsFile), 'utf8')) as unknown[]
).slice(0, 3)

/** `lmi check --json` on a corpus handler, as a user runs it: its exit code and its result. */
async function checkCommand(
  handler: string,
  events: string,
): Promise<{ code: number; result: CheckResult }> {
  const { code, stdout, stderr } = await lmi([
    'check',
    `${corpus}/${handler}`,
    '--events',
    events,
    '--rounds',
    '2',
    '--seed',
    '20251',
    '--json',
  ])
  assert.ok(code === 0 || code === 1, `exit ${code}: ${stderr}`)
  return { code, result: JSON.parse(stdout) as CheckResult }
}

// Through the command line with --json: the bar is its exit code (1 caught, 0 clean).
describe('lmi check --json on the log lines, metrics and requests of the corpus', {
  concurrency: 2,
}, () => {
  let events: string
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lmi-corpus-'))
    events = join(dir, 'events.json')
    await writeFile(events, JSON.stringify(logEvents))
  })
  after(async () => {
    await rm(dirname(events), { recursive: true, force: true })
  })

  for (const [name, expected] of Object.entries(BUGGY_LOGS)) {
    it(`catches buggy/${name} as ${expected.code} only (exit 1), with the requests involved`, async () => {
      const { code, result } = await checkCommand(`buggy/${name}.handler`, events)
      assert.equal(code, 1, describeFindings(result))
      assert.deepEqual(
        [...new Set(result.findings.map((finding) => finding.code))],
        [expected.code],
        describeFindings(result),
      )
      const [finding] = result.findings
      assert.ok(finding !== undefined)
      assert.match(finding.subject, expected.subject)
      // A request finding shows requests, not lines.
      const example = finding.lines?.[0] ?? finding.requests?.[0]
      assert.ok(example !== undefined)
      assert.ok(finding.occurrences > 0)
      if (expected.code === FINDING_CODES.ESCAPED_LOG) {
        assert.match(finding.location ?? '', new RegExp(`buggy/${name}\\.mjs:\\d+:\\d+$`))
        // --json writes what is undefined as null.
        assert.equal(example.requestId ?? undefined, undefined)
      } else {
        // Where: the handler's line that logged (or sent) it, not the library's.
        assert.match(finding.location ?? '', new RegExp(`buggy/${name}\\.mjs:\\d+:\\d+$`))
        // The writer is a concurrent invocation; the other one, another invocation.
        assert.ok(finding.requestId != null && finding.otherRequestId != null)
        assert.notEqual(finding.requestId, finding.otherRequestId)
        assert.equal(example.requestId, finding.requestId)
        assert.equal(example.otherRequestId, finding.otherRequestId)
        assert.match(example.event ?? '', /^events\.json\[\d\]$/)
        assert.match(example.otherEvent ?? '', /^events\.json\[\d\]$/)
        assert.ok(example.line.length > 0)
      }
    })
    it(`finds nothing in correct/${name} (exit 0)`, async () => {
      const { code, result } = await checkCommand(`correct/${name}.handler`, events)
      assert.deepEqual(result.findings, [], describeFindings(result))
      assert.equal(code, 0)
      assert.equal(result.invocations.crashed, 0)
    })
  }
})
