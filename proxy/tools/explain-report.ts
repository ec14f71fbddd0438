// The explain tool's report: what the CLI prints with `--format json` and `GET /rbac/explain` returns (snake_case,
// like Envoy's admin JSON), and the text renderer's input. Plus the few builders the connection-level and HTTP-level
// steps share (an RBAC engine's explanation, a rate limiter's peek, a runtime fraction).
import type { PolicyExplanation, RbacEngine } from "../filters/common/rbac/engine.js";
import type { RbacRequest } from "../filters/common/rbac/request.js";
import type { LimitPeek } from "../filters/common/ratelimit/limiter.js";
import type { FractionalPercent } from "../filters/common/ratelimit/runtime-fraction.js";
import type { TokenBucketSpec } from "../filters/common/ratelimit/token-bucket.js";

export interface ExplainReport {
  readonly input: ReportInput;
  /** (1) the listener the request arrives on. */
  readonly listener: { readonly name: string; readonly address: string; readonly all: readonly string[] };
  /** (2) the TCP peer: direct_remote_ip, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%. */
  readonly peer: { readonly address: string; readonly explanation: string };
  /** (3) the PROXY header and whether the proxy_protocol filter honours it. */
  readonly proxy_protocol: ProxyStep;
  /** Every listener filter, in order, as it ran on the bytes the LB and client would send. */
  readonly listener_filters: readonly ListenerFilterStep[];
  /** The connection's addresses after the listener filters (null: closed by one of them). */
  readonly connection: ConnectionAddresses | null;
  /** (1) the filter chain filter_chain_match selects (null: closed before, or none matched). */
  readonly filter_chain: ChainStep | null;
  /** The chain's network filters in order (network RBAC, network local rate limit, the HCM, tcp_proxy, ...). */
  readonly network_filters: readonly NetworkFilterStep[];
  /** (4)-(7) at the HTTP level; null when the chain has no HTTP connection manager or nothing reaches it. */
  readonly http: HttpStep | null;
  readonly decision: Decision;
}

export interface ReportInput {
  readonly peer: string;
  readonly proxy_src: string | null;
  readonly proxy_dst: string | null;
  readonly xff: string | null;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly listener: string | null;
}

export interface ProxyStep {
  /** The configured name of the proxy_protocol listener filter; null when the listener has none. */
  readonly filter: string | null;
  /** A header is required (allow_requests_without_proxy_protocol false); null without the filter. */
  readonly required: boolean | null;
  /** Tollgate's trusted_sources; null: every peer is trusted (Envoy's behaviour), or no filter. */
  readonly trusted_sources: readonly string[] | null;
  /** Whether the peer is in trusted_sources; null when there is no such list. */
  readonly peer_trusted: boolean | null;
  readonly disallowed_versions: readonly string[];
  /** The header the explanation sends (from --proxy-src); null: none. */
  readonly header: { readonly version: 1 | 2; readonly source: string; readonly destination: string; readonly destination_assumed: boolean } | null;
  /** The filter read the header and replaced the connection's addresses. */
  readonly honoured: boolean;
  /** The connection's remote address after the filter (remote_ip at L4, source_ip). */
  readonly remote_address: string;
  readonly explanation: readonly string[];
}

export interface ListenerFilterStep {
  readonly name: string;
  /** continue / close / need_more, as the filter answered. */
  readonly verdict: "continue" | "close" | "need_more";
  /** Bytes it consumed (the PROXY header). */
  readonly consumed: number;
  readonly reason: string | null;
}

export interface ConnectionAddresses {
  /** The TCP peer. */
  readonly direct_remote: string;
  /** After PROXY. */
  readonly remote: string;
  /** After PROXY (the header's destination). */
  readonly local: string;
  readonly transport_protocol: string;
  /** Bytes of the PROXY header the network filters would receive as data (the header was not consumed). */
  readonly unread_proxy_header: boolean;
}

export interface ChainStep {
  readonly name: string;
  /** Index in filter_chains; null for default_filter_chain. */
  readonly index: number | null;
  /** The chain's filter_chain_match criteria, as text; empty: it matches every connection. */
  readonly match: readonly string[];
  /** What selection compared against them. */
  readonly inputs: readonly string[];
  readonly chains: number;
  readonly explanation: string;
}

export type NetworkFilterStep =
  | { readonly name: string; readonly kind: "rbac"; readonly index: number; readonly reached: boolean; readonly rbac: RbacFilterReport }
  | { readonly name: string; readonly kind: "local_ratelimit"; readonly index: number; readonly reached: boolean; readonly ratelimit: NetworkRateLimitReport }
  | { readonly name: string; readonly kind: "http_connection_manager"; readonly index: number; readonly reached: boolean; readonly stat_prefix: string }
  | { readonly name: string; readonly kind: "tcp_proxy"; readonly index: number; readonly reached: boolean; readonly cluster: string }
  | { readonly name: string; readonly kind: "other"; readonly index: number; readonly reached: boolean };

/** The addresses each RBAC principal reads for this decision. */
export interface RbacAddresses {
  readonly remote_ip: string;
  readonly direct_remote_ip: string;
  readonly source_ip: string;
  readonly destination: string;
}

export interface RbacFilterReport {
  readonly level: "network" | "http";
  /** Where the settings came from: the filter's config, a route's RBACPerRoute, or disabled on the route. */
  readonly settings: "filter" | "route" | "disabled";
  readonly addresses: RbacAddresses;
  readonly shadow_rules: EngineReport | null;
  readonly rules: EngineReport | null;
  readonly allowed: boolean;
  /** The details a denial carries (HTTP %RESPONSE_CODE_DETAILS%, network %CONNECTION_TERMINATION_DETAILS%). */
  readonly details: string | null;
}

export interface EngineReport {
  readonly action: "ALLOW" | "DENY" | "LOG";
  readonly allowed: boolean;
  readonly effective_policy: string | null;
  readonly details: string | null;
  readonly access_log_hint: boolean | null;
  readonly policies: readonly PolicyReport[];
}

/** One RBAC policy as the engine explains it (the report carries the engine's own shape). */
export type PolicyReport = PolicyExplanation;

export interface BucketReport {
  readonly bucket: string;
  /** default / static / per_client / dynamic. */
  readonly kind: string;
  readonly descriptor: string | null;
  readonly key: string | null;
  readonly max_tokens: number;
  readonly tokens_per_fill: number;
  readonly fill_interval_ms: number;
  readonly tokens: number;
  readonly takes: boolean;
}

export interface HttpRateLimitReport {
  readonly stat_prefix: string;
  readonly settings: "filter" | "route" | "disabled";
  readonly filter_enabled: string;
  readonly filter_enforced: string;
  /** Where descriptors come from, in words. */
  readonly descriptor_source: string;
  readonly descriptors: readonly string[];
  readonly unmatched_descriptors: readonly string[];
  /** shared: the process-wide buckets; per_connection: a new connection's (full) buckets. */
  readonly buckets_scope: "shared" | "per_connection";
  readonly buckets: readonly BucketReport[];
  readonly allowed: boolean;
  readonly outcome: "inert" | "allowed" | "limited_not_enforced" | "rate_limited" | "disabled";
  readonly status: number;
}

export interface NetworkRateLimitReport {
  readonly stat_prefix: string;
  readonly enabled: boolean;
  readonly client: { readonly key: string; readonly tokens: number } | null;
  readonly global_tokens: number | null;
  readonly allowed: boolean;
  readonly limited_by: "client" | "global" | null;
}

export type HttpFilterStep =
  | { readonly name: string; readonly kind: "rbac"; readonly index: number; readonly reached: boolean; readonly rbac: RbacFilterReport }
  | { readonly name: string; readonly kind: "local_ratelimit"; readonly index: number; readonly reached: boolean; readonly ratelimit: HttpRateLimitReport }
  | { readonly name: string; readonly kind: "router"; readonly index: number; readonly reached: boolean; readonly outcome: string }
  | { readonly name: string; readonly kind: "other"; readonly index: number; readonly reached: boolean };

export interface ClientAddressReport {
  readonly connection_remote: string;
  readonly use_remote_address: boolean;
  readonly xff_num_trusted_hops: number;
  readonly skip_xff_append: boolean;
  readonly x_forwarded_for: string | null;
  readonly trusted_address: string | null;
  readonly from_xff: boolean;
  readonly internal: boolean;
  readonly edge: boolean;
  /** X-Forwarded-For as sent upstream (null: untouched / absent). */
  readonly x_forwarded_for_upstream: string | null;
  /** deriveClientAddress's own explanation, step by step. */
  readonly steps: readonly string[];
  /** The stream's remote address: remote_ip, the rate limiter's remote_address, %DOWNSTREAM_REMOTE_ADDRESS%. */
  readonly stream_remote: string;
}

export interface RouteReport {
  readonly virtual_host: string | null;
  readonly domains: readonly string[];
  readonly route: string | null;
  readonly match: string | null;
  readonly action: string | null;
  readonly explanation: string;
}

export interface HttpStep {
  readonly stat_prefix: string;
  readonly reached: boolean;
  readonly client_address: ClientAddressReport;
  /** A codec-level refusal before any filter (invalid Connection nomination, missing host, ...). */
  readonly rejected: { readonly status: number; readonly details: string } | null;
  readonly route: RouteReport;
  readonly filters: readonly HttpFilterStep[];
}

export interface Decision {
  /** forwarded: to the upstream (cluster or tcp_proxy); denied: RBAC 403; rate_limited; closed: the connection; local_reply: any other answer. */
  readonly outcome: "forwarded" | "denied" | "rate_limited" | "closed" | "local_reply";
  /** The HTTP status the client gets; null when the upstream answers or the connection is closed. */
  readonly status: number | null;
  readonly details: string | null;
  /** The step that decided. */
  readonly by: string;
  readonly summary: string;
}

// ---- shared builders -------------------------------------------------------------------------------------------

export function engineReport(engine: RbacEngine, req: RbacRequest): EngineReport {
  const e = engine.explain(req);
  return {
    action: e.action,
    allowed: e.allowed,
    effective_policy: e.effectivePolicy,
    details: e.details,
    access_log_hint: e.accessLogHint,
    policies: e.policies.map((p) => ({
      name: p.name,
      path: p.path,
      matched: p.matched,
      effective: p.effective,
      permission: p.permission,
      principal: p.principal,
      permissions: p.permissions,
      principals: p.principals,
    })),
  };
}

export function endpointText(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function rbacAddresses(req: RbacRequest): RbacAddresses {
  return {
    remote_ip: req.remote.ip,
    direct_remote_ip: req.directRemote.ip,
    source_ip: req.source.ip,
    destination: endpointText(req.local.ip, req.local.port),
  };
}

/** RuntimeFractionalPercent as text: `100%`, `0% (default: the filter is inert)`, `2.5%`. */
export function fractionText(f: FractionalPercent): string {
  const pct = Math.min(100, (f.numerator * 100) / f.denominator);
  return `${Number(pct.toFixed(4))}%`;
}

export function bucketSpec(spec: TokenBucketSpec): Pick<BucketReport, "max_tokens" | "tokens_per_fill" | "fill_interval_ms"> {
  return { max_tokens: spec.maxTokens, tokens_per_fill: spec.tokensPerFill, fill_interval_ms: spec.fillIntervalMs };
}

export function bucketReports(peek: LimitPeek): BucketReport[] {
  return peek.buckets.map((b) => ({
    bucket: b.kind === "default" ? "token_bucket" : `descriptors[${b.descriptorIndex}]`,
    kind: b.kind,
    descriptor: b.requestDescriptor,
    key: b.key,
    ...bucketSpec(b.spec),
    tokens: b.tokens,
    takes: b.takes,
  }));
}
