#!/usr/bin/env node
// Runs the test suite on Node 22 (the other Lambda Managed Instances runtime). `npm test`
// installs Node 22 into .tools/node22 first; this script only finds and uses it.
import { spawnSync } from 'node:child_process'
import { existsSync, globSync } from 'node:fs'
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
// This pass runs what Lambda runs on Node 22: the tests of @lmi/core, @lmi/runtime and the
// middlewares. @lmi/dev (emulator, lmi dev, lmi check) and the examples' tooling run on a
// developer's machine and are tested on Node 24 in the first pass; the installed-package test
// runs the installed runtime on Node 22 as well (bundles in each module format). Leaving them
// out keeps `npm test` within its time.
const IN_LAMBDA = ['packages/runtime/core/', 'packages/runtime/runtime/', 'packages/middleware/']
// Type tests: what they check is the compiler's (`tsc -p tsconfig.test.json`), which no Node
// version changes; what they run only proves their chains run, which the chain, middleware and
// runtime tests run on Node 22 here. Each file costs a process and its TypeScript load.
const TYPE_TESTS = new Set([
  'packages/runtime/core/test/aws-lambda-types.test.ts',
  'packages/runtime/core/test/chain-types.test.ts',
  'packages/middleware/json/test/types.test.ts',
  'packages/middleware/tenant/test/types.test.ts',
])
const files = globSync('packages/**/test/**/*.test.ts', { cwd: root })
  .filter((file) => !file.split('/').includes('node_modules'))
  .filter((file) => IN_LAMBDA.some((folder) => file.startsWith(folder)))
  .filter((file) => !TYPE_TESTS.has(file))
  .sort()
const result = spawnSync(
  node22,
  ['--conditions=@lmi/source', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    // Child processes the tests start (runtimes, `lmi dev`) must run on Node 22 as well.
    env: { ...process.env, PATH: [dirname(node22), process.env.PATH].join(delimiter) },
  },
)
process.exit(result.status ?? 1)
