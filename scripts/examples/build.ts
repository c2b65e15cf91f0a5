// What `sam build` does for the examples, done here so their tests and the demo run exactly
// the artifacts SAM would deploy: the esbuild command SAM's Node.js esbuild builder derives
// from a function's `Metadata.BuildProperties`, and the LmiRuntimeLayer's Makefile target.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FunctionBuild } from './template.ts'

export const repoRoot: string = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

// aws-lambda-builders (nodejs_npm_esbuild/esbuild.py) maps BuildProperties, converted to
// snake_case by SAM, onto esbuild flags in three forms:
const BOOLEAN = ['minify', 'sourcemap']
const SINGLE = ['target', 'format', 'main_fields', 'sources_content']
const MULTI = ['external', 'loader', 'out_extension', 'banner']

function snakeCase(key: string): string {
  return key.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase()
}

/**
 * The esbuild arguments SAM's builder passes for these BuildProperties: `--bundle
 * --platform=node --outdir=…`, its defaults (`--target=es2020`, `--format=cjs`, `--minify`)
 * where a property does not say otherwise, then each supported property.
 */
export function samEsbuildArgs(
  buildProperties: Record<string, unknown>,
  codeDir: string,
  outDir: string,
): string[] {
  const config = Object.fromEntries(
    Object.entries(buildProperties).map(([key, value]) => [snakeCase(key), value]),
  )
  const unsupported = Object.keys(config).filter(
    (key) => key !== 'entry_points' && ![...BOOLEAN, ...SINGLE, ...MULTI].includes(key),
  )
  if (unsupported.length > 0) {
    throw new Error(`BuildProperties SAM's esbuild builder ignores: ${unsupported.join(', ')}`)
  }
  const args = (config.entry_points as string[]).map((entry) => join(codeDir, entry))
  args.push('--bundle', '--platform=node', `--outdir=${outDir}`)
  if (!('target' in config)) args.push('--target=es2020')
  if (!('format' in config)) args.push('--format=cjs')
  if (!('minify' in config)) args.push('--minify')
  for (const key of BOOLEAN) if (config[key] === true) args.push(`--${key.replaceAll('_', '-')}`)
  for (const key of SINGLE) {
    if (key in config) args.push(`--${key.replaceAll('_', '-')}=${String(config[key])}`)
  }
  for (const key of MULTI) {
    for (const item of (config[key] as string[] | undefined) ?? []) {
      args.push(`--${key.replaceAll('_', '-')}:${item}`)
    }
  }
  return args
}

const esbuildBin = join(
  dirname(createRequire(join(repoRoot, 'package.json')).resolve('esbuild/package.json')),
  'bin',
  'esbuild',
)

/** Builds one function as `sam build` would, into `outDir`. */
export function buildFunction(fn: FunctionBuild, outDir: string): void {
  execFileSync(
    esbuildBin,
    [...samEsbuildArgs(fn.buildProperties, fn.codeDir, outDir), '--log-level=warning'],
    {
      cwd: fn.codeDir,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  )
}

const layerDir = join(repoRoot, 'packages', 'runtime', 'runtime', 'layer')

/**
 * Builds the LmiRuntimeLayer into `outDir` as `sam build` does: `make --makefile <Makefile>
 * build-LmiRuntimeLayer` with ARTIFACTS_DIR set, from another directory. Without `make` on
 * the machine, the recipe's one command is run directly. Returns `<outDir>/lmi/exec-wrapper`.
 */
export function buildRuntimeLayer(outDir: string): string {
  mkdirSync(outDir, { recursive: true })
  const env = { ...process.env, ARTIFACTS_DIR: outDir, PATH: nodePath() }
  const hasMake = (() => {
    try {
      execFileSync('make', ['--version'], { stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  })()
  if (hasMake) {
    execFileSync('make', ['--makefile', join(layerDir, 'Makefile'), 'build-LmiRuntimeLayer'], {
      cwd: outDir,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  } else {
    execFileSync(process.execPath, [join(layerDir, 'build.mjs'), outDir], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  }
  const wrapper = join(outDir, 'lmi', 'exec-wrapper')
  if (!existsSync(wrapper)) throw new Error(`the layer build wrote no ${wrapper}`)
  return wrapper
}

/** PATH with this process's `node` first, as `node` is first on Lambda's PATH. */
export function nodePath(): string {
  return `${dirname(process.execPath)}:${process.env.PATH ?? ''}`
}
