// How every `lmi` command reads its flags: one parse, and every value that is wrong (unknown
// flag, missing value, bad integer, bad --env pair) reported with the command's own usage
// error, worded the same way in `lmi dev` and `lmi check`.
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { describeValue, parseInteger } from '@lmi/core/internal'

/**
 * The flags of a command, as `node:util`'s `parseArgs` declares them.
 *
 * @example
 * ```ts
 * const flags = { port: { type: 'string', short: 'p' }, help: { type: 'boolean' } } as const satisfies Flags
 * ```
 */
export type Flags = NonNullable<ParseArgsConfig['options']>

type Parsed<F extends Flags> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: F }>
>

/** The flags that take one string value: the ones {@link CommandLine.integer} can read. */
type SingleValueFlag<F extends Flags> = {
  [K in keyof F]: F[K] extends { type: 'string'; multiple: true }
    ? never
    : F[K] extends { type: 'string' }
      ? K
      : never
}[keyof F] &
  string

/**
 * A parsed command line: the values and positionals `parseArgs` read, and readers that
 * check a value and report a bad one with the command's usage error.
 *
 * @example
 * ```ts
 * const line = parseCommandLine(argv, { rounds: { type: 'string' } }, (m) => new CheckUsageError(m))
 * const rounds = line.integer('rounds', { min: 1, max: 1000 }) // undefined when not given
 * ```
 */
export interface CommandLine<F extends Flags> {
  readonly values: Parsed<F>['values']
  readonly positionals: string[]
  /**
   * The integer value of `--<name>`, `undefined` when the flag is not given. A value given
   * empty, not an integer, or out of range is refused: `--<name> must be an integer from
   * <min> to <max>, got "<value>"` (`an integer >= <min>` without a `max`).
   */
  integer(name: SingleValueFlag<F>, range: { min: number; max?: number }): number | undefined
  /** `--env KEY=VALUE` flags (repeatable) as an environment; `{}` when none is given. */
  env(pairs: readonly string[] | undefined): Record<string, string>
}

/**
 * Parses `argv` with `flags` (strict: an unknown flag or a missing value is refused). Every
 * refusal, here or in the readers of the result, is `usageError(message)`.
 *
 * @example
 * ```ts
 * const line = parseCommandLine(['app.handler', '-c', '8'], { concurrency: { type: 'string', short: 'c' } },
 *   (message) => new InvalidConfigurationError(message))
 * line.positionals // => ['app.handler']
 * line.integer('concurrency', { min: 1 }) // => 8
 * ```
 */
export function parseCommandLine<const F extends Flags>(
  argv: readonly string[],
  flags: F,
  usageError: (message: string) => Error,
): CommandLine<F> {
  let parsed: Parsed<F>
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: flags })
  } catch (error) {
    // parseArgs' own errors (unknown option, missing value) say what is wrong.
    throw usageError(error instanceof Error ? error.message : describeValue(error))
  }
  const values = parsed.values as Record<string, unknown>
  return {
    values: parsed.values,
    positionals: parsed.positionals,
    integer(name, { min, max }) {
      const raw = values[name] as string | undefined
      if (raw === undefined) return undefined
      const flag = `--${name}`
      const wanted = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`
      const fail = () => usageError(`${flag} must be ${wanted}, got "${raw}"`)
      // parseInteger reads a blank value as absent (right for an environment variable); a
      // flag given empty is a mistake to report, not a request for the default.
      if (raw.trim() === '') throw fail()
      return parseInteger(raw, flag, { min, ...(max === undefined ? {} : { max }), fail })
    },
    env(pairs) {
      const env: Record<string, string> = {}
      for (const pair of pairs ?? []) {
        const eq = pair.indexOf('=')
        if (eq < 1) throw usageError(`--env expects KEY=VALUE, got "${pair}"`)
        env[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
      return env
    },
  }
}
