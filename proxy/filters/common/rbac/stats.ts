// The RBAC filters' stats, named exactly as Envoy's RBAC::generateStats names them (common/rbac/utility.cc):
//
//   base       = statPrefixJoin(prefix, "rbac.")                      prefix: `http.<hcm>.` or the network stat_prefix
//   enforced   = statPrefixJoin(base, rules_stat_prefix)   + allowed | denied
//   shadow     = statPrefixJoin(base, shadow_rules_stat_prefix) + shadow_allowed | shadow_denied
//   per policy = statPrefixJoin(enforced, "policy.") + <policy>.allowed | <policy>.denied
//                statPrefixJoin(shadow, "policy.")   + <policy>.shadow_allowed | <policy>.shadow_denied
//
// e.g. `http.ingress.rbac.allowed`, `http.ingress.rbac.edge.denied` (rules_stat_prefix "edge"),
// `http.ingress.rbac.canary.shadow_denied`, `tcp.rbac.denied` (stat_prefix "tcp" or "tcp.").
// The four aggregate counters are created here, at config time. Per-policy counters (track_per_rule_stats) are created
// at config time for the filter's own policies; a policy that only a per-route RBACPerRoute names gets its counters on
// its first decision (once; a Map lookup afterwards).
import type { Counter, StatsStore } from "../../../observability/stats.js";
import type { RbacEngine } from "./engine.js";

/** Envoy's statPrefixJoin: "" + t = t; "a." + t = "a.t"; "a" + t = "a.t". */
export function statPrefixJoin(prefix: string, token: string): string {
  if (prefix === "") return token;
  if (prefix.endsWith(".")) return prefix + token;
  return `${prefix}.${token}`;
}

export type PolicyOutcome = "allowed" | "denied" | "shadow_allowed" | "shadow_denied";

export class RbacStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
  private readonly policyPrefix: string;
  private readonly shadowPolicyPrefix: string;
  private readonly perPolicy = new Map<PolicyOutcome, Map<string, Counter>>();

  constructor(
    private readonly store: StatsStore,
    prefix: string,
    rulesStatPrefix: string,
    shadowRulesStatPrefix: string,
  ) {
    const base = statPrefixJoin(prefix, "rbac.");
    const enforced = statPrefixJoin(base, rulesStatPrefix);
    const shadow = statPrefixJoin(base, shadowRulesStatPrefix);
    this.allowed = store.counter(statPrefixJoin(enforced, "allowed"));
    this.denied = store.counter(statPrefixJoin(enforced, "denied"));
    this.shadowAllowed = store.counter(statPrefixJoin(shadow, "shadow_allowed"));
    this.shadowDenied = store.counter(statPrefixJoin(shadow, "shadow_denied"));
    this.policyPrefix = statPrefixJoin(enforced, "policy.");
    this.shadowPolicyPrefix = statPrefixJoin(shadow, "policy.");
  }

  /** Create the per-policy counters of an engine's policies (config time). */
  declarePolicies(engine: RbacEngine | null, shadow: boolean): void {
    if (engine === null) return;
    for (const p of engine.policies) {
      if (shadow) {
        this.policy(p.name, "shadow_allowed");
        this.policy(p.name, "shadow_denied");
      } else {
        this.policy(p.name, "allowed");
        this.policy(p.name, "denied");
      }
    }
  }

  /** `<...>.policy.<name>.<outcome>`. One Map per outcome keyed by the bare name: no string is built per request. */
  policy(name: string, outcome: PolicyOutcome): Counter {
    let byName = this.perPolicy.get(outcome);
    if (byName === undefined) this.perPolicy.set(outcome, (byName = new Map()));
    let c = byName.get(name);
    if (c === undefined) {
      const prefix = outcome === "allowed" || outcome === "denied" ? this.policyPrefix : this.shadowPolicyPrefix;
      c = this.store.counter(`${prefix}${name}.${outcome}`);
      byName.set(name, c);
    }
    return c;
  }
}
