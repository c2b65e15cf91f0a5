import { types } from 'node:util'
import { InvalidConfigurationError } from '../errors.ts'
import { currentInvocation } from '../invocation/current.ts'
import type { InvocationState } from '../invocation/state.ts'
import {
  detectorMode,
  FINDING_CODES,
  report,
  sharedStateModeFromEnv,
  userStack,
} from './findings.ts'

// Design notes (the public contract is in shared()'s TSDoc):
// - One Guard per raw container, found from the raw object and from its proxy alike (`guards`),
//   so nested proxies are stable (`s.a === s.a`), a proxy stored back is unwrapped, and
//   shared(x) twice gives the same guard. The Guard is the proxy handler itself: one object
//   per container, trap code shared by all.
// - Per key, the last invocation that wrote it (`writers`), created on the first write made
//   inside an invocation: containers only written at init never allocate it, and a read costs
//   one Map lookup that misses. Writes outside an invocation drop the key's record.
// - KEYS is the pseudo-key of the container's key set, written by inserts and deletes, read by
//   `size`, `ownKeys`, `keys()`. Concurrent inserts of different keys are a correctly keyed
//   cache, so KEYS is never the subject of a cross write.
// - A recorded writer's end is watched (`watchEnd()`): under the chain on AWS's runtime,
//   `ended` is kept only for invocations someone asked about.
// - Records of ended invocations are dropped when met and swept when the table has grown to
//   twice what was left after the last sweep: at most ~SWEEP_MIN ended invocations stay
//   referenced per container, at amortised O(1) per write.

/** The pseudo-key of a container's set of keys. */
const KEYS: unique symbol = Symbol('lmi.shared.keys')
type Key = unknown
type Kind = 'object' | 'array' | 'map' | 'set'

const SWEEP_MIN = 1024
const SET = 0
const DELETE = 1
const DEFINE = 2
const guards = new WeakMap<object, Guard>()

const mapProto = Map.prototype as unknown as Record<PropertyKey, unknown>
const setProto = Set.prototype as unknown as Record<PropertyKey, unknown>

/**
 * Wraps module-level state so that lmi can tell when concurrent invocations step on each other
 * through it. On Lambda Managed Instances one process runs many invocations at once, so a
 * module-level cache, counter or buffer is shared between requests; `shared()` returns a
 * stand-in that behaves exactly like `value` and reports, per key:
 *
 * - `LMI_SHARED_CROSS_READ`: invocation B reads a key that invocation A wrote while A is still
 *   running (B sees A's request-specific data);
 * - `LMI_SHARED_CROSS_WRITE`: B writes a key that A, still running, wrote (last writer wins).
 *
 * Each finding names both request ids, the thing touched (`shared(cache).user:42`,
 * `shared(state).users.alice`, `shared(queue)[3]`, `shared(cache).<keys>` for the key set) and
 * the application frames of the stack. What is not a finding: reads and writes outside any
 * invocation (at init, in background work no invocation started), reads of keys written at
 * init or by invocations that have ended, anything one invocation does with its own writes,
 * and concurrent writes of *different* keys (a correctly keyed cache).
 *
 * What counts as what:
 * - Objects: property get / `in` read that key; set, `delete` and `defineProperty` write it.
 *   `Object.keys`, `for…in`, spread and `JSON.stringify` read the key set (spread and
 *   `JSON.stringify` then each value). Inserting or deleting a property writes the key set.
 * - Arrays: indices are keys, and so is `length`, written whenever it changes: after
 *   `push()` by A, B reading `length` or iterating (`for…of`, `map`, `JSON.stringify`, all
 *   of which read `length`) while A runs is a cross read; two concurrent `push()`es are one.
 *   Shrinking `length` (`length = 0`, `splice`, `pop`) writes every removed index that a
 *   running invocation wrote (a cross write if another did).
 * - Maps and Sets: entries are keys (Set values are their own keys). `get`/`has` read one;
 *   `set`/`add`/`delete` write one; `clear()` writes every entry. `size` and `keys()` read the
 *   key set; `forEach`, `values()`, `entries()`, iteration and the ES2025 set algebra read
 *   every entry (checked when the call is made, not as the iterator advances).
 * - Plain objects, arrays, Maps and Sets reachable from `value` are guarded too, lazily as
 *   they are read, with the path in the subject; the same nested object always comes back as
 *   the same proxy. Map keys and Set values are identities and are not wrapped. Values
 *   written into the guard are stored unwrapped: the raw object never holds a proxy.
 *
 * A finding is reported synchronously at the offending operation (see
 * `LMI_SHARED_STATE` / the `sharedState` option): logged once per code, subject and place in
 * `warn` mode; in `throw` mode a `SharedStateError` is thrown there, failing the invocation
 * that did it and no other (a throwing read or write does not happen). Every finding is also
 * published on the `lmi:shared-state:finding` diagnostics channel.
 *
 * Cost: when `LMI_SHARED_STATE=off` at the call, `shared()` returns `value` itself. Otherwise
 * each operation first checks the detector mode and, while it is `off`, goes straight to
 * `value`. In `warn` mode a read costs a lookup in a table that holds only keys written by
 * invocations; no stack is captured unless something is reported. An invocation that writes
 * has its end watched (`watchEnd()`), so that its writes stop counting once it has answered.
 *
 * Accepted values are plain objects (prototype `Object.prototype` or `null`), arrays, Maps and
 * Sets; anything else — primitives, functions, class instances (whose private fields no proxy
 * can reach), subclasses of Map or Set — throws an {@link InvalidConfigurationError} at the
 * call, whatever the mode, as does a `name` that is not a string. Guarding an object already
 * guarded returns its existing guard (the first name stays). Limits, as for any proxy:
 * `structuredClone()` refuses it and `Map.prototype.get.call(guard, …)` throws; property
 * descriptors (`Object.getOwnPropertyDescriptor`) are not tracked as reads, and code holding
 * the raw `value` bypasses the guard.
 *
 * @param value The state to guard: a plain object, array, Map or Set.
 * @param name What findings call it (`shared(<name>).key`). Defaults to the kind of container
 *   and where `shared()` was called, e.g. `Map@cache.mjs:4`.
 * @returns A proxy that behaves as `value` (`Array.isArray`, `instanceof Map`, methods and
 *   iteration unchanged), or `value` itself when `LMI_SHARED_STATE=off`.
 * @throws {InvalidConfigurationError} When `value` is not a plain object, array, Map or Set,
 *   or `name` is not a string.
 *
 * @example
 * ```ts
 * import { lmi, shared } from '@lmi/core'
 *
 * // Keyed by user: invocations for different users write different keys, no finding.
 * const profiles = shared(new Map<string, Profile>(), 'profiles')
 * // One slot for everybody: B reading it while A (who wrote it) still runs is LMI_SHARED_CROSS_READ.
 * const last = shared({ user: undefined as Profile | undefined }, 'last')
 *
 * export const handler = lmi(async (event: { userId: string }) => {
 *   const profile = profiles.get(event.userId) ?? (await loadProfile(event.userId))
 *   profiles.set(event.userId, profile)
 *   last.user = profile
 *   await audit()
 *   return last.user // another invocation may have replaced it meanwhile
 * })
 * ```
 */
export function shared<T extends object>(value: T, name?: string): T {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) {
    throw new InvalidConfigurationError(
      `shared() guards a plain object, array, Map or Set; got ${value === null ? 'null' : typeof value}`,
    )
  }
  if (name !== undefined && typeof name !== 'string') {
    throw new InvalidConfigurationError(`shared(): name must be a string, got ${typeof name}`)
  }
  const existing = guards.get(value)
  if (existing !== undefined) return existing.proxy as T
  const kind = kindOf(value)
  if (kind === undefined) {
    throw new InvalidConfigurationError(
      `shared() guards a plain object, array, Map or Set; got ${typeName(value)}. Keep the state in one of those (a class instance's private fields cannot be tracked)`,
    )
  }
  if (sharedStateModeFromEnv() === 'off') return value
  return guard(value, kind, `shared(${name || defaultName(kind)})`).proxy as T
}

function kindOf(value: object): Kind | undefined {
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null)
    return typeof value === 'object' ? 'object' : undefined
  if (proto === Array.prototype && Array.isArray(value)) return 'array'
  if (proto === Map.prototype && types.isMap(value)) return 'map'
  if (proto === Set.prototype && types.isSet(value)) return 'set'
  return undefined
}

function guard(target: object, kind: Kind, path: string): Guard {
  return kind === 'map' || kind === 'set'
    ? new CollectionGuard(target, kind, path)
    : new ObjectGuard(target, kind, path)
}

/** The raw object behind a guard's proxy; anything else unchanged. */
function unwrap<V>(value: V): V {
  if (typeof value !== 'object' || value === null) return value
  const found = guards.get(value)
  return found === undefined ? value : (found.target as V)
}

/** Base of both guards: the per-key writer records and the checks against them. */
abstract class Guard {
  readonly target: object
  readonly proxy: object
  readonly kind: Kind
  readonly path: string
  /** Per key, the last invocation that wrote it (only writes made inside an invocation). */
  writers: Map<Key, InvocationState> | undefined = undefined
  sweepAt = SWEEP_MIN

  constructor(target: object, kind: Kind, path: string) {
    this.target = target
    this.kind = kind
    this.path = path
    this.proxy = new Proxy(target, this as ProxyHandler<object>)
    guards.set(target, this)
    guards.set(this.proxy, this)
  }

  /** A read of `key`, whose last writer is `writer`. */
  checkRead(key: Key, writer: InvocationState): void {
    if (writer.ended) {
      this.writers?.delete(key)
      return
    }
    const current = currentInvocation()
    if (current === undefined || current === writer) return
    this.reportCrossAccess(FINDING_CODES.CROSS_READ, key, current, writer)
  }

  /** A read of every entry (iteration): the first one another running invocation wrote. */
  checkReadAll(): void {
    const writers = this.writers
    if (writers === undefined || writers.size === 0) return
    const current = currentInvocation()
    if (current === undefined) return
    for (const [key, writer] of writers) {
      if (writer === current) continue
      if (writer.ended) {
        writers.delete(key)
        continue
      }
      this.reportCrossAccess(FINDING_CODES.CROSS_READ, key, current, writer)
      return
    }
  }

  /**
   * Before `current` writes `key`: a cross write if another running invocation wrote it last.
   * Returns that last writer.
   */
  checkWrite(key: Key, current: InvocationState | undefined): InvocationState | undefined {
    const writer = this.writers?.get(key)
    if (writer === undefined || writer === current || current === undefined || writer.ended) {
      return writer
    }
    this.reportCrossAccess(FINDING_CODES.CROSS_WRITE, key, current, writer)
    return writer
  }

  /** Before `current` writes every key that `includes` selects (clear, truncation). */
  checkWriteAll(current: InvocationState | undefined, includes: (key: Key) => boolean): void {
    const writers = this.writers
    if (current === undefined || writers === undefined) return
    for (const [key, writer] of writers) {
      if (key === KEYS || writer === current || writer.ended || !includes(key)) continue
      this.reportCrossAccess(FINDING_CODES.CROSS_WRITE, key, current, writer)
      return
    }
  }

  /** `current` wrote `key`. */
  record(key: Key, current: InvocationState | undefined): void {
    let writers = this.writers
    if (current === undefined) {
      // A write outside any invocation: what readers see is no invocation's any more. The key
      // set keeps its writer: inserts made by a running invocation are still in it.
      if (key !== KEYS) writers?.delete(key)
      return
    }
    // A record is only as good as the writer's `ended`: the chain keeps it for watched ones.
    current.watchEnd()
    if (writers === undefined) {
      writers = new Map()
      this.writers = writers
    } else if (writers.size >= this.sweepAt) {
      for (const [stale, writer] of writers) if (writer.ended) writers.delete(stale)
      this.sweepAt = Math.max(SWEEP_MIN, writers.size * 2)
    }
    writers.set(key, current)
  }

  reportCrossAccess(
    code: typeof FINDING_CODES.CROSS_READ | typeof FINDING_CODES.CROSS_WRITE,
    key: Key,
    current: InvocationState,
    writer: InvocationState,
  ): void {
    const subject = this.path + keyPath(this.kind, key)
    const verb = code === FINDING_CODES.CROSS_READ ? 'read' : 'written'
    report({
      code,
      message: `${subject} ${verb} by invocation ${current.requestId} while invocation ${writer.requestId}, which wrote it, is still running: module state is shared by concurrent invocations on Lambda Managed Instances`,
      subject,
      requestId: current.requestId,
      otherRequestId: writer.requestId,
      tenantId: current.tenantId,
      stack: userStack(),
    })
  }

  /** The proxy of a nested container (its guard made on first sight); undefined if not one. */
  nested(value: object, key: Key): object | undefined {
    const found = guards.get(value)
    if (found !== undefined) return found.proxy
    const kind = kindOf(value)
    return kind === undefined
      ? undefined
      : guard(value, kind, this.path + keyPath(this.kind, key)).proxy
  }
}

/** Plain objects and arrays: every operation is a proxy trap. */
class ObjectGuard extends Guard {
  readonly isArray: boolean
  /** May hold non-writable, non-configurable properties (the proxy must return their raw value). */
  fixed: boolean

  constructor(target: object, kind: Kind, path: string) {
    super(target, kind, path)
    this.isArray = kind === 'array'
    this.fixed = !this.isArray && hasFixedProperty(target)
  }

  get(target: object, key: PropertyKey, receiver: unknown): unknown {
    if (detectorMode() === 'off') return Reflect.get(target, key, receiver)
    const writer = this.writers?.get(key)
    if (writer !== undefined) this.checkRead(key, writer)
    const value = Reflect.get(target, key, receiver)
    if (typeof value !== 'object' || value === null) return value
    const proxy = this.nested(value, key)
    if (proxy === undefined) return value
    // A proxy must report a non-writable, non-configurable property's own value.
    if ((this.fixed || !Object.isExtensible(target)) && isFixed(target, key)) return value
    return proxy
  }

  has(target: object, key: PropertyKey): boolean {
    if (detectorMode() !== 'off') {
      const writer = this.writers?.get(key)
      if (writer !== undefined) this.checkRead(key, writer)
    }
    return Reflect.has(target, key)
  }

  ownKeys(target: object): ArrayLike<string | symbol> {
    if (detectorMode() !== 'off') {
      const writer = this.writers?.get(KEYS)
      if (writer !== undefined) this.checkRead(KEYS, writer)
    }
    return Reflect.ownKeys(target)
  }

  getOwnPropertyDescriptor(target: object, key: PropertyKey): PropertyDescriptor | undefined {
    const descriptor = Reflect.getOwnPropertyDescriptor(target, key)
    if (detectorMode() === 'off' || descriptor === undefined) return descriptor
    const value: unknown = descriptor.value
    // Same identity as a get gives, where the proxy invariants allow another value.
    if (
      typeof value === 'object' &&
      value !== null &&
      (descriptor.configurable || descriptor.writable)
    ) {
      const proxy = this.nested(value, key)
      if (proxy !== undefined) descriptor.value = proxy
    }
    return descriptor
  }

  set(target: object, key: PropertyKey, value: unknown, receiver: unknown): boolean {
    const raw = unwrap(value)
    // The proxy is another object's prototype: the write lands on that object, not here.
    if (receiver !== this.proxy) return Reflect.set(target, key, raw, receiver)
    if (detectorMode() === 'off') return assign(target, key, raw)
    const current = currentInvocation()
    if (current === undefined && this.writers === undefined) return assign(target, key, raw)
    if (this.isArray) return this.write(SET, target, key, raw, current)
    // The common case inline: a set adds the key or keeps it, and changes no length.
    const previous = this.checkWrite(key, current)
    const had = Object.hasOwn(target, key)
    if (!assign(target, key, raw)) return false
    if (previous !== current) this.record(key, current)
    if (!had) this.record(KEYS, current)
    return true
  }

  deleteProperty(target: object, key: PropertyKey): boolean {
    if (detectorMode() === 'off') return Reflect.deleteProperty(target, key)
    return this.write(DELETE, target, key, undefined, currentInvocation())
  }

  defineProperty(target: object, key: PropertyKey, descriptor: PropertyDescriptor): boolean {
    const raw: PropertyDescriptor =
      'value' in descriptor ? { ...descriptor, value: unwrap(descriptor.value) } : descriptor
    if (raw.configurable === false) this.fixed = true
    if (detectorMode() === 'off') return Reflect.defineProperty(target, key, raw)
    return this.write(DEFINE, target, key, raw, currentInvocation())
  }

  /**
   * A write of `key` by `current`, checked first (in `throw` mode the check throws and the write
   * does not happen), then recorded with what it did to the key set and an array's length.
   */
  write(
    op: typeof SET | typeof DELETE | typeof DEFINE,
    target: object,
    key: PropertyKey,
    payload: unknown,
    current: InvocationState | undefined,
  ): boolean {
    this.checkWrite(key, current)
    const had = Object.hasOwn(target, key)
    const oldLength = this.isArray ? (target as unknown[]).length : 0
    if (this.isArray && key === 'length' && current !== undefined) {
      const next = Number(op === DEFINE ? (payload as PropertyDescriptor).value : payload)
      if (Number.isInteger(next) && next >= 0 && next < oldLength) {
        this.checkWriteAll(current, (written) => indexAtLeast(written, next))
      }
    }
    const done =
      op === SET
        ? assign(target, key, payload)
        : op === DELETE
          ? Reflect.deleteProperty(target, key)
          : Reflect.defineProperty(target, key, payload as PropertyDescriptor)
    if (!done) return false
    this.record(key, current)
    if (had !== Object.hasOwn(target, key)) this.record(KEYS, current)
    if (!this.isArray) return true
    const length = (target as unknown[]).length
    if (length === oldLength) return true
    if (key !== 'length') this.record('length', current)
    this.record(KEYS, current)
    const writers = this.writers
    if (length < oldLength && writers !== undefined) {
      // Truncation wrote every removed index (those with a record; code that iterates reads
      // `length` first).
      for (const written of [...writers.keys()]) {
        if (indexAtLeast(written, length)) this.record(written, current)
      }
    }
    return true
  }
}

/** Maps and Sets: their methods run on the raw collection, tracked by per-guard stand-ins. */
class CollectionGuard extends Guard {
  readonly methods: Record<PropertyKey, unknown>

  constructor(target: object, kind: 'map' | 'set', path: string) {
    super(target, kind, path)
    this.methods =
      kind === 'map'
        ? mapMethods(this, target as Map<unknown, unknown>)
        : setMethods(this, target as Set<unknown>)
  }

  get(target: object, key: PropertyKey, receiver: unknown): unknown {
    if (key === 'size') {
      if (detectorMode() !== 'off') {
        const writer = this.writers?.get(KEYS)
        if (writer !== undefined) this.checkRead(KEYS, writer)
      }
      return (target as Map<unknown, unknown>).size
    }
    const method = this.methods[key]
    if (method !== undefined) return method
    // constructor, Symbol.toStringTag, Object.prototype's methods, own properties: untracked.
    return Reflect.get(target, key, receiver === this.proxy ? target : receiver)
  }

  set(target: object, key: PropertyKey, value: unknown, receiver: unknown): boolean {
    return Reflect.set(target, key, unwrap(value), receiver === this.proxy ? target : receiver)
  }

  defineProperty(target: object, key: PropertyKey, descriptor: PropertyDescriptor): boolean {
    const raw =
      'value' in descriptor ? { ...descriptor, value: unwrap(descriptor.value) } : descriptor
    return Reflect.defineProperty(target, key, raw)
  }

  /** A read of one entry. */
  readOne(key: unknown): void {
    const writer = this.writers?.get(key)
    if (writer !== undefined) this.checkRead(key, writer)
  }

  /** Before a write of one entry: checks it, and returns the writer to record afterwards. */
  beforeWriteOne(key: unknown): InvocationState | undefined {
    const current = currentInvocation()
    this.checkWrite(key, current)
    return current
  }

  /** After a write of one entry by `current`, which changed the key set or not. */
  afterWriteOne(key: unknown, current: InvocationState | undefined, keysChanged: boolean): void {
    if (current === undefined && this.writers === undefined) return
    this.record(key, current)
    if (keysChanged) this.record(KEYS, current)
  }

  clearAll(clear: () => void, keys: () => Iterable<unknown>): void {
    const current = currentInvocation()
    if (current === undefined) {
      clear()
      this.writers = undefined
      return
    }
    this.checkWriteAll(current, () => true)
    const removed = [...keys()]
    clear()
    for (const key of removed) this.record(key, current)
    if (removed.length > 0) this.record(KEYS, current)
  }

  /** A Map value as the program sees it: guarded if it is a container. */
  value(value: unknown, key: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value
    return this.nested(value, key) ?? value
  }
}

function mapMethods(g: CollectionGuard, map: Map<unknown, unknown>): Record<PropertyKey, unknown> {
  const on = () => detectorMode() !== 'off'
  const methods: Record<PropertyKey, unknown> = {
    get(key: unknown): unknown {
      const raw = unwrap(key)
      if (!on()) return map.get(raw)
      g.readOne(raw)
      return g.value(map.get(raw), raw)
    },
    has(key: unknown): boolean {
      const raw = unwrap(key)
      if (on()) g.readOne(raw)
      return map.has(raw)
    },
    set(key: unknown, value: unknown): unknown {
      const rawKey = unwrap(key)
      const rawValue = unwrap(value)
      if (!on()) map.set(rawKey, rawValue)
      else {
        const current = g.beforeWriteOne(rawKey)
        const size = map.size
        map.set(rawKey, rawValue)
        g.afterWriteOne(rawKey, current, map.size !== size)
      }
      return g.proxy
    },
    delete(key: unknown): boolean {
      const raw = unwrap(key)
      if (!on()) return map.delete(raw)
      const current = g.beforeWriteOne(raw)
      const deleted = map.delete(raw)
      g.afterWriteOne(raw, current, deleted)
      return deleted
    },
    clear(): void {
      if (!on()) map.clear()
      else
        g.clearAll(
          () => map.clear(),
          () => map.keys(),
        )
    },
    forEach(callback: (value: unknown, key: unknown, map: unknown) => void, thisArg?: unknown) {
      // Not a function: the native TypeError, even for an empty Map.
      if (typeof callback !== 'function') return map.forEach(callback)
      if (!on()) {
        map.forEach((value, key) => void callback.call(thisArg, value, key, g.proxy))
        return
      }
      g.checkReadAll()
      map.forEach((value, key) => void callback.call(thisArg, g.value(value, key), key, g.proxy))
    },
    keys(): MapIterator<unknown> {
      if (on()) g.readOne(KEYS)
      return map.keys()
    },
    values(): Iterator<unknown> {
      if (!on()) return map.values()
      g.checkReadAll()
      return guardedValues(g, map.entries())
    },
    entries(): Iterator<[unknown, unknown]> {
      if (!on()) return map.entries()
      g.checkReadAll()
      return guardedEntries(g, map.entries())
    },
  }
  methods[Symbol.iterator] = methods.entries
  // Looked up by any property key: nothing may come from Object.prototype (`constructor`).
  Object.setPrototypeOf(methods, null)
  addOtherNatives(methods, g, map, mapProto)
  return methods
}

function setMethods(g: CollectionGuard, set: Set<unknown>): Record<PropertyKey, unknown> {
  const on = () => detectorMode() !== 'off'
  const methods: Record<PropertyKey, unknown> = {
    has(value: unknown): boolean {
      const raw = unwrap(value)
      if (on()) g.readOne(raw)
      return set.has(raw)
    },
    add(value: unknown): unknown {
      const raw = unwrap(value)
      if (!on()) set.add(raw)
      else {
        const current = g.beforeWriteOne(raw)
        const size = set.size
        set.add(raw)
        g.afterWriteOne(raw, current, set.size !== size)
      }
      return g.proxy
    },
    delete(value: unknown): boolean {
      const raw = unwrap(value)
      if (!on()) return set.delete(raw)
      const current = g.beforeWriteOne(raw)
      const deleted = set.delete(raw)
      g.afterWriteOne(raw, current, deleted)
      return deleted
    },
    clear(): void {
      if (!on()) set.clear()
      else
        g.clearAll(
          () => set.clear(),
          () => set.values(),
        )
    },
    forEach(callback: (value: unknown, key: unknown, set: unknown) => void, thisArg?: unknown) {
      if (typeof callback !== 'function') return set.forEach(callback)
      if (on()) g.checkReadAll()
      set.forEach((value) => void callback.call(thisArg, value, value, g.proxy))
    },
    values(): SetIterator<unknown> {
      if (on()) g.checkReadAll()
      return set.values()
    },
    entries(): SetIterator<[unknown, unknown]> {
      if (on()) g.checkReadAll()
      return set.entries()
    },
  }
  methods.keys = methods.values
  methods[Symbol.iterator] = methods.values
  Object.setPrototypeOf(methods, null)
  addOtherNatives(methods, g, set, setProto)
  return methods
}

/**
 * The prototype's other methods (the ES2025 set algebra, methods newer than this code): run on
 * the raw collection as a read of every entry, so they work (natives refuse a proxy as `this`).
 * An argument that is a guard is passed as is: its own traps track what the method reads.
 */
function addOtherNatives(
  methods: Record<PropertyKey, unknown>,
  g: CollectionGuard,
  collection: object,
  proto: Record<PropertyKey, unknown>,
): void {
  for (const key of Reflect.ownKeys(proto)) {
    if (key === 'constructor' || key === 'size' || key in methods) continue
    const native = Reflect.getOwnPropertyDescriptor(proto, key)?.value
    if (typeof native !== 'function') continue
    methods[key] = {
      [native.name](...args: unknown[]): unknown {
        if (detectorMode() !== 'off') g.checkReadAll()
        return Reflect.apply(native, collection, args)
      },
    }[native.name]
  }
}

function* guardedValues(g: CollectionGuard, entries: MapIterator<[unknown, unknown]>) {
  for (const [key, value] of entries) yield g.value(value, key)
}

function* guardedEntries(
  g: CollectionGuard,
  entries: MapIterator<[unknown, unknown]>,
): Generator<[unknown, unknown]> {
  for (const [key, value] of entries) yield [key, g.value(value, key)]
}

/**
 * `Reflect.set(target, key, value)`, twice as fast inside a trap: a plain assignment, whose
 * TypeError (strict mode) for a write the object refuses becomes `false`, as the trap must
 * answer. An error thrown by a setter is rethrown.
 */
function assign(target: object, key: PropertyKey, value: unknown): boolean {
  try {
    ;(target as Record<PropertyKey, unknown>)[key] = value
    return true
  } catch (error) {
    if (error instanceof TypeError && refusesSet(target, key)) return false
    throw error
  }
}

/** True when an ordinary [[Set]] of `key` on `target` fails without running a setter. */
function refusesSet(target: object, key: PropertyKey): boolean {
  let object: object | null = target
  while (object !== null) {
    const descriptor = Reflect.getOwnPropertyDescriptor(object, key)
    if (descriptor !== undefined) {
      if (!('value' in descriptor)) return descriptor.set === undefined
      if (descriptor.writable === false) return true
      if (object === target) return false
      break
    }
    object = Reflect.getPrototypeOf(object)
  }
  // A new own property: refused by a non-extensible object, or past an array's fixed length.
  if (!Reflect.isExtensible(target)) return true
  return (
    Array.isArray(target) &&
    indexAtLeast(key, target.length) &&
    Reflect.getOwnPropertyDescriptor(target, 'length')?.writable === false
  )
}

function isFixed(target: object, key: PropertyKey): boolean {
  const descriptor = Reflect.getOwnPropertyDescriptor(target, key)
  return (
    descriptor !== undefined && descriptor.configurable === false && descriptor.writable === false
  )
}

function hasFixedProperty(target: object): boolean {
  if (!Object.isExtensible(target)) return true
  for (const key of Reflect.ownKeys(target)) if (isFixed(target, key)) return true
  return false
}

const INDEX = /^(?:0|[1-9]\d*)$/

function isIndex(key: Key): key is string {
  return typeof key === 'string' && INDEX.test(key) && Number(key) < 2 ** 32 - 1
}

function indexAtLeast(key: Key, length: number): boolean {
  return isIndex(key) && Number(key) >= length
}

/** How a key reads in a finding's subject, after the container's path. */
function keyPath(kind: Kind, key: Key): string {
  if (key === KEYS) return '.<keys>'
  if (kind === 'array' && isIndex(key)) return `[${key}]`
  if (typeof key === 'symbol') return `[${String(key)}]`
  if ((typeof key === 'object' && key !== null) || typeof key === 'function') {
    return `.<${typeName(key)}>`
  }
  return `.${String(key)}`
}

function typeName(value: object): string {
  if (typeof value === 'function') return 'function'
  const proto = Object.getPrototypeOf(value)
  const name = proto?.constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'object'
}

const KIND_NAMES = { object: 'Object', array: 'Array', map: 'Map', set: 'Set' } as const

/** `Map@cache.mjs:4`: the container's kind and where shared() was called, when known. */
function defaultName(kind: Kind): string {
  const frame = userStack(1)
  const place = frame === undefined ? undefined : /([^/\\\s(]+):(\d+):\d+\)?$/.exec(frame)
  return place === null || place === undefined
    ? KIND_NAMES[kind]
    : `${KIND_NAMES[kind]}@${place[1]}:${place[2]}`
}
