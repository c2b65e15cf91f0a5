// THE BUG. Correct on classic Lambda, where an execution environment runs one request at a
// time: the module-level `caller` is set at the start of each request and read at the end.
// On Lambda Managed Instances up to 64 requests share this module: while one awaits its quota
// lookup, another overwrites `caller`, and the first answers with the second's identity.

import { lmi } from '@lmi/core'
import { httpErrors, jsonResponse } from '@lmi/json'
import { type Caller, callerFrom, type QuotaEvent, quotaOf } from './plans.ts'

let caller: Caller // "the current user", for the helpers below

function describeCaller(): string {
  return `${caller.username} (${caller.plan})`
}

/** GET /quota: the caller's monthly quota. */
export const handler = lmi<QuotaEvent>()
  .use(httpErrors())
  .use(jsonResponse())
  .handler(async (event) => {
    caller = callerFrom(event)
    const quota = await quotaOf(caller.plan)
    console.info(`quota of ${describeCaller()}: ${quota}`)
    return { user: caller.sub, who: describeCaller(), quota }
  })
