#!/usr/bin/env node
// Sets the repository up on a machine that has only Node (>= 20) and npm, then runs a task.
//
//   node scripts/setup.mjs            set up only
//   node scripts/setup.mjs demo       set up, then run the demo
//   node scripts/setup.mjs test       set up, then lint, type-check and run every test
//   node scripts/setup.mjs bench      set up, then run the benchmarks
//
// What it changes, all inside the clone: pnpm 10 goes to .tools/ when the machine has no
// pnpm 10 on its PATH; `pnpm install` fills node_modules/ (including the `node` package,
// which brings the Node 24 binary that every task runs on); `tsc --build` fills dist/.
// Nothing global is touched. Each step is skipped when its inputs have not changed, so a
// second run starts the task in about a second.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const PNPM_VERSION = '10.34.9'
const tasks = {
  demo: ['run', 'demo:run'],
  test: ['run', 'test:all'],
  bench: ['run', 'bench:run'],
  check: ['run', 'check:all'],
}

const task = process.argv[2]
if (task !== undefined && !(task in tasks)) {
  console.error(`setup: unknown task "${task}"; expected one of: ${Object.keys(tasks).join(', ')}`)
  process.exit(2)
}

function log(message) {
  process.stderr.write(`\x1b[2m[setup]\x1b[0m ${message}\n`)
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options })
  if (result.error) throw result.error
  return result.status ?? 1
}

function must(command, args, options) {
  const status = run(command, args, options)
  if (status !== 0) {
    console.error(`setup: \`${command} ${args.join(' ')}\` failed with exit code ${status}`)
    process.exit(status)
  }
}

function findPnpm() {
  const local = join(root, '.tools', 'node_modules', '.bin', 'pnpm')
  if (existsSync(local)) return local
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' })
  if (probe.status === 0 && probe.stdout.trim().startsWith('10.')) return 'pnpm'
  log(`installing pnpm@${PNPM_VERSION} into .tools/ (local to this clone)`)
  must('npm', [
    'install',
    '--prefix',
    join(root, '.tools'),
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    `pnpm@${PNPM_VERSION}`,
  ])
  return local
}

function fingerprint(files) {
  const hash = createHash('sha256')
  for (const file of files) {
    const path = join(root, file)
    hash.update(file)
    hash.update(existsSync(path) ? readFileSync(path) : '')
  }
  return hash.digest('hex')
}

// lmi targets Node 22 and 24 (the Lambda Managed Instances runtimes). Node 24 runs everything;
// the test task runs the suite on Node 22 too, from a copy kept in .tools/node22.
const NODE22_VERSION = '22.23.3'
function ensureNode22() {
  const binary = join(root, '.tools', 'node22', 'node_modules', 'node', 'bin', 'node')
  if (existsSync(binary)) return
  log(`installing Node ${NODE22_VERSION} into .tools/node22/ (for the Node 22 test run)`)
  must('npm', [
    'install',
    '--prefix',
    join(root, '.tools', 'node22'),
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    `node@${NODE22_VERSION}`,
  ])
}

const pnpm = findPnpm()
if (task === 'test') ensureNode22()
const stampFile = join(root, 'node_modules', '.lmi-setup-stamp')
const stamp = fingerprint(['pnpm-lock.yaml', 'pnpm-workspace.yaml', 'package.json'])
const installed = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp
if (!installed) {
  log('installing dependencies (pnpm install)')
  must(pnpm, ['install', '--frozen-lockfile', '--reporter=append-only'])
  writeFileSync(stampFile, stamp)
}

// Everything below runs on the Node 24 binary that the `node` package put in node_modules/.bin.
// pnpm goes on the PATH too, for the scripts that call `pnpm run` in turn.
const pathEntries = [join(root, 'node_modules', '.bin')]
if (pnpm !== 'pnpm') pathEntries.push(dirname(pnpm))
const env = { ...process.env, PATH: [...pathEntries, process.env.PATH].join(delimiter) }
must(pnpm, ['run', '--silent', 'build'], { env })

if (task !== undefined) {
  process.exit(run(pnpm, tasks[task], { env }))
}
log('ready')
