import type { ErrorResponse } from '@lmi/core'
import { describeValue } from '@lmi/core/internal'
import { writeOwn } from '../log/attribution.ts'

/**
 * Posts the runtime's initialisation failure to `/runtime/init/error` on a connection of its
 * own, closed after. A failure to post is written to stderr, never thrown: the runtime is
 * exiting either way.
 *
 * @example
 * ```ts
 * await reportInitError('127.0.0.1:9001', toErrorResponse(error))
 * ```
 */
export async function reportInitError(runtimeApi: string, error: ErrorResponse): Promise<void> {
  // Loaded here, not at the top: worker threads that run handlers load no HTTP client.
  const { RuntimeApiClient } = await import('./runtime-api.ts')
  const client = new RuntimeApiClient(runtimeApi)
  try {
    await client.postInitError(error)
  } catch (postError) {
    writeOwn('err', `lmi-runtime: could not report the init error: ${describeValue(postError)}\n`)
  } finally {
    await client.close()
  }
}
