// A handler that logs through @lmi/context, bundled every way users bundle it: pino is
// CommonJS and requires Node's built-ins, which an ESM bundle without a `createRequire` banner
// cannot do on its own ("Dynamic require of "node:os" is not supported" at init).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BUNDLE_FORMATS, BundleDir, pick } from '@lmi/test-kit/bundle'

const HANDLER = `
import { lmi } from '@lmi/core'
import { createLogger, logger } from '@lmi/context'

const log = createLogger({ name: 'orders' })
logger.info('cold start')

export const handler = lmi(async (event) => {
  log.info({ orderId: event.orderId }, 'order placed')
  return { placed: event.orderId }
})
`

describe('a handler using @lmi/context, bundled', () => {
  let dir: BundleDir
  before(() => {
    dir = new BundleDir()
  })
  after(() => dir.remove())

  for (const format of BUNDLE_FORMATS) {
    it(`runs as ${format.name}: pino's lines carry the request id, no require is left behind`, async () => {
      const run = await dir.bundleAndRun(HANDLER, format, [{ orderId: 7 }, { orderId: 8 }])

      assert.deepEqual(run.results, [{ placed: 7 }, { placed: 8 }])
      assert.deepEqual(
        run.logs.map((line) => pick(line, ['level', 'name', 'message', 'requestId', 'orderId'])),
        [
          { level: 'INFO', message: 'cold start' },
          {
            level: 'INFO',
            name: 'orders',
            message: 'order placed',
            requestId: 'req-0',
            orderId: 7,
          },
          {
            level: 'INFO',
            name: 'orders',
            message: 'order placed',
            requestId: 'req-1',
            orderId: 8,
          },
        ],
      )
      assert.ok(run.logs.every((line) => typeof line.timestamp === 'string'))
      // pino's built-ins were lent a `require` for its initialisation only.
      assert.deepEqual(run.globalRequire, { afterInit: 'undefined', atEnd: 'undefined' })
    })
  }

  it("inlines pino into the ESM bundle with esbuild's require helper (what threw at init)", async () => {
    const esm = BUNDLE_FORMATS.find((format) => format.requireless)!
    const run = await dir.bundleAndRun(HANDLER, esm, [])
    assert.match(run.code, /Dynamic require of/)
    assert.deepEqual(run.globalRequire, { afterInit: 'undefined', atEnd: 'undefined' })
  })
})
