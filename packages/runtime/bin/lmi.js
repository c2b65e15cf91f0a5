#!/usr/bin/env node
// The lmi command line: `lmi runtime`, `lmi dev`, `lmi check`. See `lmi --help`.
import { runCli } from '@lmi/runtime/cli'

await runCli(process.argv.slice(2))
