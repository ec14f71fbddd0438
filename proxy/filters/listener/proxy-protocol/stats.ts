// Stats of the PROXY listener filter, with Envoy's names:
//   downstream_cx_proxy_proto_error                      (legacy, root scope, ignores stat_prefix)
//   proxy_proto.[<stat_prefix>.]not_found_allowed|not_found_disallowed
//   proxy_proto.[<stat_prefix>.]versions.v1|v2.found|disallowed|error
// Tollgate additions (trusted_sources):
//   proxy_proto.[<stat_prefix>.]untrusted_source_refused  header required, peer not trusted: connection closed
//   proxy_proto.[<stat_prefix>.]untrusted_source_plain    header optional, peer not trusted: served without parsing
import type { Counter, StatsStore } from "../../../observability/stats.js";

export interface VersionStats {
  found: Counter;
  disallowed: Counter;
  error: Counter;
}

export class ProxyProtocolStats {
  readonly legacyError: Counter;
  readonly notFoundAllowed: Counter;
  readonly notFoundDisallowed: Counter;
  readonly v1: VersionStats;
  readonly v2: VersionStats;
  readonly untrustedRefused: Counter;
  readonly untrustedPlain: Counter;

  constructor(stats: StatsStore, statPrefix: string) {
    const scope = stats.scope(statPrefix ? `proxy_proto.${statPrefix}.` : "proxy_proto.");
    this.legacyError = stats.counter("downstream_cx_proxy_proto_error");
    this.notFoundAllowed = scope.counter("not_found_allowed");
    this.notFoundDisallowed = scope.counter("not_found_disallowed");
    const version = (v: string): VersionStats => ({
      found: scope.counter(`versions.${v}.found`),
      disallowed: scope.counter(`versions.${v}.disallowed`),
      error: scope.counter(`versions.${v}.error`),
    });
    this.v1 = version("v1");
    this.v2 = version("v2");
    this.untrustedRefused = scope.counter("untrusted_source_refused");
    this.untrustedPlain = scope.counter("untrusted_source_plain");
  }
}
