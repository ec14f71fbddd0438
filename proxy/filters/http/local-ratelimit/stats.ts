// Stats of envoy.filters.http.local_ratelimit, named as Envoy names them, at the root of the stats tree:
//   <stat_prefix>.http_local_rate_limit.enabled|ok|rate_limited|enforced
// Envoy's tag extractor makes them envoy_http_local_rate_limit_<name>{envoy_local_http_ratelimit_prefix="<p>"}.
// Tollgate addition: ...http_local_rate_limit.wasm_trap — per-client table traps survived (the request was
// allowed and the table restarted empty).
import type { Counter, StatsStore } from "../../../observability/stats.js";

export class HttpLocalRateLimitStats {
  readonly enabled: Counter;
  readonly ok: Counter;
  readonly rateLimited: Counter;
  readonly enforced: Counter;
  readonly wasmTrap: Counter;

  constructor(stats: StatsStore, statPrefix: string) {
    const s = stats.scope(`${statPrefix}.http_local_rate_limit.`);
    this.enabled = s.counter("enabled");
    this.ok = s.counter("ok");
    this.rateLimited = s.counter("rate_limited");
    this.enforced = s.counter("enforced");
    this.wasmTrap = s.counter("wasm_trap");
  }
}
