#!/usr/bin/env node
// lmi's Lambda runtime: same start-up contract as AWS's Node runtime (AWS_LAMBDA_RUNTIME_API,
// _HANDLER or the first argument, LAMBDA_TASK_ROOT, AWS_LAMBDA_MAX_CONCURRENCY, ...).
// Under `node --conditions=@lmi/source` the TypeScript source runs instead of dist/.
// Plain JavaScript that any Node runs, so an unsupported Node gets a sentence, not a crash.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `lmi-runtime: Node.js >= 22.19 is required (Lambda's nodejs22.x and nodejs24.x), this is ${process.version}\n`,
  )
  process.exit(2)
}
// The bootstrap alone: the main thread of a runtime with worker threads loads no HTTP client.
const { runRuntime } = await import('@lmi/runtime/bootstrap')
await runRuntime(process.argv[2])
