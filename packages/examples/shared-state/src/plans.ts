import { setTimeout as sleep } from 'node:timers/promises'

/** What a caller is, from the JWT the HTTP API's authorizer verified. */
export interface Caller {
  sub: string
  username: string
  plan: string
}

/** The part of an HTTP API (payload v2) event with a JWT authorizer this example reads. */
export interface QuotaEvent {
  requestContext: { authorizer?: { jwt?: { claims?: Record<string, string> } } }
}

/** The caller, from the claims of an HTTP API JWT authorizer. */
export function callerFrom(event: QuotaEvent): Caller {
  const claims = event.requestContext.authorizer?.jwt?.claims ?? {}
  return {
    sub: claims.sub ?? 'anonymous',
    username: claims['cognito:username'] ?? 'anonymous',
    plan: claims['custom:plan'] ?? 'free',
  }
}

const LIMITS: Record<string, number> = { free: 100, pro: 10_000, enterprise: 1_000_000 }

/** Looks up a plan's monthly request quota: stands for a database or an HTTP call. */
export async function quotaOf(plan: string, signal?: AbortSignal): Promise<number> {
  await sleep(2, undefined, { signal })
  return LIMITS[plan] ?? 0
}
