// What the installed-product test installs: lmi's public packages (found in the workspace, so a
// new one is packed and checked without editing this file), the third-party packages a user's
// project has beside them, and the project's public home that every manifest points to.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { repoRoot } from '../examples/build.ts'

/**
 * The project's public home: every public package's `repository`, `homepage` and `bugs` are
 * derived from it (and checked against it by the installed-product test).
 *
 * @example
 * ```ts
 * const homepage = `${REPOSITORY_URL}/tree/main/packages/runtime/core#readme`
 * ```
 */
export const REPOSITORY_URL = 'https://github.com/lmi-dev/lmi'

/** A public (published) package of the workspace. */
export interface PublicPackage {
  /** `@lmi/core`, … */
  name: string
  version: string
  /** Its folder, relative to the repository root (`packages/runtime/core`). */
  dir: string
  /** Its package.json as in the repository (before pnpm pack rewrites it). */
  manifest: Record<string, unknown>
}

/** The folders pnpm-workspace.yaml lists whose packages may be public. */
const PACKAGE_PARENTS = ['packages/runtime', 'packages/middleware']

/**
 * Every package of `packages/runtime/*` and `packages/middleware/*` that is not `private`, in
 * folder order.
 *
 * @example
 * ```ts
 * publicPackages().map((pkg) => pkg.name) // => ['@lmi/context', '@lmi/json', …]
 * ```
 */
export function publicPackages(): PublicPackage[] {
  const found: PublicPackage[] = []
  for (const parent of PACKAGE_PARENTS) {
    for (const entry of readdirSync(join(repoRoot, parent), { withFileTypes: true })) {
      const file = join(repoRoot, parent, entry.name, 'package.json')
      if (!entry.isDirectory() || !existsSync(file)) continue
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
      if (manifest.private === true) continue
      found.push({
        name: String(manifest.name),
        version: String(manifest.version),
        dir: `${parent}/${entry.name}`,
        manifest,
      })
    }
  }
  return found.sort((a, b) => a.dir.localeCompare(b.dir))
}

/** The default catalog of pnpm-workspace.yaml: the versions the repository itself uses. */
function catalog(): Record<string, string> {
  const workspace = parse(readFileSync(join(repoRoot, 'pnpm-workspace.yaml'), 'utf8')) as {
    catalog?: Record<string, string>
  }
  return workspace.catalog ?? {}
}

function catalogVersion(name: string): string {
  const version = catalog()[name]
  if (version === undefined) throw new Error(`${name} is not in pnpm-workspace.yaml's catalog`)
  return version
}

/**
 * The third-party packages installed beside lmi's tarballs, exact versions from the registry:
 * the types a TypeScript Lambda project has, `@middy/core` for the middy handler, and both
 * TypeScript compilers the handlers are checked with, under aliases (`typescript5`,
 * `typescript7`) so one install holds both. Versions come from the repository's catalog, but
 * TypeScript 7's.
 *
 * @example
 * ```ts
 * const specs = Object.entries(thirdPartyPackages()).map(([alias, spec]) => `${alias}@${spec}`)
 * ```
 */
export function thirdPartyPackages(): Record<string, string> {
  return {
    '@types/aws-lambda': catalogVersion('@types/aws-lambda'),
    '@types/node': catalogVersion('@types/node'),
    '@middy/core': catalogVersion('@middy/core'),
    typescript5: `npm:typescript@${catalogVersion('typescript')}`,
    typescript7: `npm:typescript@${TYPESCRIPT_7_VERSION}`,
  }
}

/**
 * The current TypeScript major as the registry serves it (`npm view typescript` → 7.0.2): the
 * Go compiler, a `tsc` launcher with the native binary in a per-platform optional dependency.
 */
export const TYPESCRIPT_7_VERSION = '7.0.2'
