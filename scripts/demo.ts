// The README's first command ends here: run a handler under `lmi dev` (the Runtime API
// emulator + lmi's runtime in its own process) at concurrency 16, fire invocations at it over
// HTTP as curl would, and print what happened.
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDev } from '@lmi/runtime/cli'
import { Agent, request } from 'undici'

const INVOCATIONS = 400
const CONCURRENCY = 16
const CLIENTS = 48 // more callers than slots, so invocations queue as on a busy function
const TENANTS = ['acme', 'globex', 'initech', 'umbrella']

const root = dirname(dirname(fileURLToPath(import.meta.url)))

function bar(done: number, total: number): string {
  const width = 30
  const filled = Math.round((done / total) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

const dev = await startDev({
  handler: 'scripts/demo/handler.handler',
  cwd: root,
  concurrency: CONCURRENCY,
  port: 0,
  timeoutMs: 3000,
  stdio: 'pipe',
})
await dev.ready
const logLines: string[] = []
dev.runtime.stdout?.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n')))
const url = `${dev.emulator.url}/2015-03-31/functions/function/invocations`
console.log(`lmi dev: handler scripts/demo/handler.handler at concurrency ${CONCURRENCY}`)
console.log(`         ${url}\n`)

const agent = new Agent({ connections: CLIENTS })
const latencies: number[] = []
let errors = 0
let done = 0
let nextIndex = 0
const tty = process.stdout.isTTY
const started = performance.now()

async function caller(): Promise<void> {
  while (nextIndex < INVOCATIONS) {
    const n = nextIndex++
    const sent = performance.now()
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'x-amz-tenant-id': TENANTS[n % TENANTS.length] as string },
      body: JSON.stringify({ n }),
    })
    const body = (await response.body.json()) as { order?: number }
    latencies.push(performance.now() - sent)
    if (response.headers['x-amz-function-error'] !== undefined || body.order !== n) errors++
    done++
    if (tty) process.stdout.write(`\r${bar(done, INVOCATIONS)}`)
  }
}

await Promise.all(Array.from({ length: CLIENTS }, caller))
const seconds = (performance.now() - started) / 1000
if (tty) process.stdout.write('\n')
else console.log(bar(done, INVOCATIONS))
const stats = dev.emulator.stats()
await dev.close()
await agent.close()

latencies.sort((a, b) => a - b)
const jsonLogs = logLines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
const withIds = jsonLogs.filter((record) => record.requestId && record.tenantId)
console.log(`
  invocations      ${done}
  errors           ${errors}
  throughput       ${(done / seconds).toFixed(0)} invocations/s
  latency p50/p99  ${percentile(latencies, 50).toFixed(1)} ms / ${percentile(latencies, 99).toFixed(1)} ms
  peak in-flight   ${stats.peakInFlight} (limit ${CONCURRENCY})
  log lines        ${jsonLogs.length} JSON, ${withIds.length} with requestId + tenantId
`)
if (errors > 0 || stats.peakInFlight > CONCURRENCY) process.exitCode = 1
