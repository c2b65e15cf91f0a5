// `lmi check`'s options turned into the settings of one run: defaults merged and every value
// checked once, before anything starts.
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { describeValue } from '@lmi/core/internal'
import { HandlerLoadError, parseHandlerName } from '@lmi/runtime'
import { CheckUsageError } from '../../errors.ts'
import { compileIgnore, type IgnoreMatcher } from './diff.ts'
import { randomSeed } from './schedule.ts'
import { checkSinkEnv } from './sink.ts'
import type { CheckOptions } from './types.ts'

const DEFAULT_ROUNDS = 3
const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_SOLO_RUNS = 2
const DEFAULT_INIT_TIMEOUT_MS = 30_000

/**
 * The range of each integer option, shared by {@link resolveSettings} and the `lmi check`
 * flags that set them.
 *
 * @example
 * ```ts
 * LIMITS.rounds // => { min: 1, max: 1000 }
 * ```
 */
export const LIMITS = {
  concurrency: { min: 1, max: 1024 },
  rounds: { min: 1, max: 1000 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  timeoutMs: { min: 1, max: 900_000 },
  soloRuns: { min: 2, max: 10 },
  soloJobs: { min: 1, max: 64 },
  initTimeoutMs: { min: 1, max: 900_000 },
} as const satisfies Record<string, { min: number; max: number }>

/**
 * The concurrency `lmi check` uses when none is given: 4 per event, at most 64.
 *
 * @example
 * ```ts
 * defaultConcurrency(6) // => 24
 * ```
 */
export function defaultConcurrency(events: number): number {
  return Math.min(64, 4 * events)
}

// Node options that decide how the runtime finds and loads code; the rest (--test, --inspect,
// --watch, …) belong to the process running the check, not to the handler's.
const PASSED_OPTIONS = new Set([
  '--conditions',
  '-C',
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
])
const PASSED_FLAGS = new Set(['--enable-source-maps', '--no-warnings'])

/**
 * The loader-related part of this process's Node options, for the runtime processes.
 *
 * @example
 * ```ts
 * inheritedExecArgv(['--test', '--conditions=@lmi/source']) // => ['--conditions=@lmi/source']
 * ```
 */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = []
  for (let index = 0; index < execArgv.length; index++) {
    const arg = execArgv[index] as string
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (PASSED_FLAGS.has(arg)) out.push(arg)
    else if (PASSED_OPTIONS.has(name)) {
      out.push(arg)
      const value = execArgv[index + 1]
      if (eq === -1 && value !== undefined) {
        out.push(value)
        index++
      }
    }
  }
  return out
}

function checkInteger(value: unknown, name: keyof typeof LIMITS): number {
  const { min, max } = LIMITS[name]
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CheckUsageError(
      `${name} must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    )
  }
  return value
}

function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') {
    throw new CheckUsageError(`${name} must be true or false, got ${describeValue(value)}`)
  }
  return value
}

/**
 * {@link CheckOptions} with the defaults merged and every value checked.
 *
 * @example
 * ```ts
 * const settings: Settings = resolveSettings({ handler: 'src/app.handler', events: [{}] })
 * settings.rounds // => 3
 * ```
 */
export interface Settings {
  readonly cwd: string
  /** `undefined`: {@link defaultConcurrency} of the number of events, known once they load. */
  readonly concurrency: number | undefined
  readonly rounds: number
  readonly seed: number
  readonly timeoutMs: number
  readonly soloRuns: number
  readonly soloJobs: number
  readonly ignore: IgnoreMatcher
  readonly env: NodeJS.ProcessEnv
  /** Variables set to the local sink's URL (besides `LMI_CHECK_SINK_URL`). */
  readonly sinkEnv: readonly string[]
  readonly tenantIds: boolean
  readonly execArgv: readonly string[]
  readonly initTimeoutMs: number
}

/**
 * Merges the defaults and validates every option once, before anything starts; throws
 * {@link CheckUsageError}. The events themselves are checked when they load.
 *
 * @example
 * ```ts
 * resolveSettings({ handler: 'a.handler', events: [{}], rounds: 0 })
 * // throws CheckUsageError: rounds must be an integer from 1 to 1000, got 0
 * ```
 */
export function resolveSettings(options: CheckOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new CheckUsageError('runCheck needs an options object')
  }
  if (typeof options.handler !== 'string') {
    throw new CheckUsageError('a handler is needed: path/to/module.export')
  }
  try {
    parseHandlerName(options.handler)
  } catch (error) {
    if (error instanceof HandlerLoadError) throw new CheckUsageError(error.message)
    throw error
  }
  if (typeof options.events !== 'string' && !Array.isArray(options.events)) {
    throw new CheckUsageError(
      'events must be a path (a JSON array file or a directory) or an array',
    )
  }
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (typeof value !== 'string') throw new CheckUsageError(`env.${key} must be a string`)
    env[key] = value
  }
  return {
    cwd: resolve(options.cwd ?? process.cwd()),
    concurrency:
      options.concurrency === undefined
        ? undefined
        : checkInteger(options.concurrency, 'concurrency'),
    rounds: checkInteger(options.rounds ?? DEFAULT_ROUNDS, 'rounds'),
    seed: checkInteger(options.seed ?? randomSeed(), 'seed'),
    timeoutMs: checkInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs'),
    soloRuns: checkInteger(options.soloRuns ?? DEFAULT_SOLO_RUNS, 'soloRuns'),
    soloJobs: checkInteger(options.soloJobs ?? Math.min(4, availableParallelism()), 'soloJobs'),
    ignore: compileIgnore(options.ignore ?? []),
    env,
    sinkEnv: checkSinkEnv(options.sinkEnv ?? []),
    tenantIds: checkBoolean(options.tenantIds ?? false, 'tenantIds'),
    execArgv: options.execArgv ?? inheritedExecArgv(),
    initTimeoutMs: checkInteger(options.initTimeoutMs ?? DEFAULT_INIT_TIMEOUT_MS, 'initTimeoutMs'),
  }
}
