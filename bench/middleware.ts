// Per-invocation cost of each @lmi middleware, and jsonBody() against
// @middy/http-json-body-parser + @middy/validator on the same schema and events. Same process,
// same run: contenders alternate within each round; medians over rounds, ratios taken within
// a round.
//
//   node bench/middleware.ts [--quick]

import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type LambdaContext, lmi } from '@lmi/core'
import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
import { tenant } from '@lmi/tenant'
import { type TmpDir, tmpScope } from '@lmi/tmp-scope'
import middy from '@middy/core'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import validator from '@middy/validator'
import { transpileSchema } from '@middy/validator/transpile'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 9
const ITERATIONS = quick ? 5_000 : 40_000

const here = dirname(fileURLToPath(import.meta.url))
const eventsDir = join(here, '..', 'packages', 'middleware', 'json', 'test', 'fixtures', 'events')
function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(eventsDir, name), 'utf8')) as Record<string, unknown>
}

const schema = {
  type: 'object',
  required: ['orderId', 'email', 'items'],
  additionalProperties: false,
  properties: {
    orderId: { type: 'string', pattern: '^[A-Z0-9-]{6,32}$' },
    email: { type: 'string', format: 'email' },
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        required: ['sku', 'qty'],
        additionalProperties: false,
        properties: {
          sku: { type: 'string', maxLength: 64 },
          qty: { type: 'integer', minimum: 1 },
        },
      },
    },
    note: { type: 'string', maxLength: 500 },
  },
} as const
const body = JSON.stringify({
  orderId: 'ORD-2026-0042',
  email: 'buyer@example.com',
  items: [
    { sku: 'SKU-1', qty: 2 },
    { sku: 'SKU-2', qty: 1 },
    { sku: 'SKU-3', qty: 5 },
  ],
  note: 'leave at the door',
})

/** A fixture event carrying the JSON body (base64 for ALB, as an ALB target may get it). */
function withBody(name: string, base64 = false): Record<string, unknown> {
  const event = fixture(name)
  event.headers = { ...(event.headers as object), 'content-type': 'application/json' }
  if ('multiValueHeaders' in event) {
    event.multiValueHeaders = {
      ...(event.multiValueHeaders as object),
      'content-type': ['application/json'],
    }
  }
  event.body = base64 ? Buffer.from(body).toString('base64') : body
  event.isBase64Encoded = base64
  return event
}
const events = {
  'REST API (v1)': withBody('apigw-rest.json'),
  'HTTP API (v2)': withBody('apigw-http-jwt.json'),
  'ALB, base64': withBody('alb.json', true),
}

let sequence = 0
function context(tenantId?: string): LambdaContext {
  return {
    awsRequestId: `bench-${sequence++}`,
    tenantId,
    functionName: 'bench',
    getRemainingTimeInMillis: () => 30_000,
  } as unknown as LambdaContext
}

type Fn = (event: Record<string, unknown>, context: LambdaContext) => Promise<unknown>
type Contender = { fn: Fn; tenantId?: string; after?: () => Promise<void> }

async function time(contender: Contender, event: Record<string, unknown>): Promise<number> {
  const start = process.hrtime.bigint()
  for (let index = 0; index < ITERATIONS; index++) {
    // A fresh copy per call: the parsers replace `body`. Same cost for every contender.
    await contender.fn({ ...event }, context(contender.tenantId))
  }
  await contender.after?.() // work an invocation leaves behind (tmp removal) counts too
  return Number(process.hrtime.bigint() - start) / ITERATIONS
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

async function measure(
  contenders: Record<string, Contender>,
  event: Record<string, unknown>,
): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = {}
  for (const [name, contender] of Object.entries(contenders)) {
    samples[name] = []
    await time(contender, event) // warm-up
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, contender] of Object.entries(contenders)) {
      samples[name]?.push(await time(contender, event))
    }
  }
  return samples
}

const handler = async (event: unknown) => ({ ok: event !== undefined })
const root = await mkdtemp(join(tmpdir(), 'lmi-bench-tmp-'))

// --- Table 1: what each middleware adds to an lmi() chain -------------------------------------
const scopeUnused = tmpScope({ root, scope: 'unused', sweep: false })
const scopeUsed = tmpScope({ root, scope: 'used', sweep: false })
const payload = Buffer.alloc(1024, 'x')
const costs: Record<string, Contender> = {
  'lmi(handler), no middleware': { fn: lmi(handler) as unknown as Fn },
  "tenant() — from the platform's tenant id": {
    fn: lmi(handler).use(tenant()) as unknown as Fn,
    tenantId: 'acme',
  },
  'tenant({ from: [{ header }] })': {
    fn: lmi(handler).use(tenant({ from: [{ header: 'x-tenant-id' }] })) as unknown as Fn,
  },
  'tmpScope(), directory unused': {
    fn: lmi(handler).use(scopeUnused) as unknown as Fn,
    after: () => scopeUnused.idle(),
  },
  'tmpScope(), 1 KiB file written, directory removed': {
    fn: lmi(async (_event: unknown, ctx: LambdaContext & { tmp: TmpDir }) => {
      await writeFile(ctx.tmp.path('data.bin'), payload)
      return { ok: true }
    }).use(scopeUsed) as unknown as Fn,
    after: () => scopeUsed.idle(),
  },
  'no tmpScope: the same mkdir, 1 KiB write and rm by hand': {
    fn: lmi(async (_event: unknown, ctx: LambdaContext) => {
      const dir = join(root, 'by-hand', ctx.awsRequestId)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, 'data.bin'), payload)
      await rm(dir, { recursive: true, force: true })
      return { ok: true }
    }) as unknown as Fn,
  },
  'jsonBody()': { fn: lmi(handler).use(jsonBody()) as unknown as Fn },
  'jsonBody({ schema })': { fn: lmi(handler).use(jsonBody({ schema })) as unknown as Fn },
  'jsonResponse()': { fn: lmi(handler).use(jsonResponse()) as unknown as Fn },
  'httpErrors(), handler succeeds': {
    fn: lmi(handler).use(httpErrors({ logger: false })) as unknown as Fn,
  },
}
const costEvent = events['HTTP API (v2)']
;(costEvent.headers as Record<string, string>)['x-tenant-id'] = 'acme'
const costSamples = await measure(costs, costEvent)
const baseName = 'lmi(handler), no middleware'
const baseline = median(costSamples[baseName] ?? [])
const costRows = Object.keys(costs).map((name) => {
  const value = median(costSamples[name] ?? [])
  return [name, value.toFixed(0), name === baseName ? '—' : (value - baseline).toFixed(0)]
})
process.stderr.write(`[middleware] costs done\n`)

// --- Table 2: jsonBody({ schema }) vs http-json-body-parser + validator ------------------------
const middyEventSchema = transpileSchema({
  type: 'object',
  required: ['body'],
  properties: { body: schema },
})
// middy's validator compiles with allErrors: true; give jsonBody the same so both report every error.
const lmiBody = () => jsonBody({ schema, allErrors: true })
const middyBody = () => [httpJsonBodyParser(), validator({ eventSchema: middyEventSchema })]
const compareRows: string[][] = []
let worst = 0
for (const [label, event] of Object.entries(events)) {
  const contenders: Record<string, Contender> = {
    bare: { fn: handler as Fn },
    'middy: middy parser+validator': { fn: middy(handler).use(middyBody()) as unknown as Fn },
    'middy: jsonBody': { fn: middy(handler).use(lmiBody()) as unknown as Fn },
    'lmi: middy parser+validator': { fn: lmi(handler).use(middyBody()) as unknown as Fn },
    'lmi: jsonBody': { fn: lmi(handler).use(lmiBody()) as unknown as Fn },
  }
  const samples = await measure(contenders, event)
  const ratio = (ours: string, theirs: string) =>
    median(
      (samples.bare ?? []).map((bare, round) => {
        const a = (samples[ours]?.[round] ?? Number.NaN) - bare
        const b = (samples[theirs]?.[round] ?? Number.NaN) - bare
        return a / b
      }),
    )
  const bare = median(samples.bare ?? [])
  const over = (name: string) => (median(samples[name] ?? []) - bare).toFixed(0)
  const inMiddy = ratio('middy: jsonBody', 'middy: middy parser+validator')
  const inLmi = ratio('lmi: jsonBody', 'lmi: middy parser+validator')
  worst = Math.max(worst, inMiddy, inLmi)
  compareRows.push([
    label,
    over('middy: middy parser+validator'),
    over('middy: jsonBody'),
    `${inMiddy.toFixed(2)}×`,
    over('lmi: middy parser+validator'),
    over('lmi: jsonBody'),
    `${inLmi.toFixed(2)}×`,
  ])
  process.stderr.write(`[middleware] ${compareRows.at(-1)?.join('  ')}\n`)
}
await rm(root, { recursive: true, force: true })

console.log(
  `\n### @lmi middlewares — ns per invocation, medians of ${ROUNDS} rounds × ${ITERATIONS.toLocaleString('en-US')} invocations, Node ${process.version}\n`,
)
console.log('| chain (HTTP API v2 event, 230-byte JSON body) | ns / invocation | added ns |')
console.log('| --- | ---: | ---: |')
for (const row of costRows) console.log(`| ${row.join(' | ')} |`)
console.log(
  '\n### jsonBody({ schema }) vs @middy/http-json-body-parser + @middy/validator — ns added per invocation over the bare handler, same schema (allErrors on both)\n',
)
console.log(
  '| event | in middy(): middy pair | in middy(): jsonBody | ratio | in lmi(): middy pair | in lmi(): jsonBody | ratio |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const row of compareRows) console.log(`| ${row.join(' | ')} |`)
console.log(`\nworst jsonBody / (parser + validator) ratio: ${worst.toFixed(2)}×`)
