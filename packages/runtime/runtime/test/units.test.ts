import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import { InvalidConfigurationError, LmiError, toErrorResponse } from '@lmi/core'
import {
  installInvokeStore,
  LmiInvokeStore,
  XRAY_ERROR_CAUSE_LIMIT_BYTES,
} from '@lmi/core/internal'
import { errorBody, xrayErrorCause } from '../src/client/protocol.ts'
import { runtimeConfigFromEnv } from '../src/config.ts'
import { HandlerLoadError, UncaughtExceptionError } from '../src/errors.ts'
import { loadHandler, parseHandlerName, resolveHandlerFile } from '../src/handler/load.ts'
import { logSettingsFromEnv, RuntimeLog } from '../src/log/log.ts'

describe('toErrorResponse', () => {
  it("uses the error's class name when the name was left as 'Error'", () => {
    class PaymentDeclinedError extends Error {}
    const body = toErrorResponse(new PaymentDeclinedError('declined'))
    assert.equal(body.errorType, 'PaymentDeclinedError')
    assert.equal(body.errorMessage, 'declined')
    assert.ok(body.stackTrace.length > 0)
    assert.ok(body.stackTrace.every((line) => line.startsWith('at ')))
  })

  it('keeps an explicit name and describes thrown non-errors', () => {
    const named = Object.assign(new Error('bad'), { name: 'ValidationError' })
    assert.equal(toErrorResponse(named).errorType, 'ValidationError')
    assert.deepEqual(toErrorResponse('just a string'), {
      errorType: 'Error',
      errorMessage: 'just a string',
      stackTrace: [],
    })
    assert.deepEqual(toErrorResponse({ errorType: 'Custom', errorMessage: 'shaped' }), {
      errorType: 'Custom',
      errorMessage: 'shaped',
      stackTrace: [],
    })
  })

  it('reports contained faults under the Lambda type with the cause in the message', () => {
    const body = toErrorResponse(new UncaughtExceptionError(new TypeError('boom')))
    assert.equal(body.errorType, 'Runtime.UncaughtException')
    assert.match(body.errorMessage, /TypeError: boom/)
  })
})

describe('errorBody', () => {
  it("adds AWS's trace (header lines, then indented frames) to Lambda's documented fields", () => {
    const body = JSON.parse(
      errorBody({
        errorType: 'ValidationError',
        errorMessage: 'two\nlines',
        stackTrace: ['at check (/var/task/app.mjs:3:9)'],
      }),
    )
    assert.deepEqual(body, {
      errorType: 'ValidationError',
      errorMessage: 'two\nlines',
      stackTrace: ['at check (/var/task/app.mjs:3:9)'],
      trace: ['ValidationError: two', 'lines', '    at check (/var/task/app.mjs:3:9)'],
    })
  })
})

describe('LmiError', () => {
  it('is recognised across copies of the package by its brand', () => {
    const foreign = Object.create({ [Symbol.for('@lmi/core/LmiError')]: true })
    assert.ok(foreign instanceof LmiError)
    assert.ok(new InvalidConfigurationError('x') instanceof LmiError)
    assert.ok(!(new Error('x') instanceof LmiError))
    assert.ok(!(new InvalidConfigurationError('x') instanceof HandlerLoadError))
  })
})

describe('parseHandlerName', () => {
  it('splits the module path at the first dot after the last slash', () => {
    assert.deepEqual(parseHandlerName('index.handler'), {
      modulePath: 'index',
      exportPath: ['handler'],
    })
    assert.deepEqual(parseHandlerName('src/v1.2/app.handlers.get'), {
      modulePath: 'src/v1.2/app',
      exportPath: ['handlers', 'get'],
    })
  })

  for (const malformed of ['', 'index', '.handler', 'index.', 'src/.handler']) {
    it(`refuses "${malformed}" with Runtime.MalformedHandlerName`, () => {
      assert.throws(() => parseHandlerName(malformed), {
        name: 'Runtime.MalformedHandlerName',
        code: 'LMI_HANDLER_LOAD',
      })
    })
  }
})

describe('resolveHandlerFile', () => {
  function scratch(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'lmi-resolve-'))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    return dir
  }

  it("takes .js, .mjs, .cjs in Lambda's order, TypeScript only when no JavaScript file exists", () => {
    const dir = scratch({ 'app.ts': '', 'app.cjs': '', 'app.mjs': '', 'only.mts': '' })
    try {
      const app = resolveHandlerFile(dir, 'app.handler')
      assert.equal(app.file, join(dir, 'app.mjs'))
      assert.deepEqual(app.others, [join(dir, 'app.cjs'), join(dir, 'app.ts')])
      assert.equal(resolveHandlerFile(dir, 'only.handler').file, join(dir, 'only.mts'))
      assert.equal(resolveHandlerFile(dir, 'none.handler').file, undefined)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('lists as stale the other candidates modified after the file it loads', () => {
    const dir = scratch({ 'app.js': '', 'app.cjs': '' })
    try {
      const old = new Date(Date.now() - 60_000)
      utimesSync(join(dir, 'app.js'), old, old)
      assert.deepEqual(resolveHandlerFile(dir, 'app.handler').stale, [join(dir, 'app.cjs')])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('loads a TypeScript handler, and names every extension it tried when none exists', async () => {
    const dir = scratch({
      'package.json': '{"type":"module"}',
      'typed.ts':
        'export const handler = async (event: { n: number }): Promise<number> => event.n * 2\n',
    })
    try {
      const loaded = await loadHandler(dir, 'typed.handler')
      assert.equal(await (loaded.fn as (event: unknown) => Promise<number>)({ n: 21 }), 42)
      await assert.rejects(
        loadHandler(dir, 'missing.handler'),
        /Cannot find module 'missing' under .* \(tried missing\.js, missing\.mjs, missing\.cjs, missing\.ts, missing\.mts, missing\.cts\)/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('runtimeConfigFromEnv', () => {
  const base = { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001', _HANDLER: 'index.handler' }

  it('defaults to sequential mode and text logs outside Lambda Managed Instances', () => {
    const config = runtimeConfigFromEnv(base)
    assert.equal(config.concurrency, 1)
    assert.equal(config.log.format, 'TEXT')
    assert.equal(config.functionInfo.functionVersion, '$LATEST')
  })

  it('forces JSON logs in concurrent mode and takes the handler from the argument', () => {
    const config = runtimeConfigFromEnv({ ...base, AWS_LAMBDA_MAX_CONCURRENCY: '64' }, 'app.main')
    assert.equal(config.concurrency, 64)
    assert.equal(config.log.format, 'JSON')
    assert.equal(config.handler, 'app.main')
  })

  it('rejects unusable values with InvalidConfigurationError', () => {
    assert.throws(() => runtimeConfigFromEnv({ _HANDLER: 'a.b' }), InvalidConfigurationError)
    assert.throws(
      () => runtimeConfigFromEnv({ ...base, AWS_LAMBDA_RUNTIME_API: 'http://x:1' }),
      /host:port/,
    )
    assert.throws(
      () => runtimeConfigFromEnv({ ...base, AWS_LAMBDA_MAX_CONCURRENCY: '0' }),
      /AWS_LAMBDA_MAX_CONCURRENCY must be a positive integer, got "0"/,
    )
    assert.throws(() => runtimeConfigFromEnv({ ...base, _HANDLER: '' }), /No handler/)
    assert.throws(
      () => logSettingsFromEnv({ AWS_LAMBDA_LOG_LEVEL: 'LOUD' }, false),
      /AWS_LAMBDA_LOG_LEVEL must be one of/,
    )
  })
})

describe('RuntimeLog', () => {
  it('keeps a multi-line text record on one line and filters by level', () => {
    const lines: string[] = []
    const log = new RuntimeLog({ format: 'TEXT', level: 'WARN' }, (line) => lines.push(line))
    log.log('INFO', 'dropped')
    log.log('ERROR', 'first\nsecond')
    assert.equal(lines.length, 1)
    assert.match(lines[0] ?? '', /\tundefined\tERROR\tfirst\rsecond\n$/)
  })

  it('writes JSON records with extra fields', () => {
    const lines: string[] = []
    const log = new RuntimeLog({ format: 'JSON', level: 'INFO' }, (line) => lines.push(line))
    log.log('WARN', 'careful', { code: 'LMI_X' })
    const record = JSON.parse(lines[0] ?? '{}')
    assert.equal(record.level, 'WARN')
    assert.equal(record.message, 'careful')
    assert.equal(record.code, 'LMI_X')
    assert.ok(!('requestId' in record))
  })
})

describe('LmiInvokeStore', () => {
  it('is what every copy of @aws/lambda-invoke-store returns once installed', async () => {
    const installed = installInvokeStore()
    assert.equal(installInvokeStore(), installed)
    const fromPackage = await InvokeStore.getInstanceAsync()
    assert.equal(fromPackage, installed)
    assert.ok(installed instanceof LmiInvokeStore)
  })

  it('runs external contexts, guards protected keys, and is empty outside any context', () => {
    const store = installInvokeStore()
    assert.equal(store.hasContext(), false)
    assert.equal(store.getRequestId(), '-')
    assert.throws(() => store.set('k', 1), /No context available/)
    const requestKey = InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID
    store.run({ [requestKey]: 'req-1' }, () => {
      assert.equal(store.getRequestId(), 'req-1')
      store.set('custom', 42)
      assert.equal(store.get('custom'), 42)
      assert.throws(() => store.set(requestKey, 'other'), /protected/)
    })
    assert.equal(store.hasContext(), false)
  })
})

describe('the X-Ray error cause (Lambda-Runtime-Function-XRay-Error-Cause)', () => {
  it("reads the stack as AWS's runtime does: frames, their paths once each", () => {
    const cause = xrayErrorCause(
      {
        errorType: 'TypeError',
        errorMessage: 'bad input',
        stackTrace: [
          '    at parse (file:///var/task/app.mjs:12:7)',
          '    at async handler (/var/task/app.mjs:30:3)',
          '    at /var/task/lib.js:4:1',
        ],
      },
      '/var/task',
    )
    assert.deepEqual(JSON.parse(cause ?? ''), {
      working_directory: '/var/task',
      exceptions: [
        {
          type: 'TypeError',
          message: 'bad input',
          stack: [
            { path: 'file:///var/task/app.mjs', line: 12, label: 'parse' },
            { path: '/var/task/app.mjs', line: 30, label: 'async handler' },
            { path: '/var/task/lib.js', line: 4, label: 'anonymous' },
          ],
        },
      ],
      paths: ['file:///var/task/app.mjs', '/var/task/app.mjs', '/var/task/lib.js'],
    })
  })

  it('is ASCII JSON within the limit, whatever the message and however deep the stack', () => {
    const cause = xrayErrorCause({
      errorType: 'Bad\nName',
      errorMessage: `ünïcödé 😀 ${'x'.repeat(50_000)}`,
      stackTrace: Array.from({ length: 500 }, (_, n) => `    at f${n} (/var/task/app.mjs:${n}:1)`),
    })
    assert.ok(cause !== undefined)
    assert.ok(cause.length <= XRAY_ERROR_CAUSE_LIMIT_BYTES, `${cause.length} bytes`)
    assert.match(cause, /^[\x20-\x7e]+$/)
    const parsed = JSON.parse(cause) as { exceptions: Array<{ type: string; message: string }> }
    assert.equal(parsed.exceptions[0]?.type, 'Bad\nName')
    assert.ok(parsed.exceptions[0]?.message.startsWith('ünïcödé 😀'))
  })
})
