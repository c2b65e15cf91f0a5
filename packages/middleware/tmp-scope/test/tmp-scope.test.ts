import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { bindTenantId, InvalidConfigurationError, type LambdaContext, lmi } from '@lmi/core'
import { barrier, lambdaContext } from '@lmi/test-kit'
import middy from '@middy/core'
import {
  getTmp,
  getTmpDir,
  NoTmpScopeError,
  sweepTmpLeftovers,
  type TmpDir,
  TmpEscapeError,
  TmpQuotaExceededError,
  TmpScopeEndedError,
  tmpPath,
  tmpScope,
} from '../src/index.ts'
import { ownerName } from '../src/owner.ts'

const roots: string[] = []
async function freshRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lmi-tmp-scope-'))
  roots.push(root)
  return root
}
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })))
})

type TmpContext = LambdaContext & { tmp: TmpDir }

describe('tmpScope: the directory', () => {
  it('touches nothing for an invocation that never uses it', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false })
    const handler = lmi(async () => 'ok').use(scope)

    assert.equal(await handler({}, lambdaContext('req-1')), 'ok')
    await scope.idle()

    assert.deepEqual(readdirSync(root), [])
  })

  it('creates <root>/<scope>/<process>/<requestId> (mode 0700) on first use', async () => {
    const root = await freshRoot()
    const handler = lmi(async (_event, ctx: TmpContext) => ctx.tmp.dir).use(
      tmpScope({ root, scope: 'jobs', sweep: false }),
    )

    const dir = await handler({}, lambdaContext('req-1'))

    assert.equal(dir, join(root, 'jobs', ownerName(), 'req-1'))
    assert.match(ownerName(), /^\d+(-\d+)?$/)
  })

  it('gives 100 interleaved invocations a directory each, seen only by their own code', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false })
    const size = 100
    const written = barrier(size)
    const handler = lmi(async (event: { n: number }, ctx: TmpContext) => {
      await writeFile(ctx.tmp.path('mine.txt'), String(event.n))
      await written() // every invocation has written before any reads
      const deep = await readFile(tmpPath('mine.txt'), 'utf8')
      return { dir: getTmpDir(), value: Number(deep) }
    }).use(scope)

    const results = await Promise.all(
      Array.from({ length: size }, (_, n) => handler({ n }, lambdaContext(`req-${n}`))),
    )

    results.forEach((result, n) => {
      assert.equal(result.value, n)
      assert.equal(result.dir, join(root, 'lmi', ownerName(), `req-${n}`))
    })
    assert.equal(new Set(results.map((result) => result.dir)).size, size)
  })

  it('puts the directory under the tenant when the invocation has one', async () => {
    const root = await freshRoot()
    const bound = lmi(async (_event, ctx: TmpContext) => {
      bindTenantId('acme') // as @lmi/tenant does in its before hook
      return ctx.tmp.dir
    }).use(tmpScope({ root, sweep: false }))
    const platform = lmi(async (_event, ctx: TmpContext) => ctx.tmp.dir).use(
      tmpScope({ root, sweep: false }),
    )
    const off = lmi(async (_event, ctx: TmpContext) => ctx.tmp.dir).use(
      tmpScope({ root, sweep: false, perTenant: false }),
    )

    assert.equal(
      await bound({}, lambdaContext('req-1')),
      join(root, 'lmi', ownerName(), 'acme', 'req-1'),
    )
    assert.equal(
      await platform({}, lambdaContext('req-2', { tenantId: 'globex' })),
      join(root, 'lmi', ownerName(), 'globex', 'req-2'),
    )
    assert.equal(
      await off({}, lambdaContext('req-3', { tenantId: 'globex' })),
      join(root, 'lmi', ownerName(), 'req-3'),
    )
  })

  it('names the directory by a hash when a request or tenant id is not a safe file name', async () => {
    const root = await freshRoot()
    const handler = lmi(async (_event, ctx: TmpContext) => ctx.tmp.dir).use(
      tmpScope({ root, sweep: false }),
    )

    const dir = await handler({}, lambdaContext('../../etc', { tenantId: '..' }))

    assert.match(dir, new RegExp(`^${root}/lmi/${ownerName()}/h-[0-9a-f]{32}/h-[0-9a-f]{32}$`))
  })

  it('is reachable from anywhere in the invocation, and nowhere else', async () => {
    const root = await freshRoot()
    const handler = lmi(async () => {
      const nested = await Promise.resolve().then(() => tmpPath('a.txt'))
      await getTmp().writeFile('b.txt', 'b')
      return { nested, dir: getTmpDir() }
    }).use(tmpScope({ root, sweep: false }))

    const result = await handler({}, lambdaContext('req-1'))

    assert.equal(result.nested, join(result.dir, 'a.txt'))
    assert.throws(() => getTmpDir(), NoTmpScopeError)
    assert.throws(() => tmpPath('x'), NoTmpScopeError)
    assert.throws(() => getTmp(), NoTmpScopeError)
  })
})

describe('tmpScope: path() refuses escapes', () => {
  async function withTmp<T>(root: string, fn: (tmp: TmpDir) => T | Promise<T>): Promise<T> {
    const handler = lmi(async (_event, ctx: TmpContext) => fn(ctx.tmp)).use(
      tmpScope({ root, sweep: false }),
    )
    return handler({}, lambdaContext(`req-${Math.random()}`))
  }

  it('refuses .., absolute paths, NUL bytes and non-strings with a typed reason', async () => {
    const root = await freshRoot()
    const reasons = await withTmp(root, (tmp) => {
      const reasonOf = (fn: () => unknown) => {
        try {
          fn()
          return 'accepted'
        } catch (error) {
          assert.ok(error instanceof TmpEscapeError, String(error))
          assert.equal(error.code, 'LMI_TMP_ESCAPE')
          return error.reason
        }
      }
      return {
        parent: reasonOf(() => tmp.path('..')),
        parentNested: reasonOf(() => tmp.path('a', '..', '..', 'b')),
        sibling: reasonOf(() => tmp.path('../req-other/file')),
        absolute: reasonOf(() => tmp.path('/etc/passwd')),
        nul: reasonOf(() => tmp.path('a\0b')),
        number: reasonOf(() => tmp.path(42 as unknown as string)),
        inside: reasonOf(() => tmp.path('a', '..', 'b')),
        dot: reasonOf(() => tmp.path('.')),
      }
    })

    assert.deepEqual(reasons, {
      parent: 'parent',
      parentNested: 'parent',
      sibling: 'parent',
      absolute: 'absolute',
      nul: 'nul-byte',
      number: 'not-a-string',
      inside: 'accepted',
      dot: 'accepted',
    })
  })

  it('refuses a symlink that points out, also dangling or chained, and allows one that stays in', async () => {
    const root = await freshRoot()
    const outside = join(root, 'outside')
    mkdirSync(outside)
    const reasons = await withTmp(root, (tmp) => {
      symlinkSync(outside, join(tmp.dir, 'out'))
      symlinkSync(join(outside, 'not-yet'), join(tmp.dir, 'dangling'))
      symlinkSync(join(tmp.dir, 'dangling'), join(tmp.dir, 'chain'))
      mkdirSync(join(tmp.dir, 'sub'))
      symlinkSync('sub', join(tmp.dir, 'in'))
      symlinkSync(join(tmp.dir, 'loop-b'), join(tmp.dir, 'loop-a'))
      symlinkSync(join(tmp.dir, 'loop-a'), join(tmp.dir, 'loop-b'))
      const reasonOf = (...segments: string[]) => {
        try {
          return tmp.path(...segments).slice(tmp.dir.length)
        } catch (error) {
          assert.ok(error instanceof TmpEscapeError, String(error))
          return error.reason
        }
      }
      return {
        out: reasonOf('out'),
        throughOut: reasonOf('out', 'file.txt'),
        dangling: reasonOf('dangling'),
        chain: reasonOf('chain'),
        loop: reasonOf('loop-a'),
        inside: reasonOf('in', 'file.txt'),
      }
    })

    assert.deepEqual(reasons, {
      out: 'symlink',
      throughOut: 'symlink',
      dangling: 'symlink',
      chain: 'symlink',
      loop: 'symlink',
      inside: '/in/file.txt',
    })
    assert.deepEqual(readdirSync(outside), [])
  })

  it('writeFile() will not write through a symlink planted as the file itself', async () => {
    const root = await freshRoot()
    const victim = join(root, 'victim.txt')
    writeFileSync(victim, 'original')
    await withTmp(root, async (tmp) => {
      const path = tmp.path('report.txt') // checked while nothing is there
      symlinkSync(victim, path) // then swapped for a link out
      await assert.rejects(tmp.writeFile('report.txt', 'pwned'), TmpEscapeError)
    })

    assert.equal(await readFile(victim, 'utf8'), 'original')
  })
})

describe('tmpScope: removal', () => {
  it('removes the directory after a successful invocation, without delaying the response', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false })
    const handler = lmi(async (_event, ctx: TmpContext) => {
      await writeFile(ctx.tmp.path('data.bin'), Buffer.alloc(1024))
      return ctx.tmp.dir
    }).use(scope)

    const dir = await handler({}, lambdaContext('req-1'))
    await scope.idle()

    assert.equal(existsSync(dir), false)
  })

  it('removes it after a failed invocation, or keeps it with keepOnError and warns', async () => {
    const root = await freshRoot()
    const removing = tmpScope({ root, scope: 'removing', sweep: false })
    const keeping = tmpScope({ root, scope: 'keeping', sweep: false, keepOnError: true })
    const failing = (scope: typeof removing) =>
      lmi(async (_event, ctx: TmpContext) => {
        writeFileSync(ctx.tmp.path('evidence.txt'), 'state at failure')
        throw new Error('boom')
      }).use(scope)
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)

    await assert.rejects(failing(removing)({}, lambdaContext('req-1')), /boom/)
    await assert.rejects(failing(keeping)({}, lambdaContext('req-2')), /boom/)
    await removing.idle()
    await keeping.idle()
    await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on next tick
    process.off('warning', onWarning)

    assert.equal(existsSync(join(root, 'removing', ownerName(), 'req-1')), false)
    const kept = join(root, 'keeping', ownerName(), 'req-2')
    assert.equal(await readFile(join(kept, 'evidence.txt'), 'utf8'), 'state at failure')
    assert.ok(warnings.some((warning) => (warning as { code?: string }).code === 'LMI_TMP_KEPT'))
  })

  it('keeps the directory for outer middlewares until the invocation ends, then refuses use', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false })
    let leaked: TmpDir | undefined
    const handler = lmi(async (_event, ctx: TmpContext) => {
      leaked = ctx.tmp
      writeFileSync(ctx.tmp.path('out.txt'), 'streamed later')
      return { file: ctx.tmp.path('out.txt') }
    })
      .use({
        // Runs after tmpScope's own after hook: the file must still be there.
        after: (request) => {
          const response = request.response as { file: string; body?: string }
          response.body = String(statSync(response.file).size)
        },
      })
      .use(scope)

    const response = (await handler({}, lambdaContext('req-1'))) as { body: string; file: string }
    await scope.idle()

    assert.equal(response.body, '14')
    assert.equal(existsSync(response.file), false)
    assert.throws(() => leaked?.path('late.txt'), TmpScopeEndedError)
  })

  it('in middy(), creates, scopes and removes the directory through its hooks', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false })
    const handler = middy(async (_event: unknown, ctx: TmpContext) => {
      await ctx.tmp.writeFile('x.txt', 'x')
      return ctx.tmp.dir
    }).use(scope)
    const failing = middy(async (_event: unknown, ctx: TmpContext) => {
      writeFileSync(ctx.tmp.path('x.txt'), 'x')
      throw new Error('boom')
    }).use(scope)

    const dir = await handler({}, lambdaContext('req-1') as TmpContext)
    await assert.rejects(failing({}, lambdaContext('req-2') as TmpContext), /boom/)
    await scope.idle()

    assert.equal(dir, join(root, 'lmi', ownerName(), 'req-1'))
    assert.deepEqual(readdirSync(join(root, 'lmi', ownerName())), [])
  })
})

describe('tmpScope: quota', () => {
  it('refuses a writeFile() over the quota and writes nothing of it', async () => {
    const root = await freshRoot()
    const handler = lmi(async (_event, ctx: TmpContext) => {
      await ctx.tmp.writeFile('a.bin', Buffer.alloc(600))
      await ctx.tmp.writeFile('a.bin', Buffer.alloc(700)) // a rewrite replaces, not adds
      const refused = await ctx.tmp.writeFile('b.bin', Buffer.alloc(400)).catch((error) => error)
      return { refused, files: readdirSync(ctx.tmp.dir), used: await ctx.tmp.usage() }
    }).use(tmpScope({ root, sweep: false, quotaBytes: 1000 }))

    const { refused, files, used } = await handler({}, lambdaContext('req-1'))

    assert.ok(refused instanceof TmpQuotaExceededError)
    assert.equal(refused.code, 'LMI_TMP_QUOTA')
    assert.deepEqual(
      { quota: refused.quotaBytes, used: refused.usedBytes },
      { quota: 1000, used: 1100 },
    )
    assert.deepEqual(files, ['a.bin'])
    assert.equal(used, 700)
  })

  it('counts concurrent writes of one invocation against the quota together', async () => {
    const root = await freshRoot()
    const handler = lmi(async (_event, ctx: TmpContext) => {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 4 }, (_, n) => ctx.tmp.writeFile(`part-${n}`, Buffer.alloc(400))),
      )
      return { outcomes: outcomes.map((outcome) => outcome.status), used: await ctx.tmp.usage() }
    }).use(tmpScope({ root, sweep: false, quotaBytes: 1000 }))

    const { outcomes, used } = await handler({}, lambdaContext('req-1'))

    assert.ok(used <= 1000, `used ${used}`)
    assert.ok(outcomes.includes('rejected'))
  })

  it('fails the invocation when files written directly take it over the quota', async () => {
    const root = await freshRoot()
    const scope = tmpScope({ root, sweep: false, quotaBytes: 100 })
    const handler = lmi(async (_event, ctx: TmpContext) => {
      writeFileSync(ctx.tmp.path('raw.bin'), Buffer.alloc(101))
      return 'done'
    }).use(scope)

    await assert.rejects(handler({}, lambdaContext('req-1')), TmpQuotaExceededError)
    await scope.idle()

    assert.deepEqual(readdirSync(join(root, 'lmi', ownerName())), [])
  })
})

describe('tmpScope: init sweep', () => {
  it('removes directories of processes that are gone, and nothing else', async () => {
    const root = await freshRoot()
    const base = join(root, 'lmi')
    // A process that has exited: its pid is free (and would not match a start time if reused).
    const child = spawn(process.execPath, ['-e', ''])
    const pid = child.pid as number
    await once(child, 'exit')
    mkdirSync(join(base, `${pid}-1`, 'req-crashed'), { recursive: true })
    mkdirSync(join(base, `${process.pid}-1`, 'req-earlier-incarnation'), { recursive: true })
    mkdirSync(join(base, ownerName(), 'req-live'), { recursive: true })
    mkdirSync(join(base, `${process.ppid}`, 'req-sibling'), { recursive: true })
    mkdirSync(join(base, 'not-ours'), { recursive: true })

    const removed = await tmpScope({ root }).swept

    assert.deepEqual(removed.sort(), [`${pid}-1`, `${process.pid}-1`].sort())
    assert.deepEqual(readdirSync(base).sort(), [ownerName(), `${process.ppid}`, 'not-ours'].sort())
  })

  it('finds nothing to do when the scope does not exist yet', async () => {
    const root = await freshRoot()
    assert.deepEqual(await sweepTmpLeftovers({ root, scope: 'never' }), [])
  })
})

describe('tmpScope: options', () => {
  it('rejects bad options at creation with a typed error', () => {
    for (const options of [
      { root: 'relative/dir' },
      { scope: '../x' },
      { scope: '' },
      { quotaBytes: 0 },
      { quotaBytes: 1.5 },
      { keepOnError: 'yes' },
      { quota: 10 },
      'opts',
    ]) {
      assert.throws(
        () => tmpScope(options as never),
        InvalidConfigurationError,
        JSON.stringify(options),
      )
    }
  })
})
