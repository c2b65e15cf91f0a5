/**
 * The fields of `@lmi/core`'s `LambdaContext` the tests set, spelled out here: the kit cannot
 * depend on `@lmi/core`, whose own tests use it. Assignable to `LambdaContext`.
 *
 * @example
 * ```ts
 * const context: TestLambdaContext = lambdaContext('req-1')
 * ```
 */
export interface TestLambdaContext {
  callbackWaitsForEmptyEventLoop: boolean
  functionName: string
  functionVersion: string
  invokedFunctionArn: string
  memoryLimitInMB: string
  awsRequestId: string
  logGroupName: string
  logStreamName: string
  tenantId?: string | undefined
  xRayTraceId?: string | undefined
  getRemainingTimeInMillis(): number
}

/**
 * A Lambda context as a runtime hands it to the handler: function `orders` in eu-west-1, a
 * 30 s deadline from now, `awsRequestId` = `requestId`. `overrides` replaces or adds fields
 * (`tenantId` under tenant isolation, `xRayTraceId`, a shorter deadline).
 *
 * @example
 * ```ts
 * import { lambdaContext } from '@lmi/test-kit'
 *
 * await handler(event, lambdaContext('req-1'))
 * await handler(event, lambdaContext('req-2', { tenantId: 'acme' }))
 * await handler(event, lambdaContext('req-3', { getRemainingTimeInMillis: () => 50 }))
 * ```
 */
export function lambdaContext(
  requestId = 'req-1',
  overrides: Partial<TestLambdaContext> = {},
): TestLambdaContext {
  const deadline = Date.now() + 30_000
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'orders',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/orders',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    ...overrides,
  }
}
