import type { Dirent } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { basename, join, relative, resolve } from 'node:path'
import { CheckEventsError } from '../../errors.ts'

/**
 * One event `lmi check` invokes the handler with. `name` says where it came from, for the
 * report: the file name in a directory (`02-bob.json`) or `file.json[index]` for an array.
 *
 * @example
 * ```ts
 * const event: CheckEvent = { name: 'events.json[0]', index: 0, event: { user: 'alice' } }
 * ```
 */
export interface CheckEvent {
  readonly name: string
  /** Position in the event set, from 0. */
  readonly index: number
  /** The parsed JSON event. */
  readonly event: unknown
  /** The tenant id its invocations carry (`tenantIds`); none by default. */
  readonly tenantId?: string | undefined
}

/**
 * The events with a tenant id each, `lmi-check-tenant-<index>` (the `tenantIds` option).
 *
 * @example
 * ```ts
 * withTenantIds([{ name: 'a.json', index: 0, event: {} }])[0]?.tenantId // => 'lmi-check-tenant-0'
 * ```
 */
export function withTenantIds(events: readonly CheckEvent[]): CheckEvent[] {
  return events.map((event) => ({ ...event, tenantId: `lmi-check-tenant-${event.index}` }))
}

/**
 * What of an event a response, line or request can be traced to: the event, and the tenant id
 * its invocations carry when they carry one.
 *
 * @example
 * ```ts
 * traceableValue({ name: 'a.json', index: 0, event: { user: 'ada' }, tenantId: 't-0' })
 * // => [{ user: 'ada' }, 't-0']
 * ```
 */
export function traceableValue(event: CheckEvent): unknown {
  return event.tenantId === undefined ? event.event : [event.event, event.tenantId]
}

// A bigger event set makes the check slower, not better: the concurrent phase repeats events.
const MAX_EVENTS = 10_000

function parseJson(text: string, file: string, shown: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause)
    throw new CheckEventsError(`${shown} is not valid JSON: ${detail}`, file, { cause })
  }
}

async function readText(file: string, shown: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    const detail = (cause as NodeJS.ErrnoException).code ?? String(cause)
    throw new CheckEventsError(`cannot read ${shown} (${detail})`, file, { cause })
  }
}

/**
 * Loads the events of a check from `path` (relative to `cwd`):
 * - a file holding a JSON **array** of events, named `file.json[0]`, `file.json[1]`, …;
 * - a **directory** of `.json` files, one event per file (whatever its JSON type), in the
 *   order of their names (`localeCompare` with numeric collation, so `2.json` comes before
 *   `10.json`); other files and sub-directories are ignored.
 *
 * Throws {@link CheckEventsError} naming the file when the path does not exist, a file is not
 * valid JSON, the file is not an array, or there are no events.
 *
 * @example
 * ```ts
 * const events = await loadEvents('test/events.json')
 * // => [{ name: 'events.json[0]', index: 0, event: { … } }, …]
 * const fromDir = await loadEvents('test/events/')
 * // => [{ name: '01-get.json', index: 0, event: { … } }, { name: '02-post.json', … }]
 * ```
 */
export async function loadEvents(path: string, cwd = process.cwd()): Promise<CheckEvent[]> {
  const full = resolve(cwd, path)
  const shown = relative(cwd, full) || '.'
  let kind: 'file' | 'directory'
  try {
    const info = await stat(full)
    if (info.isDirectory()) kind = 'directory'
    else if (info.isFile()) kind = 'file'
    else throw new CheckEventsError(`${shown} is neither a file nor a directory`, full)
  } catch (cause) {
    if (cause instanceof CheckEventsError) throw cause
    throw new CheckEventsError(
      `no events at ${shown}: expected a JSON file holding an array of events, or a directory of .json event files`,
      full,
      { cause },
    )
  }
  const events = kind === 'file' ? await fromFile(full, shown) : await fromDirectory(full, shown)
  if (events.length === 0) {
    throw new CheckEventsError(
      kind === 'file'
        ? `${shown} holds an empty array: lmi check needs at least one event`
        : `${shown} holds no .json files: lmi check needs at least one event`,
      full,
    )
  }
  if (events.length > MAX_EVENTS) {
    throw new CheckEventsError(
      `${shown} holds ${events.length} events; lmi check takes at most ${MAX_EVENTS}`,
      full,
    )
  }
  return events
}

async function fromFile(file: string, shown: string): Promise<CheckEvent[]> {
  const parsed = parseJson(await readText(file, shown), file, shown)
  if (!Array.isArray(parsed)) {
    throw new CheckEventsError(
      `${shown} must hold a JSON array of events (wrap a single event in [ ]), or pass a directory of .json files, one event each`,
      file,
    )
  }
  const name = basename(file)
  return parsed.map((event: unknown, index) => ({ name: `${name}[${index}]`, index, event }))
}

async function fromDirectory(directory: string, shown: string): Promise<CheckEvent[]> {
  let entries: Dirent[]
  try {
    entries = await readdir(directory, { withFileTypes: true })
  } catch (cause) {
    const detail = (cause as NodeJS.ErrnoException).code ?? String(cause)
    throw new CheckEventsError(`cannot list ${shown} (${detail})`, directory, { cause })
  }
  const names = entries
    .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.json'))
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const events: CheckEvent[] = []
  for (const [index, name] of names.entries()) {
    const file = join(directory, name)
    const shownFile = join(shown, name)
    events.push({ name, index, event: parseJson(await readText(file, shownFile), file, shownFile) })
  }
  return events
}

/**
 * Names in-memory events the way {@link loadEvents} names an array file's: `events[0]`, ….
 *
 * @example
 * ```ts
 * namedEvents([{ user: 'alice' }]) // => [{ name: 'events[0]', index: 0, event: { user: 'alice' } }]
 * ```
 */
export function namedEvents(events: readonly unknown[]): CheckEvent[] {
  if (events.length === 0) {
    throw new CheckEventsError('no events: lmi check needs at least one event', undefined)
  }
  return events.map((event, index) => {
    if (event === undefined || typeof event === 'function' || typeof event === 'symbol') {
      throw new CheckEventsError(`events[${index}] is not a JSON value`, undefined)
    }
    return { name: `events[${index}]`, index, event }
  })
}
