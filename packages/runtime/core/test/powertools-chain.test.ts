// Powertools Logger in lmi() with no Lambda runtime at all (a unit test, another host), in LMI
// mode: lmi() provides the InvokeStore Powertools scopes its per-invocation state through.
// Own file, so the environment set here stays in this process.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { barrier } from '@lmi/test-kit'
import { type LambdaContext, lmi } from '../src/index.ts'

process.env.AWS_LAMBDA_MAX_CONCURRENCY = '64'

describe('Powertools Logger in lmi() without a Lambda runtime', () => {
  it('keeps 20 concurrent invocations’ ids and appended keys apart', async () => {
    const lines: Record<string, unknown>[] = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string) => {
      for (const line of String(chunk).split('\n'))
        if (line.startsWith('{')) lines.push(JSON.parse(line))
      return true
    }) as typeof process.stdout.write
    try {
      const logger = new Logger({ serviceName: 'orders' })
      const size = 20
      const wait = barrier(size)
      const handler = lmi(async (event: { n: number }) => {
        logger.appendKeys({ order: event.n })
        await wait()
        logger.info('placing order')
      }).use(injectLambdaContext(logger))
      await Promise.all(
        Array.from({ length: size }, (_, n) =>
          handler({ n }, {
            awsRequestId: `req-${n}`,
            tenantId: `tenant-${n}`,
            functionName: 'orders',
            getRemainingTimeInMillis: () => 10_000,
          } as LambdaContext),
        ),
      )
    } finally {
      process.stdout.write = write
    }
    const placing = lines.filter((line) => line.message === 'placing order')
    assert.equal(placing.length, 20)
    for (const line of placing) {
      assert.equal(line.function_request_id, `req-${line.order}`)
      assert.equal(line.tenant_id, `tenant-${line.order}`)
    }
  })
})
