// What the tests and the demo share about the processes they start.
import type { ChildProcess } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

/**
 * Everything `child` prints, and its exit code, once it has exited.
 *
 * @example
 * ```ts
 * const { code, stderr } = await output(spawn(process.execPath, ['bin/lmi.js', 'help']))
 * ```
 */
export async function output(
  child: ChildProcess,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const [code] = (await once(child, 'exit')) as [number]
  return { code, stdout, stderr }
}

/**
 * The command that runs `bin` with `args` on Node 20: the machine's own Node when it is that
 * old (a fresh machine has Node 20, which is what a user runs `npx lmi` with), else the
 * current Node told it is 20.1.0.
 *
 * @example
 * ```ts
 * const [command, ...argv] = oldNodeCommand('bin/lmi.js', ['--help'])
 * spawn(command as string, argv)
 * ```
 */
export function oldNodeCommand(bin: string, args: readonly string[] = []): string[] {
  const system = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    const probe = spawnSync(path, ['--version'], { encoding: 'utf8' })
    return probe.status === 0 && /^v(1\d|2[01])\./.test(probe.stdout)
  })
  if (system !== undefined) return [system, bin, ...args]
  return [
    process.execPath,
    '--import',
    "data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.1.0'});Object.defineProperty(process,'version',{value:'v20.1.0'})",
    bin,
    ...args,
  ]
}

/**
 * The lines a runtime process prints, collected as they come: stdout's parsed as JSON (Lambda's
 * JSON log format; `{ raw }` for any other line), stderr's as text.
 *
 * @example
 * ```ts
 * const { logs } = collectLines(child)
 * logs.filter((record) => record.level === 'ERROR')
 * ```
 */
export function collectLines(child: ChildProcess): {
  logs: Array<Record<string, unknown>>
  stderr: string[]
} {
  const logs: Array<Record<string, unknown>> = []
  const stderr: string[] = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      logs.push({ raw: line })
    }
  })
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) =>
    stderr.push(line),
  )
  return { logs, stderr }
}
