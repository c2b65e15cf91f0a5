// The schema side of jsonBody: ajv compiled once, at creation, and run on each parsed body.
import { InvalidConfigurationError } from '@lmi/core'
import { invalidOption, isRecord } from '@lmi/core/internal'
import { Ajv, type Options as AjvOptions, type ErrorObject, type ValidateFunction } from 'ajv'
import formatsModule from 'ajv-formats'
import { PACKAGE, ValidationError, type ValidationIssue } from './errors.ts'
import { type JsonBodyOptions, type JsonSchemaLike, WHERE } from './options.ts'

// ajv-formats is CommonJS with `exports.default`: under NodeNext the default import is the
// module object at type level and the plugin (which also carries `.default`) at run time.
const addFormats = formatsModule.default

function isAjvInstance(value: unknown): value is Ajv {
  return isRecord(value) && typeof value.compile === 'function'
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

// When ajv refuses, its own error is the `cause` (not the kit's `{ package, data }`): Node
// prints a cause that is an Error, and ajv's message is what tells the user what to fix.
function rejectedByAjv(message: string, error: unknown): InvalidConfigurationError {
  return new InvalidConfigurationError(`${WHERE}: ${message}`, { cause: error })
}

function createAjv(options: JsonBodyOptions): Ajv {
  const { ajv: ajvOptions, formats = true, allErrors = false } = options
  let ajv: Ajv
  try {
    ajv = new Ajv({ allErrors, coerceTypes: false, ...(ajvOptions as AjvOptions | undefined) })
  } catch (error) {
    throw rejectedByAjv(`ajv rejected its options: ${messageOf(error)}`, error)
  }
  if (formats === true) addFormats(ajv)
  else if (formats !== false) {
    for (const name of formats) {
      try {
        addFormats.get(name)
      } catch (error) {
        throw rejectedByAjv(`formats: unknown format ${String(name)}`, error)
      }
    }
    addFormats(ajv, [...formats])
  }
  return ajv
}

/**
 * Compiles `schema` with the given ajv instance or a new one. The generic checks of `ajv`,
 * `formats` and `allErrors` are done by then (see options.ts); what is left is ajv's say.
 */
export function compileSchema(schema: JsonSchemaLike, options: JsonBodyOptions): ValidateFunction {
  let ajv: Ajv
  if (isAjvInstance(options.ajv)) {
    if (options.formats !== undefined || options.allErrors !== undefined) {
      throw invalidOption(
        PACKAGE,
        `${WHERE}: formats and allErrors configure the ajv jsonBody creates; set them on your own ajv instance instead`,
        { option: options.formats !== undefined ? 'formats' : 'allErrors' },
      )
    }
    ajv = options.ajv
  } else {
    ajv = createAjv(options)
  }
  let validate: ValidateFunction
  try {
    const id = typeof schema === 'object' ? (schema as { $id?: unknown }).$id : undefined
    // The same schema (by $id) given twice to one shared ajv instance: reuse its validator
    // rather than fail with "schema already exists".
    const known = typeof id === 'string' ? ajv.getSchema(id) : undefined
    validate = known ?? ajv.compile(schema as object)
  } catch (error) {
    throw rejectedByAjv(`schema is not valid: ${messageOf(error)}`, error)
  }
  if ((validate as { $async?: unknown }).$async === true) {
    throw invalidOption(PACKAGE, `${WHERE}: $async schemas are not supported`, {
      option: 'schema',
    })
  }
  return validate
}

function toIssues(errors: ErrorObject[] | null | undefined, maxErrors: number): ValidationIssue[] {
  if (!errors) return []
  return errors.slice(0, maxErrors).map((error) => ({
    instancePath: error.instancePath,
    keyword: error.keyword,
    message: error.message ?? 'is invalid',
    params: { ...error.params },
  }))
}

/** Throws `ValidationError` (422) with at most `maxErrors` issues when `body` fails `validate`. */
export function validateBody(validate: ValidateFunction, body: unknown, maxErrors: number): void {
  let valid: boolean
  try {
    // Synchronous: `validate.errors` (ajv keeps it on the shared function) is read below before
    // any other invocation can run, so concurrent invocations never see each other's errors.
    valid = validate(body) as boolean
  } catch (error) {
    // A recursive schema over a deeply nested body can exhaust the stack: the body's fault.
    if (error instanceof RangeError) {
      throw new ValidationError(
        [{ instancePath: '', keyword: 'depth', message: 'is nested too deeply', params: {} }],
        { cause: error },
      )
    }
    throw error
  }
  if (!valid) throw new ValidationError(toIssues(validate.errors, maxErrors))
}
