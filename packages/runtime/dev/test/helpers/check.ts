// What the tests of lmi check share: where the corpus is, and how the suite runs a check of it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { childExecArgv } from '@lmi/test-kit'
import type { CheckEvent } from '../../src/cli/check/events.ts'
import { runCheck } from '../../src/cli/check/index.ts'
import type { CheckResult } from '../../src/cli/check/types.ts'

/** This package's folder: the working directory of the checks. */
export const packageDir: string = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The corpus of buggy and correct handlers, relative to {@link packageDir}. */
export const corpus = 'test/fixtures/check'
/** The corpus' events, as a JSON array file. */
export const eventsFile = `${corpus}/events.json`

/**
 * Runs a check of a corpus handler the way the test suite does: small and reproducible.
 *
 * @example
 * ```ts
 * const result = await check('buggy/counter.handler')
 * ```
 */
export function check(
  handler: string,
  events: string | unknown[] = eventsFile,
): Promise<CheckResult> {
  return runCheck({
    handler: `${corpus}/${handler}`,
    events,
    cwd: packageDir,
    rounds: 2,
    seed: 20_251,
    execArgv: childExecArgv(),
  })
}

/** The findings' codes, subjects and locations, for an assertion's message. */
export function describeFindings(result: CheckResult): string {
  return JSON.stringify(
    result.findings.map(({ code, subject, location }) => ({ code, subject, location })),
  )
}

/**
 * A check result around `findings`, for the report's tests: 3 events, 6 solo and 8 concurrent
 * invocations, their responses and one log line each compared.
 *
 * @example
 * ```ts
 * const report = formatReport(resultWith(findings, EVENTS))
 * ```
 */
export function resultWith(
  findings: CheckResult['findings'],
  events: readonly CheckEvent[],
  compared: Partial<CheckResult['compared']> = {},
): CheckResult {
  return {
    handler: 'app.handler',
    seed: 1,
    concurrency: 4,
    rounds: 1,
    invocationsPerRound: 8,
    soloRuns: 2,
    timeoutMs: 10_000,
    events: events.map(({ name, index }) => ({ name, index })),
    invocations: { solo: 6, concurrent: 8, timedOut: 0, crashed: 0 },
    compared: { responses: 8, logLines: 8, metricLines: 0, requests: 0, ...compared },
    findings,
    notes: [],
    durationMs: 1000,
  }
}

/** The `lmi` bin of this package. */
export const lmiBin: string = join(packageDir, 'bin', 'lmi.js')

/**
 * Runs the `lmi` bin in this package's folder, as a user runs it, and resolves with its exit
 * code and output.
 *
 * @example
 * ```ts
 * const { code, stdout } = await lmi(['check', 'app.handler', '--events', 'events.json', '--json'])
 * ```
 */
export async function lmi(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...childExecArgv(), lmiBin, ...args], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = (await once(child, 'exit')) as [number]
  return { code, stdout, stderr }
}
