#!/usr/bin/env node
// lmi's Lambda runtime: same start-up contract as AWS's Node runtime (AWS_LAMBDA_RUNTIME_API,
// _HANDLER or the first argument, LAMBDA_TASK_ROOT, AWS_LAMBDA_MAX_CONCURRENCY, ...).
// Under `node --conditions=@lmi/source` the TypeScript source runs instead of dist/.
import { runRuntime } from '@lmi/runtime/cli'

await runRuntime(process.argv[2])
