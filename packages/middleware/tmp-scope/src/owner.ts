import { readFileSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

// A process is named by its pid and its start time (clock ticks since boot, /proc/<pid>/stat
// field 22): a pid reused by a later process (a restarted runtime in the same sandbox may get
// the same small pid) then does not pass for the process that left the directory. Worker
// threads of one process share the name, so they never sweep each other's directories.
function startTicks(pid: number | 'self'): string | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // Field 2 (the command) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields[19]
}

let ownName: string | undefined

/** This process's directory name under `<root>/<scope>/`: `<pid>-<start ticks>`. */
export function ownerName(): string {
  ownName ??= ownerNameOf(process.pid, startTicks('self'))
  return ownName
}

function ownerNameOf(pid: number, ticks: string | undefined): string {
  return ticks === undefined ? String(pid) : `${pid}-${ticks}`
}

const OWNER = /^(\d+)(?:-(\d+))?$/

/** Whether the process that named a directory `name` is still running. */
export function ownerAlive(name: string): boolean {
  const match = OWNER.exec(name)
  if (match === null) return true // not a directory of ours: never touched
  const pid = Number(match[1])
  if (pid === process.pid) return name === ownerName()
  const ticks = startTicks(pid)
  if (ticks !== undefined) return match[2] === undefined || match[2] === ticks
  // No /proc (macOS) or no such process.
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes what processes that are gone left under `<root>/<scope>/` (a crash, a timeout that
 * killed the runtime, SIGKILL). Directories of running processes — this one, its worker
 * threads, other runtimes sharing `/tmp` — and entries not named like an owner are left alone.
 * Resolves with the names removed.
 *
 * @example
 * ```ts
 * import { sweepTmpLeftovers } from '@lmi/tmp-scope'
 * const removed = await sweepTmpLeftovers({ root: '/tmp', scope: 'lmi' })
 * ```
 */
export async function sweepTmpLeftovers(options: {
  root: string
  scope: string
}): Promise<string[]> {
  const base = join(options.root, options.scope)
  let entries: string[]
  try {
    entries = await readdir(base)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const dead = entries.filter((name) => !ownerAlive(name))
  await Promise.all(
    dead.map((name) => rm(join(base, name), { recursive: true, force: true, maxRetries: 2 })),
  )
  return dead
}
