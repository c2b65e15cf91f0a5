// pino is CommonJS and requires Node's built-ins as it initialises: it loads with a `require`
// lent for that time (builtin-require.ts, imported first so that it is evaluated just before).
// biome-ignore-all assist/source/organizeImports: imports evaluate in the order written
import { loan } from './builtin-require.ts'
import { pino } from 'pino'

loan.withdraw({ keepIfUsed: false })

export { pino }
