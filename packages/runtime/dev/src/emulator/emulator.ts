import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EmulatorClosedError } from '../errors.ts'
import { ExtensionsApi } from './extensions.ts'
import { FaultPlan, FaultTimers } from './faults.ts'
import { InvocationTable } from './invocations.ts'
import { InvokeApi } from './invoke-api.ts'
import { encodeEvent, initFromOptions, type ResolvedOptions, resolveOptions } from './options.ts'
import { newLogStreamName } from './protocol.ts'
import { createRouter } from './router.ts'
import { RuntimeApi, sendInvocation } from './runtime-api.ts'
import { planShutdown, runShutdown } from './shutdown.ts'
import type {
  Emulator,
  EmulatorEventMap,
  EmulatorOptions,
  EmulatorStats,
  ExtensionErrorReport,
  Fault,
  InvocationError,
  InvokeOptions,
  InvokeResult,
  RegisteredExtension,
  ShutdownOptions,
  ShutdownProcesses,
  ShutdownReport,
} from './types.ts'

/**
 * The {@link Emulator}: owns the server and the parts it is made of (the invocation table,
 * the Runtime, Extensions and invoke APIs, the injected faults) and the shutdown sequence.
 */
class RuntimeApiEmulator extends EventEmitter<EmulatorEventMap> implements Emulator {
  readonly functionArn: string
  readonly #options: ResolvedOptions
  readonly #server: Server
  readonly #table: InvocationTable
  readonly #faults = new FaultPlan()
  readonly #faultTimers = new FaultTimers()
  readonly #extensionsApi: ExtensionsApi
  /** Aborted by close(): a shutdown in progress stops waiting and SIGKILLs what is left. */
  readonly #shutdownAbort = new AbortController()
  #shutdown: Promise<ShutdownReport> | undefined
  #port = 0
  #runtimeApi = ''
  #env: Readonly<Record<string, string>> = {}
  #closing: Promise<void> | undefined

  static async start(options: ResolvedOptions): Promise<RuntimeApiEmulator> {
    const emulator = new RuntimeApiEmulator(options)
    await emulator.#listen()
    return emulator
  }

  private constructor(options: ResolvedOptions) {
    super()
    this.#options = options
    const functionArn = `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`
    this.functionArn = functionArn
    const faultTimers = this.#faultTimers
    this.#table = new InvocationTable(this, options, function sendNext(invocation, res) {
      return sendInvocation(invocation, res, functionArn, faultTimers)
    })
    this.#extensionsApi = new ExtensionsApi(this, options)
    this.#server = createRouter({
      runtime: new RuntimeApi(this.#table, this, options.functionVersion),
      extensions: this.#extensionsApi,
      invoke: new InvokeApi(this.#table, options),
      faults: this.#faults,
      faultTimers,
      emitter: this,
    })
  }

  get url(): string {
    return `http://${this.#runtimeApi}`
  }

  get runtimeApi(): string {
    return this.#runtimeApi
  }

  get port(): number {
    return this.#port
  }

  get env(): Readonly<Record<string, string>> {
    return this.#env
  }

  get initError(): InvocationError | undefined {
    return this.#table.initError
  }

  get extensions(): readonly RegisteredExtension[] {
    return this.#extensionsApi.extensions
  }

  get extensionErrors(): readonly ExtensionErrorReport[] {
    return this.#extensionsApi.errors
  }

  invoke(event: unknown, options?: InvokeOptions): Promise<InvokeResult> {
    try {
      const bytes = encodeEvent(event)
      return this.#table.add(bytes, initFromOptions(options, this.#options.timeoutMs), undefined)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  stats(): EmulatorStats {
    return this.#table.stats()
  }

  resetPeak(): void {
    this.#table.resetPeak()
  }

  inject(fault: Fault): void {
    this.#faults.add(fault)
  }

  shutdown(processes: ShutdownProcesses, options?: ShutdownOptions): Promise<ShutdownReport> {
    if (this.#shutdown !== undefined) return this.#shutdown
    if (this.#closing !== undefined) return Promise.reject(new EmulatorClosedError())
    let plan: ReturnType<typeof planShutdown>
    try {
      plan = planShutdown(processes, options)
    } catch (error) {
      return Promise.reject(error)
    }
    const emulator = this
    const table = this.#table
    const api = this.#extensionsApi
    this.#shutdown = runShutdown(
      plan,
      {
        begin() {
          // `/next` hands out nothing from now on, as on Lambda.
          table.stop()
          return api.closeRegistration()
        },
        releaseShutdown(reason, deadlineMs) {
          return api.releaseShutdown(reason, deadlineMs)
        },
      },
      this.#shutdownAbort.signal,
    )
    // Apart from the returned promise: a throwing listener must not turn the report into a
    // rejection (it surfaces as an unhandled rejection instead, as a bug should).
    this.#shutdown.then(function announceShutdown(report) {
      emulator.emit('shutdown', report)
    }, ignoreRejection)
    return this.#shutdown
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#shutdownAbort.abort()
    this.#extensionsApi.close()
    this.#faultTimers.clear()
    this.#faults.clear()
    this.#table.close()
    const server = this.#server
    this.#closing = new Promise<void>(function closeServer(resolve) {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    return this.#closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #listen(): Promise<void> {
    const server = this.#server
    const { port, host } = this.#options
    await new Promise<void>(function listen(resolve, reject) {
      function onError(error: Error): void {
        server.off('listening', onListening)
        reject(error)
      }
      function onListening(): void {
        server.off('error', onError)
        resolve()
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(port, host)
    })
    this.#port = (server.address() as AddressInfo).port
    this.#runtimeApi = `${host.includes(':') ? `[${host}]` : host}:${this.#port}`
    this.#env = Object.freeze(this.#buildEnv())
  }

  #buildEnv(): Record<string, string> {
    const options = this.#options
    const env: Record<string, string> = {
      AWS_LAMBDA_RUNTIME_API: this.#runtimeApi,
      AWS_LAMBDA_FUNCTION_NAME: options.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: options.functionVersion,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memorySizeMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: newLogStreamName(options.functionVersion, new Date()),
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    }
    // AWS_LAMBDA_MAX_CONCURRENCY is how a runtime knows it runs on Managed Instances.
    if (options.maxConcurrency > 1) {
      env['AWS_LAMBDA_MAX_CONCURRENCY'] = String(options.maxConcurrency)
      env['AWS_LAMBDA_INITIALIZATION_TYPE'] = 'lambda-managed-instances'
    }
    return env
  }
}

/**
 * Starts a local Lambda Runtime API on loopback, for a runtime to poll, plus the RIE-compatible
 * invoke endpoint `POST /2015-03-31/functions/function/invocations`. Rejects with
 * `EmulatorArgumentError` for bad options, or with the listen error (e.g. `EADDRINUSE`).
 *
 * @example
 * ```ts
 * import { createEmulator } from '@lmi/dev/emulator'
 *
 * const emulator = await createEmulator({ maxConcurrency: 8, timeoutMs: 1000 })
 * // run a runtime with AWS_LAMBDA_RUNTIME_API=emulator.runtimeApi, then:
 * const result = await emulator.invoke({ orderId: 42 }, { tenantId: 'acme' })
 * console.log(result.status, result.payload.toString())
 * await emulator.close()
 * ```
 */
export async function createEmulator(options?: EmulatorOptions): Promise<Emulator> {
  return RuntimeApiEmulator.start(resolveOptions(options))
}

// The caller holds the same promise and sees the rejection there.
function ignoreRejection(): void {}
