/**
 * A meeting point for `size` concurrent callers: the returned function resolves once all
 * `size` have called it. Concurrency tests use it to interleave invocations deterministically
 * (every invocation has written before any reads) instead of ordering them with sleeps. For a
 * single hand-released gate, `Promise.withResolvers()` is the deferred.
 *
 * @example
 * ```ts
 * import { barrier } from '@lmi/test-kit'
 *
 * const wait = barrier(100)
 * const handler = lmi(async (event: { n: number }) => {
 *   set('n', event.n)
 *   await wait() // all 100 invocations have set 'n' before any reads it
 *   return get('n')
 * })
 * ```
 */
export function barrier(size: number): () => Promise<void> {
  let arrived = 0
  const all = Promise.withResolvers<void>()
  return () => {
    arrived++
    if (arrived === size) all.resolve()
    return all.promise
  }
}
