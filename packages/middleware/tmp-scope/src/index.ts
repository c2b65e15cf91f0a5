export {
  CODES,
  NoTmpScopeError,
  TmpEscapeError,
  type TmpEscapeReason,
  TmpQuotaExceededError,
  TmpScopeEndedError,
  TmpScopeError,
} from './errors.ts'
export {
  getTmp,
  getTmpDir,
  type TmpScopeMiddleware,
  type TmpScopeOptions,
  tmpPath,
  tmpScope,
  tryGetTmp,
} from './middleware.ts'
export { sweepTmpLeftovers } from './owner.ts'
export type { TmpDir } from './tmp-dir.ts'
