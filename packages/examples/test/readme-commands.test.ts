// The READMEs' shell blocks, each either run by a test or marked with why it is not (the
// markers: scripts/installed/readme.ts). installed.test.ts runs the `installed-test` steps
// against the packed packages; this file runs the blocks that work only in a clone of this
// repository, marked `<!-- repo-test: run [in <dir>] [exit <n>] -->`: with bash, as written,
// from the repository root (or <dir>, where the README says to run it from), each README's
// blocks in order, and each must end with the exit status the README gives (0 unless said).
//
// One substitution: a `--test <file>` line (an example's "to run only this one") runs with
// `--test-name-pattern` of that file's fastest test, `template.yaml is consistent`, and must pass
// it. The whole file is one of the tests `npm test` runs already; running it again here would
// double their time.
import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { repoRoot } from '../../../scripts/examples/build.ts'
import { childEnv } from '../../../scripts/installed/project.ts'
import {
  markerProblems,
  parseReadme,
  type RepoStep,
  readmeFiles,
  repoSteps,
  SHELL_LANGUAGES,
} from '../../../scripts/installed/readme.ts'
import { runShell } from '../../../scripts/installed/shell.ts'

const READMES = readmeFiles()
const FAST_TEST = 'template.yaml is consistent'
const BLOCK_TIMEOUT_MS = 120_000

describe('the READMEs', () => {
  it('every ```sh, ```bash and ```shell block is marked installed-test: run|background, repo-test: run, or not run: <reason>', () => {
    const blocks = READMES.flatMap((readme) =>
      parseReadme(readme).blocks.filter((block) => SHELL_LANGUAGES.has(block.language)),
    )
    assert.ok(blocks.length >= 30, `only ${blocks.length} shell blocks found`)
    const problems = markerProblems(READMES)
    assert.deepEqual(problems, [], `\n${problems.join('\n')}`)
  })
})

/** A block as run: its `--test <file>` runs only the file's {@link FAST_TEST}. */
function substitute(code: string): string {
  return code.replace(/(\s--test)(\s+\S+\.test\.ts\b)/g, `$1 --test-name-pattern='${FAST_TEST}'$2`)
}

async function runStep(step: RepoStep): Promise<void> {
  const cwd = join(repoRoot, step.dir)
  assert.ok(existsSync(cwd), `${step.readme}:${step.line}: no folder ${step.dir}`)
  const code = substitute(step.code)
  const run = await runShell(code, { cwd, env: childEnv(), timeoutMs: BLOCK_TIMEOUT_MS })
  const output = `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`
  assert.equal(
    run.code,
    step.exit,
    `${step.readme}:${step.line} exited ${run.code ?? `(killed after ${BLOCK_TIMEOUT_MS} ms)`}, the README says ${step.exit}\n${output}`,
  )
  if (code !== step.code) {
    // The spec reporter (Node 24) says `ℹ pass 1`, TAP (Node 22 without a TTY) `# pass 1`.
    assert.match(run.stdout, /^[ℹ#] pass [1-9]/m, `no test ran\n${output}`)
    assert.match(run.stdout, /^[ℹ#] fail 0$/m, output)
  }
}

const WITH_STEPS = READMES.filter((readme) => repoSteps(readme).length > 0)

// Two READMEs at a time (the machine may have two cores); a README's blocks one after another
// (`concurrency: 1`, or the suite's 2 would be inherited).
describe("the READMEs' repo-test blocks, run as written in this clone", { concurrency: 2 }, () => {
  it('some README has a repo-test block', () => {
    assert.ok(WITH_STEPS.length > 0, 'no <!-- repo-test: run --> block')
  })

  for (const readme of WITH_STEPS) {
    describe(readme, { concurrency: 1 }, () => {
      // The examples' READMEs build where `sam build` does (`.aws-sam/`, git-ignored): what a
      // block makes there is removed after, unless the folder was there before.
      const samDir = join(repoRoot, dirname(readme), '.aws-sam')
      let samDirWasThere = true
      let failedAt: RepoStep | undefined
      before(() => {
        samDirWasThere = existsSync(samDir)
      })
      after(() => {
        if (!samDirWasThere) rmSync(samDir, { recursive: true, force: true })
      })

      for (const step of repoSteps(readme)) {
        const first = step.code.split('\n').find((line) => line.trim() !== '') ?? ''
        const where = step.dir === '.' ? '' : ` (in ${step.dir})`
        it(`${readme}:${step.line}${where}: ${first.trim().slice(0, 80)}`, async () => {
          if (failedAt !== undefined) assert.fail(`not run: ${readme}:${failedAt.line} failed`)
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
})
