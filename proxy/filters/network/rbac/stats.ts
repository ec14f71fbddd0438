// Stats of the network RBAC filter (Envoy's names; common/rbac/stats.ts):
//   <stat_prefix>.rbac.allowed | denied
//   <stat_prefix>.rbac.[<shadow_rules_stat_prefix>.]shadow_allowed | shadow_denied
// The stat prefix is joined with a dot unless it already ends with one (current Envoy, since envoyproxy/envoy#31598;
// older releases concatenated, so `tcp` gave `tcprbac.`): `tcp` and `tcp.` both give
// `tcp.rbac.allowed`. The network filter has no rules_stat_prefix and no per-policy stats (as in Envoy).
import type { StatsStore } from "../../../observability/stats.js";
import { RbacStats } from "../../common/rbac/stats.js";
import type { NetworkRbacConfig } from "./config.js";

export class NetworkRbacStats extends RbacStats {
  constructor(store: StatsStore, config: Pick<NetworkRbacConfig, "statPrefix" | "shadowRulesStatPrefix">) {
    super(store, config.statPrefix, "", config.shadowRulesStatPrefix);
  }
}
