// THE FIX. The caller belongs to the invocation, not to the module: `@lmi/context` keeps it in
// the invocation's own store, which every helper reads without it being passed around, and
// which no other request can see. (Passing `caller` as an argument is just as good.)
import { get, set } from '@lmi/context'
import { getInvocation, lmi } from '@lmi/core'
import { httpErrors, jsonResponse } from '@lmi/json'
import { type Caller, callerFrom, type QuotaEvent, quotaOf } from './plans.ts'

function describeCaller(): string {
  const caller = get<Caller>('caller')
  return `${caller?.username} (${caller?.plan})`
}

/** GET /quota: the caller's monthly quota. */
export const handler = lmi<QuotaEvent>()
  .use(httpErrors())
  .use(jsonResponse())
  .handler(async (event) => {
    const caller = callerFrom(event)
    set('caller', caller)
    // The invocation's signal aborts the lookup at the deadline.
    const quota = await quotaOf(caller.plan, getInvocation().signal)
    console.info(`quota of ${describeCaller()}: ${quota}`)
    return { user: caller.sub, who: describeCaller(), quota }
  })
