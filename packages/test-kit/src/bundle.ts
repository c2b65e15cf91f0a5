// Bundles a handler the ways users do (AWS SAM's esbuild builder: CommonJS, minified, es2020 by
// default; or ESM, with or without the `createRequire` banner; or with the packages external)
// and runs the bundle in a fresh `node`: imported, its handler called with each event, as a
// Lambda runtime does. Used by the bundle tests of @lmi/context, @lmi/json and @lmi/tenant;
// its own entry (`@lmi/test-kit/bundle`) so that only they load esbuild.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type BuildOptions, build } from 'esbuild'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/**
 * One way of bundling a handler: esbuild options and the bundle's file extension.
 *
 * @example
 * ```ts
 * const esm: BundleFormat = { name: 'ESM', extension: '.mjs', options: { bundle: true, format: 'esm' }, requireless: true }
 * ```
 */
export interface BundleFormat {
  readonly name: string
  readonly extension: '.mjs' | '.cjs'
  readonly options: BuildOptions
  /**
   * CommonJS packages are inlined into a bundle with no `require` of its own: they get Node's
   * built-ins only through the `require` @lmi's packages lend.
   */
  readonly requireless: boolean
}

const sam: BuildOptions = { bundle: true, platform: 'node', target: 'es2020', minify: true }

/**
 * The ways users bundle a handler: AWS SAM's esbuild defaults (minified, es2020) as ESM with and
 * without the `createRequire` banner, as CommonJS, and both with the packages external.
 *
 * @example
 * ```ts
 * import { BUNDLE_FORMATS } from '@lmi/test-kit/bundle'
 *
 * for (const format of BUNDLE_FORMATS) it(`runs bundled as ${format.name}`, async () => { … })
 * ```
 */
export const BUNDLE_FORMATS: readonly BundleFormat[] = [
  {
    name: 'ESM',
    extension: '.mjs',
    options: { ...sam, format: 'esm' },
    requireless: true,
  },
  {
    name: 'ESM with the createRequire banner',
    extension: '.mjs',
    options: {
      ...sam,
      format: 'esm',
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    },
    requireless: false,
  },
  {
    name: "CommonJS (SAM's default)",
    extension: '.cjs',
    options: { ...sam, format: 'cjs' },
    requireless: false,
  },
  {
    name: 'ESM, packages external',
    extension: '.mjs',
    options: { ...sam, format: 'esm', packages: 'external' },
    requireless: false,
  },
  {
    name: 'CommonJS, packages external',
    extension: '.cjs',
    options: { ...sam, format: 'cjs', packages: 'external' },
    requireless: false,
  },
]

// Imports the bundle as a Lambda runtime would, calls the handler with each event in turn and
// reports each result, and whether `globalThis.require` exists after init and at the end.
const RUNNER = `
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
const [bundle, events] = process.argv.slice(2)
const { handler } = await import(pathToFileURL(bundle).href)
const report = (fields) => process.stdout.write(JSON.stringify({ runner: true, ...fields }) + '\\n')
const packageOf = (path) => {
  const [scope, name] = path.split('/node_modules/').at(-1).split('/')
  return scope.startsWith('@') ? scope + '/' + name : scope
}
const commonJsPaths = Object.keys(createRequire(import.meta.url).cache)
report({
  afterInit: {
    globalRequire: typeof globalThis.require,
    commonJsPackages: [
      ...new Set(commonJsPaths.filter((path) => path.includes('/node_modules/')).map(packageOf)),
    ],
  },
})
for (const [index, event] of JSON.parse(events).entries()) {
  const deadline = Date.now() + 30_000
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'bundled',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bundled',
    memoryLimitInMB: '1024',
    awsRequestId: 'req-' + index,
    logGroupName: '/aws/lambda/bundled',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
  report({ result: await handler(event, context) })
}
report({ atEnd: { globalRequire: typeof globalThis.require } })
`

/**
 * What a bundled handler did: its results, the JSON lines it logged, the runner's reports.
 *
 * @example
 * ```ts
 * const run: BundleRun = await dir.bundleAndRun(source, format, [{ n: 1 }])
 * assert.deepEqual(run.results, [{ n: 1 }])
 * ```
 */
export interface BundleRun {
  readonly results: unknown[]
  /** Every other stdout line that is JSON: the handler's log lines. */
  readonly logs: Record<string, unknown>[]
  /** `typeof globalThis.require` once the bundle is imported, and after the last event. */
  readonly globalRequire: { afterInit: string; atEnd: string }
  /** The CommonJS packages node loaded from node_modules (not the bundle) for the bundle's init. */
  readonly commonJsPackages: string[]
  /** The bundle's code. */
  readonly code: string
  readonly stderr: string
}

/**
 * A temporary folder with a `node_modules` that resolves like the repository's (so a bundle
 * with packages external finds them at run time); `bundleAndRun` works in it. `remove()` it
 * in `after`.
 *
 * @example
 * ```ts
 * import { BUNDLE_FORMATS, BundleDir } from '@lmi/test-kit/bundle'
 *
 * const dir = new BundleDir()
 * after(() => dir.remove())
 * const run = await dir.bundleAndRun(
 *   "import { lmi } from '@lmi/core'\nexport const handler = lmi(async (event) => event)",
 *   BUNDLE_FORMATS[0],
 *   [{ n: 1 }],
 * )
 * ```
 */
export class BundleDir {
  readonly path = mkdtempSync(join(tmpdir(), 'lmi-bundle-'))
  #count = 0

  constructor() {
    symlinkSync(join(repoRoot, 'node_modules'), join(this.path, 'node_modules'), 'dir')
    writeFileSync(join(this.path, 'runner.mjs'), RUNNER)
  }

  /**
   * Bundles `source` (an ESM module exporting `handler`) as `format`, runs it with `events`
   * and `env`, and reports what it did. Rejects with the child's stderr when it fails.
   */
  async bundleAndRun(
    source: string,
    format: BundleFormat,
    events: readonly unknown[],
    env: Record<string, string> = {},
  ): Promise<BundleRun> {
    const name = `handler-${++this.#count}`
    const entry = join(this.path, `${name}.mjs`)
    const outfile = join(this.path, `${name}.bundle${format.extension}`)
    writeFileSync(entry, source)
    const built = await build({
      ...format.options,
      entryPoints: [entry],
      outfile,
      write: false,
      // The workspace packages' own sources, as the tests run them.
      conditions: ['@lmi/source'],
      logLevel: 'silent',
    })
    const code = built.outputFiles[0]?.text ?? ''
    writeFileSync(outfile, code)
    // With packages external, node loads them itself: from their sources, as the tests do.
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@lmi/source', join(this.path, 'runner.mjs'), outfile, JSON.stringify(events)],
      { cwd: this.path, env: { PATH: process.env.PATH, ...env }, maxBuffer: 16 * 1024 * 1024 },
    ).catch((error: { stderr?: string }) => {
      // Stack traces quote minified lines: keep the end of each line, and the last lines.
      const tail = (error.stderr ?? String(error)).split('\n').slice(-15)
      throw new Error(
        `the ${format.name} bundle failed:\n${tail.map((l) => l.slice(-300)).join('\n')}`,
      )
    })
    const results: unknown[] = []
    const logs: Record<string, unknown>[] = []
    const globalRequire = { afterInit: '', atEnd: '' }
    let commonJsPackages: string[] = []
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      const record = JSON.parse(line) as Record<string, unknown>
      if (record.runner !== true) logs.push(record)
      else if ('result' in record) results.push(record.result)
      else if ('atEnd' in record) globalRequire.atEnd = String(field(record.atEnd, 'globalRequire'))
      else if ('afterInit' in record) {
        globalRequire.afterInit = String(field(record.afterInit, 'globalRequire'))
        commonJsPackages = field(record.afterInit, 'commonJsPackages') as string[]
      }
    }
    return { results, logs, globalRequire, commonJsPackages, code, stderr }
  }

  /** Deletes the folder and everything bundled in it. */
  remove(): void {
    rmSync(this.path, { recursive: true, force: true })
  }
}

function field(report: unknown, name: string): unknown {
  return (report as Record<string, unknown>)[name]
}

/**
 * `record` with only `keys`, for comparing log lines without their timestamps.
 *
 * @example
 * ```ts
 * pick({ level: 'info', msg: 'hi', time: 1733 }, ['level', 'msg']) // => { level: 'info', msg: 'hi' }
 * ```
 */
export function pick(record: Record<string, unknown>, keys: readonly string[]): object {
  return Object.fromEntries(keys.filter((key) => key in record).map((key) => [key, record[key]]))
}
