import { EmulatorArgumentError } from './errors.ts'
import type { Fault, FaultEndpoint } from './types.ts'

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
  if (typeof fault !== 'object' || fault === null) {
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
