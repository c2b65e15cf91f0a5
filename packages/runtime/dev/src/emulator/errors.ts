import { LmiError } from '@lmi/core'
import { hasBrand } from '@lmi/core/internal'

// Per-class brands (registered symbols on the prototypes): `instanceof` holds for an error
// created by another copy of this module, as for `LmiError`.
const kEmulatorError = Symbol.for('@lmi/dev/emulator/EmulatorError')
const kEmulatorClosedError = Symbol.for('@lmi/dev/emulator/EmulatorClosedError')
const kEmulatorArgumentError = Symbol.for('@lmi/dev/emulator/EmulatorArgumentError')

/**
 * Base class of the errors the emulator throws or rejects with; an {@link LmiError}.
 *
 * @example
 * ```ts
 * try {
 *   await emulator.invoke({})
 * } catch (error) {
 *   if (error instanceof EmulatorError) console.error(error.code)
 * }
 * ```
 */
export class EmulatorError extends LmiError {
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'EmulatorError'
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kEmulatorError)
  }
}
Object.defineProperty(EmulatorError.prototype, kEmulatorError, { value: true })

/**
 * The emulator was closed: `invoke()` was called after `close()`, or `close()` ran before the
 * invocation ended. Code `LMI_EMULATOR_CLOSED`.
 *
 * @example
 * ```ts
 * const pending = emulator.invoke({ n: 1 })
 * await emulator.close()
 * await pending.catch((error) => error instanceof EmulatorClosedError) // true
 * ```
 */
export class EmulatorClosedError extends EmulatorError {
  constructor(message = 'the Runtime API emulator is closed') {
    super(message, 'LMI_EMULATOR_CLOSED')
    this.name = 'EmulatorClosedError'
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kEmulatorClosedError)
  }
}
Object.defineProperty(EmulatorClosedError.prototype, kEmulatorClosedError, { value: true })

/**
 * An option, an invoke option or a fault is invalid. Thrown (or rejected) once, where the value is
 * given, never later on the request path. Code `LMI_EMULATOR_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * await createEmulator({ maxConcurrency: 0 }) // rejects with EmulatorArgumentError
 * ```
 */
export class EmulatorArgumentError extends EmulatorError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'LMI_EMULATOR_INVALID_ARGUMENT', options)
    this.name = 'EmulatorArgumentError'
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kEmulatorArgumentError)
  }
}
Object.defineProperty(EmulatorArgumentError.prototype, kEmulatorArgumentError, { value: true })
