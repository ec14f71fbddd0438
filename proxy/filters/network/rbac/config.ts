// envoy.filters.network.rbac — configuration, validated once at load.
//
// envoy.extensions.filters.network.rbac.v3.RBAC: `stat_prefix` (required), `rules`, `shadow_rules`,
// `shadow_rules_stat_prefix`, `enforcement_type` ONE_TIME_ON_FIRST_BYTE | CONTINUOUS, `delay_deny`,
// `enforce_on_transport_ready`. `matcher` / `shadow_matcher` are refused.
//
// When the decision is made: Tollgate decides once, when the connection reaches the filter (after the listener
// filters, before the next network filter sees it). Envoy decides on the first byte of data; at that point nothing a
// Tollgate permission or principal reads (addresses, ports, SNI) can differ, so ONE_TIME_ON_FIRST_BYTE and CONTINUOUS
// decide alike, and enforce_on_transport_ready (decide before the next filter acts) is what Tollgate always does.
// The one visible difference: a client that connects and never sends a byte is judged (and, if denied, closed)
// immediately rather than never.
import type { ConfigReader } from "../../../config/reader.js";
import { ConfigError } from "../../../config/errors.js";
import { registerExtension } from "../../../config/registry.js";
import { parseRbacRules } from "../../common/rbac/config.js";
import type { RbacEngine } from "../../common/rbac/engine.js";
import type { BuildContext, NetworkFilter, NetworkFilterConfig } from "../../types.js";
import { NetworkRbacFilter } from "./filter.js";
import { NetworkRbacStats } from "./stats.js";

export const NETWORK_RBAC_FILTER_NAME = "envoy.filters.network.rbac";
/** The dynamic metadata namespace of the shadow results (Envoy's NetworkFilterNames::get().Rbac). */
export const NETWORK_RBAC_METADATA_NAMESPACE = "envoy.filters.network.rbac";

export interface NetworkRbacConfig extends NetworkFilterConfig {
  readonly statPrefix: string;
  readonly rules: RbacEngine | null;
  readonly shadowRules: RbacEngine | null;
  readonly shadowRulesStatPrefix: string;
  readonly enforcementType: "ONE_TIME_ON_FIRST_BYTE" | "CONTINUOUS";
  /** 0: close at once. */
  readonly delayDenyMs: number;
  readonly enforceOnTransportReady: boolean;
  /** `<shadow_rules_stat_prefix>shadow_effective_policy_id` / `...shadow_engine_result`. */
  readonly shadowPolicyIdKey: string;
  readonly shadowResultKey: string;
}

function parseNetworkRbac(r: ConfigReader): NetworkRbacConfig {
  for (const [k, instead] of [
    ["matcher", "rules"],
    ["shadow_matcher", "shadow_rules"],
  ] as const) {
    if (r.has(k)) throw new ConfigError(r.at(k), `the matching-API form of RBAC is not supported by Tollgate; configure ${instead} (policies) instead`);
  }
  const statPrefix = r.str("stat_prefix", { required: true });
  const rulesReader = r.obj("rules");
  const rules = rulesReader ? parseRbacRules(rulesReader) : null;
  const shadowReader = r.obj("shadow_rules");
  const shadowRules = shadowReader ? parseRbacRules(shadowReader) : null;
  const shadowRulesStatPrefix = r.str("shadow_rules_stat_prefix") ?? "";
  const enforcementType = r.enum("enforcement_type", ["ONE_TIME_ON_FIRST_BYTE", "CONTINUOUS"] as const, "ONE_TIME_ON_FIRST_BYTE");
  const delayDenyMs = r.duration("delay_deny", { default: 0 });
  const enforceOnTransportReady = r.bool("enforce_on_transport_ready", false);
  const config: NetworkRbacConfig = {
    terminal: false,
    statPrefix,
    rules,
    shadowRules,
    shadowRulesStatPrefix,
    enforcementType,
    delayDenyMs,
    enforceOnTransportReady,
    shadowPolicyIdKey: `${shadowRulesStatPrefix}shadow_effective_policy_id`,
    shadowResultKey: `${shadowRulesStatPrefix}shadow_engine_result`,
    build(ctx: BuildContext): NetworkFilter {
      return new NetworkRbacFilter(config, new NetworkRbacStats(ctx.stats, config));
    },
  };
  return Object.freeze(config);
}

registerExtension<NetworkRbacConfig>({
  category: "network_filter",
  typeUrls: ["envoy.extensions.filters.network.rbac.v3.RBAC"],
  names: [NETWORK_RBAC_FILTER_NAME],
  parse: parseNetworkRbac,
});
