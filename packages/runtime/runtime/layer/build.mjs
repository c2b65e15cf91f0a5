#!/usr/bin/env node
// Builds the lmi runtime layer into <dir>/lmi/: the runtime and its worker-thread entry, each
// bundled by esbuild into one ES module (undici and @aws/lambda-invoke-store inlined), and the
// AWS_LAMBDA_EXEC_WRAPPER script that starts it in place of AWS's Node runtime; and into
// <dir>/extensions/lmi-shutdown the SHUTDOWN-only extension that makes Lambda send the runtime
// SIGTERM (its node fallback goes to <dir>/lmi/shutdown-extension.mjs).
// Run by the package's build (and the repository's `pnpm build`) into layer/dist/, which the
// npm tarball ships and the Makefile copies: `sam build` in a user's project needs no esbuild.
// Plain JavaScript, so it runs on any Node >= 20.
//   node packages/runtime/runtime/layer/build.mjs <dir>    (writes <dir>/lmi/ and <dir>/extensions/)
import { existsSync } from 'node:fs'
import { chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const [outArg] = process.argv.slice(2)
if (outArg === undefined || outArg === '') {
  console.error('usage: node build.mjs <artifacts dir>   (writes <dir>/lmi/)')
  process.exit(2)
}
// From dist/, as the handler bundles that `sam build` makes import it: the layer's runtime and
// the bundle's copy of @lmi/runtime are then the same build.
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
if (!existsSync(join(dist, 'bootstrap.js'))) {
  console.error(`${dist}/bootstrap.js not found: build the repository first (npm run setup)`)
  process.exit(1)
}
const target = join(resolve(outArg), 'lmi')
// Written beside the target, then swapped in: a make run copying the layer at the same time
// (the examples' tests run in parallel) sees the old layer or the new one, never half of one.
const out = `${target}.${process.pid}.tmp`

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  legalComments: 'none',
  logLevel: 'warning',
  // Bundled CommonJS dependencies still call require() for Node built-ins.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
}

await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })
await build({
  ...common,
  stdin: {
    contents: [
      "import { bootstrap } from './bootstrap.js'",
      'const code = await bootstrap(process.env, process.argv[2])',
      '// Handlers that ignored their deadline may still hold timers; the runtime is done with them.',
      'process.exit(code)',
    ].join('\n'),
    resolveDir: dist,
    sourcefile: 'lmi-runtime.js',
    loader: 'js',
  },
  outfile: join(out, 'lmi-runtime.mjs'),
})
// LMI_WORKERS: the runtime starts ./worker-entry.mjs beside itself.
await build({
  ...common,
  entryPoints: [join(dist, 'scheduler', 'worker-entry.js')],
  outfile: join(out, 'worker-entry.mjs'),
})
const wrapper = join(out, 'exec-wrapper')
await writeFile(
  wrapper,
  [
    '#!/bin/sh',
    '# AWS_LAMBDA_EXEC_WRAPPER=/opt/lmi/exec-wrapper: Lambda runs this with its own runtime command',
    "# as arguments; lmi's runtime takes its place, with the same environment (_HANDLER, ...).",
    'exec node "$(dirname "$0")/lmi-runtime.mjs"',
    '',
  ].join('\n'),
)
await chmod(wrapper, 0o755)
const extensionSources = join(dirname(fileURLToPath(import.meta.url)), 'extension')
await copyFile(
  join(extensionSources, 'shutdown-extension.mjs'),
  join(out, 'shutdown-extension.mjs'),
)
// The extension is one file: written beside its final name and renamed, like the folder.
const extensions = join(resolve(outArg), 'extensions')
await mkdir(extensions, { recursive: true })
const extension = join(extensions, 'lmi-shutdown')
await copyFile(join(extensionSources, 'lmi-shutdown'), `${extension}.${process.pid}.tmp`)
await chmod(`${extension}.${process.pid}.tmp`, 0o755)
await rename(`${extension}.${process.pid}.tmp`, extension)
const old = `${target}.${process.pid}.old`
await rename(target, old).catch((error) => {
  if (error.code !== 'ENOENT') throw error
})
await rename(out, target)
await rm(old, { recursive: true, force: true })
console.log(`lmi runtime layer written to ${target} and ${extension}`)
