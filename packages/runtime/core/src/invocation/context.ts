// The declarations of @lmi/core (and of every package built on it) use Node's types:
// `NodeJS.ProcessEnv`, `Buffer`, `node:stream`. This reference, kept in the emitted .d.ts, brings
// them into a user's program even where `types` leaves "node" out (TypeScript 6's default is
// `types: []`). Here because every entry point of every @lmi package loads this file's types.
/// <reference types="node" preserve="true" />

/**
 * The function's identity, read once from the environment at start-up.
 *
 * @example
 * ```ts
 * const info: FunctionInfo = functionInfoFromEnv(process.env) // { functionName: 'orders', … }
 * ```
 */
export interface FunctionInfo {
  functionName: string
  functionVersion: string
  memoryLimitInMB: string
  logGroupName: string
  logStreamName: string
}

/** Reads `AWS_LAMBDA_FUNCTION_*` and `AWS_LAMBDA_LOG_*` the way AWS's runtime does. */
export function functionInfoFromEnv(env: NodeJS.ProcessEnv = process.env): FunctionInfo {
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '',
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
  }
}

// No index signatures on these two, and `any` values in `client` and `env`: an interface
// (@types/aws-lambda's `CognitoIdentity`, `ClientContextClient`, `ClientContextEnv`) is
// assignable to no index signature but one of `any`. Otherwise AWS's `Context` would not be a
// `LambdaContext`, and no lmi handler would fit `Handler`, `APIGatewayProxyHandlerV2`, … of
// @types/aws-lambda, whose `context` parameter is AWS's `Context`.

/**
 * Mobile SDK client context, when the caller sent one: the JSON of the
 * `Lambda-Runtime-Client-Context` header, as it came.
 *
 * @example
 * ```ts
 * const appTitle = context.clientContext?.client?.app_title
 * ```
 */
export interface ClientContext {
  // biome-ignore lint/suspicious/noExplicitAny: see above; the caller's JSON, shape unknown
  client?: Record<string, any> | undefined
  custom?: Record<string, unknown> | undefined
  // biome-ignore lint/suspicious/noExplicitAny: see above
  env?: Record<string, any> | undefined
}

/**
 * Cognito identity, when the caller sent one.
 *
 * @example
 * ```ts
 * const identityId = context.identity?.cognitoIdentityId
 * ```
 */
export interface CognitoIdentity {
  cognitoIdentityId: string
  cognitoIdentityPoolId: string
}

/**
 * The Lambda `Context` object, as AWS's Node runtime builds it (and as `@types/aws-lambda`
 * types it), plus the invocation's deadline `signal`.
 *
 * @example
 * ```ts
 * import type { LambdaContext } from '@lmi/core'
 * export const handler = async (event: unknown, context: LambdaContext) => {
 *   console.log(context.awsRequestId, context.tenantId, context.getRemainingTimeInMillis())
 * }
 * ```
 */
export interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean
  functionName: string
  functionVersion: string
  invokedFunctionArn: string
  memoryLimitInMB: string
  awsRequestId: string
  logGroupName: string
  logStreamName: string
  identity?: CognitoIdentity | undefined
  clientContext?: ClientContext | undefined
  tenantId?: string | undefined
  xRayTraceId?: string | undefined
  getRemainingTimeInMillis(): number
}

function parseJsonHeader<T>(value: string | undefined): T | undefined {
  if (value === undefined || value === '') return undefined
  try {
    return JSON.parse(value) as T
  } catch {
    // A malformed optional header must not fail the invocation; Lambda would not send one.
    return undefined
  }
}

/** Builds the `Context` for one invocation. */
export function createLambdaContext(
  info: FunctionInfo,
  next: Omit<NextInvocation, 'body'>,
): LambdaContext {
  const deadlineMs = next.deadlineMs
  const context: LambdaContext = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: info.functionName,
    functionVersion: info.functionVersion,
    invokedFunctionArn: next.invokedFunctionArn,
    memoryLimitInMB: info.memoryLimitInMB,
    awsRequestId: next.requestId,
    logGroupName: info.logGroupName,
    logStreamName: info.logStreamName,
    identity: parseJsonHeader<CognitoIdentity>(next.cognitoIdentity),
    clientContext: parseJsonHeader<ClientContext>(next.clientContext),
    tenantId: next.tenantId,
    xRayTraceId: next.traceId,
    getRemainingTimeInMillis: function getRemainingTimeInMillis() {
      return Math.max(deadlineMs - Date.now(), 0)
    },
  }
  return context
}

/**
 * One event handed out by `GET /runtime/invocation/next`, with its headers decoded.
 *
 * @example
 * ```ts
 * const { requestId, deadlineMs, tenantId, body } = await client.next()
 * ```
 */
export interface NextInvocation {
  requestId: string
  deadlineMs: number
  invokedFunctionArn: string
  traceId: string | undefined
  clientContext: string | undefined
  cognitoIdentity: string | undefined
  tenantId: string | undefined
  body: Buffer
}
