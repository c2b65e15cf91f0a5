export { getTenantId, tryGetTenantId } from './current.ts'
export {
  CODES,
  InvalidTenantError,
  type InvalidTenantErrorJSON,
  type InvalidTenantReason,
  NoTenantError,
  TenantError,
  type TenantErrorJSON,
  TenantMismatchError,
  type TenantMismatchErrorJSON,
  TenantRequiredError,
} from './errors.ts'
export {
  type OptionalTenant,
  type RequiredTenant,
  type TenantOptions,
  tenant,
} from './middleware.ts'
export type { TenantSource, TenantSourceFunction } from './sources.ts'
export {
  DEFAULT_TENANT_MAX_LENGTH,
  DEFAULT_TENANT_PATTERN,
  type TenantValidationOptions,
} from './validate.ts'
