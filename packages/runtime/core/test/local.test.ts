// invocationLocal(): one value per invocation, under an lmi() chain and, with no lmi at all,
// on the InvokeStore context AWS's runtime opens per invocation. The AWS half installs the
// package's own store on globalThis.awslambda: this file runs in its own process.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store'
import { barrier, lambdaContext } from '@lmi/test-kit'
import { invocationLocal, lmi, NoInvocationError } from '../src/index.ts'

const { REQUEST_ID } = InvokeStoreBase.PROTECTED_KEYS

describe('invocationLocal()', () => {
  // First: lmi() installs lmi's own InvokeStore where none is, and AWS's must come first.
  it('without lmi, lives on the InvokeStore context AWS’s runtime opens per invocation', async () => {
    // Prepare: a plain handler on AWS's runtime, which runs each invocation in store.run().
    const store = await InvokeStore.getInstanceAsync(true)
    const tenant = invocationLocal<string>('test/local/tenant')
    const allSet = barrier(2)
    const plain = async (name: string) => {
      tenant.set(name)
      await allSet()
      return tenant.get()
    }
    // Act
    const results = await Promise.all(
      ['acme', 'globex'].map((name) =>
        store.run({ [REQUEST_ID]: `req-${name}` }, () => plain(name)),
      ),
    )
    // Assess
    assert.deepEqual(results, ['acme', 'globex'])
  })

  it('keeps one value per invocation: 32 concurrent invocations each read their own', async () => {
    // Prepare
    const user = invocationLocal<{ id: number }>('test/local/user')
    const size = 32
    const allSet = barrier(size)
    const handler = lmi(async (event: { n: number }) => {
      user.set({ id: event.n })
      await allSet() // every invocation has set its value before any reads
      return user.get()?.id
    })
    // Act
    const results = await Promise.all(
      Array.from({ length: size }, (_, n) => handler({ n }, lambdaContext(`req-${n}`))),
    )
    // Assess
    assert.deepEqual(
      results,
      Array.from({ length: size }, (_, n) => n),
    )
  })

  it('has(), delete() and active follow the current invocation; set() outside one throws', async () => {
    const flag = invocationLocal<boolean>('test/local/flag')
    const seen = await lmi(async () => {
      const before = flag.has()
      flag.set(true)
      const during = flag.has()
      const deleted = flag.delete()
      return { before, during, deleted, after: flag.has(), active: flag.active }
    })({}, lambdaContext('req-flags'))

    assert.deepEqual(seen, {
      before: false,
      during: true,
      deleted: true,
      after: false,
      active: true,
    })
    assert.equal(flag.active, false)
    assert.equal(flag.get(), undefined)
    assert.throws(() => flag.set(true), NoInvocationError)
  })

  it('reaches the same value through the same name (two copies of one package)', async () => {
    const first = invocationLocal<string>('test/local/shared-name')
    const second = invocationLocal<string>('test/local/shared-name')
    const read = await lmi(async () => {
      first.set('value')
      return second.get()
    })({}, lambdaContext('req-copies'))

    assert.equal(read, 'value')
  })
})
