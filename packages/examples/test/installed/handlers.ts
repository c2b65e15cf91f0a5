// The user's code the installed-product test writes into its project: the root README's
// handler (taken from the README), a middy() handler with lmi's middlewares, a plain AWS-style
// handler with no lmi code, and the files the type-check and the CLI runs use. Kept as strings:
// they import packages (`@middy/core`, `aws-lambda`) the workspace does not install, so they
// can only be compiled in the project.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../../../../scripts/examples/build.ts'

/** The marker the root README puts before the handler a user copies into `app.ts`. */
export const README_MARKER = '<!-- installed-test: file app.ts -->'

/** The root README's handler: the ```ts block right after {@link README_MARKER}. */
export function readmeHandler(): string {
  const lines = readFileSync(join(repoRoot, 'README.md'), 'utf8').split('\n')
  const marker = lines.findIndex((line) => line.trim() === README_MARKER)
  // The block must follow the marker directly (blank lines and other directives aside).
  const start = lines.findIndex(
    (line, index) => index > marker && line.trim() !== '' && !line.trim().startsWith('<!--'),
  )
  const end = lines.findIndex((line, index) => index > start && line.trim() === '```')
  if (marker < 0 || lines[start]?.trim() !== '```ts' || end < 0) {
    throw new Error(`README.md: no \`\`\`ts block right after ${README_MARKER}`)
  }
  return `${lines.slice(start + 1, end).join('\n')}\n`
}

/** A `middy()` handler using `@lmi/*` middlewares, as a middy user adds them. */
export const MIDDY_HANDLER = `import { readFile } from 'node:fs/promises'
import { createLogger } from '@lmi/context'
import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
import { getTenantId, tenant } from '@lmi/tenant'
import { getTmp, tmpScope } from '@lmi/tmp-scope'
import middy from '@middy/core'
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda'

const log = createLogger()
const note = {
  type: 'object',
  properties: { text: { type: 'string' } },
  required: ['text'],
} as const

export const handler = middy<APIGatewayProxyEventV2 | APIGatewayProxyEvent | ALBEvent, unknown, Error, Context>()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody({ schema: note }))
  .use(tenant({ from: ['context', { header: 'x-tenant-id' }] }))
  .use(tmpScope())
  .handler(async (event, context) => {
    // middy keeps the declared event type: jsonBody has parsed and validated the body.
    const { text } = event.body as unknown as { text: string }
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20))
    const file = await getTmp().writeFile('note.txt', text)
    const readBack = await readFile(file, 'utf8')
    log.info({ file }, 'note saved')
    return { text: readBack, tenant: getTenantId(), requestId: context.awsRequestId, file }
  })
`

/** A handler written for AWS's runtime with no lmi code, typed with @types/aws-lambda. */
export const AWS_HANDLER = `import type {
  ALBEvent,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyHandlerV2,
  APIGatewayProxyResult,
  Handler,
} from 'aws-lambda'

type HttpEvent = APIGatewayProxyEventV2 | APIGatewayProxyEvent | ALBEvent

export const handler: Handler<HttpEvent, APIGatewayProxyResult> = async (event, context) => {
  const { text } = JSON.parse(event.body ?? '{}') as { text?: string }
  await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20))
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      text,
      tenant: event.headers?.['x-tenant-id'],
      requestId: context.awsRequestId,
      remainingMs: context.getRemainingTimeInMillis(),
    }),
  }
}

export const httpApi: APIGatewayProxyHandlerV2 = async (event) => ({
  statusCode: 200,
  body: JSON.stringify({ path: event.rawPath }),
})
`

/**
 * \`const h: <aws-lambda handler type> = lmi…\` where lmi knows the event and result types
 * (given as type arguments, or inferred from the handler): what decides these is whether lmi's
 * \`context\` parameter accepts AWS's \`Context\`.
 */
export const ASSIGN_FILE = `import type {
  ALBHandler,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyHandler,
  APIGatewayProxyHandlerV2,
  APIGatewayProxyResult,
  APIGatewayProxyResultV2,
  Handler,
} from 'aws-lambda'
import { lmi } from '@lmi/core'
import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
import { tenant } from '@lmi/tenant'
import { tmpScope } from '@lmi/tmp-scope'
import { handler as readmeHandler } from './app.ts'

const note = {
  type: 'object',
  properties: { text: { type: 'string' } },
  required: ['text'],
} as const

export const httpApi: APIGatewayProxyHandlerV2 = lmi<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody({ schema: note }))
  .use(tenant())
  .use(tmpScope())
  .handler(async (event) => ({ text: event.body.text }))

export const restApi: APIGatewayProxyHandler = lmi<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(httpErrors())
  .use(jsonResponse())
  .handler(async () => ({ ok: true }))

export const alb: ALBHandler = lmi(async () => ({ statusCode: 200, body: 'ok' }))

export const typedV2: APIGatewayProxyHandlerV2 = lmi<APIGatewayProxyEventV2, APIGatewayProxyResultV2>(
  async (event) => ({ statusCode: 200, body: event.rawPath }),
)

export const anyEvent: Handler = lmi(async (event: unknown) => event)

export const fromReadme: Handler = readmeHandler
`

/**
 * \`const h: APIGatewayProxyHandlerV2 = lmi()…\` with no type arguments, as the README writes
 * its chain: here lmi must also say what the chain returns (\`jsonResponse()\` makes it an HTTP
 * response, a handler returning one is one).
 */
export const ASSIGN_UNTYPED_FILE = `import type { APIGatewayProxyHandlerV2 } from 'aws-lambda'
import { lmi } from '@lmi/core'
import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
import { handler as readmeHandler } from './app.ts'

export const chain: APIGatewayProxyHandlerV2 = lmi()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody())
  .handler(async (event) => ({ echo: event.body }))

export const direct: APIGatewayProxyHandlerV2 = lmi(async () => ({ statusCode: 204 }))

export const fromReadme: APIGatewayProxyHandlerV2 = readmeHandler
`

/**
 * A file importing one public entry point of lmi and nothing else: compiled with TypeScript 7's
 * default `types` (none), it shows whether that entry point's declarations bring the Node types
 * they use.
 */
export function entryPointFile(specifier: string): string {
  return `import * as entry from '${specifier}'\n\nexport const used: unknown = entry\n`
}

/** A JavaScript lmi handler for \`lmi dev\` and \`lmi check\`: deterministic per event. */
export const DEV_JS_HANDLER = `import { lmi } from '@lmi/core'
import { httpErrors, jsonBody, jsonResponse } from '@lmi/json'
import { tenant, tryGetTenantId } from '@lmi/tenant'

export const handler = lmi()
  .use(httpErrors())
  .use(jsonResponse())
  .use(jsonBody())
  .use(tenant({ from: ['context', { header: 'x-tenant-id' }], required: false }))
  .handler(async (event) => ({ echo: event.body, tenant: tryGetTenantId() ?? null }))
`
