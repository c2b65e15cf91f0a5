// Running the installed `lmi` bin as a user does: `lmi dev` in the background, `lmi check` to
// completion.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { childEnv } from './project.ts'

/** A running `lmi dev`. */
export interface LmiDev {
  child: ChildProcess
  /** The emulator's base URL, as `lmi dev` printed it. */
  url: string
  /** What `lmi dev` printed on stderr so far. */
  stderr(): string
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code and the signal, if any. */
  interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Starts `<project>/node_modules/.bin/lmi dev <handler> --port 0 …` in the project and resolves
 * once it prints the URL it listens on. Rejects (and kills it) when it exits first or prints
 * nothing within 20 s.
 *
 * @example
 * ```ts
 * const dev = await startLmiDev('/tmp/app', 'handlers/app.handler', ['--concurrency', '4'])
 * await fetch(`${dev.url}/2015-03-31/functions/function/invocations`, { method: 'POST', body: '{}' })
 * await dev.interrupt()
 * ```
 */
export async function startLmiDev(
  projectDir: string,
  handler: string,
  args: readonly string[] = [],
): Promise<LmiDev> {
  const child = spawn(
    join(projectDir, 'node_modules', '.bin', 'lmi'),
    ['dev', handler, '--port', '0', ...args],
    { cwd: projectDir, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  let stdout = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error('lmi dev printed no URL in 20 s')), 20_000)
    const onData = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(stderr)
      if (match?.[1] !== undefined) finish(undefined, match[1])
    }
    const finish = (error: Error | undefined, value?: string) => {
      clearTimeout(timer)
      child.stderr?.off('data', onData)
      if (error === undefined) resolve(value as string)
      else {
        child.kill('SIGKILL')
        reject(new Error(`${error.message}\nstderr:\n${stderr}\nstdout:\n${stdout}`))
      }
    }
    child.stderr?.on('data', onData)
    exited.then(([code, signal]) => finish(new Error(`lmi dev exited (${code ?? signal})`)))
  })
  return {
    child,
    url,
    stderr: () => stderr,
    async interrupt() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const [code, signal] = await exited
      clearTimeout(timer)
      return { code, signal }
    },
  }
}

/** What `lmi check --json` answered. */
export interface LmiCheckRun {
  code: number | null
  /** The parsed JSON report, when stdout held one. */
  report: { ok: boolean; findings: unknown[] } | undefined
  stdout: string
  stderr: string
}

/**
 * Runs `<project>/node_modules/.bin/lmi check <handler> --events <events> --json …` in the
 * project to completion.
 *
 * @example
 * ```ts
 * const run = await runLmiCheck('/tmp/app', 'handlers/app.handler', 'events', ['--rounds', '1'])
 * run.code // => 0 when there is no finding
 * ```
 */
export async function runLmiCheck(
  projectDir: string,
  handler: string,
  events: string,
  args: readonly string[] = [],
): Promise<LmiCheckRun> {
  const child = spawn(
    join(projectDir, 'node_modules', '.bin', 'lmi'),
    ['check', handler, '--events', events, '--json', ...args],
    { cwd: projectDir, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  let report: LmiCheckRun['report']
  try {
    report = JSON.parse(stdout) as LmiCheckRun['report']
  } catch {
    report = undefined
  }
  return { code, report, stdout, stderr }
}
