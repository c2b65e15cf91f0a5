import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { createEmulator, type Emulator, type InvocationError } from '../src/emulator/index.ts'
import { json } from './helpers/http.ts'
import { RuntimeApiClient } from './helpers/runtime-api.ts'

async function start(t: TestContext): Promise<{ emulator: Emulator; runtime: RuntimeApiClient }> {
  const emulator = await createEmulator()
  const runtime = new RuntimeApiClient(emulator.url)
  t.after(async function closeEmulator() {
    runtime.close()
    await emulator.close()
  })
  return { emulator, runtime }
}

describe('request ids in /response and /error paths', () => {
  it('are percent-decoded: an id with a space and a slash is answered', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({}, { requestId: 'a b/c%' })
    const invocation = await runtime.next()
    assert.equal(invocation.requestId, 'a b/c%')
    // Act
    const answer = await runtime.respond(encodeURIComponent(invocation.requestId), '"ok"')
    // Assess
    assert.equal(answer.status, 202)
    assert.equal((await result).payload.toString(), '"ok"')
  })

  it('answers 400 InvalidRequestID to a malformed percent-encoding', async (t) => {
    const { emulator, runtime } = await start(t)
    const result = emulator.invoke({}, { requestId: 'id' })
    const invocation = await runtime.next()
    // Act
    const answer = await runtime.fail('%E0%A4%A', '{}')
    // Assess
    assert.equal(answer.status, 400)
    assert.equal((json(answer) as InvocationError).errorType, 'InvalidRequestID')
    await runtime.respond(invocation.requestId, '1')
    assert.equal((await result).status, 'success')
  })
})

describe('deadlineHeader', () => {
  it('replaces Lambda-Runtime-Deadline-Ms, or omits it when null', async (t) => {
    const { emulator, runtime } = await start(t)
    for (const deadlineHeader of ['', 'soon', null] as const) {
      const result = emulator.invoke({}, { deadlineHeader })
      const invocation = await runtime.next()
      assert.equal(
        invocation.headers['lambda-runtime-deadline-ms'],
        deadlineHeader === null ? undefined : deadlineHeader,
      )
      await runtime.respond(invocation.requestId, '1')
      assert.equal((await result).status, 'success')
    }
  })
})

describe('the drop-ack fault', () => {
  it('records the answer, then cuts the connection instead of sending the 202', async (t) => {
    // Prepare
    const { emulator, runtime } = await start(t)
    emulator.inject({ endpoint: 'response', kind: 'drop-ack' })
    const result = emulator.invoke({})
    const invocation = await runtime.next()
    // Act
    await assert.rejects(runtime.respond(invocation.requestId, '"first"'))
    const retried = await runtime.respond(invocation.requestId, '"second"')
    // Assess: the first answer counts; a second one is refused.
    assert.equal((await result).payload.toString(), '"first"')
    assert.equal(retried.status, 400)
    assert.equal((json(retried) as InvocationError).errorType, 'InvalidStateTransition')
  })
})
