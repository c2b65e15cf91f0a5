import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RuntimeLog } from '../src/log/log.ts'
import { RUNTIME_MODES, runtimePerTest } from './helpers/runtime-process.ts'

const start = runtimePerTest()

/** The errorType each hostile value must be answered with. */
const expectedType: Record<string, string> = {
  messageGetter: 'Error',
  nameGetter: 'TypeError',
  classWithMessageGetter: 'HostileMessageError',
  stackGetter: 'RangeError',
  constructorGetter: 'Error',
  nullPrototypeBigInt: 'Error',
  proxyEveryTrapThrows: 'Error',
  proxyOfErrorEveryTrapThrows: 'Error',
  revokedProxy: 'Error',
  symbol: 'Error',
  bigint: 'Error',
  thenable: 'Error',
  throwingConversions: 'Error',
  newlineInName: 'Bad\nName\u0000',
}

const kinds = Object.keys(expectedType)

describe('a handler that throws a hostile value', () => {
  it('is answered on /error with a sensible errorType, for every kind', async () => {
    // Prepare
    const runtime = await start({ handler: 'hostile-values.throws', concurrency: 4 })
    // Act
    const results = await Promise.all(kinds.map((kind) => runtime.emulator.invoke({ kind })))
    // Assess
    results.forEach((result, index) => {
      const kind = kinds[index] as string
      assert.equal(result.status, 'error', kind)
      assert.equal(result.error?.errorType, expectedType[kind], kind)
      assert.equal(typeof result.error?.errorMessage, 'string', kind)
      assert.ok(Array.isArray(result.error?.stackTrace ?? []), kind)
    })
    const byKind = Object.fromEntries(results.map((result, index) => [kinds[index], result]))
    assert.equal(
      byKind.nullPrototypeBigInt?.error?.errorMessage,
      '[Object: null prototype] { n: 1n }',
    )
    assert.equal(byKind.bigint?.error?.errorMessage, '10n')
    assert.equal(byKind.symbol?.error?.errorMessage, 'Symbol(thrown)')
    assert.equal(byKind.stackGetter?.error?.errorMessage, 'stack unreadable')
    // A proxy is named, not opened: what it hides stays hidden.
    assert.equal(byKind.proxyOfErrorEveryTrapThrows?.error?.errorMessage, '[object Proxy]')
    assert.equal(
      runtime.logs.filter((record) => record.code === 'LMI_ANSWER_FAILED').length,
      0,
      'no answer failed',
    )
    assert.equal(runtime.child.exitCode, null)
  })
})

describe('a hostile value escaping an invocation', () => {
  const escaping = [
    ['timer', 'proxyEveryTrapThrows', 'Runtime.UncaughtException'],
    ['timer', 'nullPrototypeBigInt', 'Runtime.UncaughtException'],
    ['timer', 'messageGetter', 'Runtime.UncaughtException'],
    ['rejection', 'proxyEveryTrapThrows', 'Runtime.UnhandledPromiseRejection'],
    ['rejection', 'nullPrototypeBigInt', 'Runtime.UnhandledPromiseRejection'],
    ['rejection', 'revokedProxy', 'Runtime.UnhandledPromiseRejection'],
  ] as const
  for (const mode of RUNTIME_MODES) {
    describe(mode.name, () => {
      const start = runtimePerTest(mode.env)
      for (const [throwIn, kind, errorType] of escaping) {
        it(`fails only the invocation whose ${throwIn} let a ${kind} escape, of 16 in flight`, async () => {
          // Prepare
          const runtime = await start({ handler: 'hostile-values.escapes', concurrency: 16 })
          // Act: the 16 wait for each other; then invocation 1 lets the value escape.
          const results = await Promise.all(
            Array.from({ length: 16 }, (_, n) =>
              runtime.emulator.invoke({ size: 16, kind, throwIn: n === 1 ? throwIn : undefined }),
            ),
          )
          // Assess
          const failed = results.filter((result) => result.status !== 'success')
          assert.equal(failed.length, 1)
          assert.equal(failed[0]?.requestId, results[1]?.requestId)
          assert.equal(failed[0]?.error?.errorType, errorType)
          assert.equal(typeof failed[0]?.error?.errorMessage, 'string')
          assert.equal(
            runtime.logs.filter((record) => record.code === 'LMI_UNATTRIBUTABLE_FAULT').length,
            0,
          )
          // The process is alive and still serving.
          const after = await runtime.emulator.invoke({ size: 1 })
          assert.equal(after.status, 'success')
          assert.equal(runtime.child.exitCode, null)
        })
      }
    })
  }
})

describe('console.* in a handler, given a hostile value', () => {
  it('logs it instead of throwing from the handler', () => {
    // Prepare
    const boom = () => {
      throw new Error('boom')
    }
    const lines: string[] = []
    const target = {} as Console
    new RuntimeLog({ format: 'JSON', level: 'INFO' }, (line) => lines.push(line)).patchConsole(
      target,
    )
    const unreadable = new Error('x')
    Object.defineProperty(unreadable, 'message', { get: boom })
    Object.defineProperty(unreadable, 'name', { get: boom })
    const trapsThrow = new Proxy({}, { get: boom, getPrototypeOf: boom, ownKeys: boom })
    const { proxy: revoked, revoke } = Proxy.revocable({}, {})
    revoke()
    // Act
    for (const value of [unreadable, trapsThrow, revoked]) {
      target.error(value)
      target.log('with', value)
    }
    // Assess
    assert.equal(lines.length, 6)
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>
    assert.equal(first.errorType, 'Error')
    assert.equal(first.errorMessage, '<message could not be read>')
  })
})
