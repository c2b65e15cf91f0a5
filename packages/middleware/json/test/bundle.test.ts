// A JSON API handler (jsonBody with an ajv schema and formats, jsonResponse, httpErrors
// logging through @lmi/context's pino logger), bundled every way users bundle it, run in a
// fresh node: an ESM bundle without a `createRequire` banner used to throw at init
// ("Dynamic require of "node:os" is not supported", pino's).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { jsonEvent } from '@lmi/test-kit'
import { BUNDLE_FORMATS, BundleDir, pick } from '@lmi/test-kit/bundle'

const HANDLER = `
import { lmi } from '@lmi/core'
import { createHttpError, httpErrors, jsonBody, jsonResponse } from '@lmi/json'

const order = {
  type: 'object',
  properties: {
    sku: { type: 'string', minLength: 1 },
    qty: { type: 'integer', minimum: 1 },
    email: { type: 'string', format: 'email' },
  },
  required: ['sku', 'qty'],
  additionalProperties: false,
}

export const handler = lmi()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody({ schema: order, formats: ['email'] }))
  .handler(async (event) => {
    if (event.body.sku === 'discontinued') throw createHttpError(410, 'No longer sold')
    return { placed: true, qty: event.body.qty }
  })
`

describe('a handler using @lmi/json, bundled', () => {
  let dir: BundleDir
  before(() => {
    dir = new BundleDir()
  })
  after(() => dir.remove())

  const events = [
    jsonEvent('apigw-v2', '{"sku":"tea","qty":2,"email":"a@example.com"}'),
    jsonEvent('apigw-v2', '{"sku":"tea","qty":1,"email":"not an address"}'),
    jsonEvent('apigw-v2', '{"sku":"discontinued","qty":1}'),
  ]

  for (const format of BUNDLE_FORMATS) {
    it(`runs as ${format.name}: ajv validates, httpErrors answers and logs through pino`, async () => {
      const run = await dir.bundleAndRun(HANDLER, format, events)

      const responses = run.results as { statusCode: number; body: string }[]
      assert.deepEqual(
        responses.map(({ statusCode }) => statusCode),
        [200, 422, 410],
      )
      assert.deepEqual(JSON.parse(responses[0]!.body), { placed: true, qty: 2 })
      const invalid = JSON.parse(responses[1]!.body) as { code: string; errors: object[] }
      assert.equal(invalid.code, 'LMI_VALIDATION_FAILED')
      assert.deepEqual(
        invalid.errors.map((issue) =>
          pick(issue as Record<string, unknown>, ['instancePath', 'keyword']),
        ),
        [{ instancePath: '/email', keyword: 'format' }], // ajv-formats' email
      )
      assert.deepEqual(
        run.logs.map((line) => pick(line, ['level', 'message', 'statusCode', 'requestId'])),
        [
          {
            level: 'WARN',
            message: 'HTTP 422: ValidationError',
            statusCode: 422,
            requestId: 'req-1',
          },
          { level: 'WARN', message: 'HTTP 410: GoneError', statusCode: 410, requestId: 'req-2' },
        ],
      )
      assert.deepEqual(run.globalRequire, { afterInit: 'undefined', atEnd: 'undefined' })
    })
  }
})
