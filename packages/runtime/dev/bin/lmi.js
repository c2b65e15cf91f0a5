#!/usr/bin/env node
// The lmi command line: `lmi dev`, `lmi check`, `lmi runtime`. See `lmi --help`.
// Plain JavaScript that any Node runs, so an unsupported Node gets a sentence, not a crash.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `lmi: Node.js >= 22.19 is required (Lambda's nodejs22.x and nodejs24.x), this is ${process.version}\n`,
  )
  process.exit(2)
}
const { runCli } = await import('@lmi/dev')
await runCli(process.argv.slice(2))
