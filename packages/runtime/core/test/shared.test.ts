import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { types } from 'node:util'
import vm from 'node:vm'
import fc from 'fast-check'
import { findingChannel } from '../src/channels.ts'
import {
  FINDING_CODES,
  type Finding,
  setDetectorMode,
  setFindingSink,
} from '../src/detect/findings.ts'
import { shared } from '../src/detect/shared.ts'
import { SharedStateError } from '../src/errors.ts'
import { InvalidConfigurationError, type LambdaContext, lmi } from '../src/index.ts'

// Each invocation runs the function it is given as its event, so a test writes what A and B do
// side by side and orders them with barriers.
const run = lmi(async (work: () => unknown) => work())

function invoke<T>(requestId: string, work: () => T | Promise<T>): Promise<T> {
  const context = { awsRequestId: requestId, getRemainingTimeInMillis: () => 10_000 }
  return run(work, context as LambdaContext) as Promise<T>
}

// Application code as on Lambda, in a file of its own (/var/task/app.js): a finding's stack must
// start there, above the proxy's frames and lmi's.
const app = vm.runInThisContext(
  `({
    readKey(state, key) { return state[key] },
    writeKey(state, key, value) { state[key] = value },
  })`,
  { filename: '/var/task/app.js' },
) as {
  readKey(state: object, key: string): unknown
  writeKey(state: object, key: string, value: unknown): void
}

let findings: Finding[] = []
// lmi() installs the other detectors too: only this detector's findings count here.
const collect = (message: unknown) => {
  const finding = message as Finding
  if (finding.code === FINDING_CODES.CROSS_READ || finding.code === FINDING_CODES.CROSS_WRITE) {
    findings.push(finding)
  }
}

before(() => {
  // warn mode's log lines would only clutter the test output: findings are read off the channel.
  setFindingSink(() => {})
})
after(() => setDetectorMode('off'))
beforeEach(() => {
  findings = []
  findingChannel.subscribe(collect)
})
afterEach(() => {
  findingChannel.unsubscribe(collect)
  setDetectorMode('off')
})

/** A runs `first`, lets B run `second` while it waits, then finishes with `last`. */
async function interleave<A, B>(
  first: () => void,
  second: () => B,
  last: () => A = () => undefined as A,
): Promise<{ a: PromiseSettledResult<A>; b: PromiseSettledResult<B> }> {
  const aWrote = Promise.withResolvers<void>()
  const bDone = Promise.withResolvers<void>()
  const a = invoke('req-a', async () => {
    first()
    aWrote.resolve()
    await bDone.promise
    return last()
  })
  const b = invoke('req-b', async () => {
    await aWrote.promise
    try {
      return second()
    } finally {
      bDone.resolve()
    }
  })
  const [aResult, bResult] = await Promise.allSettled([a, b])
  return { a: aResult, b: bResult }
}

/** The ES2025 Set methods (Node 22+), which the es2024 lib does not type. */
interface SetAlgebra {
  union(other: Set<unknown>): Set<unknown>
  isSubsetOf(other: Set<unknown>): boolean
}
const algebra = (set: Set<unknown>) => set as unknown as SetAlgebra

function summary(): Array<Pick<Finding, 'code' | 'subject' | 'requestId' | 'otherRequestId'>> {
  return findings.map(({ code, subject, requestId, otherRequestId }) => ({
    code,
    subject,
    requestId,
    otherRequestId,
  }))
}

const crossRead = (subject: string) => ({
  code: FINDING_CODES.CROSS_READ,
  subject,
  requestId: 'req-b',
  otherRequestId: 'req-a',
})
const crossWrite = (subject: string) => ({
  code: FINDING_CODES.CROSS_WRITE,
  subject,
  requestId: 'req-b',
  otherRequestId: 'req-a',
})

describe('shared(): reads and writes across invocations', () => {
  it('reports a read by B of a key A wrote while A still runs, with both ids, the subject and the stack of the reading code', async () => {
    // Prepare
    setDetectorMode('warn')
    const cache = shared({} as Record<string, unknown>, 'cache')

    // Act
    const { b } = await interleave(
      () => app.writeKey(cache, 'user:42', { name: 'alice' }),
      () => app.readKey(cache, 'user:42'),
    )

    // Assess
    assert.equal(b.status, 'fulfilled')
    assert.deepEqual(summary(), [crossRead('shared(cache).user:42')])
    const [finding] = findings
    assert.match(finding?.message ?? '', /req-b.*req-a/)
    assert.match(finding?.stack ?? '', /^at Object\.readKey \(\/var\/task\/app\.js:2:\d+\)/)
    assert.doesNotMatch(finding?.stack ?? '', /node:|packages[/\\]runtime[/\\]src/)
  })

  it('reports nothing for a read of a key whose writer has ended', async () => {
    // Prepare
    setDetectorMode('warn')
    const cache = shared({} as Record<string, unknown>, 'cache')
    await invoke('req-a', () => {
      cache.token = 'a'
    })

    // Act
    const seen = await invoke('req-b', () => cache.token)

    // Assess
    assert.equal(seen, 'a')
    assert.deepEqual(findings, [])
  })

  it('reports nothing for a read right after the writer answered, when it wrote after an await', async () => {
    // Prepare
    setDetectorMode('warn')
    const cache = shared({} as Record<string, unknown>, 'cache')
    await invoke('req-a', async () => {
      await Promise.resolve()
      cache.token = 'a'
    })

    // Act
    const seen = await invoke('req-b', () => cache.token)

    // Assess
    assert.equal(seen, 'a')
    assert.deepEqual(findings, [])
  })

  it('reports nothing for state written and read at init, outside any invocation', async () => {
    // Prepare
    setDetectorMode('warn')
    const config = shared({ region: 'eu-west-1', limits: [1, 2] }, 'config')
    config.region = 'us-east-1'
    config.limits.push(3)

    // Act
    const { a, b } = await interleave(
      () => void config.limits.length,
      () => [config.region, [...config.limits]],
      () => config.region,
    )

    // Assess
    assert.deepEqual(b, { status: 'fulfilled', value: ['us-east-1', [1, 2, 3]] })
    assert.deepEqual(a, { status: 'fulfilled', value: 'us-east-1' })
    assert.deepEqual(findings, [])
  })

  it('reports nothing when work outside any invocation rewrote the key after A', async () => {
    // Prepare
    setDetectorMode('warn')
    const state = shared({ mode: 'init' }, 'state')
    const aWrote = Promise.withResolvers<void>()
    const bDone = Promise.withResolvers<void>()
    const a = invoke('req-a', async () => {
      state.mode = 'a'
      aWrote.resolve()
      await bDone.promise
    })
    await aWrote.promise

    // Act: a refresh started at init (no invocation's) replaces A's value, then B reads it
    state.mode = 'refreshed'
    const seen = await invoke('req-b', () => state.mode)
    bDone.resolve()
    await a

    // Assess
    assert.equal(seen, 'refreshed')
    assert.deepEqual(findings, [])
  })

  it('reports nothing for a cache keyed per invocation, each reading back its own writes', async () => {
    // Prepare
    setDetectorMode('warn')
    const byUser = shared({} as Record<string, { visits: number }>, 'byUser')

    // Act
    const { a, b } = await interleave(
      () => {
        byUser.alice = { visits: 1 }
      },
      () => {
        byUser.bob = { visits: 1 }
        byUser.bob.visits++
        return byUser.bob.visits
      },
      () => {
        byUser.alice!.visits++
        return byUser.alice!.visits
      },
    )

    // Assess
    assert.deepEqual(
      [a, b],
      [
        { status: 'fulfilled', value: 2 },
        { status: 'fulfilled', value: 2 },
      ],
    )
    assert.deepEqual(findings, [])
  })

  it('reports a write by B of a key A wrote while A still runs as a cross write', async () => {
    // Prepare
    setDetectorMode('warn')
    const current = shared({ user: '' }, 'current')

    // Act
    await interleave(
      () => {
        current.user = 'alice'
      },
      () => {
        current.user = 'bob'
      },
    )

    // Assess
    assert.deepEqual(summary(), [crossWrite('shared(current).user')])
    assert.match(findings[0]?.stack ?? '', /^at .*shared\.test\.ts:\d+:\d+\)?\n/)
  })

  it('in throw mode fails only the offending invocation, with SharedStateError, before the read', async () => {
    // Prepare
    setDetectorMode('throw')
    const current = shared({ user: '' }, 'current')

    // Act
    const { a, b } = await interleave(
      () => {
        current.user = 'alice'
      },
      () => current.user,
      () => current.user,
    )

    // Assess
    assert.deepEqual(a, { status: 'fulfilled', value: 'alice' })
    assert.equal(b.status, 'rejected')
    const error = (b as PromiseRejectedResult).reason
    assert.ok(error instanceof SharedStateError)
    assert.equal(error.code, 'LMI_SHARED_CROSS_READ')
    assert.equal(error.finding.requestId, 'req-b')
    assert.equal(error.finding.otherRequestId, 'req-a')
  })

  it('in throw mode stops a cross write from happening', async () => {
    // Prepare
    setDetectorMode('throw')
    const current = shared({ user: '' }, 'current')

    // Act
    const { a, b } = await interleave(
      () => {
        current.user = 'alice'
      },
      () => {
        current.user = 'bob'
      },
      () => current.user,
    )

    // Assess
    assert.deepEqual(a, { status: 'fulfilled', value: 'alice' })
    assert.equal((b as PromiseRejectedResult).reason.code, 'LMI_SHARED_CROSS_WRITE')
  })
})

describe('shared(): Maps and Sets', () => {
  it('tracks Map entries: get, has, size, iteration and forEach are reads; set, delete, clear are writes', async () => {
    // Prepare
    setDetectorMode('warn')
    const sessions = shared(new Map<string, string>([['init', 'x']]), 'sessions')

    // Act
    const { b } = await interleave(
      () => void sessions.set('s1', 'alice'),
      () => {
        const reads = [sessions.get('init'), sessions.has('other'), sessions.get('s1')]
        findings.push({ marker: 'get' } as never)
        void sessions.size
        findings.push({ marker: 'size' } as never)
        void [...sessions]
        sessions.forEach(() => {})
        findings.push({ marker: 'iteration' } as never)
        sessions.set('s2', 'bob')
        sessions.delete('s1')
        sessions.clear()
        return reads
      },
    )

    // Assess
    assert.deepEqual(b, { status: 'fulfilled', value: ['x', false, 'alice'] })
    const markers = findings.map((finding) =>
      'marker' in finding ? finding.marker : `${finding.code} ${finding.subject}`,
    )
    assert.deepEqual(markers, [
      'LMI_SHARED_CROSS_READ shared(sessions).s1',
      'get',
      'LMI_SHARED_CROSS_READ shared(sessions).<keys>',
      'size',
      'LMI_SHARED_CROSS_READ shared(sessions).s1',
      'LMI_SHARED_CROSS_READ shared(sessions).s1',
      'iteration',
      'LMI_SHARED_CROSS_WRITE shared(sessions).s1',
    ])
  })

  it('reports nothing for a Map keyed per invocation', async () => {
    // Prepare
    setDetectorMode('warn')
    const sessions = shared(new Map<string, number>(), 'sessions')

    // Act
    const { a, b } = await interleave(
      () => void sessions.set('a', 1),
      () => {
        sessions.set('b', 2).set('b', 3)
        const value = sessions.get('b')
        sessions.delete('b')
        return value
      },
      () => sessions.get('a'),
    )

    // Assess
    assert.deepEqual(
      [a, b],
      [
        { status: 'fulfilled', value: 1 },
        { status: 'fulfilled', value: 3 },
      ],
    )
    assert.deepEqual(findings, [])
  })

  it('reports clear() by B of entries A wrote as a cross write', async () => {
    // Prepare
    setDetectorMode('warn')
    const sessions = shared(new Map<string, number>(), 'sessions')

    // Act
    await interleave(
      () => void sessions.set('a', 1),
      () => sessions.clear(),
    )

    // Assess
    assert.deepEqual(summary(), [crossWrite('shared(sessions).a')])
  })

  it('tracks Set values: has and iteration read what another running invocation added', async () => {
    // Prepare
    setDetectorMode('warn')
    const seen = shared(new Set<string>(), 'seen')

    // Act
    const { b } = await interleave(
      () => void seen.add('msg-1'),
      () => {
        const fresh = [seen.has('msg-2'), seen.add('msg-2') === seen]
        const duplicate = seen.has('msg-1')
        const all = [...seen]
        return { fresh, duplicate, all }
      },
    )

    // Assess
    assert.deepEqual(b, {
      status: 'fulfilled',
      value: { fresh: [false, true], duplicate: true, all: ['msg-1', 'msg-2'] },
    })
    assert.deepEqual(summary(), [crossRead('shared(seen).msg-1'), crossRead('shared(seen).msg-1')])
  })
})

describe('shared(): other operations', () => {
  it('counts defineProperty as a write and delete by another running invocation as a cross write', async () => {
    // Prepare
    setDetectorMode('warn')
    const flags = shared({} as Record<string, unknown>, 'flags')

    // Act
    const { b } = await interleave(
      () => {
        Object.defineProperty(flags, 'beta', { value: true, enumerable: true, configurable: true })
      },
      () => {
        const seen = Object.getOwnPropertyDescriptor(flags, 'beta')?.value
        delete flags.beta
        return seen
      },
    )

    // Assess: the descriptor read is not tracked; the delete is
    assert.deepEqual(b, { status: 'fulfilled', value: true })
    assert.deepEqual(summary(), [crossWrite('shared(flags).beta')])
  })

  it('names Map keys that are objects by their type, and tracks the ES2025 set algebra as a read of every value', async () => {
    // Prepare
    setDetectorMode('warn')
    const owners = shared(new Map<object, string>(), 'owners')
    const tags = shared(new Set<string>(['init']), 'tags')
    const key = { id: 1 }

    // Act
    const { b } = await interleave(
      () => {
        owners.set(key, 'alice')
        tags.add('a')
      },
      () => [
        owners.get(key),
        [...algebra(tags).union(new Set(['b']))],
        algebra(new Set(['a'])).isSubsetOf(tags),
      ],
    )

    // Assess: isSubsetOf reads the guard through its own has(), value by value
    assert.deepEqual(b, { status: 'fulfilled', value: ['alice', ['init', 'a', 'b'], true] })
    assert.deepEqual(summary(), [
      crossRead('shared(owners).<Object>'),
      crossRead('shared(tags).a'),
      crossRead('shared(tags).<keys>'),
      crossRead('shared(tags).a'),
    ])
  })

  it('keeps the records of running invocations when those of ended ones are swept', async () => {
    // Prepare
    setDetectorMode('warn')
    const cache = shared(new Map<string, number>(), 'cache')
    const aWrote = Promise.withResolvers<void>()
    const bDone = Promise.withResolvers<void>()
    const a = invoke('req-a', async () => {
      cache.set('hot', 1)
      aWrote.resolve()
      await bDone.promise
    })
    await aWrote.promise

    // Act: enough ended writers to sweep the records a few times over, then B reads A's key
    for (let index = 0; index < 3000; index++) {
      await invoke(`req-${index}`, () => void cache.set(`key-${index}`, index))
    }
    const all = await invoke('req-b', () => {
      const total = [...cache.values()].length
      cache.get('hot')
      return total
    })
    bDone.resolve()
    await a

    // Assess
    assert.equal(all, 3001)
    assert.deepEqual(
      summary().map(({ subject }) => subject),
      ['shared(cache).hot', 'shared(cache).hot'],
    )
  })

  it('forgets the writers of entries cleared outside any invocation', async () => {
    // Prepare
    setDetectorMode('warn')
    const seen = shared(new Set<string>(), 'seen')
    const aWrote = Promise.withResolvers<void>()
    const bDone = Promise.withResolvers<void>()
    const a = invoke('req-a', async () => {
      seen.add('x')
      aWrote.resolve()
      await bDone.promise
    })
    await aWrote.promise

    // Act
    seen.clear()
    const after = await invoke('req-b', () => [seen.has('x'), seen.size])
    bDone.resolve()
    await a

    // Assess
    assert.deepEqual(after, [false, 0])
    assert.deepEqual(findings, [])
  })
})

describe('shared(): arrays', () => {
  it('reports reading length or iterating while another invocation that pushed still runs', async () => {
    // Prepare
    setDetectorMode('warn')
    const queue = shared([] as string[], 'queue')

    // Act
    const { b } = await interleave(
      () => void queue.push('job-a'),
      () => {
        const length = queue.length
        const all = [...queue]
        return { length, all }
      },
    )

    // Assess
    assert.deepEqual(b, { status: 'fulfilled', value: { length: 1, all: ['job-a'] } })
    // The channel gets every read (warn mode logs each code, subject and place once): `length`,
    // then the iterator's `length`, element 0, and `length` again to find the end.
    assert.deepEqual(summary(), [
      crossRead('shared(queue).length'),
      crossRead('shared(queue).length'),
      crossRead('shared(queue)[0]'),
      crossRead('shared(queue).length'),
    ])
  })

  it('tracks indices one by one: another index is not a finding, the written one is', async () => {
    // Prepare
    setDetectorMode('warn')
    const slots = shared(['free', 'free'], 'slots')

    // Act
    const { b } = await interleave(
      () => {
        slots[0] = 'a'
      },
      () => {
        slots[1] = 'b'
        const mine = slots[1]
        findings.push({ marker: 'own slot' } as never)
        return [mine, slots[0]]
      },
    )

    // Assess
    assert.deepEqual(b, { status: 'fulfilled', value: ['b', 'a'] })
    assert.deepEqual(
      findings.map((finding) => ('marker' in finding ? finding.marker : finding.subject)),
      ['own slot', 'shared(slots)[0]'],
    )
  })

  it('reports truncating (length = 0) entries another running invocation wrote as a cross write', async () => {
    // Prepare
    setDetectorMode('warn')
    const slots = shared(['free', 'free'], 'slots')

    // Act
    const { b } = await interleave(
      () => {
        slots[1] = 'a'
      },
      () => {
        slots.length = 0
      },
    )

    // Assess
    assert.equal(b.status, 'fulfilled')
    assert.deepEqual(summary(), [crossWrite('shared(slots)[1]')])
  })
})

describe('shared(): nested state', () => {
  it('guards nested objects, arrays and Maps with the path in the subject', async () => {
    // Prepare
    setDetectorMode('warn')
    const state = shared(
      { users: { alice: { visits: 0 } }, log: [] as string[], byTenant: new Map<string, object>() },
      'state',
    )

    // Act
    await interleave(
      () => {
        state.users.alice.visits++
        state.log.push('a')
        state.byTenant.set('acme', { plan: 'pro' })
      },
      () => {
        void state.users.alice.visits
        void state.log[0]
        void state.byTenant.get('acme')
      },
    )

    // Assess
    assert.deepEqual(
      findings.map((finding) => finding.subject),
      ['shared(state).users.alice.visits', 'shared(state).log[0]', 'shared(state).byTenant.acme'],
    )
  })

  it('gives the same proxy for the same nested object and stores values unwrapped', () => {
    // Prepare
    setDetectorMode('warn')
    const raw = { a: { b: 1 }, list: [{ id: 1 }], copy: undefined as unknown }
    const state = shared(raw, 'state')

    // Act
    state.copy = state.a
    const rawMap = new Map<string, unknown>()
    const map = shared(rawMap, 'map')
    map.set('a', state.a)

    // Assess
    assert.equal(state.a, state.a)
    assert.equal(state.copy, state.a)
    assert.equal(state.list[0], state.list[0])
    assert.ok(types.isProxy(state.a))
    assert.equal(raw.copy, raw.a)
    assert.equal(types.isProxy(raw.copy), false)
    assert.equal(map.get('a'), state.a)
    assert.ok(map instanceof Map)
    assert.equal(map.constructor, Map)
    assert.equal(Object.prototype.toString.call(map), '[object Map]')
    ;(map as unknown as Record<string, unknown>).label = state.a
    assert.equal(rawMap.get('a'), raw.a)
    assert.equal(Reflect.get(rawMap, 'label'), raw.a)
    assert.equal(shared(raw), state)
    assert.equal(shared(state), state)
  })
})

describe('shared(): modes and arguments', () => {
  it('in off mode passes every operation through and reports nothing', async () => {
    // Prepare
    setDetectorMode('off')
    const current = shared({ user: '' }, 'current')
    const sessions = shared(new Map<string, string>(), 'sessions')

    // Act
    const { b } = await interleave(
      () => {
        current.user = 'alice'
        sessions.set('s', 'alice')
      },
      () => [current.user, sessions.get('s'), sessions.size],
    )

    // Assess
    assert.deepEqual(b, { status: 'fulfilled', value: ['alice', 'alice', 1] })
    assert.deepEqual(findings, [])
  })

  it('returns the value itself when LMI_SHARED_STATE=off', () => {
    // Prepare
    const saved = process.env.LMI_SHARED_STATE
    process.env.LMI_SHARED_STATE = 'off'
    const value = { user: '' }

    try {
      // Act
      const guarded = shared(value)

      // Assess
      assert.equal(guarded, value)
    } finally {
      if (saved === undefined) delete process.env.LMI_SHARED_STATE
      else process.env.LMI_SHARED_STATE = saved
    }
  })

  it('throws InvalidConfigurationError for what it cannot guard, whatever the mode', () => {
    // Prepare
    class Cache {
      #entries = new Map()
      get size() {
        return this.#entries.size
      }
    }

    // Act / Assess
    for (const value of [null, 42, 'text', () => {}, new Cache(), new Date(), new WeakMap()]) {
      assert.throws(() => shared(value as object), InvalidConfigurationError)
    }
    assert.throws(() => shared({}, 42 as unknown as string), InvalidConfigurationError)
  })

  it('names an unnamed guard after the kind of container', async () => {
    // Prepare
    setDetectorMode('warn')
    const cache = shared(new Map<string, number>())

    // Act
    await interleave(
      () => void cache.set('k', 1),
      () => cache.get('k'),
    )

    // Assess
    assert.match(findings[0]?.subject ?? '', /^shared\(Map(@shared\.test\.ts:\d+)?\)\.k$/)
  })
})

describe('shared(): transparency', () => {
  const key = fc.constantFrom<unknown>('a', 'b', 1, 0, -0, Number.NaN)
  const value = fc.oneof(fc.integer(), fc.constant({ nested: [1] }))
  const mapOp = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key, value }),
    fc.record({ op: fc.constantFrom('get' as const, 'has' as const, 'delete' as const), key }),
    fc.record({
      op: fc.constantFrom(
        'clear' as const,
        'size' as const,
        'entries' as const,
        'keys' as const,
        'forEach' as const,
      ),
    }),
  )

  function applyMap(
    map: Map<unknown, unknown>,
    step: { op: string; key?: unknown; value?: unknown },
  ): unknown {
    switch (step.op) {
      case 'set':
        return map.set(step.key, step.value) === map
      case 'get':
        return map.get(step.key)
      case 'has':
        return map.has(step.key)
      case 'delete':
        return map.delete(step.key)
      case 'clear':
        return map.clear()
      case 'size':
        return map.size
      case 'entries':
        return [...map.entries()]
      case 'keys':
        return [...map.keys()]
      default: {
        const seen: unknown[] = []
        map.forEach((v, k, self) => void seen.push([k, v, self === map]))
        return seen
      }
    }
  }

  for (const mode of ['warn', 'off'] as const) {
    it(`a shared Map answers every sequence of operations as a plain Map does (${mode} mode)`, async () => {
      // Prepare
      setDetectorMode(mode)

      // Act / Assess: inside an invocation, so every write is recorded
      await invoke('req-property', () => {
        fc.assert(
          fc.property(fc.array(mapOp, { maxLength: 30 }), (steps) => {
            const plain = new Map<unknown, unknown>()
            const guarded = shared(new Map<unknown, unknown>())
            for (const step of steps) {
              assert.deepEqual(applyMap(guarded, step), applyMap(plain, step))
            }
            assert.deepEqual([...guarded], [...plain])
            assert.deepEqual([...guarded.values()], [...plain.values()])
          }),
        )
      })
      assert.deepEqual(findings, [])
    })
  }

  const setOp = fc.oneof(
    fc.record({
      op: fc.constantFrom('add' as const, 'has' as const, 'delete' as const),
      value: fc.constantFrom<unknown>('a', 'b', 1, -0, Number.NaN),
    }),
    fc.record({
      op: fc.constantFrom(
        'clear' as const,
        'size' as const,
        'values' as const,
        'entries' as const,
        'forEach' as const,
        'union' as const,
        'isSubsetOf' as const,
      ),
    }),
  )

  function applySet(set: Set<unknown>, step: { op: string; value?: unknown }): unknown {
    switch (step.op) {
      case 'add':
        return set.add(step.value) === set
      case 'has':
        return set.has(step.value)
      case 'delete':
        return set.delete(step.value)
      case 'clear':
        return set.clear()
      case 'size':
        return set.size
      case 'values':
        return [...set.values()]
      case 'entries':
        return [...set.entries()]
      case 'union':
        return [...algebra(set).union(new Set(['b', 2]))]
      case 'isSubsetOf':
        return algebra(set).isSubsetOf(new Set(['a', 'b', 1]))
      default: {
        const seen: unknown[] = []
        set.forEach((v, k, self) => void seen.push([k, v, self === set]))
        return seen
      }
    }
  }

  for (const mode of ['warn', 'off'] as const) {
    it(`a shared Set answers every sequence of operations as a plain Set does (${mode} mode)`, async () => {
      // Prepare
      setDetectorMode(mode)

      // Act / Assess
      await invoke('req-property', () => {
        fc.assert(
          fc.property(fc.array(setOp, { maxLength: 30 }), (steps) => {
            const plain = new Set<unknown>()
            const guarded = shared(new Set<unknown>())
            for (const step of steps) {
              assert.deepEqual(applySet(guarded, step), applySet(plain, step))
            }
            assert.deepEqual([...guarded.keys()], [...plain.keys()])
          }),
        )
      })
      assert.deepEqual(findings, [])
    })
  }

  const arrayOp = fc.oneof(
    fc.record({ op: fc.constantFrom('push' as const, 'unshift' as const), value: fc.integer() }),
    fc.record({
      op: fc.constantFrom('pop' as const, 'shift' as const, 'sort' as const, 'reverse' as const),
    }),
    fc.record({
      op: fc.constant('splice' as const),
      at: fc.nat(6),
      count: fc.nat(3),
      value: fc.integer(),
    }),
    fc.record({ op: fc.constant('assign' as const), at: fc.nat(8), value: fc.integer() }),
    fc.record({ op: fc.constant('length' as const), at: fc.nat(8) }),
  )

  it('a shared array answers every sequence of operations as a plain array does', async () => {
    // Prepare
    setDetectorMode('warn')

    // Act / Assess
    await invoke('req-property', () => {
      fc.assert(
        fc.property(fc.array(arrayOp, { maxLength: 30 }), (steps) => {
          const plain: number[] = []
          const guarded = shared([] as number[])
          for (const step of steps) {
            const results = [plain, guarded].map((array) => {
              switch (step.op) {
                case 'push':
                  return array.push(step.value)
                case 'unshift':
                  return array.unshift(step.value)
                case 'pop':
                  return array.pop()
                case 'shift':
                  return array.shift()
                case 'sort':
                  return [...array.sort((x, y) => x - y)]
                case 'reverse':
                  return [...array.reverse()]
                case 'splice':
                  return array.splice(step.at, step.count, step.value)
                case 'assign':
                  array[step.at] = step.value
                  return array.length
                default:
                  array.length = step.at
                  return Object.keys(array)
              }
            })
            assert.deepEqual(results[1], results[0])
          }
          assert.ok(Array.isArray(guarded))
          assert.equal(JSON.stringify(guarded), JSON.stringify(plain))
        }),
      )
    })
    assert.deepEqual(findings, [])
  })
})

describe('shared(): refused writes', () => {
  // Scripts are sloppy mode unless they say otherwise: there a refused write is silently ignored.
  const sloppy = vm.runInThisContext(
    '(function assignSloppy(o, k, v) { o[k] = v; return o[k] })',
  ) as (o: object, k: string, v: unknown) => unknown
  const strict = vm.runInThisContext(
    "(function assignStrict(o, k, v) { 'use strict'; o[k] = v; return o[k] })",
  ) as (o: object, k: string, v: unknown) => unknown
  const cases: Record<string, () => object> = {
    'a frozen object': () => Object.freeze({ a: 1 }),
    'a non-extensible object (new key)': () => Object.preventExtensions({ b: 1 }),
    'a getter without setter': () => ({
      get a() {
        return 1
      },
    }),
    'a throwing setter': () => ({
      set a(_value: unknown) {
        throw new RangeError('refused by the setter')
      },
    }),
    'an array whose length is fixed': () =>
      Object.defineProperty([1, 2], 'length', { writable: false }),
  }

  function outcome(write: () => unknown): unknown {
    try {
      return { value: write() }
    } catch (error) {
      return { error: (error as Error).name }
    }
  }

  it('answers every refused write as the plain object does, in sloppy and strict code', async () => {
    // Prepare
    setDetectorMode('warn')

    // Act / Assess: inside an invocation, where writes take the recording path
    await invoke('req-refused', () => {
      for (const [name, make] of Object.entries(cases)) {
        for (const assign of [sloppy, strict]) {
          const key = name.includes('new key') ? 'c' : name.includes('array') ? '2' : 'a'
          const expected = outcome(() => assign(make(), key, 3))
          const actual = outcome(() => assign(shared(make()), key, 3))
          assert.deepEqual(actual, expected, `${name}, ${assign.name}`)
        }
      }
    })
    assert.deepEqual(findings, [])
  })
})

describe('shared(): stress', () => {
  it('100 interleaved invocations writing their own keys give no finding', async () => {
    // Prepare
    setDetectorMode('warn')
    const sessions = shared(new Map<string, { user: string; hits: number }>(), 'sessions')
    const byRequest = shared({} as Record<string, string[]>, 'byRequest')
    const count = 100
    const allWrote = Promise.withResolvers<void>()
    let wrote = 0

    // Act: every invocation writes, then all of them read and write again while all still run
    const results = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        invoke(`req-${index}`, async () => {
          const id = `user-${index}`
          sessions.set(id, { user: id, hits: 1 })
          byRequest[id] = [id]
          if (++wrote === count) allWrote.resolve()
          await allWrote.promise
          const session = sessions.get(id)!
          session.hits++
          byRequest[id]!.push('done')
          await Promise.resolve()
          return [session.user, session.hits, byRequest[id]!.length]
        }),
      ),
    )

    // Assess
    assert.deepEqual(
      results,
      Array.from({ length: count }, (_, index) => [`user-${index}`, 2, 2]),
    )
    assert.deepEqual(findings, [])
  })
})
