// Per-invocation overhead of lmi() against @middy/core 7.9, same process, same run, alternating
// bare / middy / lmi per round; medians over rounds. Overhead = chain time − bare handler time.
//
// Every call runs as on AWS's Node runtime in LMI mode: inside the InvokeStore context that
// runtime opens per invocation (the real @aws/lambda-invoke-store). lmi's figure includes
// binding its invocation to that context, which it does there; on lmi's own runtime the
// binding is already done.
//
//   node packages/runtime/core/bench/chain.ts [--quick]

import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import { type LambdaContext, lmi } from '@lmi/core'
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

// The least any chain with middy's semantics can do: call each hook in order and, when it
// returns a promise, wait for it before the next (a hook may depend on the one before). For
// async hooks that is one microtask turn per hook, which no chain can skip; the floor shows how
// much of each chain's overhead is that cost.
function floor(hooks: ReturnType<typeof noops>): Fn {
  const befores = hooks.map((hook) => hook.before)
  const afters = hooks.map((hook) => hook.after).reverse()
  return async (e) => {
    const request = { event: e, response: undefined as unknown }
    for (const hook of befores) {
      const result: unknown = hook()
      if (result instanceof Promise) await result
    }
    request.response = await handler(e)
    for (const hook of afters) {
      const result: unknown = hook()
      if (result instanceof Promise) await result
    }
    return request.response
  }
}

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
const verdicts: ('floor' | 'miss')[] = []
for (const count of [0, 3, 10]) {
  for (const kind of ['sync', 'async'] as const) {
    if (count === 0 && kind === 'async') continue
    const contenders: Record<string, Fn> = {
      bare: (e) => handler(e),
      floor: floor(noops(count, kind)),
      middy: middy(handler).use(noops(count, kind)) as unknown as Fn,
      lmi: lmi(handler).use(noops(count, kind)) as unknown as Fn,
    }
    const samples: Record<string, number[]> = { bare: [], floor: [], middy: [], lmi: [] }
    for (const fn of Object.values(contenders)) await time(fn) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, fn] of Object.entries(contenders)) samples[name]?.push(await time(fn))
    }
    const bare = median(samples.bare ?? [])
    const middyOverhead = median(samples.middy ?? []) - bare
    const lmiOverhead = median(samples.lmi ?? []) - bare
    const floorOverhead = median(samples.floor ?? []) - bare
    // The ratio is taken within each round (its three measurements ran back to back), then the
    // median over rounds: steadier on a noisy machine than a ratio of medians.
    // Ratios are taken within each round (its measurements ran back to back), then the median
    // over rounds: steadier on a noisy machine than a ratio of medians.
    const perRound = (name: string) =>
      median(
        (samples.bare ?? []).map((bareRound, round) => {
          const overhead = (samples[name]?.[round] ?? Number.NaN) - bareRound
          const middyRound = (samples.middy?.[round] ?? Number.NaN) - bareRound
          return overhead / middyRound
        }),
      )
    const ratio = perRound('lmi')
    const floorRatio = perRound('floor')
    // A row meets the target, or misses it only because the floor (the awaits middy's
    // semantics require) is itself above half of middy's overhead and lmi adds nothing to it.
    const atFloor = floorRatio > 0.5 && lmiOverhead - floorOverhead <= 0.1 * middyOverhead
    if (ratio > 0.5) verdicts.push(atFloor ? 'floor' : 'miss')
    rows.push([
      `${count} ${count === 0 ? '' : kind}`.trim(),
      bare.toFixed(0),
      floorOverhead.toFixed(0),
      middyOverhead.toFixed(0),
      lmiOverhead.toFixed(0),
      `${floorRatio.toFixed(2)}×`,
      `${ratio.toFixed(2)}×`,
    ])
    process.stderr.write(`[chain] ${rows.at(-1)?.join('  ')}\n`)
  }
}

console.log(
  `\n### lmi() vs @middy/core — overhead per invocation (ns), medians of ${ROUNDS} rounds × ${ITERATIONS.toLocaleString('en-US')} invocations, Node ${process.version}\n`,
)
console.log(
  '| middlewares | bare handler ns | floor overhead ns | middy overhead ns | lmi overhead ns | floor / middy | lmi / middy |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
const misses = verdicts.filter((verdict) => verdict === 'miss').length
const atFloor = verdicts.length - misses
console.log(
  `\n**${misses > 0 ? 'FAIL' : atFloor > 0 ? 'PASS AT FLOOR' : 'PASS'}**: ${rows.length - verdicts.length} of ${rows.length} rows at lmi/middy ≤ 0.5×` +
    (atFloor > 0
      ? `; ${atFloor} over it only because the floor (one await per async hook, required by middy's semantics) is itself over 0.5× of middy's overhead, and lmi stays within 10% of middy's overhead of that floor`
      : '') +
    (misses > 0 ? `; ${misses} missed` : ''),
)
