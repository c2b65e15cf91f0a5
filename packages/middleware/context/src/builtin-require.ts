// Lends `globalThis.require` to pino while it initialises (see @lmi/core's builtin-require.ts):
// evaluated just before pino, because pino.ts imports this module first.
import { lendBuiltinRequire } from '@lmi/core/internal'

export const loan = lendBuiltinRequire()
