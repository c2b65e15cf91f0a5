// What every example's test does first: the template against the official SAM schema and the
// consistency checks, then the build `sam build` would make, ready to run.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildFunction, buildRuntimeLayer, repoRoot } from './build.ts'
import {
  compileSamSchema,
  eventProblems,
  type FunctionBuild,
  functionBuilds,
  loadEvents,
  loadTemplate,
  schemaErrors,
  type Template,
  templateProblems,
} from './template.ts'

/**
 * The official SAM schema sits in `../shared/schemas/` beside the repository in CI and on the
 * maintainers' machines, not in the repository: where it is missing, the schema test says so
 * and is skipped; every other check still runs.
 */
export const SAM_SCHEMA_PATH: string = join(repoRoot, '..', 'shared', 'schemas', 'sam.schema.json')

/** Registers the template tests of the example in `dir`. */
export function templateTests(dir: string): void {
  const template = loadTemplate(dir)
  const schemaMissing = existsSync(SAM_SCHEMA_PATH)
    ? false
    : `${SAM_SCHEMA_PATH} not found (it sits beside the repository in CI): schema validation skipped`
  test('template.yaml is valid against the official SAM schema', { skip: schemaMissing }, () => {
    assert.deepEqual(schemaErrors(compileSamSchema(SAM_SCHEMA_PATH), template), [])
  })
  test('template.yaml is consistent: references, LMI settings, handler files, lmi runtime layer', () => {
    assert.deepEqual(templateProblems(dir, template), [])
  })
  test('every event in events/ is one the template routes to its function', () => {
    const events = loadEvents(dir)
    assert.ok(events.size > 0, 'events/ is empty')
    for (const fn of functionBuilds(dir, template)) {
      assert.deepEqual(eventProblems(template, events, fn.logicalId), [])
    }
  })
}

/** An example built as `sam build` builds it. */
export interface BuiltExample {
  template: Template
  fn: FunctionBuild
  /** `.aws-sam/build/<Function>` */
  artifactDir: string
  /** `/opt/lmi/exec-wrapper` */
  wrapper: string
  /** Removes the build. */
  remove(): void
}

/**
 * Builds the example's first function as `sam build` does, into `<root>/<Function>`, and the
 * runtime layer unless `wrapper` names one already built. Without `root`, a temporary
 * directory that `remove()` deletes.
 */
export function buildExample(
  dir: string,
  options: { root?: string; wrapper?: string } = {},
): BuiltExample {
  const template = loadTemplate(dir)
  const [fn] = functionBuilds(dir, template)
  if (fn === undefined) throw new Error(`no function in ${dir}/template.yaml`)
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'lmi-example-'))
  const artifactDir = join(root, fn.logicalId)
  buildFunction(fn, artifactDir)
  // What Lambda will look for: `Handler`'s module, as esbuild named it.
  if (!existsSync(join(artifactDir, fn.handlerFile))) {
    throw new Error(`${fn.logicalId}: the build has no ${fn.handlerFile} for Handler ${fn.handler}`)
  }
  const wrapper = options.wrapper ?? buildRuntimeLayer(join(root, 'LmiRuntimeLayer'))
  return {
    template,
    fn,
    artifactDir,
    wrapper,
    remove: () => {
      if (options.root === undefined) rmSync(root, { recursive: true, force: true })
    },
  }
}
