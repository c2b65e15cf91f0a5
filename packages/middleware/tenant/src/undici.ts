// undici is CommonJS and requires Node's built-ins as it initialises: it loads with a `require`
// lent for that time (builtin-require.ts, imported first so that it is evaluated just before).
// Bundled into ESM, undici also requires built-ins later (`node:tls` at the first HTTPS
// connection, `node:sqlite`, `node:buffer`), so a loan it used is kept.
// biome-ignore-all assist/source/organizeImports: imports evaluate in the order written
import { loan } from './builtin-require.ts'
import { getGlobalDispatcher, setGlobalDispatcher } from 'undici'

loan.withdraw({ keepIfUsed: true })

export { getGlobalDispatcher, setGlobalDispatcher }
