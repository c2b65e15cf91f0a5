// Installs the bench's own dependencies (aws-lambda-ric builds a native addon; undici for the
// bare loop) into bench/node_modules, from bench/pnpm-lock.yaml, outside the workspace. Runs
// only when package.json or the lockfile changed since the last successful install.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { benchDir, repoRoot } from './contenders.ts'

const stampFile = join(benchDir, 'node_modules', '.lmi-bench-stamp')
const required = [
  join(benchDir, 'node_modules', 'aws-lambda-ric', 'rapid-client.node'),
  join(benchDir, 'node_modules', 'undici', 'package.json'),
]

function fingerprint(): string {
  const hash = createHash('sha256')
  for (const file of ['package.json', 'pnpm-lock.yaml']) {
    const path = join(benchDir, file)
    hash.update(file)
    hash.update(existsSync(path) ? readFileSync(path) : '')
  }
  return hash.digest('hex')
}

/** pnpm 10: the one running us (`pnpm run bench:run`), the repo's .tools/, or the PATH's. */
function pnpmCommand(): { command: string; args: string[] } {
  const execPath = process.env.npm_execpath
  if (execPath && /pnpm/.test(execPath) && existsSync(execPath)) {
    return /\.c?js$/.test(execPath)
      ? { command: process.execPath, args: [execPath] }
      : { command: execPath, args: [] }
  }
  const local = join(repoRoot, '.tools', 'node_modules', '.bin', 'pnpm')
  if (existsSync(local)) return { command: local, args: [] }
  return { command: 'pnpm', args: [] }
}

export type SetupResult = { ok: true; installedMs?: number } | { ok: false; message: string }

export function ensureBenchDeps(log: (line: string) => void): SetupResult {
  const stamp = fingerprint()
  const current =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp &&
    required.every((path) => existsSync(path))
  if (current) return { ok: true }

  const pnpm = pnpmCommand()
  log('installing the bench dependencies (aws-lambda-ric builds a native addon: about a minute)')
  const started = performance.now()
  const result = spawnSync(
    pnpm.command,
    [
      ...pnpm.args,
      'install',
      '--dir',
      benchDir,
      '--ignore-workspace',
      '--frozen-lockfile',
      '--reporter=append-only',
    ],
    {
      cwd: benchDir,
      encoding: 'utf8',
      // The addon's build runs `node`: make it the Node running this bench.
      env: { ...process.env, PATH: [dirname(process.execPath), process.env.PATH].join(delimiter) },
      maxBuffer: 64 * 2 ** 20,
    },
  )
  const installedMs = performance.now() - started
  if (result.error || result.status !== 0 || !required.every((path) => existsSync(path))) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-25)
    return {
      ok: false,
      message: `\`pnpm install\` in bench/ failed (${result.error?.message ?? `exit ${result.status}`}):\n${output.join('\n')}`,
    }
  }
  writeFileSync(stampFile, stamp)
  log(`bench dependencies installed in ${(installedMs / 1000).toFixed(1)} s`)
  return { ok: true, installedMs }
}
