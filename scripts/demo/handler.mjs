// The demo's handler: simulated I/O (a 5-25 ms call that honours the invocation's deadline
// signal), per-request data only in locals, JSON logs with the request and tenant ids.
import { setTimeout as sleep } from 'node:timers/promises'
import { getInvocation } from '@lmi/runtime'

export const handler = async (event, context) => {
  const { signal, tenantId } = getInvocation()
  const started = Date.now()
  await sleep(5 + (event.n % 21), undefined, { signal })
  if (event.n % 100 === 0) console.log(`served order ${event.n} for ${tenantId}`)
  return {
    greeting: `hello ${tenantId ?? 'anonymous'}`,
    order: event.n,
    requestId: context.awsRequestId,
    tookMs: Date.now() - started,
  }
}
