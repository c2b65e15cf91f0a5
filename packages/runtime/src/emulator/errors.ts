// Brands are registered symbols put on the prototypes, so `instanceof` also holds for an error
// created by another copy of this module (the `@lmi/source` build and `dist` loaded side by side),
// the way undici brands its errors.
const kEmulatorError = Symbol.for('@lmi/runtime/emulator/EmulatorError')
const kEmulatorClosedError = Symbol.for('@lmi/runtime/emulator/EmulatorClosedError')
const kEmulatorArgumentError = Symbol.for('@lmi/runtime/emulator/EmulatorArgumentError')

function hasBrand(value: unknown, brand: symbol): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  )
}

/**
 * Base class of the errors the emulator throws or rejects with. `code` is stable and never reused.
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
export class EmulatorError extends Error {
  /** Stable machine-readable code, e.g. `LMI_EMULATOR_CLOSED`. */
  readonly code: string

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'EmulatorError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kEmulatorError)
  }

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message }
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
