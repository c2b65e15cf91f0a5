import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findingChannel } from '../channels.ts'
import { InvalidConfigurationError, SharedStateError } from '../errors.ts'
import { processState } from '../process-state.ts'

/**
 * What the shared-state detectors do with a finding: nothing (`off`, detectors not even
 * installed), log it (`warn`), or fail the offending invocation with a
 * {@link SharedStateError} (`throw`, for tests and CI).
 *
 * @example
 * ```ts
 * lmi(handler, { sharedState: 'throw' })
 * ```
 */
export type SharedStateMode = 'off' | 'warn' | 'throw'

/**
 * The stable codes of shared-state findings. Never reused; documented in the @lmi/core README.
 *
 * @example
 * ```ts
 * if (finding.code === FINDING_CODES.ENV_WRITE) console.error('process.env is shared on LMI')
 * ```
 */
export const FINDING_CODES = {
  /** `process.env` written during an invocation. */
  ENV_WRITE: 'LMI_SHARED_ENV_WRITE',
  /** A `globalThis` property created during an invocation. */
  GLOBAL_CREATE: 'LMI_SHARED_GLOBAL_CREATE',
  /** A `globalThis` property reassigned (or deleted) during an invocation. */
  GLOBAL_WRITE: 'LMI_SHARED_GLOBAL_WRITE',
  /** `shared()` state read by one invocation after another, still running, wrote it. */
  CROSS_READ: 'LMI_SHARED_CROSS_READ',
  /** `shared()` state written by two invocations running at the same time. */
  CROSS_WRITE: 'LMI_SHARED_CROSS_WRITE',
  /** A timer or interval started by an invocation still pending after it answered. */
  ESCAPED_TIMER: 'LMI_ESCAPED_TIMER',
  /** An outgoing HTTP request started by an invocation still running after it answered. */
  ESCAPED_REQUEST: 'LMI_ESCAPED_REQUEST',
  /** Async work (a promise) started by an invocation that settled after it answered. */
  ESCAPED_PROMISE: 'LMI_ESCAPED_PROMISE',
  /** A `/tmp` path opened by an invocation outside its own `@lmi/tmp-scope` directory. */
  TMP_OUTSIDE_SCOPE: 'LMI_TMP_OUTSIDE_SCOPE',
  /** The same `/tmp` path written by two invocations running at the same time. */
  TMP_SHARED_PATH: 'LMI_TMP_SHARED_PATH',
  /** `lmi check`: a response differs from the one the event gets when run alone. */
  CONCURRENCY_DEPENDENT_RESPONSE: 'LMI_CONCURRENCY_DEPENDENT_RESPONSE',
  /**
   * `lmi check`: a log line written by one invocation carries a value of another one (another
   * event's value, another request's id), which that event's solo runs never log.
   */
  CONCURRENCY_DEPENDENT_LOG: 'LMI_CONCURRENCY_DEPENDENT_LOG',
  /**
   * `lmi check`: a metric (CloudWatch EMF) line written by one invocation carries a value of
   * another one in a dimension, property or metric value, which that event's solo runs never
   * publish.
   */
  CONCURRENCY_DEPENDENT_METRIC: 'LMI_CONCURRENCY_DEPENDENT_METRIC',
  /**
   * `lmi check`: a log line written by an invocation that had already answered, or by no
   * invocation once invocations had started.
   */
  ESCAPED_LOG: 'LMI_ESCAPED_LOG',
  /**
   * `lmi check`: an outgoing HTTP request made by one invocation carries a value of another one
   * (another event's value, another request's id or trace id) in its method, URL, headers or
   * body, which that event's solo runs never send.
   */
  CONCURRENCY_DEPENDENT_REQUEST: 'LMI_CONCURRENCY_DEPENDENT_REQUEST',
} as const

/**
 * One of {@link FINDING_CODES}.
 *
 * @example
 * ```ts
 * const code: FindingCode = 'LMI_SHARED_ENV_WRITE'
 * ```
 */
export type FindingCode = (typeof FINDING_CODES)[keyof typeof FINDING_CODES]

/**
 * One shared-state misuse, as the detectors report it.
 *
 * @example
 * ```ts
 * // {"code":"LMI_SHARED_ENV_WRITE","subject":"process.env.TENANT","requestId":"9f…",
 * //  "message":"process.env.TENANT written during invocation 9f…: every concurrent invocation sees it",
 * //  "stack":"at handler (/var/task/app.mjs:12:20)"}
 * ```
 */
export interface Finding {
  readonly code: FindingCode
  readonly message: string
  /** What was touched: `process.env.TENANT`, `globalThis.cache`, `shared(users).42`, a path. */
  readonly subject: string
  /** The invocation that did it (`undefined` when it cannot be told). */
  readonly requestId: string | undefined
  /** The other invocation involved (the writer a read saw, the other writer). */
  readonly otherRequestId?: string | undefined
  readonly tenantId?: string | undefined
  /** Where, trimmed to the application's own frames (no `node:` internals, no lmi). */
  readonly stack?: string | undefined
}

/** Reads `LMI_SHARED_STATE`; `undefined` when unset. */
export function sharedStateModeFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): SharedStateMode | undefined {
  const raw = env.LMI_SHARED_STATE
  if (raw === undefined || raw === '') return undefined
  const mode = raw.toLowerCase()
  if (mode !== 'off' && mode !== 'warn' && mode !== 'throw') {
    throw new InvalidConfigurationError(`LMI_SHARED_STATE must be off, warn or throw, got "${raw}"`)
  }
  return mode
}

type Sink = (finding: Finding) => void

/** One JSON line on stderr: where findings go unless lmi's runtime routes them to its log. */
function stderrSink(finding: Finding): void {
  process.stderr.write(
    `${JSON.stringify({ timestamp: new Date().toISOString(), level: 'WARN', ...finding })}\n`,
  )
}

// Process-wide: every copy of this package reports in the same mode, to the same sink.
const state = processState.detectors
const MAX_SEEN = 10_000

/** The mode the installed detectors run in. */
export function detectorMode(): SharedStateMode {
  return state.mode
}

/** Sets the mode the detectors report in (tests set it directly). */
export function setDetectorMode(mode: SharedStateMode): void {
  state.mode = mode
}

/** Raises the mode to `mode` if that is stricter: the strictest mode asked for wins. */
export function raiseDetectorMode(mode: SharedStateMode): void {
  const rank = { off: 0, warn: 1, throw: 2 }
  if (rank[mode] > rank[state.mode]) state.mode = mode
}

/** Routes `warn`-mode findings (lmi's runtime sends them to its JSON log). */
export function setFindingSink(sink: Sink): void {
  state.sink = sink
}

/**
 * Reports a finding: published on {@link findingChannel}; in `warn` mode written once per
 * code, subject and place (a hot path must not flood the log); in `throw` mode thrown as a
 * {@link SharedStateError} — detectors call this synchronously at the offending operation,
 * so the throw fails the invocation that did it.
 */
export function report(finding: Finding): void {
  if (findingChannel.hasSubscribers) findingChannel.publish(finding)
  if (state.mode === 'throw') throw new SharedStateError(finding)
  if (state.mode !== 'warn') return
  const key = `${finding.code}\0${finding.subject}\0${firstLine(finding.stack)}`
  if (state.seen.has(key)) return
  if (state.seen.size >= MAX_SEEN) state.seen.clear()
  state.seen.add(key)
  const sink = state.sink ?? stderrSink
  sink(finding)
}

/**
 * Like {@link report}, for findings made after the fact (at an invocation's end), where
 * throwing would reach no one: never throws.
 */
export function reportLate(finding: Finding): void {
  const mode = state.mode
  if (mode === 'throw') state.mode = 'warn'
  try {
    report(finding)
  } finally {
    state.mode = mode
  }
}

function firstLine(stack: string | undefined): string {
  if (stack === undefined) return ''
  const end = stack.indexOf('\n')
  return end === -1 ? stack : stack.slice(0, end)
}

// Frames from these files are lmi's own or Node's: a finding points at the application.
// Installed, lmi's packages sit under node_modules/@lmi/. In this repository they are the
// src/ and dist/ folders of packages/runtime/{core,runtime,dev}: from
// .../runtime/core/src/detect/findings.ts, the folder of the three packages is three levels up.
// Bundled (a handler bundle inlining this package), lmi's frames and the application's are in
// one file: none is dropped by file then. This module's own path comes from a stack frame, not
// `import.meta.url`, which a CommonJS bundle leaves empty (and esbuild warns about).
const lmiCode: readonly string[] = (() => {
  const here = ownFile()
  const folder = here === undefined ? -1 : here.lastIndexOf(`${sep}detect${sep}`)
  if (here === undefined || folder === -1) return []
  const ownSrc = here.slice(0, folder) // .../core/src or .../core/dist
  const packages = ownSrc.slice(0, ownSrc.lastIndexOf(sep, ownSrc.lastIndexOf(sep) - 1) + 1)
  return ['core', 'runtime', 'dev'].flatMap((name) =>
    ['src', 'dist'].map((out) => `${packages}${name}${sep}${out}${sep}`),
  )
})()

/** The path of this module's file, from the first frame of a stack captured here. */
function ownFile(): string | undefined {
  const holder: { stack?: unknown } = {}
  Error.captureStackTrace(holder)
  const frame = typeof holder.stack === 'string' ? holder.stack.split('\n')[1] : undefined
  const location = frame === undefined ? undefined : /\(?(\S+?):\d+:\d+\)?$/.exec(frame)?.[1]
  if (location === undefined) return undefined
  try {
    return location.startsWith('file:') ? fileURLToPath(location) : location
  } catch {
    return undefined
  }
}

/** True for a stack frame (an `at …` line) in application code. */
export function isUserFrame(line: string): boolean {
  return (
    line.includes('at ') &&
    !line.includes('node:') &&
    !lmiCode.some((folder) => line.includes(folder)) &&
    !line.includes(`${sep}node_modules${sep}@lmi${sep}`) &&
    !line.includes('<anonymous>')
  )
}

/**
 * The current stack trimmed to application frames (at most `depth`), as `at …` lines joined
 * by newlines; `undefined` when none are left.
 */
export function userStack(depth = 5): string | undefined {
  const holder: { stack?: unknown } = {}
  const limit = Error.stackTraceLimit
  let stack: unknown
  try {
    Error.stackTraceLimit = 30
    Error.captureStackTrace(holder, userStack)
    // Read now: an `Error.prepareStackTrace` the application installed runs here, and may
    // throw or return anything (call sites, for one). Its caller — a detector, a write to
    // stdout — must not fail for that: no stack, then.
    stack = holder.stack
  } catch {
    return undefined
  } finally {
    // Unchanged when the application made it read-only: assigning would throw then.
    if (Error.stackTraceLimit !== limit) Error.stackTraceLimit = limit
  }
  if (typeof stack !== 'string') return undefined
  const frames = stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter(isUserFrame)
    .slice(0, depth)
  return frames.length === 0 ? undefined : frames.join('\n')
}
