import type { ServerResponse } from 'node:http'
import { isRecord } from '@lmi/core/internal'
import { EmulatorArgumentError } from '../errors.ts'
import type { Fault, FaultEndpoint } from './types.ts'

// Marks the router leaves on a response for the handler that answers it.
const kDropAck = Symbol('lmi.emulator.dropAck')
const kBodyDelay = Symbol('lmi.emulator.bodyDelay')

interface MarkedResponse extends ServerResponse {
  /** A `drop-ack` fault: the 202 is replaced by a cut connection. */
  [kDropAck]?: boolean
  /** A `slow-body` fault: the event follows the headers after this many ms. */
  [kBodyDelay]?: number
}

const ENDPOINTS: ReadonlySet<string> = new Set<FaultEndpoint>([
  'next',
  'response',
  'error',
  'init-error',
])

interface PendingFault {
  readonly fault: Fault
  remaining: number
}

function checkMs(ms: number): void {
  if (!Number.isInteger(ms) || ms < 0 || ms > 2 ** 31 - 1) {
    throw new EmulatorArgumentError(`fault ms must be a non-negative integer, got ${ms}`)
  }
}

function checkFault(fault: Fault): Fault {
  if (!isRecord(fault)) {
    throw new EmulatorArgumentError('a fault must be an object')
  }
  if (!ENDPOINTS.has(fault.endpoint)) {
    throw new EmulatorArgumentError(`unknown fault endpoint ${String(fault.endpoint)}`)
  }
  const times = fault.times ?? 1
  if (!Number.isInteger(times) || times < 1) {
    throw new EmulatorArgumentError(`fault times must be a positive integer, got ${times}`)
  }
  switch (fault.kind) {
    case 'status':
      if (!Number.isInteger(fault.status) || fault.status < 200 || fault.status > 599) {
        throw new EmulatorArgumentError(
          `fault status must be an integer from 200 to 599, got ${fault.status}`,
        )
      }
      return { ...fault }
    case 'drop':
    case 'drop-ack':
      return { ...fault }
    case 'delay':
      checkMs(fault.ms)
      return { ...fault }
    case 'slow-body':
      // Typed for 'next' only, but a JavaScript caller may pass any endpoint.
      if ((fault.endpoint as FaultEndpoint) !== 'next') {
        throw new EmulatorArgumentError(
          `fault slow-body applies to the next endpoint only, got ${fault.endpoint}`,
        )
      }
      checkMs(fault.ms)
      return { ...fault }
    default:
      throw new EmulatorArgumentError(
        `unknown fault kind ${String((fault as { kind: unknown }).kind)}`,
      )
  }
}

/** Injected faults, consumed in order per endpoint. */
export class FaultPlan {
  readonly #pending = new Map<FaultEndpoint, PendingFault[]>()
  #size = 0

  add(fault: Fault): void {
    const checked = checkFault(fault)
    let list = this.#pending.get(checked.endpoint)
    if (list === undefined) {
      list = []
      this.#pending.set(checked.endpoint, list)
    }
    list.push({ fault: checked, remaining: checked.times ?? 1 })
    this.#size += 1
  }

  /** The fault to apply to this request to `endpoint`, if any; consumes one of its `times`. */
  take(endpoint: FaultEndpoint): Fault | undefined {
    // Requests without faults pay one comparison.
    if (this.#size === 0) return undefined
    const list = this.#pending.get(endpoint)
    const first = list?.[0]
    if (list === undefined || first === undefined) return undefined
    first.remaining -= 1
    if (first.remaining === 0) {
      list.shift()
      this.#size -= 1
    }
    return first.fault
  }

  clear(): void {
    this.#pending.clear()
    this.#size = 0
  }
}

/** Marks `res` so its 202 is replaced by a cut connection (the `drop-ack` fault). */
export function markDropAck(res: ServerResponse): void {
  ;(res as MarkedResponse)[kDropAck] = true
}

/** Whether `res` carries a `drop-ack` fault. */
export function isDropAck(res: ServerResponse): boolean {
  return (res as MarkedResponse)[kDropAck] === true
}

/** Marks a `/next` response so the event follows its headers `ms` later (the `slow-body` fault). */
export function markSlowBody(res: ServerResponse, ms: number): void {
  ;(res as MarkedResponse)[kBodyDelay] = ms
}

/** The `slow-body` delay `res` carries, if any. */
export function slowBodyDelay(res: ServerResponse): number | undefined {
  return (res as MarkedResponse)[kBodyDelay]
}

/** The timers of `delay` and `slow-body` faults, all cleared when the emulator closes. */
export class FaultTimers {
  readonly #timers = new Set<NodeJS.Timeout>()

  /** Runs `run` after `ms`, unless {@link FaultTimers.clear} comes first. */
  after(ms: number, run: () => void): void {
    const timers = this.#timers
    const timer = setTimeout(function faultTimerFired() {
      timers.delete(timer)
      run()
    }, ms)
    timers.add(timer)
  }

  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
  }
}
