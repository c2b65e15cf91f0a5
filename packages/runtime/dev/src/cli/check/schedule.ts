import { randomBytes, randomInt } from 'node:crypto'

/**
 * A seeded pseudo-random source of numbers in [0, 1) (mulberry32): the same seed gives the same
 * shuffles, so a run that found something can be replayed with `--seed`.
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * random() // => 0.6011037519201636, every time for seed 42
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A fresh seed: an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * const seed = randomSeed() // e.g. 3141592653
 * ```
 */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32)
}

/**
 * Shuffles a copy of `items` (Fisher–Yates) with `random`.
 *
 * @example
 * ```ts
 * shuffled([0, 1, 2, 3], seededRandom(7)) // => the same permutation for seed 7, every time
 * ```
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let index = out.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    const item = out[index] as T
    out[index] = out[other] as T
    out[other] = item
  }
  return out
}

/**
 * How many invocations one concurrent round makes: every event the same number of times, and
 * at least twice the concurrency, so that invocations overlap in many different pairs.
 *
 * @example
 * ```ts
 * invocationsPerRound(6, 24) // => 48: each of the 6 events 8 times
 * ```
 */
export function invocationsPerRound(events: number, concurrency: number): number {
  return events * Math.max(1, Math.ceil((2 * concurrency) / events))
}

/**
 * The event indexes of one round: each event `invocationsPerRound / events` times, shuffled.
 *
 * @example
 * ```ts
 * roundOrder(3, 4, seededRandom(1)) // => e.g. [2, 0, 1, 1, 0, 2, 2, 1, 0]
 * ```
 */
export function roundOrder(events: number, concurrency: number, random: () => number): number[] {
  const total = invocationsPerRound(events, concurrency)
  return shuffled(
    Array.from({ length: total }, (_, index) => index % events),
    random,
  )
}

/**
 * An X-Ray trace header value for an invocation and its root (`1-<8 hex>-<24 hex>`), which the
 * check replaces in the invocation's own response before comparing.
 *
 * @example
 * ```ts
 * const { header, root } = newTraceId()
 * // header: 'Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=1'
 * ```
 */
export function newTraceId(now = Date.now()): { header: string; root: string } {
  const bytes = randomBytes(20).toString('hex')
  const seconds = Math.floor(now / 1000)
    .toString(16)
    .padStart(8, '0')
  const root = `1-${seconds}-${bytes.slice(0, 24)}`
  return { header: `Root=${root};Parent=${bytes.slice(24, 40)};Sampled=1`, root }
}
