import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runCheck } from '@lmi/dev'
import {
  type BuiltExample,
  buildExample,
  templateTests,
} from '../../../../scripts/examples/harness.ts'
import { drive, startExample } from '../../../../scripts/examples/run.ts'
import { loadEvents } from '../../../../scripts/examples/template.ts'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const eventsDir = join(dir, 'events')
const CONCURRENCY = 32

describe('shared-state: template', () => templateTests(dir))

describe('shared-state: the bundles sam build makes', () => {
  let built: BuiltExample
  before(() => {
    built = buildExample(dir)
  })
  after(() => built?.remove())

  test('lmi check catches the module-level caller in buggy.handler', async () => {
    const result = await runCheck({
      handler: 'buggy.handler',
      events: eventsDir,
      cwd: built.artifactDir,
      concurrency: CONCURRENCY,
      seed: 1,
    })
    assert.ok(result.findings.length > 0, 'no finding on the buggy handler')
    const leak = result.findings.find((f) => f.code === 'LMI_CONCURRENCY_DEPENDENT_RESPONSE')
    assert.ok(leak, `findings: ${result.findings.map((f) => f.code).join(', ')}`)
    // The response carries another caller's identity.
    assert.match(leak.subject, /user|who/)
    assert.ok(leak.events.length >= 2, `events involved: ${leak.events.join(', ')}`)
  })

  test('lmi check finds nothing in fixed.handler', async () => {
    const result = await runCheck({
      handler: 'fixed.handler',
      events: eventsDir,
      cwd: built.artifactDir,
      concurrency: CONCURRENCY,
      seed: 1,
    })
    assert.deepEqual(
      result.findings.map((f) => `${f.code} ${f.subject}`),
      [],
    )
  })

  test(`fixed.handler on lmi's runtime layer at concurrency ${CONCURRENCY}: every caller gets their own quota`, async () => {
    const running = await startExample({ ...built, concurrency: CONCURRENCY })
    try {
      const events = [...loadEvents(dir)].map(([name, event]) => ({ name, event }))
      const answered = await drive(running.emulator, events, { total: 800, callers: 64 })
      assert.ok(running.emulator.stats().peakInFlight >= 16)
      for (const { invocation, result } of answered) {
        assert.equal(result.status, 'success')
        const claims = (
          invocation.event as {
            requestContext: { authorizer: { jwt: { claims: Record<string, string> } } }
          }
        ).requestContext.authorizer.jwt.claims
        const body = JSON.parse(JSON.parse(result.payload.toString()).body)
        assert.equal(body.user, claims.sub)
        assert.equal(body.who, `${claims['cognito:username']} (${claims['custom:plan']})`)
      }
      assert.equal(await running.stop(), 0)
    } finally {
      await running.close()
    }
  })
})
