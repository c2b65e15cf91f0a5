// Medians over rounds, ratios between contenders, the Markdown tables and the verdict.
import type { ContenderName } from './contenders.ts'
import type { RunRecord } from './measure.ts'
import type { HandlerName } from './workloads.ts'

export type CellResult = {
  contender: string
  handler: HandlerName
  concurrency: number
  /** Rounds that produced a measurement. */
  rounds: number
  /** Invocations per measured run. */
  count: number
  /** Failed invocations, summed over rounds: must be 0. */
  errors: number
  failures: string[]
  invPerSec: number
  p50Ms: number
  p99Ms: number
  cpuMicrosPerInv: number
  peakRssMB: number
  threads: number
  startMs: number
}

export type Ratio = {
  handler: HandlerName
  concurrency: number
  of: ContenderName
  to: ContenderName
  throughput: number
  cpuPerInv: number
  peakRss: number
}

export type Target = { label: string; value: number; limit: number; pass: boolean }
export type Verdict = {
  status: 'PASS' | 'FAIL' | 'SKIP'
  line: string
  targets: Target[]
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function aggregate(records: RunRecord[]): CellResult[] {
  const groups = new Map<string, RunRecord[]>()
  for (const record of records) {
    const key = `${record.contender}|${record.handler}|${record.concurrency}`
    groups.set(key, [...(groups.get(key) ?? []), record])
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0]!
    const measured = runs.filter((r) => r.count > 0)
    const pick = (f: (r: RunRecord) => number) => median(measured.map(f))
    return {
      contender: first.contender,
      handler: first.handler,
      concurrency: first.concurrency,
      rounds: measured.length,
      count: Math.max(0, ...measured.map((r) => r.count)),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
      failures: [...new Set(runs.flatMap((r) => (r.failure ? [r.failure] : [])))],
      invPerSec: pick((r) => r.invPerSec),
      p50Ms: pick((r) => r.p50Ms),
      p99Ms: pick((r) => r.p99Ms),
      cpuMicrosPerInv: pick((r) => r.cpuMicrosPerInv),
      peakRssMB: pick((r) => r.peakRssMB),
      threads: pick((r) => r.threads),
      startMs: pick((r) => r.startMs),
    }
  })
}

function find(cells: CellResult[], contender: string, handler: HandlerName, concurrency: number) {
  return cells.find(
    (c) =>
      c.contender === contender &&
      c.handler === handler &&
      c.concurrency === concurrency &&
      c.rounds > 0,
  )
}

export function ratios(
  cells: CellResult[],
  pairs: [ContenderName, ContenderName][],
  handlers: HandlerName[],
  levels: number[],
): Ratio[] {
  const out: Ratio[] = []
  for (const handler of handlers) {
    for (const concurrency of levels) {
      for (const [of, to] of pairs) {
        const a = find(cells, of, handler, concurrency)
        const b = find(cells, to, handler, concurrency)
        if (!a || !b) continue
        out.push({
          handler,
          concurrency,
          of,
          to,
          throughput: a.invPerSec / b.invPerSec,
          cpuPerInv: a.cpuMicrosPerInv / b.cpuMicrosPerInv,
          peakRss: a.peakRssMB / b.peakRssMB,
        })
      }
    }
  }
  return out
}

/** The targets lmi is built to: concurrency 64, the io10 handler. */
export function verdict(cells: CellResult[]): Verdict {
  const lmi = find(cells, 'lmi', 'io10', 64)
  const aws = find(cells, 'aws', 'io10', 64)
  const bare = find(cells, 'bare', 'io10', 64)
  if (!lmi || !aws || !bare) {
    const missing = [!lmi && 'lmi', !aws && 'aws', !bare && 'bare'].filter(Boolean).join(', ')
    return {
      status: 'SKIP',
      line: `SKIP: targets at concurrency 64 / io10 need lmi, aws and bare; not measured: ${missing}`,
      targets: [],
    }
  }
  const targets: Target[] = [
    {
      label: 'throughput lmi/aws ≥ 1.25',
      value: lmi.invPerSec / aws.invPerSec,
      limit: 1.25,
      pass: lmi.invPerSec / aws.invPerSec >= 1.25,
    },
    {
      label: 'throughput lmi/bare ≥ 0.95',
      value: lmi.invPerSec / bare.invPerSec,
      limit: 0.95,
      pass: lmi.invPerSec / bare.invPerSec >= 0.95,
    },
    {
      label: 'CPU/inv lmi/aws ≤ 0.6',
      value: lmi.cpuMicrosPerInv / aws.cpuMicrosPerInv,
      limit: 0.6,
      pass: lmi.cpuMicrosPerInv / aws.cpuMicrosPerInv <= 0.6,
    },
    {
      label: 'peak RSS lmi/aws ≤ 0.6',
      value: lmi.peakRssMB / aws.peakRssMB,
      limit: 0.6,
      pass: lmi.peakRssMB / aws.peakRssMB <= 0.6,
    },
    { label: 'lmi errors = 0', value: lmi.errors, limit: 0, pass: lmi.errors === 0 },
  ]
  const pass = targets.every((t) => t.pass)
  const detail = targets
    .map(
      (t) =>
        `${t.label}: ${t.limit === 0 ? t.value : fmtRatio(t.value)} ${t.pass ? 'ok' : 'MISSED'}`,
    )
    .join('; ')
  return {
    status: pass ? 'PASS' : 'FAIL',
    line: `${pass ? 'PASS' : 'FAIL'} (concurrency 64, io10): ${detail}`,
    targets,
  }
}

function fmtInt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—'
}

function fmtMs(value: number): string {
  if (!Number.isFinite(value)) return '—'
  return value < 10 ? value.toFixed(2) : value.toFixed(1)
}

function fmtRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—'
}

function table(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'))
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

export function markdown(options: {
  cells: CellResult[]
  ratios: Ratio[]
  verdict: Verdict
  handlers: { name: HandlerName; description: string }[]
  contenders: string[]
  levels: number[]
  rounds: number
}): string {
  const parts: string[] = []
  for (const handler of options.handlers) {
    parts.push(
      `### ${handler.name}: ${handler.description}\n\nMedians over ${options.rounds} round(s).`,
    )
    const rows: string[][] = []
    for (const concurrency of options.levels) {
      for (const contender of options.contenders) {
        const cell = options.cells.find(
          (c) =>
            c.contender === contender &&
            c.handler === handler.name &&
            c.concurrency === concurrency,
        )
        if (!cell) continue
        rows.push([
          contender,
          String(concurrency),
          cell.rounds > 0 ? `${fmtInt(cell.count)} × ${cell.rounds}` : 'failed',
          fmtInt(cell.invPerSec),
          fmtMs(cell.p50Ms),
          fmtMs(cell.p99Ms),
          fmtInt(cell.cpuMicrosPerInv),
          fmtInt(cell.peakRssMB),
          fmtInt(cell.threads),
          String(cell.errors),
        ])
      }
    }
    parts.push(
      table(
        [
          'contender',
          'conc.',
          'inv. × rounds',
          'inv/s',
          'p50 ms',
          'p99 ms',
          'CPU µs/inv',
          'peak RSS MB',
          'threads',
          'errors',
        ],
        rows,
      ),
    )
  }

  const groups: [string, ContenderName, ContenderName][] = [
    ['lmi/aws', 'lmi', 'aws'],
    ['lmi/bare', 'lmi', 'bare'],
    ['bare/aws', 'bare', 'aws'],
    ['lmi-main/lmi', 'lmi-main', 'lmi'],
    ['lmi-percpu/lmi', 'lmi-percpu', 'lmi'],
    ['detect-off/lmi', 'lmi-detect-off', 'lmi'],
    ['detect-warn/lmi', 'lmi-detect-warn', 'lmi'],
    ['detect-throw/lmi', 'lmi-detect-throw', 'lmi'],
  ]
  const present = groups.filter(([, of, to]) =>
    options.ratios.some((r) => r.of === of && r.to === to),
  )
  if (present.length > 0) {
    parts.push(
      '### Ratios (of medians)\n\nThroughput: higher is better; CPU/inv and RSS: lower is better.',
    )
    const header = ['workload']
    for (const [label] of present) header.push(`inv/s ${label}`)
    for (const [label] of present) header.push(`CPU/inv ${label}`)
    for (const [label] of present) header.push(`RSS ${label}`)
    const rows: string[][] = []
    for (const handler of options.handlers) {
      for (const concurrency of options.levels) {
        const get = (of: string, to: string) =>
          options.ratios.find(
            (r) =>
              r.handler === handler.name &&
              r.concurrency === concurrency &&
              r.of === of &&
              r.to === to,
          )
        const found = present.map(([, of, to]) => get(of, to))
        if (found.every((r) => r === undefined)) continue
        rows.push([
          `${handler.name} c=${concurrency}`,
          ...found.map((r) => fmtRatio(r?.throughput ?? Number.NaN)),
          ...found.map((r) => fmtRatio(r?.cpuPerInv ?? Number.NaN)),
          ...found.map((r) => fmtRatio(r?.peakRss ?? Number.NaN)),
        ])
      }
    }
    parts.push(table(header, rows))
  }

  const failures = options.cells.filter((c) => c.failures.length > 0)
  if (failures.length > 0) {
    parts.push('### Failures')
    for (const cell of failures) {
      const first = cell.failures[0]!.split('\n').slice(0, 12).join('\n    ')
      parts.push(`- ${cell.contender} ${cell.handler} c=${cell.concurrency}: ${first}`)
    }
  }
  parts.push(`**${options.verdict.line}**`)
  return parts.join('\n\n')
}
