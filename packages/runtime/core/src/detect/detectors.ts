import diagnosticsChannel from 'node:diagnostics_channel'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { resolve, sep } from 'node:path'
import timers from 'node:timers'
import { promiseHooks } from 'node:v8'
import { CHANNELS, invocationEndChannel } from '../channels.ts'
import { SharedStateError } from '../errors.ts'
import { currentInvocation } from '../invocation/current.ts'
import {
  type InvocationEndMessage,
  type InvocationState,
  setEndCheck,
} from '../invocation/state.ts'
import { processState, type TmpScopeView } from '../process-state.ts'
import {
  detectorMode,
  FINDING_CODES,
  type Finding,
  isUserFrame,
  raiseDetectorMode,
  report,
  reportLate,
  type SharedStateMode,
  userStack,
} from './findings.ts'

/** Per-invocation bookkeeping, kept on the invocation object itself (no WeakMap: GC cost). */
const kLive = Symbol.for('@lmi/core/detect/live')
interface LiveWork {
  /** Timers and intervals not yet fired (timeouts) or cleared, with where they started. */
  timers: Map<object, { kind: string; origin: Error }> | undefined
  /** Outgoing requests not yet finished. */
  requests: Map<object, { subject: string; origin: Error }> | undefined
}
type WatchedInvocation = {
  [kLive]?: LiveWork
  ended?: boolean
  requestId?: string
  watchEnd?: () => void
}

function liveOf(holder: WatchedInvocation): LiveWork {
  if (holder[kLive] === undefined) {
    holder[kLive] = { timers: undefined, requests: undefined }
    // Its end is when escaped work shows: have it published.
    holder.watchEnd?.()
  }
  return holder[kLive]
}

function finding(
  code: Finding['code'],
  subject: string,
  message: string,
  invocation: InvocationState,
  stack = userStack(),
): Finding {
  return {
    code,
    subject,
    message,
    requestId: invocation.requestId,
    tenantId: invocation.tenantId,
    stack,
  }
}

/** The frames of `origin` below the detector's own, trimmed to application code. */
function stackOf(origin: Error): string | undefined {
  const frames = framesOf(origin).filter(isUserFrame)
  return frames.length === 0 ? undefined : frames.slice(0, 5).join('\n')
}

function framesOf(origin: Error): string[] {
  return (
    (origin.stack ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      // The detector's own frames, and Node 22's promise-hook multiplexer between it and the code.
      .filter(
        (line) =>
          line.startsWith('at ') &&
          !line.includes(`${sep}detect${sep}`) &&
          !line.includes('node:internal/promise_hooks'),
      )
  )
}

/**
 * Whether the application itself called `setTimeout`: timers a library or Node starts for its
 * own bookkeeping (undici's keep-alive, an HTTP agent's) belong to a shared resource, not to
 * the invocation that happened to be running.
 */
function startedByApplication(origin: Error): boolean {
  const creator = framesOf(origin)[0]
  return (
    creator !== undefined && isUserFrame(creator) && !creator.includes(`${sep}node_modules${sep}`)
  )
}

// --- process.env -----------------------------------------------------------------------------

// The runtime's own per-invocation write in sequential mode (as AWS's runtime does).
const ENV_EXEMPT = new Set(['_X_AMZN_TRACE_ID'])

function installEnv(): void {
  const target = process.env
  const onWrite = (key: string | symbol) => {
    if (typeof key !== 'string' || ENV_EXEMPT.has(key)) return
    const current = currentInvocation()
    if (current === undefined) return
    report(
      finding(
        FINDING_CODES.ENV_WRITE,
        `process.env.${key}`,
        `process.env.${key} written during invocation ${current.requestId}: the environment is one per process, every concurrent invocation sees the write`,
        current,
      ),
    )
  }
  process.env = new Proxy(target, {
    set(object, key, value) {
      onWrite(key)
      return Reflect.set(object, key, value)
    },
    deleteProperty(object, key) {
      onWrite(key)
      return Reflect.deleteProperty(object, key)
    },
    defineProperty(object, key, descriptor) {
      onWrite(key)
      return Reflect.defineProperty(object, key, descriptor)
    },
  })
}

// --- globals ---------------------------------------------------------------------------------

// Node's own globals that applications replace at run time (tracing wrappers, per-request
// loggers, mocks). The core language globals are not watched: an accessor on `Promise`, `JSON`
// or `Array` would slow every use of them, and nobody reassigns them per request.
const WATCHED_BUILTINS = [
  'fetch',
  'console',
  'structuredClone',
  'queueMicrotask',
  'URL',
  'Request',
  'Response',
  'Headers',
  'Date',
]

/** A global created or reassigned: a finding when an invocation did it. */
function reportGlobal(
  code: typeof FINDING_CODES.GLOBAL_CREATE | typeof FINDING_CODES.GLOBAL_WRITE,
  key: string | symbol,
  what: 'created' | 'reassigned',
): void {
  const invocation = currentInvocation()
  if (invocation === undefined) return
  const subject = `globalThis.${String(key)}`
  report(
    finding(
      code,
      subject,
      `${subject} ${what} during invocation ${invocation.requestId}: globals are shared by every concurrent invocation`,
      invocation,
    ),
  )
}

function installGlobals(): void {
  const global = globalThis as Record<PropertyKey, unknown>
  // Globals the application creates, and the Node globals in WATCHED_BUILTINS, get an
  // accessor, so a reassignment inside an invocation is seen where it happens.
  const watch = (key: string | symbol, value: unknown) => {
    let current = value
    Object.defineProperty(global, key, {
      configurable: true,
      enumerable: true,
      get: () => current,
      set(next: unknown) {
        reportGlobal(FINDING_CODES.GLOBAL_WRITE, key, 'reassigned')
        current = next
      },
    })
  }
  // A property missing on the global object is looked up on its prototype chain, so a proxy
  // there sees every creation by assignment (`globalThis.x = …`, sloppy `x = …`).
  const prototype = Object.getPrototypeOf(global) as object
  const trap = new Proxy(prototype, {
    set(target, key, value, receiver) {
      if (receiver !== global || Object.hasOwn(global, key)) {
        return Reflect.set(target, key, value, receiver)
      }
      reportGlobal(FINDING_CODES.GLOBAL_CREATE, key, 'created')
      watch(key, value)
      return true
    },
  })
  Object.setPrototypeOf(global, trap)
  for (const key of WATCHED_BUILTINS) {
    const descriptor = Object.getOwnPropertyDescriptor(global, key)
    if (descriptor?.writable === true && descriptor.configurable === true) {
      watch(key, descriptor.value)
    }
  }
}

// --- escaped timers --------------------------------------------------------------------------

function installTimers(): void {
  const original = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval,
  }
  const track = (kind: 'setTimeout' | 'setInterval') =>
    function trackedTimer(this: unknown, callback: unknown, ...rest: unknown[]) {
      const invocation = currentInvocation() as WatchedInvocation | undefined
      if (invocation === undefined || invocation.ended || typeof callback !== 'function') {
        return Reflect.apply(original[kind], this, [callback, ...rest])
      }
      const live = liveOf(invocation)
      live.timers ??= new Map()
      const timers = live.timers
      let handle: object
      const wrapped =
        kind === 'setTimeout'
          ? function firedTimer(this: unknown, ...args: unknown[]) {
              timers.delete(handle)
              return Reflect.apply(callback, this, args)
            }
          : callback
      handle = Reflect.apply(original[kind], this, [wrapped, ...rest]) as object
      // An Error's stack is only formatted when read: cheap unless the timer escapes.
      timers.set(handle, { kind, origin: new Error(kind) })
      return handle
    }
  const untrack = (kind: 'clearTimeout' | 'clearInterval') =>
    function untrackedTimer(this: unknown, handle: unknown) {
      const invocation = currentInvocation() as WatchedInvocation | undefined
      if (typeof handle === 'object' && handle !== null) {
        invocation?.[kLive]?.timers?.delete(handle)
      }
      return Reflect.apply(original[kind], this, [handle])
    }
  const patched = {
    setTimeout: Object.assign(track('setTimeout'), original.setTimeout),
    setInterval: Object.assign(track('setInterval'), original.setInterval),
    clearTimeout: untrack('clearTimeout'),
    clearInterval: untrack('clearInterval'),
  }
  Object.assign(globalThis, patched)
  Object.assign(timers, patched)
}

// --- escaped requests ------------------------------------------------------------------------

function installRequests(): void {
  const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API
  const start = (request: object, subject: string) => {
    const invocation = currentInvocation() as WatchedInvocation | undefined
    if (invocation === undefined || invocation.ended) return
    const live = liveOf(invocation)
    live.requests ??= new Map()
    live.requests.set(request, { subject, origin: new Error(subject) })
  }
  const finish = (request: object) => {
    // The request may finish in another context than it started in: look in the starter's.
    const owner = (request as { [kOwner]?: WatchedInvocation })[kOwner]
    owner?.[kLive]?.requests?.delete(request)
  }
  diagnosticsChannel.subscribe(CHANNELS.undiciRequestCreate, (message) => {
    const { request } = message as { request: { origin?: unknown; method?: string; path?: string } }
    const origin = String(request.origin ?? '')
    if (runtimeApi !== undefined && origin.includes(runtimeApi)) return
    const invocation = currentInvocation() as WatchedInvocation | undefined
    if (invocation === undefined) return
    ;(request as { [kOwner]?: WatchedInvocation })[kOwner] = invocation
    start(request, `${request.method ?? 'GET'} ${origin}${request.path ?? ''}`)
  })
  for (const name of [CHANNELS.undiciRequestTrailers, CHANNELS.undiciRequestError]) {
    diagnosticsChannel.subscribe(name, (message) =>
      finish((message as { request: object }).request),
    )
  }
  diagnosticsChannel.subscribe(CHANNELS.httpClientRequestStart, (message) => {
    const { request } = message as {
      request: { method?: string; host?: string; path?: string; getHeader?(name: string): unknown }
    }
    // The Runtime API is the runtime's (AWS's streams its answers on node:http, from inside the
    // invocation's context): never the invocation's own work.
    if (runtimeApi !== undefined && request.getHeader?.('host') === runtimeApi) return
    const invocation = currentInvocation() as WatchedInvocation | undefined
    if (invocation === undefined) return
    ;(request as { [kOwner]?: WatchedInvocation })[kOwner] = invocation
    start(request, `${request.method ?? 'GET'} ${request.host ?? ''}${request.path ?? ''}`)
  })
  diagnosticsChannel.subscribe(CHANNELS.httpClientResponseFinish, (message) =>
    finish((message as { request: object }).request),
  )
  diagnosticsChannel.subscribe(CHANNELS.httpClientRequestError, (message) =>
    finish((message as { request: object }).request),
  )
}
const kOwner = Symbol.for('@lmi/core/detect/owner')

// --- escaped promises (opt-in: LMI_DETECT_PROMISES=1) ----------------------------------------

const kPromiseOwner = Symbol.for('@lmi/core/detect/promiseOwner')
const kPromiseOrigin = Symbol.for('@lmi/core/detect/promiseOrigin')
const kPromiseReported = Symbol.for('@lmi/core/detect/promiseReported')
type TrackedPromise = { [kPromiseOwner]?: WatchedInvocation; [kPromiseOrigin]?: Error }

/**
 * Every promise created by application code inside an invocation remembers it; one that
 * settles after the invocation answered was work left running (`void saveAudit(event)`).
 * Promises that never settle (garbage, a race's loser that never completes) are never
 * reported. Costs a promise hook and a stack capture per promise: for `lmi check` and tests.
 */
function installPromises(): void {
  promiseHooks.createHook({
    init(promise) {
      const invocation = currentInvocation() as WatchedInvocation | undefined
      if (invocation === undefined || invocation.ended === true) return
      const tracked = promise as TrackedPromise
      tracked[kPromiseOwner] = invocation
      tracked[kPromiseOrigin] = new Error('promise')
    },
    settled(promise) {
      const tracked = promise as TrackedPromise
      const owner = tracked[kPromiseOwner]
      if (owner === undefined || owner.ended !== true) return
      const origin = tracked[kPromiseOrigin] as Error
      const flagged = owner as WatchedInvocation & { [kPromiseReported]?: boolean }
      if (flagged[kPromiseReported] === true || !startedByApplication(origin)) return
      flagged[kPromiseReported] = true
      reportLate({
        code: FINDING_CODES.ESCAPED_PROMISE,
        subject: 'promise',
        message: `Async work started by invocation ${owner.requestId} settled after it answered: it ran on during other invocations`,
        requestId: owner.requestId,
        stack: stackOf(origin),
      })
    },
  })
}

// --- /tmp ------------------------------------------------------------------------------------

/**
 * Declares where to find the current invocation's scoped /tmp directory: `@lmi/tmp-scope`
 * calls this with its `tryGetTmp` when a `tmpScope()` middleware is created. From then on the
 * /tmp detector reports an invocation that has a scope and writes outside it.
 */
export function declareTmpScope(lookup: () => TmpScopeView | undefined): void {
  processState.tmpScope = lookup
}

function installTmp(): void {
  const roots = [...new Set(['/tmp', resolve(tmpdir())])].map((root) => `${root}${sep}`)
  // Path → the invocation writing it, while that invocation runs.
  const writers = new Map<string, WatchedInvocation>()
  const check = (path: unknown, writing: boolean) => {
    if (typeof path !== 'string' && !(path instanceof URL)) return
    const invocation = currentInvocation()
    if (invocation === undefined) return
    const absolute = resolve(path instanceof URL ? path.pathname : path)
    if (!roots.some((root) => absolute.startsWith(root))) return
    const scope = processState.tmpScope?.()
    if (scope !== undefined) {
      const dir = scope.created ? scope.dir : undefined
      if (dir === undefined || !(absolute === dir || absolute.startsWith(`${dir}${sep}`))) {
        report(
          finding(
            FINDING_CODES.TMP_OUTSIDE_SCOPE,
            absolute,
            `Invocation ${invocation.requestId} opened ${absolute}, outside its own tmp directory: other invocations can use the same path`,
            invocation,
          ),
        )
      }
    }
    if (!writing) return
    const other = writers.get(absolute)
    if (other !== undefined && other !== invocation && other.ended !== true) {
      report({
        ...finding(
          FINDING_CODES.TMP_SHARED_PATH,
          absolute,
          `${absolute} written by invocation ${invocation.requestId} while invocation ${other.requestId} that wrote it is still running`,
          invocation,
        ),
        otherRequestId: other.requestId,
      })
    }
    writers.set(absolute, invocation)
    if (writers.size > 10_000) {
      for (const [key, writer] of writers) if (writer.ended === true) writers.delete(key)
    }
  }
  const isWrite = (flags: unknown) =>
    typeof flags === 'number'
      ? (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0
      : typeof flags === 'string' && /[wa+]/.test(flags)
  type AnyFn = (...args: unknown[]) => unknown
  const wrap = (
    object: Record<string, unknown>,
    name: string,
    writing: (args: unknown[]) => boolean,
  ) => {
    const original = object[name] as AnyFn | undefined
    if (typeof original !== 'function') return
    object[name] = Object.assign(function tmpChecked(this: unknown, ...args: unknown[]) {
      check(args[0], writing(args))
      return Reflect.apply(original, this, args)
    }, original)
  }
  const always = () => true
  const never = () => false
  const byFlags = (args: unknown[]) => isWrite(args[1])
  const byOptions = (args: unknown[]) =>
    isWrite((args[1] as { flags?: unknown } | undefined)?.flags ?? 'r')
  const fsObject = fs as unknown as Record<string, unknown>
  const promises = fs.promises as unknown as Record<string, unknown>
  for (const name of ['open', 'openSync']) wrap(fsObject, name, byFlags)
  for (const name of ['writeFile', 'writeFileSync', 'appendFile', 'appendFileSync']) {
    wrap(fsObject, name, always)
  }
  for (const name of ['readFile', 'readFileSync']) wrap(fsObject, name, never)
  wrap(fsObject, 'createWriteStream', always)
  wrap(fsObject, 'createReadStream', byOptions)
  wrap(promises, 'open', byFlags)
  for (const name of ['writeFile', 'appendFile']) wrap(promises, name, always)
  wrap(promises, 'readFile', never)
}

/**
 * The timers and requests an invocation started and left running as it answered, as findings;
 * forgotten once taken, so each is reported once.
 */
function takeEscapedWork(invocation: WatchedInvocation): Finding[] {
  const live = invocation[kLive]
  if (live === undefined) return []
  const found: Finding[] = []
  for (const [handle, { kind, origin }] of live.timers ?? []) {
    // A timer cleared from outside the invocation (or unref'd and fired) is not pending.
    if ((handle as { _destroyed?: boolean })._destroyed === true) continue
    if (!startedByApplication(origin)) continue
    found.push({
      code: FINDING_CODES.ESCAPED_TIMER,
      subject: kind,
      message: `${kind === 'setInterval' ? 'An interval' : 'A timer'} started by invocation ${invocation.requestId} was still pending when it answered: its callback runs during other invocations`,
      requestId: invocation.requestId,
      stack: stackOf(origin),
    })
  }
  // fetch() creates its request a few ticks after the call: often no application frame is
  // left on the stack, and the method and URL have to say what it was.
  for (const { subject, origin } of live.requests?.values() ?? []) {
    found.push({
      code: FINDING_CODES.ESCAPED_REQUEST,
      subject,
      message: `Request ${subject} started by invocation ${invocation.requestId} was still running when it answered`,
      requestId: invocation.requestId,
      stack: stackOf(origin),
    })
  }
  live.timers?.clear()
  live.requests?.clear()
  return found
}

/**
 * In `throw` mode, the escaped work of an invocation that is about to answer, as the error
 * that fails it (the first piece; any others are reported as warnings).
 */
function escapedWorkError(invocation: object): SharedStateError | undefined {
  const [first, ...rest] = takeEscapedWork(invocation as WatchedInvocation)
  for (const finding of rest) reportLate(finding)
  return first === undefined ? undefined : new SharedStateError(first)
}

// --- installation ----------------------------------------------------------------------------

/**
 * Installs every shared-state detector, once per process, and raises the report mode to
 * `mode` (the strictest asked for wins). `off` installs nothing. The chain calls this when a
 * handler is created; lmi's runtime when `LMI_SHARED_STATE` is set.
 */
export function installDetectors(mode: SharedStateMode): void {
  if (mode === 'off') return
  raiseDetectorMode(mode)
  // Once per process, whichever copy of this package gets here first.
  if (processState.detectors.installed) return
  processState.detectors.installed = true
  installEnv()
  installGlobals()
  installTimers()
  installRequests()
  installTmp()
  if (process.env.LMI_DETECT_PROMISES === '1') installPromises()
  // In throw mode, work left running fails the invocation before its answer goes out.
  setEndCheck((invocation) =>
    detectorMode() === 'throw' ? escapedWorkError(invocation) : undefined,
  )
  syncBuiltinESMExports()
  diagnosticsChannel.subscribe(invocationEndChannel.name, function detectEscapedWork(message) {
    const { invocation } = message as InvocationEndMessage
    try {
      for (const finding of takeEscapedWork(invocation as WatchedInvocation)) reportLate(finding)
    } catch {
      // A subscriber must not throw (Node would report it as uncaught).
    }
  })
}
