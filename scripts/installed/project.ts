// A user's npm project outside the repository, with lmi installed from its tarballs the way a
// user installs it from the registry: npm, not pnpm, and nothing from the workspace visible.
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

// npm settings a developer or CI may set for the registry itself (a mirror, a proxy, a cache):
// kept. Every other npm_* variable comes from the `pnpm run` around the tests and would
// configure the user's npm with the workspace's settings.
const NPM_KEEP = /^npm_config_(registry|cache|proxy|https_proxy|noproxy|strict_ssl|cafile)$/i

/**
 * The environment for a process of the user's project: this process's, minus what would let
 * it see the workspace or the test runner — `NODE_PATH` (pnpm points it into the workspace's
 * node_modules), `NODE_OPTIONS`, the test runner's and coverage's variables, pnpm's `npm_*`
 * settings — with this process's `node` first on PATH (Node 22 under `pnpm test:node22`), then
 * `extra`.
 *
 * @example
 * ```ts
 * spawn('npm', ['install'], { env: childEnv({ CI: '1' }) })
 * ```
 */
export function childEnv(
  extra: Record<string, string> = {},
  options: { keepNpm?: boolean } = {},
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (['NODE_PATH', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'NODE_V8_COVERAGE'].includes(key))
      continue
    if (!options.keepNpm && /^(npm|pnpm)_/i.test(key) && !NPM_KEEP.test(key)) continue
    env[key] = value
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter)
  return { ...env, ...extra }
}

/** A failed command, with what it printed. */
export class CommandError extends Error {
  override name = 'CommandError'
  readonly command: string
  readonly code: number | string | null
  readonly stdout: string
  readonly stderr: string
  constructor(command: string, code: number | string | null, stdout: string, stderr: string) {
    super(`\`${command}\` failed (${code}):\n${stderr.trim() || stdout.trim()}`.slice(0, 8000))
    this.command = command
    this.code = code
    this.stdout = stdout
    this.stderr = stderr
  }
}

/**
 * Runs a command to completion and resolves with its output; rejects with a
 * {@link CommandError} holding both streams when it exits non-zero.
 *
 * @example
 * ```ts
 * const { stdout } = await exec('npm', ['--version'], { cwd: '/tmp' })
 * ```
 */
export async function exec(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? childEnv(),
      timeout: options.timeoutMs ?? 180_000,
      maxBuffer: 2 ** 26,
    })
  } catch (error) {
    const failed = error as Error & { code?: number | string; stdout?: string; stderr?: string }
    throw new CommandError(
      [command, ...args].join(' '),
      failed.code ?? null,
      failed.stdout ?? '',
      failed.stderr ?? failed.message,
    )
  }
}

/**
 * Fails, with a message saying so, when npm or the registry cannot be reached: the
 * installed-product test needs both and is never skipped silently.
 *
 * @example
 * ```ts
 * await assertRegistryReachable('/tmp') // throws 'npm cannot reach the registry …'
 * ```
 */
export async function assertRegistryReachable(cwd: string): Promise<void> {
  let registry = 'the npm registry'
  try {
    registry = (await exec('npm', ['config', 'get', 'registry'], { cwd })).stdout.trim()
  } catch (error) {
    throw new Error(
      `the installed-product test needs npm on PATH, and \`npm config get registry\` failed: ${(error as Error).message}`,
    )
  }
  try {
    await exec('npm', ['ping'], { cwd, timeoutMs: 30_000 })
  } catch (error) {
    throw new Error(
      `the installed-product test installs from ${registry}, which npm cannot reach ` +
        `(\`npm ping\` failed). It needs the registry (CI has it): ${(error as Error).message}`,
    )
  }
}

/**
 * Makes an npm project in `dir` as a user does (`npm init -y`, and `npm pkg set type=module`
 * when `esm`), then installs lmi's tarballs and `packages` (name → exact version or
 * `npm:` alias) with one `npm install --save-exact`.
 *
 * @example
 * ```ts
 * await createProject('/tmp/app', { tarballs: ['/tmp/lmi-core-0.1.0.tgz'], packages: { '@types/node': '24.19.2' }, esm: true })
 * ```
 */
export async function createProject(
  dir: string,
  options: { tarballs: readonly string[]; packages: Record<string, string>; esm: boolean },
): Promise<void> {
  mkdirSync(dir, { recursive: true })
  await exec('npm', ['init', '-y'], { cwd: dir })
  if (options.esm) await exec('npm', ['pkg', 'set', 'type=module'], { cwd: dir })
  await exec(
    'npm',
    [
      'install',
      '--save-exact',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...options.tarballs,
      ...Object.entries(options.packages).map(([name, version]) => `${name}@${version}`),
    ],
    { cwd: dir },
  )
}

/**
 * Writes `files` (path relative to `dir` → content), creating folders.
 *
 * @example
 * ```ts
 * writeFiles('/tmp/app', { 'src/app.ts': 'export const handler = async () => 1\n' })
 * ```
 */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
}
