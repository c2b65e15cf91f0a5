// What a handler's cold start pays to import lmi: each contender imported in a fresh Node
// process (compiled dist/, as installed), contenders alternating within each round, medians
// over rounds. The anchor is `@lmi/runtime` as it was before the package split — the chain, the
// Runtime API client and undici in one import — measured today as `@lmi/core` +
// `@lmi/runtime`; `@middy/core` is what a middy handler pays.
//
//   node bench/import.ts [--quick]
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 5 : 21
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

interface Contender {
  name: string
  what: string
  modules: string[]
}

const contenders: Contender[] = [
  { name: 'middy', what: '`@middy/core`', modules: ['@middy/core'] },
  { name: 'core', what: '`@lmi/core`', modules: ['@lmi/core'] },
  {
    name: 'readme-handler',
    what: 'the root README handler: `@lmi/core` and the four middlewares',
    modules: ['@lmi/core', '@lmi/context', '@lmi/json', '@lmi/tenant', '@lmi/tmp-scope'],
  },
  {
    name: 'core+runtime',
    what: '`@lmi/core` + `@lmi/runtime` (the one package before the split)',
    modules: ['@lmi/core', '@lmi/runtime'],
  },
]

interface Sample {
  ms: number
  rssMb: number
}

function measure(contender: Contender): Sample {
  const script = [
    'const rss0 = process.memoryUsage.rss()',
    'const t0 = performance.now()',
    ...contender.modules.map((module) => `await import(${JSON.stringify(module)})`),
    'const ms = performance.now() - t0',
    'console.log(JSON.stringify({ ms, rssMb: (process.memoryUsage.rss() - rss0) / 1048576 }))',
  ].join('\n')
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  })
  if (child.status !== 0) {
    throw new Error(`${contender.name}: exit ${child.status}\n${child.stderr}`)
  }
  return JSON.parse(child.stdout.trim()) as Sample
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]))
for (const contender of contenders) measure(contender) // warm the file system cache
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no contender always runs first in a round.
  for (let index = 0; index < contenders.length; index++) {
    const contender = contenders[(index + round) % contenders.length] as Contender
    samples.get(contender.name)?.push(measure(contender))
  }
}

const anchor = median((samples.get('core+runtime') ?? []).map((s) => s.ms))
console.log(
  `\nImport cost in a fresh process, Node ${process.version}, ${ROUNDS} rounds (median)\n`,
)
console.log('| imports | ms | × core+runtime | RSS added MB |')
console.log('| --- | ---: | ---: | ---: |')
for (const contender of contenders) {
  const list = samples.get(contender.name) ?? []
  const ms = median(list.map((s) => s.ms))
  const rss = median(list.map((s) => s.rssMb))
  console.log(
    `| ${contender.what} | ${ms.toFixed(1)} | ${(ms / anchor).toFixed(2)}× | ${rss.toFixed(1)} |`,
  )
}
