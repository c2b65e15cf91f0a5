import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { after, describe, it } from 'node:test'
import { type LambdaContext, lmi } from '@lmi/core'
import fc from 'fast-check'
import { type TmpDir, TmpEscapeError, tmpScope } from '../src/index.ts'

const roots: string[] = []
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })))
})

// Segments that matter for escapes, mixed with arbitrary strings.
const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '/', '/etc', 'a', 'b', 'a/..', '../..', 'x\0y', 'out', 'in'),
  fc.constantFrom('out/..', 'in/../..', 'dangling', 'out/x', '..\\..', '%2e%2e'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
)

/** Runs `fn` inside one invocation of a tmpScope() chain, with links planted in its directory. */
async function inScope(fn: (tmp: TmpDir, outside: string) => Promise<void>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lmi-tmp-props-'))
  roots.push(root)
  const outside = join(root, 'outside')
  mkdirSync(outside)
  const handler = lmi(async (_event, ctx: LambdaContext & { tmp: TmpDir }) => {
    symlinkSync(outside, join(ctx.tmp.dir, 'out'))
    symlinkSync(join(outside, 'created-later'), join(ctx.tmp.dir, 'dangling'))
    mkdirSync(join(ctx.tmp.dir, 'sub'))
    symlinkSync('sub', join(ctx.tmp.dir, 'in'))
    await fn(ctx.tmp, outside)
  }).use(tmpScope({ root, sweep: false }))
  await handler({}, {
    awsRequestId: 'req-props',
    getRemainingTimeInMillis: () => 60_000,
  } as LambdaContext)
  return root
}

describe('tmpScope properties', () => {
  it('path(): any segments give a path inside the directory or a TmpEscapeError; writes through it never land outside', async () => {
    let accepted = 0
    await inScope(async (tmp, outside) => {
      fc.assert(
        fc.property(fc.array(segment, { maxLength: 4 }), (segments) => {
          let path: string
          try {
            path = tmp.path(...segments)
          } catch (error) {
            assert.ok(
              error instanceof TmpEscapeError,
              `${String(error)} for ${JSON.stringify(segments)}`,
            )
            return
          }
          accepted++
          assert.ok(path === tmp.dir || path.startsWith(tmp.dir + sep), path)
          try {
            writeFileSync(path, 'x')
          } catch (error) {
            // The path may name a directory or sit under a missing one: the filesystem says so.
            assert.ok(typeof (error as NodeJS.ErrnoException).code === 'string', String(error))
          }
          assert.deepEqual(
            readdirSync(outside),
            [],
            `wrote outside through ${JSON.stringify(segments)}`,
          )
        }),
        { numRuns: 600 },
      )
    })
    assert.ok(accepted > 0)
  })

  it('writeFile(): any name writes inside or fails with a typed error, never outside', async () => {
    await inScope(async (tmp, outside) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')),
          async (name) => {
            try {
              const written = await tmp.writeFile(name, 'x')
              assert.ok(written.startsWith(tmp.dir + sep), written)
            } catch (error) {
              const code = (error as { code?: unknown }).code
              assert.ok(
                error instanceof TmpEscapeError ||
                  (typeof code === 'string' && /^E[A-Z]+$/.test(code)),
                `${String(error)} for ${JSON.stringify(name)}`,
              )
            }
            assert.deepEqual(
              readdirSync(outside),
              [],
              `wrote outside through ${JSON.stringify(name)}`,
            )
          },
        ),
        { numRuns: 300 },
      )
    })
  })
})
