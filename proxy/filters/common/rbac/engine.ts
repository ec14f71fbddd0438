// Envoy's RoleBasedAccessControlEngineImpl: named policies evaluated in lexicographic order of their names (Envoy keeps
// them in a std::map, so the order is that of the names' bytes); the first policy whose permissions AND principals
// match is the "effective policy". The action turns "a policy matched" into allowed/denied:
//   ALLOW  allowed iff some policy matches
//   DENY   allowed iff no policy matches
//   LOG    always allowed; the enforcing filter sets `envoy.common` / `access_log_hint` to whether one matched
import type { MatchTrace, OrMatcher } from "./matchers.js";
import type { RbacRequest } from "./request.js";

export type RbacAction = "ALLOW" | "DENY" | "LOG";

/** Namespace and key of the LOG action's shared dynamic metadata. */
export const COMMON_METADATA_NAMESPACE = "envoy.common";
export const ACCESS_LOG_HINT_KEY = "access_log_hint";

/** %RESPONSE_CODE_DETAILS% / %CONNECTION_TERMINATION_DETAILS% of a denial that no policy matched. */
export const DETAILS_NO_POLICY = "rbac_access_denied_matched_policy[none]";

/**
 * Tollgate's details when no decision could be made: a CIDR lookup failed because the WebAssembly set trapped
 * (wasm/cidr.ts restarts the module and rebuilds the sets). The filters fail closed and end that one connection.
 */
export const EVALUATION_FAILED = "rbac_evaluation_failed";

/**
 * Envoy's RBAC::responseDetail: the policy name with each whitespace character replaced by `_`, so an access-log line
 * keeps its number of space-separated fields.
 */
export function responseDetail(policyName: string): string {
  return `rbac_access_denied_matched_policy[${policyName.replace(/[ \t\n\v\f\r]/g, "_")}]`;
}

export interface CompiledPolicy {
  readonly name: string;
  /** Config path of the policy, e.g. `...typed_config.rules.policies.office`. */
  readonly path: string;
  /** responseDetail(name), computed once. */
  readonly details: string;
  readonly permissions: OrMatcher;
  readonly principals: OrMatcher;
}

export interface PolicyExplanation {
  readonly name: string;
  readonly path: string;
  /** permissions AND principals. */
  readonly matched: boolean;
  /** True for the policy Envoy reports: the first matching one in name order. */
  readonly effective: boolean;
  /** Index of the first matching permission / principal, or null. */
  readonly permission: number | null;
  readonly principal: number | null;
  /** Every permission and principal, evaluated (no short-circuit), in configuration order. */
  readonly permissions: readonly MatchTrace[];
  readonly principals: readonly MatchTrace[];
}

export interface Explanation {
  readonly action: RbacAction;
  readonly allowed: boolean;
  /** The effective policy's name (what Envoy logs), or null when none matched. */
  readonly effectivePolicy: string | null;
  /** The details a denial carries (rbac_access_denied_matched_policy[...]), or null when allowed. */
  readonly details: string | null;
  /** For LOG: the access_log_hint value the enforcing filter sets. */
  readonly accessLogHint: boolean | null;
  /** Every policy, in evaluation order. */
  readonly policies: readonly PolicyExplanation[];
}

export class RbacEngine {
  constructor(
    readonly action: RbacAction,
    /** Sorted by the UTF-8 bytes of their names (compile.ts). */
    readonly policies: readonly CompiledPolicy[],
  ) {}

  /** The effective policy: the first in name order whose permissions and principals match; null when none does. */
  firstMatch(req: RbacRequest): CompiledPolicy | null {
    const ps = this.policies;
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      if (p.permissions.match(req) && p.principals.match(req)) return p;
    }
    return null;
  }

  /** Envoy's handleAction decision, given the effective policy (null: none matched). */
  allows(matched: CompiledPolicy | null): boolean {
    switch (this.action) {
      case "ALLOW":
        return matched !== null;
      case "DENY":
        return matched === null;
      case "LOG":
        return true;
    }
  }

  /**
   * Every policy evaluated in order, with which permission and principal matched: the data of the `explain` tool.
   * Unlike the request path it does not stop at the first match.
   */
  explain(req: RbacRequest): Explanation {
    let effective: CompiledPolicy | null = null;
    const policies = this.policies.map((p): PolicyExplanation => {
      const permissions = p.permissions.traceItems(req);
      const principals = p.principals.traceItems(req);
      const permission = permissions.findIndex((t) => t.matched);
      const principal = principals.findIndex((t) => t.matched);
      const matched = permission >= 0 && principal >= 0;
      const isEffective = matched && effective === null;
      if (isEffective) effective = p;
      return {
        name: p.name,
        path: p.path,
        matched,
        effective: isEffective,
        permission: permission >= 0 ? permission : null,
        principal: principal >= 0 ? principal : null,
        permissions,
        principals,
      };
    });
    const eff = effective as CompiledPolicy | null;
    const allowed = this.allows(eff);
    return {
      action: this.action,
      allowed,
      effectivePolicy: eff?.name ?? null,
      details: allowed ? null : (eff?.details ?? DETAILS_NO_POLICY),
      accessLogHint: this.action === "LOG" ? eff !== null : null,
      policies,
    };
  }
}

/** explain() for an engine that may be absent (`rules` not configured): no enforcement, everything allowed. */
export function explain(engine: RbacEngine | null, req: RbacRequest): Explanation | null {
  return engine === null ? null : engine.explain(req);
}
