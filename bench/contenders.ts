// Each contender is a command and an environment: the harness knows nothing else about it.
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const benchDir: string = dirname(fileURLToPath(import.meta.url))
export const repoRoot: string = dirname(benchDir)
export const handlersDir: string = join(benchDir, 'handlers')

export type ContenderName =
  | 'aws'
  | 'bare'
  | 'lmi'
  | 'lmi-main'
  | 'lmi-percpu'
  | 'lmi-detect-off'
  | 'lmi-detect-warn'
  | 'lmi-detect-throw'

/** A command, its arguments, and environment on top of the Lambda one. */
export type Launch = { command: string; args: string[]; env?: Record<string, string> }

export type Contender = {
  name: ContenderName
  description: string
  /** How to start it, or why it cannot be started here. */
  resolve(): Launch | { unavailable: string }
}

const awsEntry = join(benchDir, 'node_modules', 'aws-lambda-ric', 'index.mjs')
const awsAddon = join(benchDir, 'node_modules', 'aws-lambda-ric', 'rapid-client.node')
const lmiBin = join(repoRoot, 'packages', 'runtime', 'runtime', 'bin', 'lmi-runtime.js')
const lmiDist = join(repoRoot, 'packages', 'runtime', 'runtime', 'dist', 'index.js')

export const contenders: Contender[] = [
  {
    name: 'aws',
    description: 'aws-lambda-ric 4.0.2 (official), LMI mode: worker threads, native curl client',
    resolve() {
      if (!existsSync(awsEntry) || !existsSync(awsAddon)) {
        return { unavailable: 'aws-lambda-ric is not installed in bench/node_modules' }
      }
      return {
        command: process.execPath,
        args: [awsEntry],
        // In LMI it starts 8 worker threads per vCPU, counting vCPUs from the cgroup's
        // cpu.max quota; where that file is missing (this machine) it assumes 1 vCPU. Give
        // it the count LMI would, for the CPUs this machine has.
        env: { AWS_LAMBDA_NODEJS_WORKER_COUNT: String(8 * availableParallelism()) },
      }
    },
  },
  {
    name: 'bare',
    description: 'bare undici next → respond loops on one Pool (the floor)',
    resolve() {
      return { command: process.execPath, args: [join(benchDir, 'bare-loop.ts')] }
    },
  },
  {
    name: 'lmi',
    description:
      'lmi runtime (packages/runtime/runtime), compiled dist/ as published, default workers',
    resolve: () => resolveLmi(process.env.LMI_BENCH_WORKERS),
  },
  {
    name: 'lmi-main',
    description: 'lmi runtime with handlers on the main thread (LMI_WORKERS=0): one event loop',
    resolve: () => resolveLmi('0'),
  },
  {
    name: 'lmi-percpu',
    description: 'lmi runtime with one worker thread per CPU (LMI_WORKERS = CPUs)',
    resolve: () => resolveLmi(String(availableParallelism())),
  },
  // The shared-state detectors' cost (on request): LMI_SHARED_STATE installs every detector
  // process-wide, as `lmi check` and an lmi() chain do.
  ...(['off', 'warn', 'throw'] as const).map(
    (mode): Contender => ({
      name: `lmi-detect-${mode}`,
      description: `lmi runtime with LMI_SHARED_STATE=${mode}`,
      resolve: () => withEnv(resolveLmi(process.env.LMI_BENCH_WORKERS), { LMI_SHARED_STATE: mode }),
    }),
  ),
]

function withEnv(
  launch: Launch | { unavailable: string },
  env: Record<string, string>,
): Launch | { unavailable: string } {
  if ('unavailable' in launch) return launch
  return { ...launch, env: { ...launch.env, ...env } }
}

function resolveLmi(workers: string | undefined): Launch | { unavailable: string } {
  if (!existsSync(lmiBin) || !existsSync(lmiDist)) {
    return {
      unavailable: 'packages/runtime/runtime is not built: run `pnpm build` (or npm run bench)',
    }
  }
  // dist/, as users run it: the TypeScript source would add the type stripper's memory.
  // `npm run bench` builds first, so dist/ is the code in the tree.
  return {
    command: process.execPath,
    args: [lmiBin],
    ...(workers === undefined ? {} : { env: { LMI_WORKERS: workers } }),
  }
}

/** The environment Lambda Managed Instances gives a runtime, for one benchmark cell. */
export function lambdaEnv(options: {
  runtimeApi: string
  handler: string
  concurrency: number
}): Record<string, string> {
  return {
    // A clean environment: nothing from the caller's shell (NODE_OPTIONS, …) skews one contender.
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_RUNTIME_API: options.runtimeApi,
    LAMBDA_TASK_ROOT: handlersDir,
    _HANDLER: `${options.handler}.handler`,
    AWS_LAMBDA_MAX_CONCURRENCY: String(options.concurrency),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'lambda-managed-instances',
    AWS_LAMBDA_FUNCTION_NAME: 'lmi-bench',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/lmi-bench',
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/01/[$LATEST]lmibench',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
  }
}
