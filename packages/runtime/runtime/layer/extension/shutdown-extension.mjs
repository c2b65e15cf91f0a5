// lmi's shutdown extension on node, for an image without bash (see ../extensions/lmi-shutdown,
// which starts it): registers for SHUTDOWN with the Extensions API, waits for the event, exits.
// Plain JavaScript on node:http only, so that it loads nothing else.
//   node shutdown-extension.mjs <extension name>
import { request } from 'node:http'

const name = process.argv[2] || 'lmi-shutdown'
const api = process.env.AWS_LAMBDA_RUNTIME_API
if (!api) {
  process.stderr.write(`${name}: AWS_LAMBDA_RUNTIME_API is not set\n`)
  process.exit(1)
}
const [host, port] = [
  api.slice(0, api.lastIndexOf(':')),
  Number(api.slice(api.lastIndexOf(':') + 1)),
]
// One socket at a time and none kept: the poll below may stay open for days.
const agent = false

function call(method, path, headers, body) {
  return new Promise((resolve) => {
    const req = request({ host, port, method, path, headers, agent }, (res) => {
      res.resume()
      resolve({ status: res.statusCode, id: res.headers['lambda-extension-identifier'] })
    })
    req.on('error', () => resolve({ status: 0, id: undefined }))
    req.end(body)
  })
}

const body = '{"events":["SHUTDOWN"]}'
const registered = await call(
  'POST',
  '/2020-01-01/extension/register',
  { 'Lambda-Extension-Name': name, 'Content-Type': 'application/json' },
  body,
)
if (registered.status !== 200 || !registered.id) {
  process.stderr.write(
    `${name}: registering with the Extensions API at ${api} failed (HTTP ${registered.status || 'no answer'})\n`,
  )
  process.exit(1)
}
// Lambda answers event/next with the SHUTDOWN event, the only one subscribed, once the runtime
// has been stopped; a poll cut short is sent again.
for (let failures = 0; failures < 5; ) {
  const { status } = await call('GET', '/2020-01-01/extension/event/next', {
    'Lambda-Extension-Identifier': registered.id,
  })
  if (status === 200) process.exit(0)
  if (status !== 0) {
    process.stderr.write(`${name}: event/next answered HTTP ${status}\n`)
    process.exit(1)
  }
  failures++
  await new Promise((resolve) => setTimeout(resolve, 1000))
}
process.stderr.write(`${name}: the Extensions API at ${api} stopped answering\n`)
process.exit(1)
