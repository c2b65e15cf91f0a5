import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { after, afterEach, beforeEach, describe, it } from 'node:test'
import { barrier, lambdaContext } from '@lmi/test-kit'
import { declareTmpScope, installDetectors } from '../src/detect/detectors.ts'
import { type Finding, setDetectorMode } from '../src/detect/findings.ts'
import { SharedStateError } from '../src/errors.ts'
import { invocationLocal, lmi } from '../src/index.ts'
import type { TmpScopeView } from '../src/process-state.ts'

installDetectors('warn')

let findings: Finding[] = []
const collect = (message: unknown) => {
  findings.push(message as Finding)
}
beforeEach(() => {
  findings = []
  setDetectorMode('warn')
  diagnosticsChannel.subscribe('lmi:shared-state:finding', collect)
})
afterEach(() => {
  diagnosticsChannel.unsubscribe('lmi:shared-state:finding', collect)
  setDetectorMode('warn')
})

const here = 'detectors.test.ts'

describe('process.env detector', () => {
  it('reports a write during an invocation, with its request id and the line that did it', async () => {
    process.env.LMI_TEST_AT_INIT = 'init' // outside any invocation: fine
    const handler = lmi(async (event: { tenant: string }) => {
      process.env.LMI_TEST_TENANT = event.tenant
      return process.env.LMI_TEST_AT_INIT
    })

    assert.equal(await handler({ tenant: 'acme' }, lambdaContext('req-env')), 'init')

    assert.equal(findings.length, 1)
    const [finding] = findings
    assert.equal(finding?.code, 'LMI_SHARED_ENV_WRITE')
    assert.equal(finding?.subject, 'process.env.LMI_TEST_TENANT')
    assert.equal(finding?.requestId, 'req-env')
    assert.match(finding?.stack ?? '', new RegExp(here))
    assert.doesNotMatch(finding?.stack ?? '', /node:|detect[/\\]/)
    delete process.env.LMI_TEST_TENANT
  })

  it("still reports, without a stack, under an application's hostile Error.prepareStackTrace", async () => {
    const original = Error.prepareStackTrace
    const handler = lmi(async (event: { n: number }) => {
      process.env.LMI_TEST_HOSTILE = String(event.n)
      return 'written'
    })
    try {
      // Call sites instead of a string (as `callsites` does), then a throwing one.
      Error.prepareStackTrace = (_error, sites) => sites
      assert.equal(await handler({ n: 1 }, lambdaContext('req-sites')), 'written')
      Error.prepareStackTrace = () => {
        throw new Error('prepareStackTrace boom')
      }
      assert.equal(await handler({ n: 2 }, lambdaContext('req-boom')), 'written')
    } finally {
      Error.prepareStackTrace = original
      delete process.env.LMI_TEST_HOSTILE
    }
    assert.deepEqual(
      findings.map((finding) => [finding.code, finding.requestId, finding.stack]),
      [
        ['LMI_SHARED_ENV_WRITE', 'req-sites', undefined],
        ['LMI_SHARED_ENV_WRITE', 'req-boom', undefined],
      ],
    )
  })

  it('in throw mode fails the invocation and leaves the environment untouched', async () => {
    setDetectorMode('throw')
    const handler = lmi(async () => {
      process.env.LMI_TEST_THROW = 'written'
      return 'done'
    })

    await assert.rejects(
      handler({}, lambdaContext('req-throw')),
      (error) => error instanceof SharedStateError && error.code === 'LMI_SHARED_ENV_WRITE',
    )
    assert.equal(process.env.LMI_TEST_THROW, undefined)
  })
})

describe('globals detector', () => {
  it('reports a global created during an invocation, and a reassignment of one made at init', async () => {
    ;(globalThis as Record<string, unknown>).lmiTestConfig = { region: 'eu' } // init: fine
    const handler = lmi(async (event: { user: string }) => {
      ;(globalThis as Record<string, unknown>).lmiTestUser = event.user
      ;(globalThis as Record<string, unknown>).lmiTestConfig = { region: event.user }
      return (globalThis as Record<string, unknown>).lmiTestUser
    })

    assert.equal(await handler({ user: 'ann' }, lambdaContext('req-global')), 'ann')

    assert.deepEqual(
      findings.map(({ code, subject, requestId }) => ({ code, subject, requestId })),
      [
        {
          code: 'LMI_SHARED_GLOBAL_CREATE',
          subject: 'globalThis.lmiTestUser',
          requestId: 'req-global',
        },
        {
          code: 'LMI_SHARED_GLOBAL_WRITE',
          subject: 'globalThis.lmiTestConfig',
          requestId: 'req-global',
        },
      ],
    )
    assert.deepEqual((globalThis as Record<string, unknown>).lmiTestConfig, { region: 'ann' })
  })

  it('reports the Node globals applications replace (fetch, console, …) reassigned during an invocation', async () => {
    const original = globalThis.structuredClone
    const handler = lmi(async () => {
      globalThis.structuredClone = ((value: unknown) => value) as typeof structuredClone
      return 'patched'
    })

    await handler({}, lambdaContext('req-builtin'))
    await Promise.resolve()
    globalThis.structuredClone = original

    assert.deepEqual(
      findings.map(({ code, subject, requestId }) => ({ code, subject, requestId })),
      [
        {
          code: 'LMI_SHARED_GLOBAL_WRITE',
          subject: 'globalThis.structuredClone',
          requestId: 'req-builtin',
        },
      ],
    )
  })

  it('says nothing about reading globals, or about globals set at init', async () => {
    ;(globalThis as Record<string, unknown>).lmiTestPool = new Map()
    const handler = lmi(async () => {
      const pool = (globalThis as Record<string, unknown>).lmiTestPool as Map<string, number>
      pool.set('a', 1) // mutating what a global holds is shared() territory, not a global write
      return typeof (globalThis as Record<string, unknown>).lmiTestMissing
    })

    assert.equal(await handler({}, lambdaContext('req-read')), 'undefined')
    assert.deepEqual(findings, [])
  })
})

describe('escaped work detector', () => {
  it('reports a timer still pending after the invocation answered, and where it started', async () => {
    let leaked: NodeJS.Timeout | undefined
    const handler = lmi(async () => {
      leaked = setTimeout(() => {}, 60_000)
      const fired = Promise.withResolvers<void>()
      setTimeout(fired.resolve, 1) // fires before the answer: fine
      const cleared = setTimeout(() => {}, 60_000)
      clearTimeout(cleared) // cleared: fine
      await fired.promise
      return 'answered'
    })

    await handler({}, lambdaContext('req-timer'))
    await Promise.resolve()
    clearTimeout(leaked)

    assert.deepEqual(
      findings.map(({ code, subject, requestId }) => ({ code, subject, requestId })),
      [{ code: 'LMI_ESCAPED_TIMER', subject: 'setTimeout', requestId: 'req-timer' }],
    )
    assert.match(findings[0]?.stack ?? '', new RegExp(here))
  })

  it('in throw mode fails the invocation that leaves a timer behind', async () => {
    setDetectorMode('throw')
    let leaked: NodeJS.Timeout | undefined
    const handler = lmi(async () => {
      leaked = setTimeout(() => {}, 60_000)
      return 'answered'
    })

    await assert.rejects(
      handler({}, lambdaContext('req-timer-throw')),
      (error) => error instanceof SharedStateError && error.code === 'LMI_ESCAPED_TIMER',
    )
    clearTimeout(leaked)
  })

  it('reports an interval left running', async () => {
    let interval: NodeJS.Timeout | undefined
    const handler = lmi(async () => {
      interval = setInterval(() => {}, 60_000)
      return 'answered'
    })

    await handler({}, lambdaContext('req-interval'))
    await Promise.resolve()
    clearInterval(interval)

    assert.equal(findings[0]?.code, 'LMI_ESCAPED_TIMER')
    assert.equal(findings[0]?.subject, 'setInterval')
  })

  it('reports an outgoing request still running after the answer', async () => {
    const held: ServerResponse[] = []
    const arrived = Promise.withResolvers<void>()
    const server = createServer((_request, response) => {
      held.push(response)
      arrived.resolve()
    })
    server.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const { port } = server.address() as { port: number }
    let floating: Promise<unknown> | undefined
    const handler = lmi(async () => {
      floating = fetch(`http://127.0.0.1:${port}/audit`).then((response) => response.text()) // not awaited
      await arrived.promise
      return 'answered'
    })

    await handler({}, lambdaContext('req-request'))
    await Promise.resolve()
    for (const response of held) response.end('ok')
    await floating
    server.close()

    const escaped = findings.filter((finding) => finding.code === 'LMI_ESCAPED_REQUEST')
    assert.equal(escaped.length, 1)
    assert.equal(escaped[0]?.requestId, 'req-request')
    assert.match(escaped[0]?.subject ?? '', /GET http:\/\/127\.0\.0\.1:\d+\/audit/)
  })
})

describe('/tmp detector', () => {
  const root = mkdtempSync(join('/tmp', 'lmi-detect-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  it('reports the same /tmp path written by two running invocations, naming both', async () => {
    const shared = join(root, 'report.json')
    const bothWrote = barrier(2)
    const handler = lmi(async (event: { n: number }) => {
      if (event.n === 1) await new Promise((resolve) => setImmediate(resolve))
      await writeFile(shared, JSON.stringify(event))
      await bothWrote()
      return 'done'
    })

    await Promise.all([
      handler({ n: 0 }, lambdaContext('req-first')),
      handler({ n: 1 }, lambdaContext('req-second')),
    ])

    const sharedPath = findings.filter((finding) => finding.code === 'LMI_TMP_SHARED_PATH')
    assert.equal(sharedPath.length, 1)
    assert.deepEqual(
      {
        subject: sharedPath[0]?.subject,
        requestId: sharedPath[0]?.requestId,
        other: sharedPath[0]?.otherRequestId,
      },
      { subject: shared, requestId: 'req-second', other: 'req-first' },
    )
  })

  it('reports a /tmp path opened outside the invocation’s own tmp scope', async () => {
    const scoped = join(root, 'scoped', 'req-scoped')
    const handler = lmi(async () => {
      writeFileSync(join(scoped, 'inside.txt'), 'fine')
      writeFileSync(join(root, 'outside.txt'), 'not fine')
      return 'done'
    }).use({
      // What @lmi/tmp-scope declares and sets once the invocation's directory exists.
      before: () => {
        mkdirSync(scoped, { recursive: true })
        scope.set({ created: true, dir: scoped })
      },
    })
    const scope = invocationLocal<TmpScopeView>('test/tmp-scope')
    declareTmpScope(() => scope.get())

    await handler({}, lambdaContext('req-scoped'))

    assert.deepEqual(
      findings.map(({ code, subject }) => ({ code, subject })),
      [{ code: 'LMI_TMP_OUTSIDE_SCOPE', subject: join(root, 'outside.txt') }],
    )
  })
})

describe('escaped promise detector (LMI_DETECT_PROMISES=1)', () => {
  it('reports async work the invocation did not await, once it settles after the answer', async () => {
    const { spawnSync } = await import('node:child_process')
    const script = `
      import diagnosticsChannel from 'node:diagnostics_channel'
      import { lmi } from '@lmi/core'
      const findings = []
      diagnosticsChannel.subscribe('lmi:shared-state:finding', (finding) => findings.push(finding))
      const release = Promise.withResolvers()
      async function saveAudit(event) { await release.promise; return event.id }
      const fireAndForget = lmi(async (event) => { void saveAudit(event); return 'answered' })
      const awaited = lmi(async (event) => { await Promise.resolve(); return saveAudit.length })
      await awaited({ id: 0 }, { awsRequestId: 'req-awaited', getRemainingTimeInMillis: () => 1e4 })
      await fireAndForget({ id: 1 }, { awsRequestId: 'req-forgot', getRemainingTimeInMillis: () => 1e4 })
      release.resolve()
      await new Promise((resolve) => setImmediate(resolve))
      console.log(JSON.stringify(findings.map(({ code, requestId, stack }) => ({ code, requestId, stack }))))
    `
    const result = spawnSync(
      process.execPath,
      ['--conditions=@lmi/source', '--input-type=module', '--eval', script],
      {
        cwd: join(import.meta.dirname, '..'),
        env: { ...process.env, LMI_DETECT_PROMISES: '1', LMI_SHARED_STATE: 'warn' },
        encoding: 'utf8',
      },
    )
    const findings = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '[]') as Finding[]

    assert.deepEqual(
      findings.map(({ code, requestId }) => ({ code, requestId })),
      [{ code: 'LMI_ESCAPED_PROMISE', requestId: 'req-forgot' }],
    )
    assert.match(findings[0]?.stack ?? '', /saveAudit|eval/)
  })
})
