// lmi as a user gets it. Every public package is packed once (pnpm pack, from the built dist/)
// and installed once, with npm, into a project outside the repository; every subtest below
// uses that one install. Each known way the product can break has its own subtest, so one
// failing hides none of the others. See README.md beside this file; the steps are in
// scripts/installed/.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { InvokeResult } from '@lmi/dev/emulator'
import { repoRoot } from '../../../../scripts/examples/build.ts'
import {
  BUNDLE_CONFIGS,
  type BundleConfigName,
  bundleHandler,
} from '../../../../scripts/installed/bundle.ts'
import { runLmiCheck, startLmiDev } from '../../../../scripts/installed/cli.ts'
import { packPackages, readTarball, tarballManifest } from '../../../../scripts/installed/pack.ts'
import {
  publicPackages,
  REPOSITORY_URL,
  thirdPartyPackages,
} from '../../../../scripts/installed/packages.ts'
import {
  assertRegistryReachable,
  childEnv,
  createProject,
  exec,
  writeFiles,
} from '../../../../scripts/installed/project.ts'
import {
  type InstalledStep,
  installedSteps,
  readmeFiles,
} from '../../../../scripts/installed/readme.ts'
import {
  type EmulatorModule,
  type Invocation,
  importInstalledEmulator,
  invokeAll,
  type RunningRuntime,
  startRuntime,
} from '../../../../scripts/installed/runtime.ts'
import { type BackgroundShell, runShell, startShell } from '../../../../scripts/installed/shell.ts'
import {
  type Diagnostic,
  formatDiagnostics,
  type ModuleSetting,
  typeCheck,
} from '../../../../scripts/installed/typecheck.ts'
import {
  ASSIGN_FILE,
  ASSIGN_UNTYPED_FILE,
  AWS_HANDLER,
  DEV_JS_HANDLER,
  entryPointFile,
  MIDDY_HANDLER,
  readmeHandler,
} from './handlers.ts'

const CONCURRENCY = 64
const INVOCATIONS = 128
const EVENTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'events')

const root = mkdtempSync(join(tmpdir(), 'lmi-installed-'))
const project = join(root, 'project')
const packages = publicPackages()
const readme = readmeHandler()
/** Every public entry point (`exports` subpath) but `./internal`, which is for lmi's own packages. */
const ENTRY_POINTS = packages.flatMap((pkg) =>
  Object.keys((pkg.manifest.exports as Record<string, unknown> | undefined) ?? { '.': '' })
    .filter((subpath) => subpath !== './package.json' && subpath !== './internal')
    .map((subpath) => (subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`)),
)
const entryFile = (specifier: string) => `handlers/entry-${specifier.replace(/[@/]/g, '_')}.ts`

let tarballs = new Map<string, string>()
let emulatorModule: EmulatorModule

function tarball(name: string): string {
  const file = tarballs.get(name)
  if (file === undefined) throw new Error(`${name} was not packed`)
  return file
}

/**
 * The installed project: every tarball and the third-party packages installed with npm, the
 * handlers written, the installed emulator imported. Started by the root `before` once the
 * tarballs exist, and awaited by each group that uses it: its `npm install` (registry round
 * trips) runs while the tarballs are checked (publint, attw: CPU), which do not use it.
 */
let projectReady: Promise<void> = Promise.reject(new Error('the tarballs were not packed'))
projectReady.catch(() => {})

async function setUpProject(): Promise<void> {
  await createProject(project, {
    tarballs: packages.map((pkg) => tarball(pkg.name)),
    packages: thirdPartyPackages(),
    esm: true,
  })
  writeFiles(project, {
    'handlers/app.ts': readme,
    'handlers/middy.ts': MIDDY_HANDLER,
    'handlers/aws.ts': AWS_HANDLER,
    'handlers/assign.ts': ASSIGN_FILE,
    'handlers/assign-untyped.ts': ASSIGN_UNTYPED_FILE,
    ...Object.fromEntries(
      ENTRY_POINTS.map((specifier) => [entryFile(specifier), entryPointFile(specifier)]),
    ),
    'handlers/dev.js': DEV_JS_HANDLER,
  })
  cpSync(EVENTS_DIR, join(project, 'events'), { recursive: true })
  emulatorModule = await importInstalledEmulator(project)
}

before(
  async () => {
    // Prepare: what the set-up builds must be there; the tarballs are made from it.
    const unbuilt = packages.filter((pkg) => !existsSync(join(repoRoot, pkg.dir, 'dist')))
    const layer = join(repoRoot, 'packages/runtime/runtime/layer/dist/lmi/lmi-runtime.mjs')
    if (unbuilt.length > 0 || !existsSync(layer)) {
      throw new Error(
        `not built (${[...unbuilt.map((pkg) => pkg.dir), ...(existsSync(layer) ? [] : [layer])].join(', ')}): run \`pnpm build\` first`,
      )
    }
    await assertRegistryReachable(root)
    tarballs = await packPackages(packages, join(root, 'tarballs'))
    projectReady = setUpProject()
    // Observed by the tests that await it; not an unhandled rejection before.
    projectReady.catch(() => {})
  },
  { timeout: 300_000 },
)

/** For the `before` of each group that uses the installed project. */
const awaitProject = () => projectReady

const removeRoot = () => rmSync(root, { recursive: true, force: true })
after(removeRoot)
// And on exit: a run cut short (or filtered by name) may end without the root's `after`.
process.once('exit', removeRoot)

/** An `exports` map without one condition, at any depth. */
function withoutCondition(exports: unknown, condition: string): unknown {
  if (typeof exports !== 'object' || exports === null) return exports
  return Object.fromEntries(
    Object.entries(exports)
      .filter(([key]) => key !== condition)
      .map(([key, value]) => [key, withoutCondition(value, condition)]),
  )
}

describe('the tarballs', { concurrency: 2 }, () => {
  for (const pkg of packages) {
    it(`${pkg.name}: holds LICENSE, README.md, package.json, dist/*.js each with its .d.ts; no .tsbuildinfo, no tests`, () => {
      const paths = readTarball(tarball(pkg.name)).map((entry) => entry.path)
      const js = paths.filter((path) => /^dist\/.+\.js$/.test(path))
      assert.ok(js.length > 0, 'no dist/*.js')
      assert.deepEqual(
        {
          missing: ['LICENSE', 'README.md', 'package.json'].filter((file) => !paths.includes(file)),
          jsWithoutDeclarations: js.filter(
            (path) => !paths.includes(path.replace(/\.js$/, '.d.ts')),
          ),
          forbidden: paths.filter(
            (path) =>
              /\.tsbuildinfo$/.test(path) ||
              /(^|\/)(test|tests|__tests__)\//.test(path) ||
              /\.(test|spec)\.[cm]?[jt]s$/.test(path),
          ),
        },
        { missing: [], jsWithoutDeclarations: [], forbidden: [] },
      )
    })

    it(`${pkg.name}: its packed manifest has no @lmi/source condition, no exactly pinned dependency, and the project's metadata`, () => {
      const manifest = tarballManifest(tarball(pkg.name))
      assert.doesNotMatch(JSON.stringify(manifest.exports), /@lmi\/source/)
      // publishConfig.exports repeats exports: the packed map must be the same, condition aside.
      assert.deepEqual(
        manifest.exports,
        withoutCondition(pkg.manifest.exports, '@lmi/source'),
        'the packed exports differ from package.json exports (publishConfig.exports out of date?)',
      )
      assert.equal(manifest.publishConfig, undefined)
      const ranges = {
        ...(manifest.dependencies as Record<string, string> | undefined),
        ...(manifest.peerDependencies as Record<string, string> | undefined),
      }
      // Caret ranges; `>=` where any newer major fits (the optional @types/node peer). Never an
      // exact pin, which would give users a second copy beside their own.
      assert.deepEqual(
        Object.entries(ranges).filter(([, range]) => !/^(\^|>=)\d+(\.\d+\.\d+)?$/.test(range)),
        [],
        'dependencies and peerDependencies must be caret (or >=) ranges, not exact versions',
      )
      assert.deepEqual(manifest.repository, {
        type: 'git',
        url: `git+${REPOSITORY_URL}.git`,
        directory: pkg.dir,
      })
      assert.equal(manifest.homepage, `${REPOSITORY_URL}/tree/main/${pkg.dir}#readme`)
      assert.deepEqual(manifest.bugs, { url: `${REPOSITORY_URL}/issues` })
      assert.equal(manifest.license, 'MIT')
      assert.ok(Array.isArray(manifest.keywords) && manifest.keywords.length > 0, 'keywords')
      assert.equal(manifest.type, 'module')
    })

    const bins = Object.values((pkg.manifest.bin as Record<string, string> | undefined) ?? {})
    if (bins.length > 0) {
      it(`${pkg.name}: its bins (${bins.join(', ')}) are executable (0755) in the tarball`, () => {
        const entries = readTarball(tarball(pkg.name))
        const modes = Object.fromEntries(
          bins.map((bin) => {
            const path = bin.replace(/^\.\//, '')
            const mode = entries.find((entry) => entry.path === path)?.mode
            return [path, mode === undefined ? 'missing' : `0${mode.toString(8)}`]
          }),
        )
        assert.deepEqual(
          modes,
          Object.fromEntries(Object.keys(modes).map((path) => [path, '0755'])),
        )
      })
    }

    it(`${pkg.name}: publint --strict passes`, async () => {
      const publint = join(repoRoot, 'node_modules', '.bin', 'publint')
      await exec(publint, ['--strict', tarball(pkg.name)], { cwd: root, env: childEnv() })
    })

    it(`${pkg.name}: attw --profile esm-only passes`, async () => {
      const attw = join(repoRoot, 'node_modules', '.bin', 'attw')
      await exec(attw, [tarball(pkg.name), '--profile', 'esm-only', '--format', 'ascii'], {
        cwd: root,
        env: childEnv({ NO_COLOR: '1' }),
      })
    })
  }

  it('@lmi/runtime: declares the exec wrapper as a bin and ships the prebuilt layer', () => {
    const manifest = tarballManifest(tarball('@lmi/runtime'))
    assert.equal(
      (manifest.bin as Record<string, string>)['lmi-exec-wrapper'],
      './bin/lmi-exec-wrapper',
    )
    const paths = readTarball(tarball('@lmi/runtime')).map((entry) => entry.path)
    for (const file of [
      'layer/Makefile',
      'layer/dist/lmi/lmi-runtime.mjs',
      'layer/dist/lmi/worker-entry.mjs',
      'layer/dist/lmi/exec-wrapper',
      'layer/dist/lmi/shutdown-extension.mjs',
      'layer/dist/extensions/lmi-shutdown',
    ]) {
      assert.ok(paths.includes(file), `${file} is not in the tarball`)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Type-checking the user's code against the installed declarations.

const COMPILERS = [
  { alias: 'typescript5', title: 'TypeScript 5.9' },
  { alias: 'typescript7', title: 'TypeScript 7' },
] as const
const MODULES: Array<{ setting: ModuleSetting; title: string }> = [
  { setting: 'nodenext', title: 'module NodeNext' },
  { setting: 'bundler', title: 'module preserve + moduleResolution Bundler' },
]
const HANDLER_FILES = ['handlers/app.ts', 'handlers/middy.ts', 'handlers/aws.ts']
const ASSIGN_FILES = ['handlers/assign.ts', 'handlers/assign-untyped.ts']

/**
 * @middy/core 7.9's own declarations import its optional peer `@aws/durable-execution-sdk-js`
 * (which brings the AWS SDK's Lambda client, not installed here): with skipLibCheck false a
 * middy user gets this one error whatever lmi does. Reported as a diagnostic, not counted.
 */
function assertNoDiagnostics(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length > 0) {
    assert.fail(`${diagnostics.length} error(s):\n${formatDiagnostics(diagnostics)}`)
  }
}

function isMiddyOptionalPeer(d: Diagnostic): boolean {
  return (
    d.file === 'node_modules/@middy/core/index.d.ts' &&
    d.code === 'TS2307' &&
    d.message.includes("'@aws/durable-execution-sdk-js'")
  )
}

describe('type-checking (strict, skipLibCheck false, @types/aws-lambda + @types/node)', () => {
  before(awaitProject, { timeout: 300_000 })
  for (const compiler of COMPILERS) {
    for (const module of MODULES) {
      const name = `${compiler.alias}-${module.setting}`
      let withNode: Promise<Diagnostic[]> | undefined
      // One compilation for the handlers and the assignments, read by three subtests.
      const handlersRun = () => {
        withNode ??= typeCheck(project, {
          compiler: compiler.alias,
          name,
          module: module.setting,
          files: [...HANDLER_FILES, ...ASSIGN_FILES],
          compilerOptions: { types: ['node'] },
        })
        return withNode
      }

      it(`${compiler.title}, ${module.title}: the README, middy and AWS-style handlers type-check`, async (t) => {
        const all = (await handlersRun()).filter((d) => !ASSIGN_FILES.includes(d.file))
        const middys = all.filter(isMiddyOptionalPeer)
        if (middys.length > 0) t.diagnostic(`not lmi's: ${formatDiagnostics(middys)}`)
        const diagnostics = all.filter((d) => !isMiddyOptionalPeer(d))
        assertNoDiagnostics(diagnostics)
      })

      it(`${compiler.title}, ${module.title}: lmi handlers with known event and result types are assignable to @types/aws-lambda's handler types`, async () => {
        const diagnostics = (await handlersRun()).filter((d) => d.file === 'handlers/assign.ts')
        assertNoDiagnostics(diagnostics)
      })

      it(`${compiler.title}, ${module.title}: \`const h: APIGatewayProxyHandlerV2 = lmi()…\` with no type arguments (the README's style) type-checks`, async () => {
        const diagnostics = (await handlersRun()).filter(
          (d) => d.file === 'handlers/assign-untyped.ts',
        )
        assertNoDiagnostics(diagnostics)
      })
    }
  }

  // TypeScript 7's `types` defaults to none (5.9 loads every @types package): a project that
  // does not list "node" compiles lmi's declarations without Node's types, unless they bring
  // them. One compilation per entry point, as each may be all a project imports.
  for (const specifier of ENTRY_POINTS) {
    it(`TypeScript 7, no \`types\` setting (its default: none): \`import … from '${specifier}'\` type-checks`, async () => {
      const diagnostics = await typeCheck(project, {
        compiler: 'typescript7',
        name: `entry-${specifier.replaceAll('/', '-')}`,
        module: 'nodenext',
        files: [entryFile(specifier)],
      })
      assertNoDiagnostics(diagnostics)
    })
  }
})

// ---------------------------------------------------------------------------------------------
// Bundling as SAM does, running on the installed runtime against the installed emulator.

type EventKind = 'v2' | 'v1' | 'alb' | 'url'
const EVENT_FILES: Record<EventKind, string> = {
  v2: 'apigw-http-jwt.json',
  v1: 'apigw-rest.json',
  alb: 'alb.json',
  url: 'function-url.json',
}
const ALL_KINDS: EventKind[] = ['v2', 'v1', 'alb', 'url']

/** A copy of a captured event with this invocation's text, tenant header and tenant claim. */
function httpEvent(
  kind: EventKind,
  options: { text: string; tenantHeader?: string; tenantClaim?: string },
): Record<string, unknown> {
  const event = JSON.parse(readFileSync(join(EVENTS_DIR, EVENT_FILES[kind]), 'utf8'))
  const body = JSON.stringify({ text: options.text })
  event.body = body
  if (kind === 'v2') event.headers['content-length'] = String(Buffer.byteLength(body))
  if (options.tenantHeader !== undefined) {
    event.headers['x-tenant-id'] = options.tenantHeader
    if (kind === 'v1') event.multiValueHeaders['x-tenant-id'] = [options.tenantHeader]
  }
  if (kind === 'v2') {
    const claims = event.requestContext.authorizer.jwt.claims
    if (options.tenantClaim === undefined) delete claims['custom:tenant_id']
    else claims['custom:tenant_id'] = options.tenantClaim
  }
  if (kind === 'v1') {
    const claims = event.requestContext.authorizer.claims
    if (options.tenantClaim === undefined) delete claims['custom:tenant_id']
    else claims['custom:tenant_id'] = options.tenantClaim
  }
  return event
}

/** One planned invocation and the check of its answer (problems returned, not thrown). */
interface Planned extends Invocation {
  check(result: InvokeResult, running: RunningRuntime): string[]
}

/** The HTTP response a handler returned, with its JSON body parsed. */
function response(result: InvokeResult): {
  statusCode?: number
  headers?: Record<string, string>
  body: Record<string, unknown>
} {
  const payload = JSON.parse(result.payload.toString('utf8'))
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(payload.body)
  } catch {
    body = { unparsed: payload.body }
  }
  return { ...payload, body }
}

function succeeded(result: InvokeResult): string[] {
  return result.status === 'success'
    ? []
    : [
        `${result.requestId}: ${result.status} ${result.error?.errorType}: ${result.error?.errorMessage}`,
      ]
}

interface HandlerUnderTest {
  file: string
  title: string
  /** The README's handler writes no per-request delay: concurrency is only what the runtime makes of it. */
  minPeakInFlight: number
  plan(index: number): Planned
  /** Checks across the whole run (log lines), after every answer. */
  checkLogs?(results: InvokeResult[], running: RunningRuntime): Promise<string[]>
}

const tenantOf = (index: number) => `tenant-${index % 16}`

const HANDLERS: HandlerUnderTest[] = [
  {
    file: 'app.ts',
    title: "the README's handler",
    minPeakInFlight: 2,
    plan(index) {
      // The README's handler takes Lambda's tenant id, else the JWT claim: API Gateway events
      // carry the claim, ALB and Function URL ones get Lambda's (tenant isolation mode), and
      // every 16th (a Function URL) has neither, which tenant() refuses (400).
      const kind = ALL_KINDS[index % 4] as EventKind
      const tenant = tenantOf(index)
      const claimed = kind === 'v2' || kind === 'v1'
      const tenantless = index % 16 === 15
      return {
        event: httpEvent(kind, {
          text: `note-${index}`,
          ...(claimed ? { tenantClaim: tenant } : {}),
        }),
        ...(claimed || tenantless ? {} : { tenantId: tenant }),
        check(result) {
          const problems = succeeded(result)
          if (problems.length > 0) return problems
          const res = response(result)
          if (tenantless) {
            return res.statusCode === 400
              ? []
              : [`${kind} without a tenant: status ${res.statusCode}, expected 400`]
          }
          const file = String(res.body.file)
          if (res.statusCode !== 200 || res.body.saved !== true) {
            return [`${kind}: ${res.statusCode} ${JSON.stringify(res.body)}`]
          }
          return file.endsWith(`/${tenant}/${result.requestId}/note.txt`)
            ? []
            : [`${kind}: file ${file} is not this invocation's (${tenant}/${result.requestId})`]
        },
      }
    },
    async checkLogs(results, running) {
      // The handler's log line for each saved note: this invocation's request and tenant ids.
      const saved = results
        .map((result) => ({ result, res: response(result) }))
        .filter(({ res }) => res.statusCode === 200)
      const deadline = Date.now() + 5000
      const lineFor = (file: unknown) => running.logs.find((line) => line.file === file)
      while (
        saved.some(({ res }) => lineFor(res.body.file) === undefined) &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return saved.flatMap(({ result, res }) => {
        const line = lineFor(res.body.file)
        if (line === undefined) return [`no log line for ${res.body.file}`]
        const tenant = String(res.body.file).split('/').at(-3)
        return line.requestId === result.requestId && line.tenantId === tenant
          ? []
          : [`log line ${JSON.stringify(line)} is not ${result.requestId}/${tenant}'s`]
      })
    },
  },
  {
    file: 'middy.ts',
    title: 'the middy() handler',
    minPeakInFlight: 32,
    plan(index) {
      const kind = ALL_KINDS[index % 4] as EventKind
      const tenant = tenantOf(index)
      const text = `note-${index}-${Math.random().toString(36).slice(2)}`
      // Half carry the tenant in a header, half get it from Lambda's tenant isolation mode.
      const viaHeader = index % 2 === 0
      return {
        event: httpEvent(kind, { text, ...(viaHeader ? { tenantHeader: tenant } : {}) }),
        ...(viaHeader ? {} : { tenantId: tenant }),
        check(result) {
          const problems = succeeded(result)
          if (problems.length > 0) return problems
          const res = response(result)
          const { body } = res
          const expected = { text, tenant, requestId: result.requestId }
          const got = { text: body.text, tenant: body.tenant, requestId: body.requestId }
          if (res.statusCode !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
            return [
              `${kind}: ${res.statusCode} ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
            ]
          }
          return String(body.file).includes(`/${tenant}/${result.requestId}/`)
            ? []
            : [`${kind}: file ${body.file} is not this invocation's`]
        },
      }
    },
  },
  {
    file: 'aws.ts',
    title: 'the plain AWS-style handler',
    minPeakInFlight: 32,
    plan(index) {
      const kind = ALL_KINDS[index % 4] as EventKind
      const tenant = tenantOf(index)
      const text = `note-${index}-${Math.random().toString(36).slice(2)}`
      return {
        event: httpEvent(kind, { text, tenantHeader: tenant }),
        check(result) {
          const problems = succeeded(result)
          if (problems.length > 0) return problems
          const res = response(result)
          const expected = { text, tenant, requestId: result.requestId }
          const got = {
            text: res.body.text,
            tenant: res.body.tenant,
            requestId: res.body.requestId,
          }
          return res.statusCode === 200 && JSON.stringify(got) === JSON.stringify(expected)
            ? []
            : [
                `${kind}: ${res.statusCode} ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
              ]
        },
      }
    },
  },
]

/**
 * Runs a bundle with `command` against a fresh installed emulator at c=64 and checks every
 * answer; returns the problems found.
 */
async function runAndCheck(
  handler: HandlerUnderTest,
  bundle: { dir: string; handler: string },
  options: { command: string; args?: string[]; env?: Record<string, string> },
): Promise<{ problems: string[]; peakInFlight: number }> {
  const running = await startRuntime({
    emulatorModule,
    command: options.command,
    ...(options.args === undefined ? {} : { args: options.args }),
    taskRoot: bundle.dir,
    handler: bundle.handler,
    concurrency: CONCURRENCY,
    ...(options.env === undefined ? {} : { env: options.env }),
  })
  try {
    const planned = Array.from({ length: INVOCATIONS }, (_, index) => handler.plan(index))
    const results = await invokeAll(running.emulator, planned)
    const problems = results.flatMap((result, index) =>
      (planned[index] as Planned).check(result, running),
    )
    problems.push(...((await handler.checkLogs?.(results, running)) ?? []))
    return { problems, peakInFlight: running.emulator.stats().peakInFlight }
  } finally {
    await running.close()
  }
}

const installedRuntime = () => join(project, 'node_modules', '.bin', 'lmi-runtime')

// Lambda Managed Instances run Node 22 and Node 24: the bundles run on this process's Node and
// on the Node 22 that `npm test` installs into .tools/node22. This file is left out of the
// Node 22 pass of the suite (scripts/test-node22.mjs): packing, installing, type-checking and
// the README steps do not depend on the Node that runs the tests; the runtime does, so it is
// run on both from here. Every handler in every format on this process's Node; on Node 22, the
// two formats that differ in how modules load (CommonJS, and ES modules without a banner) each
// with the README's handler, and every handler in one of them: what could break on Node 22 only
// is how the format loads, or a handler's packages on it.
const node22 = join(repoRoot, '.tools', 'node22', 'node_modules', 'node', 'bin', 'node')
const NODES: Array<{
  title: string
  bin: string | undefined
  /** The formats each handler (by file) is bundled in and run. */
  configs: Record<string, readonly BundleConfigName[]>
}> = [
  {
    title: `Node ${process.versions.node}`,
    bin: process.execPath,
    configs: Object.fromEntries(
      HANDLERS.map((handler) => [handler.file, Object.keys(BUNDLE_CONFIGS) as BundleConfigName[]]),
    ),
  },
  {
    title: 'Node 22',
    bin: process.versions.node.startsWith('22.') || !existsSync(node22) ? undefined : node22,
    configs: {
      'app.ts': ['cjs-default', 'esm-no-banner'],
      'middy.ts': ['cjs-default'],
      'aws.ts': ['esm-no-banner'],
    },
  },
]

for (const node of NODES) {
  describe(`bundled as sam build bundles, run by the installed lmi-runtime on ${node.title} at ${CONCURRENCY} concurrent invocations`, () => {
    before(awaitProject, { timeout: 300_000 })
    for (const handler of HANDLERS) {
      for (const configName of node.configs[handler.file] ?? []) {
        const config = BUNDLE_CONFIGS[configName]
        it(`${handler.title} (${handler.file}), ${config.title}: every answer is its own request's`, async (t) => {
          if (node.bin === undefined) {
            t.skip(
              process.versions.node.startsWith('22.')
                ? 'this process is Node 22: the runs above are on it'
                : 'Node 22 is not set up: `npm test` installs it into .tools/node22',
            )
            return
          }
          const name = `${handler.file.replace(/\.ts$/, '')}-${configName}`
          const externals = 'externals' in config ? config.externals : undefined
          // Self-contained bundles go where no node_modules can be found from; a bundle that
          // keeps packages external sits in the project, beside its node_modules.
          const outDir =
            externals === 'beside' ? join(project, 'build', name) : join(root, 'bundles', name)
          const bundle = await bundleHandler(
            join(project, 'handlers', handler.file),
            outDir,
            config,
          )
          if (bundle.warnings.trim() !== '') t.diagnostic(`esbuild: ${bundle.warnings.trim()}`)
          const env: Record<string, string> = {
            // The bin's `#!/usr/bin/env node` finds this Node first.
            PATH: [dirname(node.bin), process.env.PATH ?? ''].join(delimiter),
            ...(externals === 'layer' ? { NODE_PATH: join(project, 'node_modules') } : {}),
          }
          const { problems, peakInFlight } = await runAndCheck(handler, bundle, {
            command: installedRuntime(),
            env,
          })
          assert.deepEqual(
            problems.slice(0, 8),
            [],
            `${problems.length} of ${INVOCATIONS} answers wrong`,
          )
          assert.ok(
            peakInFlight >= handler.minPeakInFlight,
            `peak in flight ${peakInFlight}, expected >= ${handler.minPeakInFlight}`,
          )
        })
      }
    }
  })
}

describe('the exec wrappers', () => {
  before(awaitProject, { timeout: 300_000 })
  const aws = HANDLERS[2] as HandlerUnderTest
  const layerDir = join(root, 'LmiRuntimeLayer')

  it("the installed layer's Makefile builds LmiRuntimeLayer with no esbuild in the project; exec-wrapper and the extension are 0755", async () => {
    assert.equal(existsSync(join(project, 'node_modules', 'esbuild')), false)
    const scratch = join(root, 'layer-scratch')
    mkdirSync(scratch, { recursive: true })
    // As sam build does: from another directory, ARTIFACTS_DIR set, and no esbuild on PATH.
    await exec(
      'make',
      [
        '--makefile',
        join(project, 'node_modules/@lmi/runtime/layer/Makefile'),
        'build-LmiRuntimeLayer',
      ],
      { cwd: scratch, env: childEnv({ ARTIFACTS_DIR: layerDir }) },
    )
    for (const file of [
      'lmi-runtime.mjs',
      'worker-entry.mjs',
      'exec-wrapper',
      'shutdown-extension.mjs',
    ]) {
      assert.ok(existsSync(join(layerDir, 'lmi', file)), `${file} not built`)
    }
    assert.equal(statSync(join(layerDir, 'lmi', 'exec-wrapper')).mode & 0o777, 0o755)
    // /opt/extensions/lmi-shutdown: Lambda runs every executable file there as an extension.
    assert.equal(statSync(join(layerDir, 'extensions', 'lmi-shutdown')).mode & 0o777, 0o755)
  })

  it("a bundle runs through the layer's exec wrapper (AWS_LAMBDA_EXEC_WRAPPER=/opt/lmi/exec-wrapper)", async () => {
    const wrapper = join(layerDir, 'lmi', 'exec-wrapper')
    assert.ok(existsSync(wrapper), 'the layer was not built (see the Makefile subtest)')
    const bundle = await bundleHandler(
      join(project, 'handlers', aws.file),
      join(root, 'bundles', 'aws-via-layer'),
      BUNDLE_CONFIGS['cjs-default'],
    )
    const { problems } = await runAndCheck(aws, bundle, {
      command: wrapper,
      args: ['/var/lang/bin/node', '/var/runtime/index.mjs'],
    })
    assert.deepEqual(problems.slice(0, 8), [], `${problems.length} of ${INVOCATIONS} answers wrong`)
  })

  it("the installed layer's lmi-shutdown and exec wrapper go through Lambda's shutdown: SIGTERM, drain, both exit by themselves", async () => {
    const wrapper = join(layerDir, 'lmi', 'exec-wrapper')
    assert.ok(existsSync(wrapper), 'the layer was not built (see the Makefile subtest)')
    const bundle = await bundleHandler(
      join(project, 'handlers', aws.file),
      join(root, 'bundles', 'aws-via-layer-shutdown'),
      BUNDLE_CONFIGS['cjs-default'],
    )
    const running = await startRuntime({
      emulatorModule,
      command: wrapper,
      args: ['/var/lang/bin/node', '/var/runtime/index.mjs'],
      taskRoot: bundle.dir,
      handler: bundle.handler,
      concurrency: CONCURRENCY,
    })
    // As Lambda mounts the layer: /opt/extensions/lmi-shutdown, /opt/lmi/...
    const extension = spawn(join(layerDir, 'extensions', 'lmi-shutdown'), [], {
      env: childEnv({ AWS_LAMBDA_RUNTIME_API: running.emulator.runtimeApi }),
      stdio: 'inherit',
    })
    try {
      if (running.emulator.extensions.length === 0)
        await once(running.emulator, 'extensionRegistered')
      const planned = Array.from({ length: CONCURRENCY }, (_, index) => aws.plan(index))
      const results = await invokeAll(running.emulator, planned)
      const problems = results.flatMap((result, index) =>
        (planned[index] as Planned).check(result, running),
      )
      assert.deepEqual(problems.slice(0, 8), [])
      // A runtime share long enough for a loaded test machine: bench/extension.ts measures the
      // runtime against Lambda's 300 ms.
      const report = await running.emulator.shutdown(
        { runtime: running.child, extensions: [extension] },
        { runtimeMs: 2000 },
      )
      assert.deepEqual(
        running.emulator.extensions.map(({ name, events }) => ({ name, events })),
        [{ name: 'lmi-shutdown', events: ['SHUTDOWN'] }],
      )
      assert.equal(report.runtime.terminated, true, 'the runtime got SIGTERM')
      assert.equal(report.runtime.killed, false, 'the runtime did not exit by itself')
      assert.equal(report.runtime.code, 0)
      assert.deepEqual(
        report.extensions.map(({ code, killed }) => ({ code, killed })),
        [{ code: 0, killed: false }],
      )
    } finally {
      extension.kill('SIGKILL')
      await running.close()
    }
  })

  it('node_modules/.bin/lmi-exec-wrapper (a symlink) starts the installed runtime', async () => {
    const bundle = await bundleHandler(
      join(project, 'handlers', aws.file),
      join(root, 'bundles', 'aws-via-bin-wrapper'),
      BUNDLE_CONFIGS['cjs-default'],
    )
    const { problems } = await runAndCheck(aws, bundle, {
      command: join(project, 'node_modules', '.bin', 'lmi-exec-wrapper'),
      args: ['/var/lang/bin/node', '/var/runtime/index.mjs'],
    })
    assert.deepEqual(problems.slice(0, 8), [], `${problems.length} of ${INVOCATIONS} answers wrong`)
  })
})

// ---------------------------------------------------------------------------------------------
// The installed `lmi` bin.

describe('the installed lmi CLI', () => {
  before(awaitProject, { timeout: 300_000 })
  async function devRoundTrip(handler: string, event: unknown, tenantId: string) {
    const dev = await startLmiDev(project, handler, ['--concurrency', '4'])
    try {
      const answer = await fetch(`${dev.url}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        headers: { 'X-Amz-Tenant-Id': tenantId },
        body: JSON.stringify(event),
      })
      const text = await answer.text()
      return { status: answer.status, text, stderr: dev.stderr() }
    } finally {
      const exit = await dev.interrupt()
      assert.deepEqual(exit, { code: 0, signal: null }, `lmi dev after SIGINT:\n${dev.stderr()}`)
    }
  }

  it('lmi dev serves a .js handler: a POST to the invoke endpoint is answered, SIGINT stops it', async () => {
    const event = httpEvent('v2', { text: 'from curl' })
    const { status, text, stderr } = await devRoundTrip('handlers/dev.handler', event, 'acme')
    assert.equal(status, 200, `${text}\n${stderr}`)
    const payload = JSON.parse(text)
    assert.equal(payload.statusCode, 200, text)
    assert.deepEqual(JSON.parse(payload.body), { echo: { text: 'from curl' }, tenant: 'acme' })
  })

  it('lmi check on a .js handler with the events directory: exit 0, no finding', async () => {
    const run = await runLmiCheck(project, 'handlers/dev.handler', 'events', ['--rounds', '1'])
    assert.equal(run.code, 0, `${run.stdout.slice(0, 3000)}\n${run.stderr.slice(0, 3000)}`)
    assert.deepEqual(run.report?.findings, [])
  })

  // The README's app.ts under lmi dev (a POST answered, the note saved) and under lmi check (an
  // events directory; exit 0: no finding) are the root README's walkthrough steps, `npx lmi dev
  // app.handler` and `npx lmi check app.handler --events events/`, run against the same
  // tarballs: not run twice. lmi dev's exit 0 on SIGINT is checked above.
})

// ---------------------------------------------------------------------------------------------
// The READMEs' commands, run as written: every block marked `<!-- installed-test: … -->` (see
// scripts/installed/readme.ts), README by README, each in a directory of its own.
//
// The root README's walkthrough makes a project of its own (`mkdir notes && cd notes && npm
// init -y`) and runs outside the installed project, so that a package its `npm install` lines
// forget is missing there as it would be for a reader. A package's README runs in a fresh folder
// inside the installed project, as a user runs it in their project: its `npm install` lines
// install into that project, which holds the tarballs already (nothing new from the registry),
// and `npx lmi` finds the installed bin.
//
// The substitutions, all forced: `@lmi/<name>` in an `npm install` line becomes that package's
// tarball (lmi is not on the registry yet); port 9000 (`--port 9000`, `127.0.0.1:9000`) becomes
// a free port, and an `lmi dev` line without `--port` gets `--port <free>` (other tests run beside
// this one). Everything else — the unpinned `npm install`s from the registry, `npx`, `curl` — is
// what a reader runs; for the package READMEs, npm reads the registry's metadata from its cache
// (see below).

/** A README's commands with the substitutions above. */
function substitute(code: string, port: number): string {
  return code
    .split('\n')
    .map((line) => {
      if (/^\s*npm (install|i)\b/.test(line))
        return line.replace(/@lmi\/[a-z0-9-]+/g, (name) => tarball(name))
      if (/\blmi dev\b/.test(line) && !/\s(--port|-p)[\s=]/.test(line))
        return `${line} --port ${port}`
      return line
    })
    .join('\n')
    .replace(/(\s(--port|-p)[\s=])9000\b/g, `$1${port}`)
    .replaceAll('127.0.0.1:9000', `127.0.0.1:${port}`)
}

/**
 * A README's `installed-test` steps as subtests, one after another, run in `dir` (made first)
 * with `extraEnv` added to {@link childEnv}'s. A step after a failed one fails without running.
 */
function describeReadmeSteps(file: string, dir: string, extraEnv: Record<string, string>): void {
  describe(`${file}: its marked steps`, { concurrency: 1 }, () => {
    const steps = installedSteps(file)
    let cwd = dir
    let port = 9000
    let lastOutput = ''
    let ranAny = false
    let failedAt: InstalledStep | undefined
    let background: BackgroundShell | undefined
    const pendingFiles: InstalledStep[] = []

    before(async () => {
      mkdirSync(cwd, { recursive: true })
      port = await freePort()
    })
    after(async () => {
      await background?.interrupt()
    })

    async function runStep(step: InstalledStep): Promise<void> {
      const env = childEnv(extraEnv)
      switch (step.kind) {
        case 'file':
          // Saved where the README's commands run, once the first has run: the root README's
          // handler comes before the step that makes its project ("save the handler above").
          if (ranAny) writeFiles(cwd, { [step.arg as string]: step.code })
          else pendingFiles.push(step)
          return
        case 'run': {
          const run = await runShell(substitute(step.code, port), { cwd, env })
          assert.equal(
            run.code,
            0,
            `exit ${run.code}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`,
          )
          cwd = run.cwd
          lastOutput = run.stdout
          if (!ranAny) {
            ranAny = true
            for (const pending of pendingFiles.splice(0))
              writeFiles(cwd, { [pending.arg as string]: pending.code })
          }
          return
        }
        case 'background':
          background = startShell(substitute(step.code, port), { cwd, env })
          await background.waitFor(/listening/, 60_000)
          return
        case 'output': {
          const expected = step.code.trim()
          const pattern = new RegExp(
            `^${expected
              .split('…')
              .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('.+?')}$`,
            's',
          )
          assert.match(lastOutput.trim(), pattern, `${file}:${step.line} expects:\n${expected}`)
          // The README stops the job it started in the background (Ctrl-C) once its answer is seen.
          const code = await background?.interrupt()
          background = undefined
          if (code !== undefined && code !== null && code !== 0 && code !== 130) {
            assert.fail(`the background step exited ${code} on Ctrl-C`)
          }
          return
        }
      }
    }

    for (const step of steps) {
      const first = step.code.split('\n').find((line) => line.trim() !== '') ?? ''
      it(`${file}:${step.line} ${step.kind}${step.arg === undefined ? '' : ` ${step.arg}`}: ${first.trim().slice(0, 70)}`, async () => {
        if (failedAt !== undefined)
          assert.fail(`not run: the step at ${file}:${failedAt.line} failed`)
        try {
          await runStep(step)
        } catch (error) {
          failedAt = step
          throw error
        }
      })
    }
  })
}

const READMES_WITH_STEPS = readmeFiles().filter((file) => installedSteps(file).length > 0)

// The root README's walkthrough, in its own project, beside the package READMEs, which run in
// the installed project: the two share nothing (their `lmi dev`s have ports of their own).
describe("the READMEs' commands, run as written against the tarballs", { concurrency: 2 }, () => {
  it("the root README and every public package's README have installed-test steps", () => {
    const expected = ['README.md', ...packages.map((pkg) => `${pkg.dir}/README.md`)]
    assert.deepEqual(
      expected.filter((file) => !READMES_WITH_STEPS.includes(file)),
      [],
      'no <!-- installed-test: run --> step',
    )
  })

  describeReadmeSteps('README.md', join(root, 'walkthrough'), {})

  // The installed project's install fetched the registry's metadata a minute ago: npm reads it
  // from its cache (prefer-offline) instead of asking again, the one difference from a reader's
  // npm, which saves a registry round trip per dependency and install.
  describe("the packages' READMEs, in the installed project", { concurrency: 1 }, () => {
    before(awaitProject, { timeout: 300_000 })
    for (const file of READMES_WITH_STEPS.filter((file) => file !== 'README.md')) {
      describeReadmeSteps(file, join(project, 'readmes', dirname(file).replaceAll('/', '-')), {
        npm_config_prefer_offline: 'true',
      })
    }
  })
})

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}
