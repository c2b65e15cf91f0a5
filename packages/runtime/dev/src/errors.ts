import { LmiError } from '@lmi/core'
import { brand } from '@lmi/core/internal'

/**
 * Every code the errors of `@lmi/dev` carry (emulator and `lmi check`); stable and never reused.
 *
 * @example
 * ```ts
 * import { CODES } from '@lmi/dev/emulator'
 * await emulator.invoke({}).catch((error) => {
 *   if (error.code === CODES.EMULATOR_CLOSED) return // closed during teardown
 *   throw error
 * })
 * ```
 */
export const CODES = {
  EMULATOR_CLOSED: 'LMI_EMULATOR_CLOSED',
  EMULATOR_INVALID_ARGUMENT: 'LMI_EMULATOR_INVALID_ARGUMENT',
  CHECK_USAGE: 'LMI_CHECK_USAGE',
  CHECK_EVENTS: 'LMI_CHECK_EVENTS',
  CHECK_HANDLER: 'LMI_CHECK_HANDLER',
} as const

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
}
brand(EmulatorError, '@lmi/dev/emulator/EmulatorError')

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
    super(message, CODES.EMULATOR_CLOSED)
    this.name = 'EmulatorClosedError'
  }
}
// Branded per class, not only at the base: code tells a closed emulator from a bad argument
// even when the error comes from another copy of this module.
brand(EmulatorClosedError, '@lmi/dev/emulator/EmulatorClosedError')

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
    super(message, CODES.EMULATOR_INVALID_ARGUMENT, options)
    this.name = 'EmulatorArgumentError'
  }
}
brand(EmulatorArgumentError, '@lmi/dev/emulator/EmulatorArgumentError')

/**
 * Why `lmi check` could not check: bad options, unusable events, or a handler that does not
 * load. The CLI prints the message and exits 2; `runCheck` rejects with one of the
 * subclasses. `code` is stable and never reused.
 *
 * @example
 * ```ts
 * try {
 *   await runCheck({ handler: 'src/app.handler', events: 'events.json' })
 * } catch (error) {
 *   if (error instanceof CheckError) console.error(error.code, error.message)
 * }
 * ```
 */
export class CheckError extends LmiError {
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, code, options)
    this.name = 'CheckError'
  }
}
brand(CheckError, '@lmi/dev/CheckError')

/**
 * An option of `lmi check` (or of `runCheck`) is missing or has a value it cannot use.
 *
 * @example
 * ```ts
 * // lmi check src/app.handler --events e.json --rounds 0
 * // => CheckUsageError: --rounds must be an integer >= 1, got "0"
 * ```
 */
export class CheckUsageError extends CheckError {
  constructor(message: string) {
    super(message, CODES.CHECK_USAGE)
    this.name = 'CheckUsageError'
  }
}

/**
 * The events to check with cannot be used: missing file or directory, invalid JSON, not an
 * array, no events. `path` is the offending file or directory.
 *
 * @example
 * ```ts
 * // lmi check src/app.handler --events event.json   (a single object, not an array)
 * // => CheckEventsError: event.json must hold a JSON array of events (or pass a directory …)
 * ```
 */
export class CheckEventsError extends CheckError {
  readonly path: string | undefined

  constructor(message: string, path: string | undefined, options?: ErrorOptions) {
    super(message, CODES.CHECK_EVENTS, options)
    this.name = 'CheckEventsError'
    this.path = path
  }
}

/**
 * The handler could not be started: its module is missing, does not export the function, has
 * a syntax error or threw while loading, or the runtime process stopped before it polled for
 * invocations. `errorType` is the Lambda error type the runtime reported
 * (`Runtime.HandlerNotFound`, `Runtime.ImportModuleError`, `Runtime.UserCodeSyntaxError`, …)
 * or `undefined` when it reported none.
 *
 * @example
 * ```ts
 * // lmi check src/app.nope --events e.json
 * // => CheckHandlerError: the handler did not load: Runtime.HandlerNotFound: app.nope is undefined or not exported
 * ```
 */
export class CheckHandlerError extends CheckError {
  readonly errorType: string | undefined

  constructor(message: string, errorType: string | undefined, options?: ErrorOptions) {
    super(message, CODES.CHECK_HANDLER, options)
    this.name = 'CheckHandlerError'
    this.errorType = errorType
  }

  override toJSON(): { name: string; code: string; message: string; errorType?: string } {
    const json = super.toJSON()
    return this.errorType === undefined ? json : { ...json, errorType: this.errorType }
  }
}
