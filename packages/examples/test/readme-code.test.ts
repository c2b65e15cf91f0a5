// Every ```ts block of every README in the repository is type-checked, as a module of its own
// in the repository (so `@lmi/*` and the other imports resolve as they would for a user), or,
// after `<!-- excerpt: <file> -->`, must appear verbatim in that file (beside the README). A
// block that is a fragment on purpose is preceded by `<!-- not checked: <why> -->`; one that
// needs names it does not show gets them from `<!-- declare: <TypeScript> -->` before it; a
// relative import resolves from the README's folder.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { test } from 'node:test'
import { repoRoot } from '../../../scripts/examples/build.ts'

interface Block {
  readme: string
  /** The file the block is quoted from, when it is an excerpt. */
  excerptOf: string | undefined
  line: number
  code: string
  declarations: string
}

function readmes(dir: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.') || entry.name === 'dist')
      continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...readmes(path))
    else if (entry.name === 'README.md') found.push(path)
  }
  return found
}

/** The ```ts blocks of a README, with the directives just before each. */
function tsBlocks(readme: string, text: string): { blocks: Block[]; skipped: number } {
  const lines = text.split('\n')
  const blocks: Block[] = []
  let skipped = 0
  for (let index = 0; index < lines.length; index++) {
    if (lines[index]?.trim() !== '```ts') continue
    const start = index
    const body: string[] = []
    for (index++; index < lines.length && lines[index]?.trim() !== '```'; index++)
      body.push(lines[index] as string)
    const directives: string[] = []
    for (
      let back = start - 1;
      back >= 0 && /^\s*(<!--.*-->)?\s*$/.test(lines[back] as string);
      back--
    ) {
      if ((lines[back] as string).trim() !== '') directives.unshift((lines[back] as string).trim())
    }
    if (directives.some((d) => d.startsWith('<!-- not checked:'))) {
      skipped++
      continue
    }
    const declarations = directives
      .filter((d) => d.startsWith('<!-- declare:'))
      .map((d) => d.slice('<!-- declare:'.length, -'-->'.length).trim())
      .join('\n')
    const excerpt = directives.find((d) => d.startsWith('<!-- excerpt:'))
    const excerptOf =
      excerpt === undefined
        ? undefined
        : excerpt.slice('<!-- excerpt:'.length, -'-->'.length).trim()
    blocks.push({ readme, excerptOf, line: start + 1, code: body.join('\n'), declarations })
  }
  return { blocks, skipped }
}

test('every excerpt in the READMEs is the code of the file it names, verbatim', () => {
  let excerpts = 0
  for (const readme of readmes(repoRoot)) {
    for (const block of tsBlocks(readme, readFileSync(readme, 'utf8')).blocks) {
      if (block.excerptOf === undefined) continue
      excerpts++
      const source = readFileSync(join(dirname(readme), block.excerptOf), 'utf8')
      assert.ok(
        source.includes(block.code),
        `${relative(repoRoot, readme)}:${block.line}: not verbatim in ${block.excerptOf}`,
      )
    }
  }
  assert.ok(excerpts > 0)
})

test('every ```ts block in the READMEs type-checks', () => {
  const outDir = join(repoRoot, '.readme-code')
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const files = new Map<string, Block>()
  let skipped = 0
  try {
    for (const readme of readmes(repoRoot)) {
      const found = tsBlocks(readme, readFileSync(readme, 'utf8'))
      skipped += found.skipped
      for (const block of found.blocks) {
        if (block.excerptOf !== undefined) continue // checked where it lives, by tsc
        const name = `${relative(repoRoot, readme).replace(/[/\\.]/g, '_')}_L${block.line}.ts`
        // The declarations first, then the block; `export {}` makes every file a module. A
        // relative import means what it means beside the README.
        const code = block.code.replace(
          /(from\s+['"])(\.\.?\/[^'"]+)(['"])/g,
          (_, open: string, path: string, close: string) =>
            `${open}${relative(outDir, join(dirname(readme), path)).replaceAll('\\', '/')}${close}`,
        )
        writeFileSync(join(outDir, name), `${block.declarations}\n${code}\nexport {}\n`)
        files.set(name, block)
      }
    }
    assert.ok(files.size >= 10, `only ${files.size} blocks found`)
    writeFileSync(
      join(outDir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          composite: false,
          declaration: false,
          declarationMap: false,
          sourceMap: false,
          customConditions: ['@lmi/source'],
          noUnusedLocals: false,
        },
        include: ['*.ts'],
      }),
    )
    let output = ''
    try {
      execFileSync(
        process.execPath,
        [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', outDir],
        {
          encoding: 'utf8',
        },
      )
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error)
    }
    // Point each error at its README and line.
    const errors = output
      .split('\n')
      .filter((line) => line.includes('error TS'))
      .map((line) => {
        const match =
          /^\.readme-code[/\\]([^(]+)\((\d+),\d+\): (.*)$/.exec(line) ??
          /^([^(]+)\((\d+),\d+\): (.*)$/.exec(line)
        const block =
          match === null ? undefined : files.get(match[1]?.split(/[/\\]/).pop() as string)
        if (match === null || block === undefined) return line
        const offset = block.declarations === '' ? 1 : block.declarations.split('\n').length
        return `${relative(repoRoot, block.readme)}:${block.line + Number(match[2]) - offset}: ${match[3]}`
      })
    assert.deepEqual(errors, [], `${files.size} blocks checked, ${skipped} marked not checked`)
  } finally {
    rmSync(outDir, { recursive: true, force: true })
  }
})
