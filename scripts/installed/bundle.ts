// Bundling a user's handler as `sam build` does (SAM's esbuild builder, through the same
// BuildProperties → esbuild mapping the examples use), and with esbuild's own
// `--packages=external`, against the project's installed node_modules.
import { createRequire } from 'node:module'
import { basename, dirname, extname, join } from 'node:path'
import { repoRoot, samEsbuildArgs } from '../examples/build.ts'
import { CommandError, exec } from './project.ts'

/** The `createRequire` banner SAM users add so ESM bundles can `require()` Node built-ins. */
export const CREATE_REQUIRE_BANNER =
  "js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

/** How a handler is bundled. */
export interface BundleConfig {
  /** What the configuration stands for, in test names. */
  title: string
  /**
   * `sam`: the function's `Metadata.BuildProperties` (without `EntryPoints`), mapped as SAM's
   * builder maps them. `packages-external`: esbuild run directly with `--packages=external`.
   */
  kind: 'sam' | 'packages-external'
  buildProperties: Record<string, unknown>
  /**
   * Where the bundle finds what it leaves external at run time: `layer` (Lambda's `NODE_PATH`
   * pointing at the project's node_modules, as a layer's /opt/nodejs/node_modules is), or
   * `beside` (the bundle inside the project, node_modules deployed with it).
   */
  externals?: 'layer' | 'beside'
}

/**
 * The bundle configurations the installed-product test runs: SAM's defaults (CommonJS, minified,
 * es2020), ESM as `.mjs` without and with the `createRequire` banner, `External` with SAM's
 * defaults, and esbuild's `--packages=external`.
 *
 * @example
 * ```ts
 * BUNDLE_CONFIGS['esm-banner'].buildProperties // => { Format: 'esm', OutExtension: ['.js=.mjs'], Banner: […] }
 * ```
 */
export const BUNDLE_CONFIGS = {
  'cjs-default': {
    title: "SAM's defaults (Format cjs, minified, es2020)",
    kind: 'sam',
    buildProperties: {},
  },
  'esm-no-banner': {
    title: 'Format esm, OutExtension .js=.mjs, no banner',
    kind: 'sam',
    buildProperties: { Format: 'esm', OutExtension: ['.js=.mjs'] },
  },
  'esm-banner': {
    title: 'Format esm, OutExtension .js=.mjs, createRequire banner',
    kind: 'sam',
    buildProperties: { Format: 'esm', OutExtension: ['.js=.mjs'], Banner: [CREATE_REQUIRE_BANNER] },
  },
  'cjs-external': {
    title: "External @lmi/* (SAM's cjs defaults), @lmi from a layer's NODE_PATH",
    kind: 'sam',
    buildProperties: { External: ['@lmi/*'] },
    externals: 'layer',
  },
  'packages-external': {
    title: 'esbuild --packages=external (esm .mjs), node_modules beside the bundle',
    kind: 'packages-external',
    buildProperties: {},
    externals: 'beside',
  },
} as const satisfies Record<string, BundleConfig>

/** A key of {@link BUNDLE_CONFIGS}. */
export type BundleConfigName = keyof typeof BUNDLE_CONFIGS

/** The repository's esbuild binary (the one `sam build` finds on PATH in the examples' docs). */
export function esbuildBinary(): string {
  const manifest = createRequire(join(repoRoot, 'package.json')).resolve('esbuild/package.json')
  return join(dirname(manifest), 'bin', 'esbuild')
}

/** A bundle made by {@link bundleHandler}. */
export interface Bundle {
  /** The directory Lambda would get (LAMBDA_TASK_ROOT). */
  dir: string
  /** `_HANDLER`: `<entry name>.handler`. */
  handler: string
  /** The file esbuild wrote for the entry. */
  file: string
  /** esbuild's warnings. */
  warnings: string
}

/**
 * Bundles `entry` (a handler file of the project) into `outDir` with `config`, esbuild run from
 * the project directory so its node_modules are the ones resolved. Rejects with esbuild's
 * errors when the bundle cannot be built.
 *
 * @example
 * ```ts
 * const bundle = await bundleHandler('/tmp/app/handlers/app.ts', '/tmp/bundles/app', BUNDLE_CONFIGS['esm-banner'])
 * bundle.handler // => 'app.handler'
 * ```
 */
export async function bundleHandler(
  entry: string,
  outDir: string,
  config: BundleConfig,
): Promise<Bundle> {
  const codeDir = dirname(entry)
  const name = basename(entry, extname(entry))
  const args =
    config.kind === 'sam'
      ? samEsbuildArgs(
          { EntryPoints: [basename(entry)], ...config.buildProperties },
          codeDir,
          outDir,
        )
      : [
          entry,
          '--bundle',
          '--platform=node',
          '--format=esm',
          '--target=es2023',
          '--packages=external',
          '--out-extension:.js=.mjs',
          `--outdir=${outDir}`,
        ]
  const format = args.find((arg) => arg.startsWith('--format='))?.slice('--format='.length)
  const outExtension = args.includes('--out-extension:.js=.mjs') ? '.mjs' : '.js'
  let warnings = ''
  try {
    const { stderr } = await exec(esbuildBinary(), [...args, '--log-level=warning'], {
      cwd: codeDir,
    })
    warnings = stderr
  } catch (error) {
    if (error instanceof CommandError) {
      throw new Error(`esbuild (${format}) failed:\n${error.stderr}`)
    }
    throw error
  }
  return {
    dir: outDir,
    handler: `${name}.handler`,
    file: join(outDir, name + outExtension),
    warnings,
  }
}
