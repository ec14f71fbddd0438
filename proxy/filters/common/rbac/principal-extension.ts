// The contract of an RBAC principal extension (Envoy's `envoy.rbac.principals` category; Tollgate's registry category
// "rbac_principal"): the Principal's `custom` field is a TypedExtensionConfig {name, typed_config}, resolved by the
// `@type` of typed_config. The extension's parse validates its typed_config and returns this object; the RBAC parser
// then asks it for the matcher of the principal at its configuration path (so explain() names `...principals[2]`).
import type { RbacMatcher } from "./matchers.js";

export interface RbacPrincipalExtension {
  matcher(principalPath: string): RbacMatcher;
}
