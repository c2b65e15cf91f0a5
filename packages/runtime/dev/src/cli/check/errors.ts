import { LmiError } from '@lmi/core'

/**
 * Why `lmi check` could not check: bad options, unusable events, or a handler that does not
 * load. The CLI prints the message and exits 2; {@link runCheck} rejects with one of the
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

/**
 * An option of `lmi check` (or of {@link runCheck}) is missing or has a value it cannot use.
 *
 * @example
 * ```ts
 * // lmi check src/app.handler --events e.json --rounds 0
 * // => CheckUsageError: --rounds must be an integer >= 1, got "0"
 * ```
 */
export class CheckUsageError extends CheckError {
  constructor(message: string) {
    super(message, 'LMI_CHECK_USAGE')
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
    super(message, 'LMI_CHECK_EVENTS', options)
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
    super(message, 'LMI_CHECK_HANDLER', options)
    this.name = 'CheckHandlerError'
    this.errorType = errorType
  }

  override toJSON(): { name: string; code: string; message: string; errorType?: string } {
    const json = super.toJSON()
    return this.errorType === undefined ? json : { ...json, errorType: this.errorType }
  }
}
