// Lends `globalThis.require` to undici while it initialises (see @lmi/core's builtin-require.ts):
// evaluated just before undici, because undici.ts imports this module first.
import { lendBuiltinRequire } from '@lmi/core/internal'

export const loan = lendBuiltinRequire()
