// Configurations and helpers shared by the explain tool's tests (test/explain*.test.ts).
//
// The configuration is shaped like a DigitalOcean deployment: the load balancer (10.0.0.0/8 inside the VPC) sends a
// PROXY header, which is required and honoured only from it; the connection manager is the edge
// (use_remote_address: true, xff_num_trusted_hops 0 unless a test trusts a CDN hop); an RBAC allowlist on remote_ip;
// a per-client rate limit with IPv6 clients grouped by /64.
import type { ExecutionContext } from "ava";
import { stringify } from "yaml";
import { StatsStore } from "../proxy/observability/stats.js";
import { compile, loadAndParse, type Compiled } from "../proxy/server.js";
import { explainRequest, parseExplainParams, type ExplainParams, type ExplainReport } from "../proxy/tools/explain.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const T_TOLLGATE_PROXY = "type.googleapis.com/tollgate.extensions.filters.listener.proxy_protocol.v1.ProxyProtocol";
const T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const T_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const T_RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const T_NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const T_RL = "type.googleapis.com/tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit";
const T_NET_RL = "type.googleapis.com/tollgate.extensions.filters.network.local_ratelimit.v1.LocalRateLimit";

/** The allowlist: an office /24, one VPN address, an IPv6 /40. */
export const ALLOWLIST_POLICIES: Json = {
  office: {
    permissions: [{ any: true }],
    principals: [
      { remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } },
      { remote_ip: { address_prefix: "198.51.100.17", prefix_len: 32 } },
      { remote_ip: { address_prefix: "2001:db8:1200::", prefix_len: 40 } },
    ],
  },
};

export interface DoOptions {
  /** trusted_sources of the PROXY filter (default 10.0.0.0/8). */
  trusted?: string[];
  /** allow_requests_without_proxy_protocol. */
  optional?: boolean;
  hops?: number;
  /** Listener address (default 0.0.0.0, port 0). */
  address?: string;
  /** RBAC policies (default ALLOWLIST_POLICIES); null: no HTTP RBAC filter. */
  policies?: Json | null;
  /** Shadow rules of the HTTP RBAC filter. */
  shadowPolicies?: Json;
  /** The per-client rate limit's bucket (default 20 / 10 per second); null: no rate limit filter. */
  clientBucket?: { max_tokens: number; tokens_per_fill: number; fill_interval: string } | null;
  /** Network filters before the connection manager. */
  networkFilters?: Json[];
  /** Extra routes placed before the catch-all. */
  routes?: Json[];
  /** The catch-all route `/` -> backend (default true). */
  catchAll?: boolean;
  backendPort?: number;
  admin?: boolean;
}

export function doConfig(o: DoOptions = {}): string {
  const httpFilters: Json[] = [];
  if (o.policies !== null) {
    const rbac: Record<string, Json> = { "@type": T_RBAC, rules: { action: "ALLOW", policies: o.policies ?? ALLOWLIST_POLICIES } };
    if (o.shadowPolicies) rbac.shadow_rules = { action: "ALLOW", policies: o.shadowPolicies };
    httpFilters.push({ name: "envoy.filters.http.rbac", typed_config: rbac });
  }
  if (o.clientBucket !== null) {
    httpFilters.push({
      name: "envoy.filters.http.local_ratelimit",
      typed_config: {
        "@type": T_RL,
        stat_prefix: "edge",
        token_bucket: { max_tokens: 5000, tokens_per_fill: 5000, fill_interval: "1s" },
        filter_enabled: { runtime_key: "rl_enabled", default_value: { numerator: 100, denominator: "HUNDRED" } },
        filter_enforced: { runtime_key: "rl_enforced", default_value: { numerator: 100, denominator: "HUNDRED" } },
        descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: o.clientBucket ?? { max_tokens: 20, tokens_per_fill: 10, fill_interval: "1s" } }],
        max_clients: 4096,
        ipv6_prefix_len: 64,
      },
    });
  }
  httpFilters.push({ name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } });
  const hcm: Json = {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": T_HCM,
      stat_prefix: "ingress",
      use_remote_address: true,
      xff_num_trusted_hops: o.hops ?? 0,
      route_config: {
        virtual_hosts: [
          {
            name: "all",
            domains: ["*"],
            rate_limits: [{ actions: [{ remote_address: {} }] }],
            routes: [...(o.routes ?? []), ...(o.catchAll === false ? [] : [{ name: "everything", match: { prefix: "/" }, route: { cluster: "backend" } }])],
          },
        ],
      },
      http_filters: httpFilters,
    },
  };
  const pp: Record<string, Json> = { "@type": T_TOLLGATE_PROXY, trusted_sources: o.trusted ?? ["10.0.0.0/8"] };
  if (o.optional) pp.allow_requests_without_proxy_protocol = true;
  const doc: Record<string, Json> = {
    static_resources: {
      listeners: [
        {
          name: "ingress",
          address: { socket_address: { address: o.address ?? "0.0.0.0", port_value: 0 } },
          listener_filters: [{ name: "tollgate.filters.listener.proxy_protocol", typed_config: pp }],
          filter_chains: [{ filters: [...(o.networkFilters ?? []), hcm] }],
        },
      ],
      clusters: [
        {
          name: "backend",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "backend",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: o.backendPort ?? 9 } } } }] }],
          },
        },
      ],
    },
  };
  if (o.admin) doc.admin = { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } };
  return stringify(doc);
}

export function networkRbac(policies: Json, action = "ALLOW"): Json {
  return { name: "envoy.filters.network.rbac", typed_config: { "@type": T_NET_RBAC, stat_prefix: "edge_tcp", rules: { action, policies } } };
}

export function networkRateLimit(clientTokens: number): Json {
  return {
    name: "tollgate.filters.network.local_ratelimit",
    typed_config: {
      "@type": T_NET_RL,
      stat_prefix: "conns",
      client_token_bucket: { max_tokens: clientTokens, tokens_per_fill: 1, fill_interval: "60s" },
      max_clients: 1024,
      ipv6_prefix_len: 64,
    },
  };
}

export function rbacPerRoute(policies: Json | null): Json {
  return { "envoy.filters.http.rbac": policies === null ? { "@type": T_RBAC_PER_ROUTE } : { "@type": T_RBAC_PER_ROUTE, rbac: { rules: { action: "ALLOW", policies } } } };
}

/** Compile a configuration as the proxy does (no sockets); everything it started is closed at teardown. */
export async function compileYaml(t: ExecutionContext, yaml: string): Promise<Compiled> {
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const compiled = compile(await loadAndParse({ yaml }), stats);
  t.teardown(async () => {
    for (const g of compiled.graphs.values()) for (const c of g.chains) for (const f of c.filters) await f.close?.();
    await compiled.clusters.close();
    stats.close();
  });
  return compiled;
}

export function explain(compiled: Compiled, params: ExplainParams): ExplainReport {
  return explainRequest(compiled, parseExplainParams(params));
}
