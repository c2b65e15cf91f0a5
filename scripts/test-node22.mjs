#!/usr/bin/env node
// Runs the test suite on Node 22 (the other Lambda Managed Instances runtime). `npm test`
// installs Node 22 into .tools/node22 first; this script only finds and uses it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const node22 = join(root, '.tools', 'node22', 'node_modules', 'node', 'bin', 'node')
if (!existsSync(node22)) {
  console.error(
    'test-node22: Node 22 is not set up; run `npm test` (it installs it into .tools/node22)',
  )
  process.exit(2)
}
const result = spawnSync(
  node22,
  [
    '--conditions=@lmi/source',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    'packages/**/test/**/*.test.ts',
  ],
  {
    cwd: root,
    stdio: 'inherit',
    // Child processes the tests start (runtimes, `lmi dev`) must run on Node 22 as well.
    env: { ...process.env, PATH: [dirname(node22), process.env.PATH].join(delimiter) },
  },
)
process.exit(result.status ?? 1)
