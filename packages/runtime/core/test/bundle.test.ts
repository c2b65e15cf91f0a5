// @lmi/core as users ship it: bundled by esbuild into the handler, in the formats SAM's esbuild
// builder and CDK's NodejsFunction produce. A CommonJS bundle leaves `import.meta` empty, so
// nothing may read `import.meta.url` at module top level; an ES module bundle has no
// `require`, so nothing may need one.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type Message } from 'esbuild'

const coreDir = join(dirname(fileURLToPath(import.meta.url)), '..')

const HANDLER = `
import { getInvocation, lmi, shared, tryGetInvocation } from '@lmi/core'

const cache = shared(new Map(), 'cache')

export const handler = lmi(async (event, context) => {
  cache.set(context.awsRequestId, event.n)
  const inside = tryGetInvocation()?.requestId
  return { n: event.n, requestId: getInvocation().requestId, inside }
})
`

type Handler = (
  event: unknown,
  context: Record<string, unknown>,
) => Promise<{ n: number; requestId: string; inside: string }>

function context(requestId: string): Record<string, unknown> {
  return {
    awsRequestId: requestId,
    functionName: 'bundle-test',
    functionVersion: '1',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bundle-test',
    memoryLimitInMB: '1024',
    logGroupName: '/aws/lambda/bundle-test',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
    done() {},
    fail() {},
    succeed() {},
  }
}

describe('@lmi/core bundled into a handler', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lmi-core-bundle-'))
    writeFileSync(join(dir, 'app.js'), HANDLER)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  async function bundle(
    format: 'cjs' | 'esm',
    outfile: string,
  ): Promise<{ warnings: Message[]; path: string }> {
    const path = join(dir, outfile)
    // SAM's esbuild builder defaults: --bundle --platform=node --target=es2020 --minify, cjs.
    const result = await build({
      entryPoints: [join(dir, 'app.js')],
      outfile: path,
      bundle: true,
      platform: 'node',
      target: 'es2020',
      minify: true,
      format,
      // The package from this repository's build, as a user's node_modules holds it.
      alias: { '@lmi/core': join(coreDir, 'dist', 'index.js') },
      logLevel: 'silent',
    })
    return { warnings: result.warnings, path }
  }

  async function serves(handler: Handler): Promise<void> {
    const answers = await Promise.all([1, 2, 3].map((n) => handler({ n }, context(`req-${n}`))))
    assert.deepEqual(
      answers,
      [1, 2, 3].map((n) => ({ n, requestId: `req-${n}`, inside: `req-${n}` })),
    )
  }

  test('CommonJS (the default of SAM and CDK): loads, with no warning about import.meta, and serves', async () => {
    const { warnings, path } = await bundle('cjs', 'app.cjs')
    assert.deepEqual(
      warnings.map((warning) => warning.text),
      [],
    )
    const loaded = createRequire(path)(path) as { handler: Handler }
    await serves(loaded.handler)
  })

  test('ES module without a createRequire banner: loads and serves', async () => {
    const { path } = await bundle('esm', 'app.mjs')
    const loaded = (await import(pathToFileURL(path).href)) as { handler: Handler }
    await serves(loaded.handler)
  })
})
