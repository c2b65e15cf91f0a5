import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { EXTENSIONS_API_PREFIX, isRecord, JSON_CONTENT_TYPE } from '@lmi/core/internal'
import {
  firstHeader,
  isGone,
  parseErrorDocument,
  readBody,
  sendAccepted,
  sendError,
  sendJson,
} from './protocol.ts'
import type {
  EmulatorEventMap,
  ExtensionErrorReport,
  ExtensionEventType,
  RegisteredExtension,
  ShutdownEvent,
  ShutdownReason,
} from './types.ts'

/** The Extensions API, served beside the Runtime API on the same port, as Lambda does. */
export const EXTENSION_PREFIX = `${EXTENSIONS_API_PREFIX}/`

// Node lower-cases incoming header names.
const IN_NAME = 'lambda-extension-name'
const IN_ID = 'lambda-extension-identifier'
const IN_ERROR_TYPE = 'lambda-extension-function-error-type'
const IN_ACCEPT_FEATURE = 'lambda-extension-accept-feature'
const OUT_ID = 'Lambda-Extension-Identifier'
const OUT_EVENT_ID = 'Lambda-Extension-Event-Identifier'

/**
 * Error types of the Extensions API, named as AWS's runtime interface emulator names them, so
 * an extension's error handling can be tested against the names it meets on Lambda.
 */
const ErrorType = {
  invalidName: 'Extension.InvalidExtensionName',
  invalidEvent: 'Extension.InvalidEventType',
  invalidState: 'Extension.InvalidExtensionState',
  registrationClosed: 'Extension.RegistrationClosed',
  tooMany: 'Extension.TooManyExtensions',
  missingId: 'Extension.MissingExtensionIdentifier',
  invalidId: 'Extension.InvalidExtensionIdentifier',
  unknownId: 'Extension.UnknownExtensionIdentifier',
  missingHeader: 'Extension.MissingHeader',
  invalidFormat: 'InvalidRequestFormat',
} as const

// Lambda's limit on extensions per function.
const MAX_EXTENSIONS = 10
// A register body is a short list of event names; anything larger is a broken client.
const REGISTER_BODY_LIMIT = 64 * 1024
const ERROR_BODY_LIMIT = 1024 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const LMI_EVENTS_ONLY =
  'on Lambda Managed Instances extensions may subscribe to SHUTDOWN only (INVOKE is not available)'

/** What `/register` answers with, from the emulator's options. */
export interface FunctionInfo {
  readonly functionName: string
  readonly functionVersion: string
  readonly handler: string
  readonly accountId: string
}

/** A released event, kept so a poll that arrives later is answered at once. */
interface Released {
  readonly eventId: string
  readonly event: ShutdownEvent
  readonly body: Buffer
}

interface ExtensionState {
  readonly extension: RegisteredExtension
  /** The `/event/next` poll parked for this extension, if any. */
  poll: ServerResponse | undefined
  released: Released | undefined
}

/** Parses `{"events": [...]}`; returns the events or the error message to answer with. */
function parseEvents(
  body: Buffer,
): { events: ExtensionEventType[] } | { errorType: string; message: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString())
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { errorType: ErrorType.invalidFormat, message: `Could not parse the body: ${message}` }
  }
  if (!isRecord(parsed) || Array.isArray(parsed)) {
    return { errorType: ErrorType.invalidFormat, message: 'The body must be a JSON object' }
  }
  const { events, configurationKeys } = parsed
  // Lambda refuses the deprecated field rather than ignore settings the extension relies on.
  if (Array.isArray(configurationKeys) && configurationKeys.length > 0) {
    return {
      errorType: ErrorType.invalidFormat,
      message: 'configurationKeys are deprecated; use environment variables instead',
    }
  }
  if (events === undefined || events === null) return { events: [] }
  if (!Array.isArray(events) || !events.every((event) => typeof event === 'string')) {
    return { errorType: ErrorType.invalidFormat, message: 'events must be an array of strings' }
  }
  for (const event of events as string[]) {
    if (event === 'INVOKE') {
      return { errorType: ErrorType.invalidEvent, message: `INVOKE: ${LMI_EVENTS_ONLY}` }
    }
    if (event !== 'SHUTDOWN') {
      return { errorType: ErrorType.invalidEvent, message: `${event}: unknown event` }
    }
  }
  return { events: events.length === 0 ? [] : ['SHUTDOWN'] }
}

/**
 * The Extensions API (`/2020-01-01/extension/...`) of the emulator: registration, the
 * `SHUTDOWN` event long poll and the error reports. The emulator routes every path under
 * {@link EXTENSION_PREFIX} here and plays the shutdown sequence through
 * {@link ExtensionsApi.closeRegistration} and {@link ExtensionsApi.releaseShutdown}.
 */
export class ExtensionsApi {
  readonly #emitter: EventEmitter<EmulatorEventMap>
  readonly #info: FunctionInfo
  readonly #byId = new Map<string, ExtensionState>()
  readonly #names = new Set<string>()
  readonly #errors: ExtensionErrorReport[] = []
  #list: readonly RegisteredExtension[] = Object.freeze([])
  #registrationClosed = false
  #closed = false

  constructor(emitter: EventEmitter<EmulatorEventMap>, info: FunctionInfo) {
    this.#emitter = emitter
    this.#info = info
  }

  get extensions(): readonly RegisteredExtension[] {
    return this.#list
  }

  get errors(): readonly ExtensionErrorReport[] {
    return this.#errors
  }

  /** Handles `rest` (the path after {@link EXTENSION_PREFIX}); false if no route matches. */
  route(
    method: string | undefined,
    rest: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): boolean {
    if (rest === 'register' && method === 'POST') {
      this.#register(req, res)
    } else if (rest === 'event/next' && method === 'GET') {
      this.#next(req, res)
    } else if (rest === 'init/error' && method === 'POST') {
      this.#reportError('init', req, res)
    } else if (rest === 'exit/error' && method === 'POST') {
      this.#reportError('exit', req, res)
    } else {
      return false
    }
    return true
  }

  /**
   * Refuses registrations from now on (Lambda registers extensions during init only; a late
   * one during shutdown would never get its event) and returns how many are registered.
   */
  closeRegistration(): number {
    this.#registrationClosed = true
    return this.#byId.size
  }

  /**
   * Releases a `SHUTDOWN` event to every extension subscribed to it: a parked poll is answered
   * now, a later poll at once. Returns how many extensions it was released to.
   */
  releaseShutdown(reason: ShutdownReason, deadlineMs: number): number {
    if (this.#closed) return 0
    let released = 0
    for (const state of this.#byId.values()) {
      if (!state.extension.events.includes('SHUTDOWN') || state.released !== undefined) continue
      const event: ShutdownEvent = Object.freeze({
        eventType: 'SHUTDOWN',
        shutdownReason: reason,
        deadlineMs,
      })
      state.released = { eventId: randomUUID(), event, body: Buffer.from(JSON.stringify(event)) }
      released += 1
      const poll = state.poll
      if (poll !== undefined) {
        state.poll = undefined
        this.#answer(state, poll)
      }
    }
    return released
  }

  /** Ends parked polls and forgets every extension; the server's close destroys the sockets. */
  close(): void {
    this.#closed = true
    this.#registrationClosed = true
    for (const state of this.#byId.values()) {
      state.poll?.destroy()
      state.poll = undefined
    }
    this.#byId.clear()
    this.#names.clear()
  }

  // ---- /register -------------------------------------------------------------------------

  #register(req: IncomingMessage, res: ServerResponse): void {
    const api = this
    readBody(req, REGISTER_BODY_LIMIT, function onRegisterBody(body, _size, complete) {
      if (!complete) return
      // Every refusal is a 400: the request cannot succeed as sent (AWS's emulator answers
      // 403 to all of them; Lambda's docs list 400 for a bad request).
      const name = firstHeader(req.headers[IN_NAME])
      if (name === undefined || name === '') {
        sendError(res, 400, ErrorType.invalidName, 'Missing Lambda-Extension-Name header')
        return
      }
      if (body === undefined) {
        sendError(
          res,
          400,
          ErrorType.invalidFormat,
          `The body must be at most ${REGISTER_BODY_LIMIT} bytes`,
        )
        return
      }
      const parsed = parseEvents(body)
      if ('errorType' in parsed) {
        sendError(res, 400, parsed.errorType, parsed.message)
        return
      }
      if (api.#registrationClosed) {
        sendError(res, 400, ErrorType.registrationClosed, 'Extension registration closed already')
        return
      }
      if (api.#names.has(name)) {
        sendError(
          res,
          400,
          ErrorType.invalidState,
          `Extension with this name already registered: ${name}`,
        )
        return
      }
      if (api.#byId.size >= MAX_EXTENSIONS) {
        sendError(res, 400, ErrorType.tooMany, `Extension limit (${MAX_EXTENSIONS}) reached`)
        return
      }
      api.#add(req, res, name, parsed.events)
    })
  }

  #add(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    events: ExtensionEventType[],
  ): void {
    const extension: RegisteredExtension = Object.freeze({
      name,
      id: randomUUID(),
      events: Object.freeze(events),
    })
    this.#byId.set(extension.id, { extension, poll: undefined, released: undefined })
    this.#names.add(name)
    this.#list = Object.freeze([...this.#list, extension])
    const info = this.#info
    const answer: Record<string, string> = {
      functionName: info.functionName,
      functionVersion: info.functionVersion,
      handler: info.handler,
    }
    // Lambda adds the account id only to extensions that ask for it.
    const features = firstHeader(req.headers[IN_ACCEPT_FEATURE]) ?? ''
    if (features.split(',').some((feature) => feature.trim() === 'accountId')) {
      answer['accountId'] = info.accountId
    }
    res.setHeader(OUT_ID, extension.id)
    sendJson(res, 200, answer)
    this.#emitter.emit('extensionRegistered', extension)
  }

  // ---- /event/next -----------------------------------------------------------------------

  /** The extension a request names, or `undefined` after answering 403 as Lambda does. */
  #identify(req: IncomingMessage, res: ServerResponse): ExtensionState | undefined {
    const id = firstHeader(req.headers[IN_ID])
    if (id === undefined || id === '') {
      sendError(res, 403, ErrorType.missingId, `Missing ${OUT_ID} header`)
      return undefined
    }
    if (!UUID.test(id)) {
      sendError(res, 403, ErrorType.invalidId, `Invalid ${OUT_ID}`)
      return undefined
    }
    const state = this.#byId.get(id.toLowerCase())
    if (state === undefined) sendError(res, 403, ErrorType.unknownId, `Unknown extension ${id}`)
    return state
  }

  #next(req: IncomingMessage, res: ServerResponse): void {
    const state = this.#identify(req, res)
    if (state === undefined) return
    if (state.released !== undefined) {
      this.#answer(state, res)
      return
    }
    if (state.poll !== undefined && !isGone(state.poll)) {
      // One extension is one thread of control: a second poll while one waits is a bug.
      sendError(
        res,
        403,
        ErrorType.invalidState,
        `Extension ${state.extension.name} is already waiting on event/next`,
      )
      return
    }
    state.poll = res
    res.once('close', function onExtensionPollClose() {
      // A poll whose connection closes is forgotten: nothing is held for a dead socket.
      if (state.poll === res) state.poll = undefined
    })
    this.#emitter.emit('extensionWaiting', state.extension)
  }

  #answer(state: ExtensionState, res: ServerResponse): void {
    const released = state.released
    if (released === undefined || isGone(res)) return
    res.setHeader(OUT_EVENT_ID, released.eventId)
    res.writeHead(200, {
      'Content-Type': JSON_CONTENT_TYPE,
      'Content-Length': released.body.length,
    })
    res.end(released.body)
    this.#emitter.emit('extensionEvent', {
      extensionId: state.extension.id,
      name: state.extension.name,
      eventId: released.eventId,
      event: released.event,
    })
  }

  // ---- /init/error and /exit/error -------------------------------------------------------

  #reportError(kind: 'init' | 'exit', req: IncomingMessage, res: ServerResponse): void {
    const api = this
    readBody(req, ERROR_BODY_LIMIT, function onExtensionErrorBody(body, _size, complete) {
      if (!complete) return
      const state = api.#identify(req, res)
      if (state === undefined) return
      const errorType = firstHeader(req.headers[IN_ERROR_TYPE])
      if (errorType === undefined || errorType === '') {
        sendError(
          res,
          403,
          ErrorType.missingHeader,
          'Lambda-Extension-Function-Error-Type not found',
        )
        return
      }
      const text = body === undefined ? '' : body.toString()
      const report: ExtensionErrorReport = Object.freeze({
        extensionId: state.extension.id,
        name: state.extension.name,
        kind,
        errorType,
        error: text === '' ? undefined : parseErrorDocument(text, errorType),
      })
      api.#errors.push(report)
      sendAccepted(res)
      api.#emitter.emit('extensionError', report)
    })
  }
}
