// What a runtime costs, read from /proc as the kernel accounts it: CPU of the process and all
// its threads (utime + stime), peak RSS (VmHWM), summed over any child processes it spawned.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, almost always 100). */
export const CLK_TCK: number = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isFinite(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
})()

export type ProcSample = {
  /** utime + stime of every process in the tree, in microseconds. */
  cpuMicros: number
  /** Sum of VmHWM (peak resident set) over the tree, in bytes. */
  peakRssBytes: number
  /** Sum of VmRSS (resident set now) over the tree, in bytes. */
  rssBytes: number
  /** Threads now alive over the tree. */
  threads: number
  /** How many processes the tree has (1 unless the runtime spawned children). */
  processes: number
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The pid and every live descendant of it, through /proc/<pid>/task/<tid>/children. */
export function processTree(pid: number): number[] {
  const seen: number[] = []
  const stack = [pid]
  while (stack.length > 0) {
    const current = stack.pop()!
    if (read(`/proc/${current}/stat`) === undefined) continue
    seen.push(current)
    let tasks: string[] = []
    try {
      tasks = readdirSync(`/proc/${current}/task`)
    } catch {}
    for (const tid of tasks) {
      const children = read(`/proc/${current}/task/${tid}/children`)
      if (children === undefined) continue
      for (const child of children.trim().split(/\s+/)) {
        if (child !== '') stack.push(Number(child))
      }
    }
  }
  return seen
}

/** utime + stime (fields 14 and 15) in clock ticks; threads, live and exited, are included. */
function cpuTicks(pid: number): number {
  const stat = read(`/proc/${pid}/stat`)
  if (stat === undefined) return 0
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  return Number(fields[11]) + Number(fields[12])
}

function statusKb(status: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)
  return match ? Number(match[1]) : 0
}

/** CPU, peak RSS and thread count of a process and its descendants, now. */
export function sampleProcess(pid: number): ProcSample {
  const tree = processTree(pid)
  let ticks = 0
  let peakKb = 0
  let rssKb = 0
  let threads = 0
  for (const member of tree) {
    ticks += cpuTicks(member)
    const status = read(`/proc/${member}/status`) ?? ''
    peakKb += statusKb(status, 'VmHWM')
    rssKb += statusKb(status, 'VmRSS')
    threads += statusKb(status, 'Threads')
  }
  return {
    cpuMicros: (ticks * 1e6) / CLK_TCK,
    peakRssBytes: peakKb * 1024,
    rssBytes: rssKb * 1024,
    threads,
    processes: tree.length,
  }
}
