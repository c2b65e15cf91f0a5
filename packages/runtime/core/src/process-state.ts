import { AsyncLocalStorage } from 'node:async_hooks'
import type { Finding, SharedStateMode } from './detect/findings.ts'
import { CODES, LmiError } from './errors.ts'
import type { InvocationState } from './invocation/state.ts'

/**
 * The version of the layout below. Two copies of `@lmi/core` in one process (a handler
 * bundle that inlines the package, run by lmi's runtime from a layer or `node_modules`) share
 * this state; they must agree on its shape, so a change to it bumps this number.
 */
export const PROCESS_STATE_PROTOCOL = 1

/** This package's version, for the conflict message (a test keeps it equal to package.json). */
export const PACKAGE_VERSION = '0.1.0'

/**
 * What every copy of `@lmi/core` in the process must see as one: which invocation runs the
 * current code, the shutdown hooks, the detectors' installation and report state. Kept on
 * `globalThis` under a registered symbol, as `@aws/lambda-invoke-store` keeps its store on
 * `globalThis.awslambda`: otherwise a bundled `lmi()` chain would not see the invocation lmi's
 * runtime opened, its `onShutdown` hooks would never run, and the detectors would wrap
 * `process.env` twice.
 */
export interface ProcessState {
  readonly protocol: number
  readonly version: string
  readonly invocationStorage: AsyncLocalStorage<InvocationState>
  readonly shutdownHooks: Array<() => unknown>
  readonly detectors: {
    installed: boolean
    mode: SharedStateMode
    /** Where `warn`-mode findings go; stderr when unset. */
    sink: ((finding: Finding) => void) | undefined
    readonly seen: Set<string>
  }
  endCheck: ((invocation: InvocationState) => Error | undefined) | undefined
  /**
   * The current invocation's scoped /tmp directory, declared by `@lmi/tmp-scope`, for the /tmp
   * detector. Optional: added without a protocol bump, a copy that predates it leaves it unset.
   */
  tmpScope?: (() => TmpScopeView | undefined) | undefined
}

/**
 * What the /tmp detector needs of an invocation's scoped directory (`@lmi/tmp-scope`'s
 * `TmpDir` has this shape): whether it exists yet, and where.
 */
export interface TmpScopeView {
  readonly created: boolean
  readonly dir: string
}

const kProcessState = Symbol.for('@lmi/core/process-state')

function claim(): ProcessState {
  const holder = globalThis as { [kProcessState]?: ProcessState }
  const existing = holder[kProcessState]
  if (existing !== undefined) {
    if (existing.protocol !== PROCESS_STATE_PROTOCOL) {
      throw new LmiError(
        `Two incompatible copies of @lmi/core are loaded in this process (${existing.version} ` +
          `first, then ${PACKAGE_VERSION}): align the version the handler bundles with the ` +
          'runtime that runs it',
        CODES.RUNTIME_CONFLICT,
      )
    }
    return existing
  }
  const state: ProcessState = {
    protocol: PROCESS_STATE_PROTOCOL,
    version: PACKAGE_VERSION,
    invocationStorage: new AsyncLocalStorage(),
    shutdownHooks: [],
    detectors: { installed: false, mode: 'off', sink: undefined, seen: new Set() },
    endCheck: undefined,
  }
  Object.defineProperty(holder, kProcessState, { value: state, configurable: false })
  return state
}

/** This process's shared state (internal). */
export const processState: ProcessState = claim()
