// Stats of the HTTP RBAC filter, in the owning connection manager's scope (Envoy's names; common/rbac/stats.ts):
//   http.<stat_prefix>.rbac.[<rules_stat_prefix>.]allowed | denied
//   http.<stat_prefix>.rbac.[<shadow_rules_stat_prefix>.]shadow_allowed | shadow_denied
//   with track_per_rule_stats: http.<stat_prefix>.rbac.[<rules_stat_prefix>.]policy.<name>.allowed | denied
//                              http.<stat_prefix>.rbac.[<shadow_rules_stat_prefix>.]policy.<name>.shadow_allowed | shadow_denied
// A per-route RBACPerRoute counts into the filter's own stats (as in Envoy: the prefixes are the filter's).
import type { StatsStore } from "../../../observability/stats.js";
import { RbacStats } from "../../common/rbac/stats.js";
import type { HttpRbacSettings } from "./config.js";

export class HttpRbacStats extends RbacStats {
  /** `hcmStatPrefix`: `http.<stat_prefix>.`. */
  constructor(store: StatsStore, hcmStatPrefix: string, settings: HttpRbacSettings) {
    super(store, hcmStatPrefix, settings.rulesStatPrefix, settings.shadowRulesStatPrefix);
    if (settings.trackPerRuleStats) {
      this.declarePolicies(settings.rules, false);
      this.declarePolicies(settings.shadowRules, true);
    }
  }
}
