// Type-checking a user's project with an installed TypeScript compiler, as `tsc -p` reports it.
import { writeFileSync } from 'node:fs'
import { isAbsolute, join, relative } from 'node:path'
import { CommandError, exec } from './project.ts'

/** One `tsc` diagnostic. */
export interface Diagnostic {
  /** Relative to the project (`handlers/app.ts`, `node_modules/@lmi/core/dist/index.d.ts`); '' for global ones. */
  file: string
  line: number
  code: string
  message: string
}

/** The module settings a project picks. */
export const MODULE_SETTINGS = {
  /** Node's own resolution, as the repository's packages use it. */
  nodenext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
  /** What bundling projects (esbuild, SAM's esbuild builder) use. */
  bundler: { module: 'preserve', moduleResolution: 'Bundler' },
} as const

/** A key of {@link MODULE_SETTINGS}. */
export type ModuleSetting = keyof typeof MODULE_SETTINGS

/**
 * Writes `tsconfig.<name>.json` into the project (strict, `skipLibCheck: false`, `noEmit`,
 * the given module setting and `compilerOptions`, `files` as given), runs the compiler of the
 * installed package `compiler` (`node_modules/<compiler>/bin/tsc -p …`) and resolves with
 * every diagnostic it printed (none when it passes). Rejects only when the compiler could not
 * run at all.
 *
 * @example
 * ```ts
 * const diagnostics = await typeCheck(project, {
 *   compiler: 'typescript7', name: 'ts7-nodenext', module: 'nodenext',
 *   files: ['handlers/app.ts'], compilerOptions: { types: ['node'] },
 * })
 * ```
 */
export async function typeCheck(
  projectDir: string,
  options: {
    compiler: string
    name: string
    module: ModuleSetting
    files: readonly string[]
    compilerOptions?: Record<string, unknown>
  },
): Promise<Diagnostic[]> {
  const config = `tsconfig.${options.name}.json`
  writeFileSync(
    join(projectDir, config),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: 'es2023',
          lib: ['es2024'],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          isolatedModules: true,
          allowImportingTsExtensions: true,
          ...MODULE_SETTINGS[options.module],
          ...options.compilerOptions,
        },
        files: options.files,
      },
      null,
      2,
    )}\n`,
  )
  const tsc = join(projectDir, 'node_modules', options.compiler, 'bin', 'tsc')
  let output: string
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      [tsc, '-p', config, '--pretty', 'false'],
      {
        cwd: projectDir,
      },
    )
    output = stdout + stderr
  } catch (error) {
    // Exit codes 1 and 2: diagnostics reported (outputs skipped, or generated).
    if (!(error instanceof CommandError) || (error.code !== 1 && error.code !== 2)) throw error
    output = error.stdout + error.stderr
  }
  return parseDiagnostics(output, projectDir)
}

/**
 * The diagnostics of `tsc --pretty false` output, with continuation lines (a message's
 * elaboration) joined to their diagnostic.
 *
 * @example
 * ```ts
 * parseDiagnostics("a.ts(1,7): error TS2322: Type 'string' is not assignable to type 'number'.\n", '/p')
 * // => [{ file: 'a.ts', line: 1, code: 'TS2322', message: "Type 'string' …" }]
 * ```
 */
export function parseDiagnostics(output: string, projectDir: string): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  for (const line of output.split(/\r?\n/)) {
    const located = /^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/.exec(line)
    const global = /^error (TS\d+): (.*)$/.exec(line)
    if (located !== null) {
      const [, file = '', lineNo = '0', code = '', message = ''] = located
      diagnostics.push({
        file: isAbsolute(file) ? relative(projectDir, file) : file,
        line: Number(lineNo),
        code,
        message,
      })
    } else if (global !== null) {
      diagnostics.push({ file: '', line: 0, code: global[1] ?? '', message: global[2] ?? '' })
    } else if (line.trim() !== '' && diagnostics.length > 0) {
      const last = diagnostics[diagnostics.length - 1] as Diagnostic
      last.message += `\n${line}`
    }
  }
  return diagnostics
}

/**
 * Diagnostics as `file(line): TScode message` lines, for assertion messages.
 *
 * @example
 * ```ts
 * assert.deepEqual(diagnostics, [], formatDiagnostics(diagnostics))
 * ```
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map((d) => `${d.file}(${d.line}): ${d.code} ${d.message}`)
    .join('\n')
    .slice(0, 6000)
}
