// Attributed output for `lmi check` (LMI_CHECK_ATTRIBUTION=1): every chunk the handler's code
// writes to stdout or stderr is re-emitted as one line that says which invocation wrote it.
// Installed in the thread that runs the handler, before the handler loads: in a worker thread
// the invocation's AsyncLocalStorage context is only known there, not where the worker's
// stdout is finally written (the main thread). The runtime's own lines go through the raw
// functions captured here ({@link writeOwn}) and stay as they are.
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { fileURLToPath } from 'node:url'
import { currentInvocation, userStack } from '@lmi/core/internal'

/**
 * What starts an attributed line: a record separator (no handler prints it by accident, and
 * no JSON line starts with it), then a tag.
 *
 * @example
 * ```ts
 * if (line.startsWith(ATTRIBUTION_PREFIX)) JSON.parse(line.slice(ATTRIBUTION_PREFIX.length))
 * ```
 */
export const ATTRIBUTION_PREFIX = '\u001eLMI-WRITE '

/**
 * One attributed write, as JSON after {@link ATTRIBUTION_PREFIX}.
 *
 * @example
 * ```ts
 * const write: AttributedWrite = { r: 'c0ffee', e: true, s: 'out', t: 'late\n', at: '/var/task/app.mjs:12:7' }
 * ```
 */
export interface AttributedWrite {
  /** The request id of the invocation current at write time; `null` outside any. */
  r: string | null
  /** True when that invocation had already been answered. */
  e: boolean
  s: 'out' | 'err'
  /** The chunk, decoded as UTF-8. */
  t: string
  /**
   * `file:line:col` of the writing code: the first application frame outside node_modules
   * (where the handler called its logger), when the stack has one.
   */
  at?: string
}

/**
 * True when the environment asks for attributed output (`lmi check` sets it).
 *
 * @example
 * ```ts
 * if (attributionFromEnv(process.env)) installAttribution()
 * ```
 */
export function attributionFromEnv(env: NodeJS.ProcessEnv): boolean {
  return env.LMI_CHECK_ATTRIBUTION === '1'
}

type StreamWrite = NodeJS.WriteStream['write']

interface RawWrites {
  stdout: StreamWrite
  stderr: StreamWrite
  write: typeof fs.write
  writeSync: typeof fs.writeSync
  writev: typeof fs.writev
  writevSync: typeof fs.writevSync
}

let raw: RawWrites | undefined
// Set while a raw function writes: a process.stdout backed by a file writes through
// fs.writeSync, which must then pass the already attributed line through untouched.
let emitting = false

/**
 * Writes the runtime's own output unattributed: through the functions captured before
 * {@link installAttribution} patched them, or the stream's own `write` when nothing is patched.
 *
 * @example
 * ```ts
 * writeOwn('err', 'lmi-runtime: could not report the init error\n')
 * ```
 */
export function writeOwn(stream: 'out' | 'err', text: string): void {
  const target = stream === 'out' ? process.stdout : process.stderr
  if (raw === undefined) {
    target.write(text)
    return
  }
  emitting = true
  try {
    ;(stream === 'out' ? raw.stdout : raw.stderr).call(target, text)
  } finally {
    emitting = false
  }
}

/**
 * Patches `process.stdout.write`, `process.stderr.write` and `fs.write`, `fs.writeSync`,
 * `fs.writev`, `fs.writevSync` (on fd 1 and 2) of this thread so that each chunk is written as
 * one {@link ATTRIBUTION_PREFIX} line ({@link AttributedWrite}). Callers see what they would
 * without it: the byte count of what they passed, `write`'s return value and callback.
 * Idempotent.
 *
 * @example
 * ```ts
 * installAttribution()
 * console.log('hi') // \u001eLMI-WRITE {"r":null,"e":false,"s":"out","t":"…hi…\n","at":"/var/task/app.mjs:3:9"}
 * ```
 */
export function installAttribution(): void {
  if (raw !== undefined) return
  const captured: RawWrites = {
    stdout: process.stdout.write,
    stderr: process.stderr.write,
    write: fs.write,
    writeSync: fs.writeSync,
    writev: fs.writev,
    writevSync: fs.writevSync,
  }
  raw = captured
  process.stdout.write = patchStream(process.stdout, captured.stdout, 'out')
  process.stderr.write = patchStream(process.stderr, captured.stderr, 'err')
  fs.writeSync = patchSync(captured.writeSync, fdChunk) as typeof fs.writeSync
  fs.write = patchWithCallback(captured.write, fdChunk) as typeof fs.write
  fs.writevSync = patchSync(captured.writevSync, fdVector) as typeof fs.writevSync
  fs.writev = patchWithCallback(captured.writev, fdVector) as typeof fs.writev
  // `import { writeSync } from 'node:fs'` in the handler sees the patched functions.
  syncBuiltinESMExports()
}

type Done = (error: unknown, written?: number, data?: unknown) => void
// biome-ignore lint/suspicious/noExplicitAny: stands for fs's overloaded write functions
type AnyFunction = (...args: any[]) => unknown
/** Reads the fd and bytes of a write's arguments (callback removed); fd 1 and 2 only. */
type ChunkOf = (args: unknown[]) => Chunk | undefined

/** `fs.writeSync` or `fs.writevSync`: attributed on fd 1 and 2, returning the caller's byte count. */
function patchSync(original: AnyFunction, chunkOf: ChunkOf): AnyFunction {
  return function attributedSync(this: unknown, ...args: unknown[]): unknown {
    const chunk = emitting ? undefined : chunkOf(args)
    if (chunk === undefined) return Reflect.apply(original, this, args)
    writeAll(chunk.fd, attributed(chunk.fd, chunk.bytes))
    return chunk.bytes.byteLength
  }
}

/** `fs.write` or `fs.writev`: attributed on fd 1 and 2, see {@link writeThenCallBack}. */
function patchWithCallback(original: AnyFunction, chunkOf: ChunkOf): AnyFunction {
  return function attributedWrite(this: unknown, ...args: unknown[]): void {
    const callback = args.at(-1)
    const chunk =
      emitting || typeof callback !== 'function' ? undefined : chunkOf(args.slice(0, -1))
    if (chunk === undefined) {
      Reflect.apply(original, this, args)
      return
    }
    writeThenCallBack(chunk, callback as Done, args[1])
  }
}

/**
 * `fs.write`/`fs.writev` on fd 1 or 2: written and called back synchronously. sonic-boom (pino)
 * queues what is logged while a write is pending and flushes it from that write's callback, in
 * the context of whoever wrote first: another invocation's lines would be attributed to it.
 */
function writeThenCallBack(chunk: Chunk, done: Done, data: unknown): void {
  try {
    writeAll(chunk.fd, attributed(chunk.fd, chunk.bytes))
  } catch (error) {
    done(error)
    return
  }
  done(null, chunk.bytes.byteLength, data)
}

function patchStream(
  stream: NodeJS.WriteStream,
  rawWrite: StreamWrite,
  s: 'out' | 'err',
): StreamWrite {
  return function write(this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
    if (emitting) return Reflect.apply(rawWrite, stream, [chunk, ...rest]) as boolean
    const encoding = typeof rest[0] === 'string' ? rest[0] : undefined
    const text = textOf(chunk, encoding)
    // Not text (an object-mode misuse): the stream's own error, unchanged.
    if (text === undefined) return Reflect.apply(rawWrite, stream, [chunk, ...rest]) as boolean
    const callback = rest.find((arg) => typeof arg === 'function')
    emitting = true
    try {
      const line = lineFor(s, text)
      return Reflect.apply(
        rawWrite,
        stream,
        callback === undefined ? [line] : [line, callback],
      ) as boolean
    } finally {
      emitting = false
    }
  } as StreamWrite
}

interface Chunk {
  fd: 1 | 2
  bytes: Buffer
}

/** The fd and bytes of `fs.write(Sync)`'s arguments (callback removed), for fd 1 and 2 only. */
function fdChunk(args: unknown[]): Chunk | undefined {
  const [fd, data, offsetOrOptions, length] = args
  if (fd !== 1 && fd !== 2) return undefined
  if (typeof data === 'string') {
    // (fd, string, position, encoding), as Node reads it.
    const encoding = typeof length === 'string' ? (length as BufferEncoding) : 'utf8'
    return { fd, bytes: Buffer.from(data, encoding) }
  }
  if (!ArrayBuffer.isView(data)) return undefined
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  let offset = 0
  let size: number | undefined
  if (typeof offsetOrOptions === 'object' && offsetOrOptions !== null) {
    const options = offsetOrOptions as { offset?: unknown; length?: unknown }
    if (typeof options.offset === 'number') offset = options.offset
    if (typeof options.length === 'number') size = options.length
  } else {
    if (typeof offsetOrOptions === 'number') offset = offsetOrOptions
    if (typeof length === 'number') size = length
  }
  return { fd, bytes: view.subarray(offset, size === undefined ? undefined : offset + size) }
}

function fdVector(args: unknown[]): Chunk | undefined {
  const [fd, buffers] = args
  if (fd !== 1 && fd !== 2) return undefined
  if (!Array.isArray(buffers) || !buffers.every((item) => ArrayBuffer.isView(item))) {
    return undefined
  }
  const views = buffers.map((item: ArrayBufferView) =>
    Buffer.from(item.buffer, item.byteOffset, item.byteLength),
  )
  return { fd, bytes: Buffer.concat(views) }
}

function textOf(chunk: unknown, encoding: string | undefined): string | undefined {
  if (typeof chunk === 'string') {
    if (encoding === undefined || /^utf-?8$/i.test(encoding) || !Buffer.isEncoding(encoding)) {
      return chunk
    }
    return Buffer.from(chunk, encoding).toString('utf8')
  }
  if (ArrayBuffer.isView(chunk)) {
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8')
  }
  return undefined
}

function attributed(fd: 1 | 2, bytes: Buffer): string {
  return lineFor(fd === 1 ? 'out' : 'err', bytes.toString('utf8'))
}

function lineFor(s: 'out' | 'err', t: string): string {
  const invocation = currentInvocation()
  const r = invocation?.requestId ?? null
  const e = invocation?.ended ?? false
  const record: AttributedWrite = { r, e, s, t }
  const at = writerLocation()
  if (at !== undefined) record.at = at
  return `${ATTRIBUTION_PREFIX}${JSON.stringify(record)}\n`
}

// This module's file as stack frames name it: in a bundle (the layer), lmi's frames are not
// told apart by folder, and the patched functions here must not pass for the writer.
const ownFile: string | undefined = (() => {
  const holder: { stack?: unknown } = {}
  Error.captureStackTrace(holder)
  const frame = typeof holder.stack === 'string' ? holder.stack.split('\n')[1] : undefined
  return frame === undefined ? undefined : /\(?([^()\s]+?):\d+:\d+\)?$/.exec(frame)?.[1]
})()

/**
 * `file:line:col` of the code that wrote (or made a request): the first application frame
 * outside node_modules (pino's or a logger's own frames say nothing about who logged), else
 * the first one there; `undefined` when no frame is the application's.
 *
 * @example
 * ```ts
 * writerLocation() // => '/var/task/app.mjs:12:7'
 * ```
 */
export function writerLocation(): string | undefined {
  const frames = userStack(20)
    ?.split('\n')
    .filter((line) => ownFile === undefined || !line.includes(ownFile))
  if (frames === undefined) return undefined
  const dependency = /node_modules[\\/]/
  const frame = frames.find((line) => !dependency.test(line)) ?? frames[0]
  return frame === undefined ? undefined : locationOf(frame)
}

function locationOf(frame: string): string | undefined {
  const inParens = /\((.+)\)$/.exec(frame)?.[1]
  const location = inParens ?? frame.replace(/^at\s+(async\s+)?/, '')
  const match = /^(.*):(\d+):(\d+)$/.exec(location)
  if (match === null) return location
  const [, file = '', line, column] = match
  let path = file
  if (file.startsWith('file:')) {
    try {
      path = fileURLToPath(file)
    } catch {
      // Not a valid file URL: shown as it is.
    }
  }
  return `${path}:${line}:${column}`
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Writes all of `text` to `fd`, waiting out EAGAIN on a non-blocking pipe, so a line is never torn. */
function writeAll(fd: 1 | 2, text: string): void {
  const rawWriteSync = (raw as RawWrites).writeSync
  const bytes = Buffer.from(text, 'utf8')
  let written = 0
  let waits = 0
  emitting = true
  try {
    while (written < bytes.byteLength) {
      try {
        written += rawWriteSync(fd, bytes, written, bytes.byteLength - written)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 10_000) throw error
        Atomics.wait(sleeper, 0, 0, 1)
      }
    }
  } finally {
    emitting = false
  }
}
