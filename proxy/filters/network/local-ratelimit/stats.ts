// Stats of envoy.filters.network.local_ratelimit, named as Envoy names them:
//   local_rate_limit.<stat_prefix>.rate_limited
// (Prometheus: envoy_local_rate_limit_rate_limited{envoy_local_network_ratelimit_prefix="<p>"}).
// Tollgate addition: local_rate_limit.<stat_prefix>.wasm_trap — per-client table traps survived.
import type { Counter, StatsStore } from "../../../observability/stats.js";

export class NetworkLocalRateLimitStats {
  readonly rateLimited: Counter;
  readonly wasmTrap: Counter;

  constructor(stats: StatsStore, statPrefix: string) {
    const s = stats.scope(`local_rate_limit.${statPrefix}.`);
    this.rateLimited = s.counter("rate_limited");
    this.wasmTrap = s.counter("wasm_trap");
  }
}
