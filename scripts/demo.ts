// The README's first command ends here. Every example in packages/examples is built as
// `sam build` builds it (the function with esbuild, lmi's runtime as the LmiRuntimeLayer), run
// the way Lambda Managed Instances runs it (Lambda's start command through the layer's exec
// wrapper) against lmi's Runtime API emulator at the template's concurrency (64), and loaded
// with more callers than slots. Each answer is checked; then `lmi check` runs on the
// shared-state example's buggy and fixed handlers.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { type CheckResult, describeCompared, runCheck } from '@lmi/dev'
import type { InvokeResult } from '@lmi/dev/emulator'
import { buildRuntimeLayer, repoRoot } from './examples/build.ts'
import { type BuiltExample, buildExample } from './examples/harness.ts'
import { type Answered, drive, type Invocation, percentile, startExample } from './examples/run.ts'
import { loadEvents } from './examples/template.ts'

const examplesDir = join(repoRoot, 'packages', 'examples')
const CALLERS = 96 // more than the 64 slots: invocations queue, as on a busy function
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka']
const tty = process.stdout.isTTY === true
const bold = (text: string) => (tty ? `\x1b[1m${text}\x1b[22m` : text)
const green = (text: string) => (tty ? `\x1b[32m${text}\x1b[39m` : text)
const red = (text: string) => (tty ? `\x1b[31m${text}\x1b[39m` : text)

interface Response {
  statusCode: number
  headers: Record<string, string>
  body: string
  isBase64Encoded?: boolean
}

/** An example as the demo runs it: what to send, how many, and what a right answer is. */
interface Demo {
  name: string
  total: number
  invocations(events: Map<string, unknown>): Invocation[]
  /** Why the answer is wrong, or undefined. */
  verify(invocation: Invocation, result: InvokeResult): string | undefined
  env?: () => Record<string, string>
}

function response(result: InvokeResult): Response {
  return JSON.parse(result.payload.toString()) as Response
}

const all = (events: Map<string, unknown>): Invocation[] =>
  [...events].map(([name, event]) => ({ name, event }))

let auditUrl = ''
const tmpRoot = mkdtempSync(join(tmpdir(), 'lmi-demo-'))

const DEMOS: Demo[] = [
  {
    name: 'hello-json',
    total: 3000,
    invocations: all,
    verify(invocation, result) {
      const expected: Record<string, number> = {
        'invalid-body.json': 422,
        'malformed-json.json': 400,
        'not-implemented.json': 501,
      }
      const { statusCode, body } = response(result)
      if (statusCode !== (expected[invocation.name] ?? 200)) return `status ${statusCode}`
      if (statusCode === 200 && JSON.parse(body).requestId !== result.requestId)
        return 'another request id'
      return undefined
    },
  },
  {
    name: 'tmp-files',
    total: 800,
    invocations: all,
    env: () => ({ REPORT_TMP_ROOT: tmpRoot }),
    verify(invocation, result) {
      const { statusCode, body } = response(result)
      if (invocation.name === 'empty-title.json')
        return statusCode === 422 ? undefined : `status ${statusCode}`
      const rows = (JSON.parse((invocation.event as { body: string }).body) as { rows: unknown[] })
        .rows
      const lines = gunzipSync(Buffer.from(body, 'base64')).toString().split('\r\n').length - 1
      return lines === rows.length + 1 ? undefined : `${lines} CSV lines for ${rows.length} rows`
    },
  },
  {
    name: 'multi-tenant',
    total: 1600,
    invocations: (events) =>
      TENANTS.flatMap((tenantId) => all(events).map((i) => ({ ...i, tenantId }))),
    env: () => ({ AUDIT_URL: auditUrl, NOTES_TMP_ROOT: tmpRoot }),
    verify(invocation, result) {
      const body = JSON.parse(result.payload.toString()) as {
        tenantId: string
        receipt: { auditedFor: string }
      }
      if (body.tenantId !== invocation.tenantId) return `answered for ${body.tenantId}`
      if (body.receipt.auditedFor !== invocation.tenantId)
        return `audited for ${body.receipt.auditedFor}`
      return undefined
    },
  },
  {
    name: 'streaming',
    total: 640,
    invocations: (events) => all(events).filter((i) => i.name !== 'slow.json'),
    verify(invocation, result) {
      const text = result.payload.toString()
      const body = text.slice(text.indexOf('\0'.repeat(8)) + 8)
      if (invocation.name === 'bad-count.json')
        return text.includes('"statusCode":400') ? undefined : 'not a 400'
      const lines = body
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { requestId: string; done?: true })
      if (lines.some((line) => line.requestId !== result.requestId)) return "another stream's line"
      return lines.at(-1)?.done === true ? undefined : 'no summary line'
    },
  },
  {
    name: 'shared-state',
    total: 3000,
    invocations: all,
    verify(invocation, result) {
      const claims = (
        invocation.event as { requestContext: { authorizer: { jwt: { claims: { sub: string } } } } }
      ).requestContext.authorizer.jwt.claims
      const user = JSON.parse(response(result).body).user
      return user === claims.sub ? undefined : `answered as ${user}`
    },
  },
]

function bar(done: number, total: number): string {
  const width = 28
  const filled = Math.round((done / total) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(5)}/${total}`
}

function pad(text: string | number, width: number, left = false): string {
  const value = String(text)
  return left ? value.padEnd(width) : value.padStart(width)
}

interface Summary {
  name: string
  invocations: number
  errors: number
  firstError: string | undefined
  throughput: number
  p50: number
  p99: number
  peak: number
  slots: number
  findings: number
}

async function runDemo(demo: Demo, built: BuiltExample): Promise<Summary> {
  const dir = join(examplesDir, demo.name)
  const { fn } = built
  const slots = (
    fn.properties.CapacityProviderConfig as { PerExecutionEnvironmentMaxConcurrency: number }
  ).PerExecutionEnvironmentMaxConcurrency
  const running = await startExample({ ...built, concurrency: slots, env: demo.env?.() })
  try {
    const invocations = demo.invocations(loadEvents(dir))
    let errors = 0
    let firstError: string | undefined
    const label = pad(demo.name, 14, true)
    const started = performance.now()
    const answered: Answered[] = await drive(running.emulator, invocations, {
      total: demo.total,
      callers: CALLERS,
      onAnswer({ invocation, result }, done) {
        let problem: string | undefined
        try {
          problem =
            result.status === 'success'
              ? demo.verify(invocation, result)
              : `${result.status}: ${result.error?.errorType} ${result.error?.errorMessage}`
        } catch (error) {
          problem = `unreadable answer (${(error as Error).message})`
        }
        if (problem !== undefined) {
          errors++
          firstError ??= `${invocation.name}: ${problem}`
        }
        if (tty && (done % 20 === 0 || done === demo.total))
          process.stdout.write(`\r  ${label} ${bar(done, demo.total)}`)
      },
    })
    const seconds = (performance.now() - started) / 1000
    if (tty) process.stdout.write('\n')
    else console.log(`  ${label} ${bar(answered.length, demo.total)}`)
    const exit = await running.stop()
    if (exit !== 0) {
      errors++
      firstError ??= `the runtime exited ${exit} on SIGTERM`
    }
    const latencies = answered.map((a) => a.latencyMs)
    return {
      name: demo.name,
      invocations: answered.length,
      errors,
      firstError,
      throughput: answered.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      peak: running.emulator.stats().peakInFlight,
      slots,
      findings: running.logs.filter((line) => /^LMI_(SHARED|ESCAPED|TMP)_/.test(String(line.code)))
        .length,
    }
  } finally {
    await running.close()
  }
}

function describeCheck(result: CheckResult): string {
  const compared = `compared ${describeCompared(result.compared)}`
  if (result.findings.length === 0) {
    return `${green('clean')}: ${result.invocations.solo + result.invocations.concurrent} invocations, ${compared}; no finding`
  }
  const lines = result.findings.map(
    (f) =>
      `      ${f.code} ${f.subject}${f.events.length > 0 ? ` (events ${f.events.join(', ')})` : ''}`,
  )
  return `${red('CAUGHT')}: ${result.findings.length} finding(s) in ${result.invocations.concurrent} concurrent invocations (${compared})\n${lines.join('\n')}`
}

const audit = createServer((req, res) => {
  req.resume().on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ auditedFor: req.headers['x-tenant-id'] ?? null }))
  })
})
audit.listen(0, '127.0.0.1')
await new Promise((resolve) => audit.once('listening', resolve))
auditUrl = `http://127.0.0.1:${(audit.address() as AddressInfo).port}/events`

const buildRoot = mkdtempSync(join(tmpdir(), 'lmi-demo-build-'))
let failed = false
try {
  console.log(
    bold('lmi demo: the five examples of packages/examples, as Lambda Managed Instances runs them'),
  )
  console.log(
    '  each built as `sam build` builds it, started through the LmiRuntimeLayer exec wrapper, against\n' +
      `  lmi's Runtime API emulator with 64 slots and ${CALLERS} callers; every answer checked\n`,
  )
  const layerStarted = performance.now()
  const wrapper = buildRuntimeLayer(join(buildRoot, 'LmiRuntimeLayer'))
  console.log(
    `  LmiRuntimeLayer built in ${((performance.now() - layerStarted) / 1000).toFixed(1)} s\n`,
  )

  const summaries: Summary[] = []
  const builds = new Map<string, BuiltExample>()
  for (const demo of DEMOS) {
    const built = buildExample(join(examplesDir, demo.name), { root: buildRoot, wrapper })
    builds.set(demo.name, built)
    summaries.push(await runDemo(demo, built))
  }

  const header = `  ${pad('example', 14, true)}${pad('invocations', 12)}${pad('errors', 8)}${pad('throughput', 13)}${pad('p50', 10)}${pad('p99', 10)}${pad('peak in-flight', 16)}${pad('findings', 10)}`
  console.log(`\n${bold(header)}`)
  for (const s of summaries) {
    console.log(
      `  ${pad(s.name, 14, true)}${pad(s.invocations, 12)}${pad(s.errors === 0 ? '0' : red(String(s.errors)), 8)}${pad(`${Math.round(s.throughput)}/s`, 13)}${pad(`${s.p50.toFixed(1)} ms`, 10)}${pad(`${s.p99.toFixed(1)} ms`, 10)}${pad(`${s.peak} / ${s.slots}`, 16)}${pad(s.findings, 10)}`,
    )
    if (s.firstError !== undefined) console.log(red(`    first error: ${s.firstError}`))
  }
  console.log(
    '  errors: invocations that failed or answered wrong; p50/p99: from queued to answered, as a\n' +
      '  caller sees it; findings: shared-state detector lines in the logs\n',
  )
  failed = summaries.some((s) => s.errors > 0 || s.peak > s.slots || s.findings > 0)

  // lmi check on the shared-state example: the bug classic Lambda hid, and its fix.
  const events = join(examplesDir, 'shared-state', 'events')
  const sharedStateBuild = builds.get('shared-state')?.artifactDir
  console.log(
    bold('lmi check, shared-state example (each event alone, then all at once, compared):'),
  )
  const buggy = await runCheck({
    handler: 'buggy.handler',
    events,
    cwd: sharedStateBuild,
    seed: 1,
  })
  console.log(`  buggy.handler  ${describeCheck(buggy)}`)
  const fixed = await runCheck({
    handler: 'fixed.handler',
    events,
    cwd: sharedStateBuild,
    seed: 1,
  })
  console.log(`  fixed.handler  ${describeCheck(fixed)}`)
  if (buggy.findings.length === 0 || fixed.findings.length > 0) failed = true
  console.log(
    failed
      ? red('\nSomething is wrong: see above.')
      : green(
          '\nAll answers right, no shared state misused; lmi check caught the bug and passed the fix.',
        ),
  )
} finally {
  audit.close()
  rmSync(buildRoot, { recursive: true, force: true })
  rmSync(tmpRoot, { recursive: true, force: true })
}
if (failed) process.exitCode = 1
