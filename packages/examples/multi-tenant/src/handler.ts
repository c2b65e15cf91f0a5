import { createLogger } from '@lmi/context'
import { getInvocation, lmi } from '@lmi/core'
import { getTenantId, tenant } from '@lmi/tenant'
import { installTenantHeader } from '@lmi/tenant/http'
import { tmpScope } from '@lmi/tmp-scope'

/** What callers send: `aws lambda invoke --tenant-id acme --payload '{"title":…,"text":…}'`. */
export interface NoteEvent {
  title: string
  text: string
}

const log = createLogger()

// The audit service every note is reported to. Once, at init: requests to its origin (and
// only there) carry the calling tenant's id in `x-tenant-id`, through fetch and undici alike.
const auditUrl = new URL(process.env.AUDIT_URL ?? 'https://audit.internal/events')
installTenantHeader({ origins: [auditUrl.origin] })

/**
 * Files a tenant's note: writes it under the tenant's own /tmp directory, reports it to the
 * audit service, answers with the receipt. The function runs in tenant isolation mode, so the
 * tenant id comes from the platform (`context.tenantId`) and `tenant()` refuses an invocation
 * without one.
 */
export const handler = lmi<NoteEvent>()
  .use(tenant()) // the platform's tenant id: required
  .use(tmpScope({ root: process.env.NOTES_TMP_ROOT ?? '/tmp', scope: 'notes' })) // <tenant>/<request>/
  .handler(async (event, context) => {
    log.info({ title: event.title }, 'note received') // {"tenantId":"acme","requestId":…}
    const file = await context.tmp.writeFile('note.txt', `${event.title}\n\n${event.text}\n`)

    const response = await fetch(auditUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' }, // x-tenant-id is added for this origin
      body: JSON.stringify({
        kind: 'note',
        title: event.title,
        bytes: Buffer.byteLength(event.text),
      }),
      signal: getInvocation().signal,
    })
    if (!response.ok) throw new Error(`audit service answered ${response.status}`)
    const receipt = (await response.json()) as Record<string, unknown>
    log.info({ receipt }, 'note audited')

    return { tenantId: getTenantId(), file, receipt }
  })
