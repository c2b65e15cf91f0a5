// Per-invocation overhead of lmi() against @middy/core 7.9, same process, same run, alternating
// bare / middy / lmi per round; medians over rounds. Overhead = chain time − bare handler time.
//
// Every call runs as on AWS's Node runtime in LMI mode: inside the InvokeStore context that
// runtime opens per invocation (the real @aws/lambda-invoke-store). lmi's figure includes
// binding its invocation to that context, which it does there; on lmi's own runtime the
// binding is already done.
//
//   node packages/runtime/bench/chain.ts [--quick]

import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import { type LambdaContext, lmi } from '@lmi/runtime'
import middy from '@middy/core'

// AWS's runtime in LMI mode installs @aws/lambda-invoke-store's store on globalThis.awslambda
// before the handler loads, and runs each invocation in `InvokeStore.run({ ids }, handler)`.
process.env.AWS_LAMBDA_MAX_CONCURRENCY ??= '64'
const awsInvokeStore = await InvokeStore.getInstanceAsync(true)
function awsContext(): Record<symbol, string> {
  return {
    [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: 'bench-request',
    [InvokeStoreBase.PROTECTED_KEYS.X_RAY_TRACE_ID]: 'Root=1-bench',
  }
}

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 11
const ITERATIONS = quick ? 20_000 : 100_000

const context = {
  awsRequestId: 'bench-request',
  functionName: 'bench',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as LambdaContext
const event = { path: '/orders', body: '{"id":1}' }
const handler = async (e: typeof event) => ({ statusCode: 200, body: e.body })

type Kind = 'sync' | 'async'
function noops(count: number, kind: Kind) {
  return Array.from({ length: count }, () =>
    kind === 'sync'
      ? { before: () => {}, after: () => {} }
      : { before: async () => {}, after: async () => {} },
  )
}

type Fn = (e: typeof event, c: LambdaContext) => Promise<unknown>

async function time(fn: Fn): Promise<number> {
  const start = process.hrtime.bigint()
  for (let index = 0; index < ITERATIONS; index++) {
    await awsInvokeStore.run(awsContext(), () => fn(event, context))
  }
  return Number(process.hrtime.bigint() - start) / ITERATIONS
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const rows: string[][] = []
let worst = 0
for (const count of [0, 3, 10]) {
  for (const kind of ['sync', 'async'] as const) {
    if (count === 0 && kind === 'async') continue
    const contenders: Record<string, Fn> = {
      bare: (e) => handler(e),
      middy: middy(handler).use(noops(count, kind)) as unknown as Fn,
      lmi: lmi(handler).use(noops(count, kind)) as unknown as Fn,
    }
    const samples: Record<string, number[]> = { bare: [], middy: [], lmi: [] }
    for (const fn of Object.values(contenders)) await time(fn) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, fn] of Object.entries(contenders)) samples[name]?.push(await time(fn))
    }
    const bare = median(samples.bare ?? [])
    const middyOverhead = median(samples.middy ?? []) - bare
    const lmiOverhead = median(samples.lmi ?? []) - bare
    // The ratio is taken within each round (its three measurements ran back to back), then the
    // median over rounds: steadier on a noisy machine than a ratio of medians.
    const ratio = median(
      (samples.bare ?? []).map((bareRound, round) => {
        const lmiRound = (samples.lmi?.[round] ?? Number.NaN) - bareRound
        const middyRound = (samples.middy?.[round] ?? Number.NaN) - bareRound
        return lmiRound / middyRound
      }),
    )
    worst = Math.max(worst, ratio)
    rows.push([
      `${count} ${count === 0 ? '' : kind}`.trim(),
      bare.toFixed(0),
      middyOverhead.toFixed(0),
      lmiOverhead.toFixed(0),
      `${ratio.toFixed(2)}×`,
    ])
    process.stderr.write(`[chain] ${rows.at(-1)?.join('  ')}\n`)
  }
}

console.log(
  `\n### lmi() vs @middy/core — overhead per invocation (ns), medians of ${ROUNDS} rounds × ${ITERATIONS.toLocaleString('en-US')} invocations, Node ${process.version}\n`,
)
console.log(
  '| middlewares | bare handler ns | middy overhead ns | lmi overhead ns | lmi / middy (median of per-round ratios) |',
)
console.log('| --- | ---: | ---: | ---: | ---: |')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
console.log(
  `\n**${worst <= 0.5 ? 'PASS' : 'FAIL'}**: worst lmi/middy overhead ratio ${worst.toFixed(2)}× (target ≤ 0.5×)`,
)
