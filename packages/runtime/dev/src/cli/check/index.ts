// `lmi check`: finds what a Lambda handler shares between concurrent invocations.
//
// Three kinds of evidence, from the same runs:
// 1. The runtime's shared-state detectors (`LMI_SHARED_STATE=warn`) report process.env and
//    global writes, escaped timers, shared /tmp paths, … as JSON lines, collected as they are written.
// 2. Differential testing: each event runs alone, in a fresh runtime process (fresh module
//    instance, concurrency 1), `soloRuns` times; the first run is the event's reference and
//    whatever differs between the runs is volatile and ignored. Then one runtime process at
//    concurrency N runs every event many times, shuffled, over R rounds; a response that
//    differs from its event's reference is LMI_CONCURRENCY_DEPENDENT_RESPONSE. This catches
//    what no detector can see: a module-level `let`, a counter, a cache keyed by the wrong thing.
// 3. What the handler writes and sends, compared the same way: its log lines, metric (EMF)
//    lines and outgoing HTTP requests, each attributed by the runtime to the invocation whose
//    code wrote or made it (`LMI_CHECK_ATTRIBUTION=1`), with requests answered by a local sink.
//
// The modules, one per step: settings.ts (options → settings), run.ts (the runtime processes of
// both phases, collecting the evidence; sink.ts, the server requests go to), a module per kind
// of evidence (detectors.ts: the detectors' finding lines; diff.ts: responses, normalised and
// compared; logs.ts: the lines the handler writes, compared with the solo runs' lines, with
// metrics.ts telling metric lines' fields apart; requests.ts: the requests it makes, as records
// through the same comparison), grouping.ts (evidence → findings) and report.ts (the text and
// JSON reports).

import { performance } from 'node:perf_hooks'
import { buildReferences, type Reference } from './diff.ts'
import { loadEvents, namedEvents, traceableValue, withTenantIds } from './events.ts'
import { comparedEvidence, groupFindings } from './grouping.ts'
import { CheckRun } from './run.ts'
import { invocationsPerRound } from './schedule.ts'
import { resolveSettings } from './settings.ts'
import type { CheckOptions, CheckResult } from './types.ts'

/**
 * Runs the check `lmi check` runs and resolves with its findings, grouped; never prints.
 * Rejects with a {@link CheckError} subclass when it cannot check: bad options
 * (`CheckUsageError`), unusable events (`CheckEventsError`), a handler that does not load
 * (`CheckHandlerError`, with the loader's message).
 *
 * The handler runs on lmi's runtime (a child process per run, against the Runtime API
 * emulator) with every shared-state detector in `warn` mode. First each event runs alone, in a
 * fresh process, `soloRuns` times: the first run is its reference, and whatever differs between
 * the runs (timestamps, random ids) is ignored. Then all events run at `concurrency` in one
 * process, `rounds` times in seeded random orders; a response that differs from its reference
 * is an `LMI_CONCURRENCY_DEPENDENT_RESPONSE` finding. The log lines, metric (EMF) lines and
 * outgoing HTTP requests of each invocation, attributed by the runtime, are compared with its
 * event's solo runs the same way (`LMI_CONCURRENCY_DEPENDENT_LOG`, `_METRIC`, `_REQUEST`;
 * requests go to a local sink, `LMI_CHECK_SINK_URL`). Request ids, trace ids, UUIDs and
 * timestamps are normalised before comparing (see `diff.ts`).
 *
 * @example
 * ```ts
 * import { runCheck, formatReport } from '@lmi/dev'
 *
 * const result = await runCheck({
 *   handler: 'src/orders.handler',
 *   events: 'test/events/',
 *   rounds: 2,
 *   onProgress: ({ phase, done, total }) => process.stderr.write(`\r${phase} ${done}/${total}`),
 * })
 * console.log(formatReport(result))
 * process.exitCode = result.findings.length === 0 ? 0 : 1
 * ```
 */
export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const started = performance.now()
  const settings = resolveSettings(options)
  const loaded =
    typeof options.events === 'string'
      ? await loadEvents(options.events, settings.cwd)
      : namedEvents(options.events)
  const events = settings.tenantIds ? withTenantIds(loaded) : loaded
  const run = new CheckRun(options, settings, events)
  const onAbort = () => run.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let references: Reference[]
  try {
    const soloRuns = await run.solo()
    references = buildReferences(soloRuns, events.map(traceableValue))
    run.noteReferences(soloRuns, references)
    await run.concurrent(references)
    options.signal?.throwIfAborted()
  } catch (error) {
    // Stopping the processes makes them fail in their own ways: the abort is the reason.
    if (options.signal?.aborted) throw options.signal.reason
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await run.stopAll()
  }
  const findings = groupFindings(run, { cwd: settings.cwd, events, references })
  if (run.timedOut > 0) {
    run.notes.push(`${run.timedOut} invocation(s) timed out after ${settings.timeoutMs / 1000} s`)
  }
  return {
    handler: options.handler,
    seed: settings.seed,
    concurrency: run.concurrency,
    rounds: settings.rounds,
    invocationsPerRound: invocationsPerRound(events.length, run.concurrency),
    soloRuns: settings.soloRuns,
    timeoutMs: settings.timeoutMs,
    events: events.map(({ name, index }) => ({ name, index })),
    invocations: {
      solo: run.soloInvocations,
      concurrent: run.concurrentInvocations,
      timedOut: run.timedOut,
      crashed: run.crashed,
    },
    compared: comparedEvidence(run),
    findings,
    notes: run.notes,
    durationMs: Math.round(performance.now() - started),
  }
}
