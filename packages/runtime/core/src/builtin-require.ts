// A `require` for Node's built-ins, lent on `globalThis` while a CommonJS dependency initialises
// (@lmi/context's pino, @lmi/tenant's undici).
//
// esbuild's ESM output of a CommonJS package loads Node's built-ins through a helper that calls
// the `require` in scope, and throws `Dynamic require of "node:os" is not supported` in a bundle
// that has none: every `--format=esm` bundle without a `createRequire` banner. The package's
// module that lends (a few lines calling lendBuiltinRequire()) is imported first by the module
// that wraps the dependency, which withdraws the loan right after the dependency:
// the loan is open exactly while the dependency initialises, because dependencies evaluate in
// import order — in Node, and in esbuild's output, which puts this module's code before the
// importer's `__toESM(require_dependency())`.
//
// Only where `globalThis.require` is missing (a banner's `require` is module-scoped: the bundle's
// helper uses it, so the loan goes unused). Unbundled and in CommonJS bundles, the dependency has
// its own `require`, and the loan goes unused too. Built-ins only: a bundle inlines everything
// else.

type Require = (id: string) => unknown

/** An open loan of `globalThis.require`; see {@link lendBuiltinRequire}. */
export interface BuiltinRequireLoan {
  /**
   * Ends the loan: `globalThis.require` is gone again, unless `keepIfUsed` and the dependency
   * called it — it is then bundled into ESM, and a dependency that requires more built-ins later
   * (undici: `node:tls` at the first HTTPS connection) still needs it.
   */
  withdraw(options: { keepIfUsed: boolean }): void
}

/**
 * Lends `globalThis.require` (built-ins only) where there is none, until `withdraw()`. Call it
 * at the top level of a module of its own that the dependency's wrapper imports first.
 *
 * @example
 * ```ts
 * // builtin-require.ts
 * export const loan = lendBuiltinRequire()
 * // pino.ts
 * import { loan } from './builtin-require.ts'
 * import { pino } from 'pino'
 * loan.withdraw({ keepIfUsed: false })
 * ```
 */
export function lendBuiltinRequire(): BuiltinRequireLoan {
  const scope = globalThis as { require?: Require }
  let used = false
  const builtinRequire: Require = (id) => {
    used = true
    const builtin = process.getBuiltinModule(id)
    if (builtin !== undefined) return builtin
    throw Object.assign(new Error(`Cannot find module '${id}': not a Node.js built-in`), {
      code: 'MODULE_NOT_FOUND',
    })
  }
  const lent = scope.require === undefined ? builtinRequire : undefined
  if (lent !== undefined) scope.require = lent
  return {
    withdraw(options) {
      if (lent === undefined || scope.require !== lent) return
      if (options.keepIfUsed && used) return
      delete scope.require
    },
  }
}
