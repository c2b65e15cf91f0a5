// The fenced blocks of the repository's READMEs and the markers that say how each shell block is
// tested. A marker is an HTML comment directly above its block (blank lines and other comments
// between are fine):
//
//   <!-- installed-test: run -->             run to completion against the packed packages
//   <!-- installed-test: background -->      started so, stopped (Ctrl-C) after the next output
//   <!-- installed-test: file <path> -->     (any block) saved as <path> where the README runs
//   <!-- installed-test: output -->          (any block) what the last run printed; `…` is any text
//   <!-- repo-test: run [in <dir>] [exit <n>] -->
//                                            run in this clone, from the repository root (or
//                                            <dir>), expected to exit <n> (0 unless said)
//   <!-- not run: <reason> -->               run by no test, and why
//
// installed.test.ts runs the `installed-test` steps, readme-commands.test.ts the `repo-test`
// ones, and checks that every ```sh/```bash/```shell block has one of these markers.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { repoRoot } from '../examples/build.ts'

/** The info strings of the fenced blocks a reader runs in a shell. */
export const SHELL_LANGUAGES: ReadonlySet<string> = new Set(['sh', 'bash', 'shell'])

/** An HTML comment on a line of its own, and where. */
export interface Comment {
  text: string
  /** 1-based. */
  line: number
}

/** A fenced block of a README, with the comments directly above it. */
export interface FencedBlock {
  /** The README, relative to the repository root (`README.md`, `packages/runtime/dev/README.md`). */
  readme: string
  /** 1-based line of the opening fence. */
  line: number
  /** The info string (`sh`, `json`, or '' for none). */
  language: string
  /** The block's text, ending with a newline. */
  code: string
  /** The comment lines above the fence, with nothing but blank lines and comments between. */
  comments: Comment[]
}

/** How a block is tested, as its marker says. */
export type Marker =
  | { kind: 'installed-test'; step: 'run' | 'background' | 'file' | 'output'; arg?: string }
  | { kind: 'repo-test'; dir: string; exit: number }
  | { kind: 'not run'; reason: string }

const MARKER_PREFIX = /^<!--\s*(installed-test|repo-test|not run):/

/**
 * The marker a comment is: undefined when it is no marker (`<!-- excerpt: … -->`), an `Error`
 * when it starts like one but does not parse.
 *
 * @example
 * ```ts
 * parseMarker('<!-- repo-test: run in packages/runtime/dev exit 1 -->')
 * // => { kind: 'repo-test', dir: 'packages/runtime/dev', exit: 1 }
 * ```
 */
export function parseMarker(comment: string): Marker | Error | undefined {
  const text = comment.trim()
  if (!MARKER_PREFIX.test(text)) return undefined
  const installed = /^<!-- installed-test: (run|background|output|file (\S+)) -->$/.exec(text)
  if (installed !== null) {
    const step = (installed[1] as string).split(' ')[0] as 'run' | 'background' | 'file' | 'output'
    return installed[2] === undefined
      ? { kind: 'installed-test', step }
      : { kind: 'installed-test', step, arg: installed[2] }
  }
  const repo = /^<!-- repo-test: run(?: in (\S+))?(?: exit (\d+))? -->$/.exec(text)
  if (repo !== null) return { kind: 'repo-test', dir: repo[1] ?? '.', exit: Number(repo[2] ?? 0) }
  const notRun = /^<!-- not run: (.*\S.*?)\s*-->$/.exec(text)
  if (notRun !== null) return { kind: 'not run', reason: (notRun[1] as string).trim() }
  if (/^<!--\s*not run:\s*-->$/.test(text)) return new Error(`${text} gives no reason`)
  return new Error(
    `${text} is no marker: expected installed-test: run|background|output|file <path>, ` +
      'repo-test: run [in <dir>] [exit <n>], or not run: <reason>',
  )
}

/**
 * Every README.md of the repository (not under node_modules, dist, coverage or a dot folder),
 * relative to the root, sorted.
 *
 * @example
 * ```ts
 * readmeFiles() // => ['README.md', 'bench/README.md', …, 'packages/runtime/runtime/README.md']
 * ```
 */
export function readmeFiles(): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', 'dist', 'coverage'].includes(entry.name) || entry.name.startsWith('.'))
        continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name === 'README.md') found.push(relative(repoRoot, path))
    }
  }
  walk(repoRoot)
  return found.sort()
}

/**
 * A README's fenced blocks, and the marker comments that stand above no block (a marker
 * separated from its block by prose marks nothing).
 *
 * @example
 * ```ts
 * const { blocks } = parseReadme('packages/runtime/dev/README.md')
 * blocks.filter((block) => SHELL_LANGUAGES.has(block.language))
 * ```
 */
export function parseReadme(readme: string): { blocks: FencedBlock[]; strayMarkers: Comment[] } {
  const lines = readFileSync(join(repoRoot, readme), 'utf8').split('\n')
  const blocks: FencedBlock[] = []
  // Line indexes of comments above a block, and of code (a marker quoted in a block is code).
  const accounted = new Set<number>()
  for (let index = 0; index < lines.length; index++) {
    const open = /^\s*```(\S*)\s*$/.exec(lines[index] as string)
    if (open === null) continue
    const start = index
    const body: string[] = []
    for (index++; index < lines.length && !/^\s*```\s*$/.test(lines[index] as string); index++) {
      body.push(lines[index] as string)
      accounted.add(index)
    }
    const comments: Comment[] = []
    for (let back = start - 1; back >= 0; back--) {
      const line = (lines[back] as string).trim()
      if (line === '') continue
      if (!/^<!--.*-->$/.test(line)) break
      comments.unshift({ text: line, line: back + 1 })
      accounted.add(back)
    }
    blocks.push({
      readme,
      line: start + 1,
      language: open[1] as string,
      code: `${body.join('\n')}\n`,
      comments,
    })
  }
  const strayMarkers = lines.flatMap((line, index) =>
    !accounted.has(index) && MARKER_PREFIX.test(line.trim())
      ? [{ text: line.trim(), line: index + 1 }]
      : [],
  )
  return { blocks, strayMarkers }
}

/** The markers above a block (comments that are no marker left out; malformed ones as Errors). */
export function blockMarkers(block: FencedBlock): Array<Marker | Error> {
  return block.comments.flatMap((comment) => {
    const marker = parseMarker(comment.text)
    return marker === undefined ? [] : [marker]
  })
}

/** One step of a README run against the packed packages, marked `<!-- installed-test: … -->`. */
export interface InstalledStep {
  readme: string
  kind: 'run' | 'background' | 'file' | 'output'
  /** For `file`: the path to save the block as. */
  arg: string | undefined
  code: string
  /** 1-based line of the block's opening fence. */
  line: number
}

/**
 * A README's `installed-test` steps, in order: `run` (a shell block, run to completion),
 * `background` (a shell block left running), `file <path>` (saved as is) and `output` (what the
 * last `run` printed; `…` stands for any text).
 *
 * @example
 * ```ts
 * installedSteps('README.md').map((step) => step.kind) // => ['file', 'run', 'file', …]
 * ```
 */
export function installedSteps(readme: string): InstalledStep[] {
  return parseReadme(readme).blocks.flatMap((block) =>
    blockMarkers(block).flatMap((marker) =>
      !(marker instanceof Error) && marker.kind === 'installed-test'
        ? [{ readme, kind: marker.step, arg: marker.arg, code: block.code, line: block.line }]
        : [],
    ),
  )
}

/** A shell block run in a clone of the repository, marked `<!-- repo-test: run … -->`. */
export interface RepoStep {
  readme: string
  /** Where it runs, relative to the repository root. */
  dir: string
  /** The exit status the README says it ends with. */
  exit: number
  code: string
  /** 1-based line of the block's opening fence. */
  line: number
}

/**
 * A README's `repo-test` blocks, in order.
 *
 * @example
 * ```ts
 * repoSteps('packages/runtime/dev/test/fixtures/check/README.md')
 * // => [{ dir: 'packages/runtime/dev', exit: 1, code: 'node --conditions=… check …', … }]
 * ```
 */
export function repoSteps(readme: string): RepoStep[] {
  return parseReadme(readme).blocks.flatMap((block) =>
    blockMarkers(block).flatMap((marker) =>
      !(marker instanceof Error) && marker.kind === 'repo-test'
        ? [{ readme, dir: marker.dir, exit: marker.exit, code: block.code, line: block.line }]
        : [],
    ),
  )
}

/**
 * What is wrong with the READMEs' markers, one `file:line: problem` each: a shell block with no
 * marker saying how it runs (or two), a malformed marker, a marker above no block, an
 * `installed-test` step that makes no sense on its block.
 *
 * @example
 * ```ts
 * markerProblems(readmeFiles()) // => [] when every shell block is marked
 * ```
 */
export function markerProblems(readmes: readonly string[]): string[] {
  const problems: string[] = []
  for (const readme of readmes) {
    const { blocks, strayMarkers } = parseReadme(readme)
    for (const stray of strayMarkers)
      problems.push(`${readme}:${stray.line}: ${stray.text} stands above no code block`)
    for (const block of blocks) {
      for (const comment of block.comments) {
        const marker = parseMarker(comment.text)
        if (marker instanceof Error) problems.push(`${readme}:${comment.line}: ${marker.message}`)
      }
      const markers = blockMarkers(block)
      const valid = markers.filter((marker): marker is Marker => !(marker instanceof Error))
      const saysHowItRuns = (marker: Marker) =>
        marker.kind !== 'installed-test' || marker.step === 'run' || marker.step === 'background'
      if (SHELL_LANGUAGES.has(block.language)) {
        if (valid.length === 0 && markers.length === 0) {
          problems.push(
            `${readme}:${block.line}: \`\`\`${block.language} block with no marker ` +
              '(installed-test: run|background, repo-test: run, or not run: <reason>)',
          )
        } else if (valid.length > 1) {
          problems.push(`${readme}:${block.line}: ${valid.length} markers on one block`)
        } else if (valid.length === 1 && !saysHowItRuns(valid[0] as Marker)) {
          problems.push(
            `${readme}:${block.line}: a shell block needs installed-test: run|background, repo-test: run, or not run: <reason>`,
          )
        }
      } else if (valid.some(saysHowItRuns)) {
        problems.push(
          `${readme}:${block.line}: a \`\`\`${block.language || '(no language)'} block marked as a shell block (run, background, repo-test or not run)`,
        )
      }
    }
  }
  return problems
}
