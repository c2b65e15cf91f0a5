// Running documented shell steps as a user types them: one bash per block (`-e -o pipefail`:
// every command must succeed), the working directory carried from block to block (a `cd` in one
// applies to the next), and a block left running in the background stopped as Ctrl-C stops it
// (SIGINT to its process group).
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What a shell block printed, and where it left the working directory. */
export interface ShellRun {
  code: number | null
  stdout: string
  stderr: string
  /** The working directory when the block ended (its `cd`s applied). */
  cwd: string
}

/** bash, failing on the first failing command, in a pipeline too. */
const BASH_ARGS = ['-e', '-o', 'pipefail', '-c']

/**
 * Runs `script` with bash in `cwd` to completion and resolves with its output, exit code and
 * final working directory. After `timeoutMs` (default 180 s) its whole process group is killed
 * (what it started too) and `code` is null.
 *
 * @example
 * ```ts
 * const run = await runShell('mkdir notes && cd notes\nnpm init -y\n', { cwd: '/tmp/x', env })
 * run.cwd // => '/tmp/x/notes'
 * ```
 */
export async function runShell(
  script: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<ShellRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'lmi-shell-'))
  const pwdFile = join(scratch, 'pwd')
  try {
    const child = spawn('bash', [...BASH_ARGS, `${script}\npwd > "$LMI_SHELL_PWD"\n`], {
      cwd: options.cwd,
      env: { ...options.env, LMI_SHELL_PWD: pwdFile },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const exited = once(child, 'exit') as Promise<[number | null]>
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), options.timeoutMs ?? 180_000)
    const [code] = await exited
    clearTimeout(timer)
    let cwd = options.cwd
    try {
      cwd = readFileSync(pwdFile, 'utf8').trim() || cwd
    } catch {
      // The block failed before its end: the directory stays where it was.
    }
    return { code, stdout, stderr, cwd }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** A shell block left running. */
export interface BackgroundShell {
  child: ChildProcess
  /** stdout and stderr so far, interleaved. */
  output(): string
  /** Resolves once the output matches `pattern`; rejects if the block exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
  /** Ctrl-C: SIGINT to the block's process group; resolves with its exit code once it ended. */
  interrupt(): Promise<number | null>
}

/** Sends `signal` to the process group `child` leads (spawned `detached`). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // The group is gone already.
  }
}

/**
 * Starts `script` with bash in `cwd`, in a process group of its own (as a terminal runs a
 * foreground job), and returns at once.
 *
 * @example
 * ```ts
 * const dev = startShell('npx lmi dev app.handler\n', { cwd, env })
 * await dev.waitFor(/listening/)
 * await dev.interrupt()
 * ```
 */
export function startShell(
  script: string,
  options: { cwd: string; env: Record<string, string> },
): BackgroundShell {
  const child = spawn('bash', [...BASH_ARGS, script], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return {
    child,
    output: () => output,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return
          finish()
          resolve()
        }
        const timer = setTimeout(() => {
          finish()
          reject(new Error(`no ${pattern} in ${timeoutMs} ms; output:\n${output}`))
        }, timeoutMs)
        const finish = () => {
          clearTimeout(timer)
          child.stdout?.off('data', check)
          child.stderr?.off('data', check)
        }
        child.stdout?.on('data', check)
        child.stderr?.on('data', check)
        exited.then((code) => {
          finish()
          reject(new Error(`exited (${code}) before printing ${pattern}; output:\n${output}`))
        })
        check()
      })
    },
    async interrupt() {
      if (child.exitCode === null && child.signalCode === null) signalGroup(child, 'SIGINT')
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 10_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}
