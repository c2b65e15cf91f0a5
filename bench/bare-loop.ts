// The floor: N concurrent next → handler → respond loops on one undici Pool, nothing else —
// no Lambda context, no AsyncLocalStorage, no logging, no fault containment, no retries.
// Whatever a real runtime does costs something on top of this.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

// Structural types, so that type-checking the repository never needs bench/node_modules.
type ResponseData = {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: { text(): Promise<string>; dump(): Promise<void> }
}
type Pool = {
  request(options: {
    path: string
    method: 'GET' | 'POST'
    body?: string
    headers?: Record<string, string>
  }): Promise<ResponseData>
}
type Undici = {
  Pool: new (
    origin: string,
    options: { connections: number; headersTimeout: number; bodyTimeout: number },
  ) => Pool
}
type Handler = (event: unknown, context: { awsRequestId: string }) => Promise<unknown>

const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API
const taskRoot = process.env.LAMBDA_TASK_ROOT
const handlerSpec = process.env._HANDLER
if (!runtimeApi || !taskRoot || !handlerSpec) {
  throw new Error('AWS_LAMBDA_RUNTIME_API, LAMBDA_TASK_ROOT and _HANDLER must be set')
}
const concurrency = Math.max(1, Number(process.env.AWS_LAMBDA_MAX_CONCURRENCY ?? '1') || 1)

const dot = handlerSpec.lastIndexOf('.')
const base = join(taskRoot, handlerSpec.slice(0, dot))
const file = ['.mjs', '.js'].map((ext) => base + ext).find((candidate) => existsSync(candidate))
if (file === undefined) throw new Error(`handler file not found for ${handlerSpec}`)
const handler = (await import(pathToFileURL(file).href))[handlerSpec.slice(dot + 1)] as Handler

const undiciSpecifier = 'undici'
const { Pool } = (await import(undiciSpecifier)) as Undici
// `/next` is a long poll: it must never time out.
const pool = new Pool(`http://${runtimeApi}`, {
  connections: concurrency + 1,
  headersTimeout: 0,
  bodyTimeout: 0,
})
const apiBase = '/2018-06-01/runtime/invocation/'

async function loop(): Promise<never> {
  for (;;) {
    const next = await pool.request({ path: `${apiBase}next`, method: 'GET' })
    const requestId = String(next.headers['lambda-runtime-aws-request-id'])
    const event: unknown = JSON.parse(await next.body.text())
    let path: string
    let body: string
    try {
      body = JSON.stringify(await handler(event, { awsRequestId: requestId }))
      path = `${apiBase}${requestId}/response`
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error))
      body = JSON.stringify({ errorType: err.name, errorMessage: err.message, stackTrace: [] })
      path = `${apiBase}${requestId}/error`
    }
    const answer = await pool.request({
      path,
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    })
    await answer.body.dump()
  }
}

await Promise.all(Array.from({ length: concurrency }, loop))
