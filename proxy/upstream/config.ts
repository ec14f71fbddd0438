// Parsing one Envoy v3 Cluster (an element of `static_resources.clusters`) into a frozen, validated object.
//
// Everything the runtime cluster needs is decided here, once: enum names, defaults, the endpoint list, the health
// check schedule, the circuit-breaker thresholds. Every message is read through a ConfigReader and closed with
// `done()`, so a field Tollgate would not honour (outlier_detection, TLS to the upstream, EDS, ...) refuses the whole
// configuration with its path instead of being silently dropped.
import { ConfigError } from "../config/errors.js";
import { ConfigReader } from "../config/reader.js";
import { bareTypeName } from "../config/registry.js";
import { formatIp, parseIp } from "../net/ip.js";

export type DiscoveryType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS";
export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";
export type DnsLookupFamily = "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";
export type EdsHealthStatus = "UNKNOWN" | "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT" | "DEGRADED";
export type RoutingPriority = "DEFAULT" | "HIGH";

export interface LocalityConfig {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export interface EndpointConfig {
  /** An IP literal (STATIC) or a DNS name (STRICT_DNS / LOGICAL_DNS). */
  readonly address: string;
  readonly port: number;
  /** `endpoint.hostname` (shown by /clusters). */
  readonly hostname: string;
  /** `endpoint.health_check_config.hostname`: the Host of HTTP health checks, before http_health_check.host. */
  readonly healthCheckHostname: string;
  /** `endpoint.health_check_config.port_value`; 0 = the endpoint's own port. */
  readonly healthCheckPort: number;
  readonly disableActiveHealthCheck: boolean;
  readonly healthStatus: EdsHealthStatus;
  readonly weight: number;
  readonly locality: LocalityConfig;
}

export interface HeaderToAdd {
  readonly name: string;
  readonly value: string;
  readonly action: "APPEND_IF_EXISTS_OR_ADD" | "ADD_IF_ABSENT" | "OVERWRITE_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS";
}

export interface HttpHealthCheckConfig {
  readonly type: "http";
  readonly path: string;
  /** Used when the endpoint has no health_check_config.hostname; empty: the cluster name (Envoy's order). */
  readonly host: string;
  readonly method: string;
  /** Half-open ranges [start, end). Default [[200, 201]]: only 200 is healthy. */
  readonly expectedStatuses: readonly (readonly [number, number])[];
  /** Unexpected statuses in these ranges count toward unhealthy_threshold instead of failing at once. */
  readonly retriableStatuses: readonly (readonly [number, number])[];
  readonly requestHeadersToAdd: readonly HeaderToAdd[];
  readonly requestHeadersToRemove: readonly string[];
}

export interface TcpHealthCheckConfig {
  readonly type: "tcp";
}

export interface HealthCheckConfig {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly intervalJitterMs: number;
  readonly intervalJitterPercent: number;
  readonly initialJitterMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly noTrafficIntervalMs: number;
  readonly noTrafficHealthyIntervalMs: number;
  readonly unhealthyIntervalMs: number;
  readonly unhealthyEdgeIntervalMs: number;
  readonly healthyEdgeIntervalMs: number;
  readonly reuseConnection: boolean;
  readonly checker: HttpHealthCheckConfig | TcpHealthCheckConfig;
}

export interface CircuitBreakerThresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  readonly trackRemaining: boolean;
}

export interface ClusterConfig {
  readonly name: string;
  readonly type: DiscoveryType;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  /** LEAST_REQUEST: hosts sampled per pick when all weights are equal (power of two choices by default). */
  readonly leastRequestChoiceCount: number;
  /** Percent of healthy hosts below which the load balancer ignores health (Envoy's panic mode). */
  readonly healthyPanicThreshold: number;
  readonly loadAssignmentClusterName: string;
  readonly endpoints: readonly EndpointConfig[];
  readonly dnsLookupFamily: DnsLookupFamily;
  readonly dnsRefreshRateMs: number;
  readonly respectDnsTtl: boolean;
  readonly healthChecks: readonly HealthCheckConfig[];
  readonly circuitBreakers: { readonly DEFAULT: CircuitBreakerThresholds; readonly HIGH: CircuitBreakerThresholds };
  readonly perConnectionBufferLimitBytes: number;
  /** common_http_protocol_options.idle_timeout; 0 = never close idle upstream connections. */
  readonly idleTimeoutMs: number;
  readonly transportSocket: "raw_buffer";
}

// Full proto enum value lists, so that numeric enum values map to the right names before unsupported ones are refused.
const DISCOVERY_TYPES = ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"] as const;
const LB_POLICIES = [
  "ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", "ORIGINAL_DST_LB", "MAGLEV", "CLUSTER_PROVIDED",
  "LOAD_BALANCING_POLICY_CONFIG",
] as const;
const DNS_FAMILIES = ["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"] as const;
const HEALTH_STATUSES = ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"] as const;
const PRIORITIES = ["DEFAULT", "HIGH"] as const;
const HC_METHODS = ["METHOD_UNSPECIFIED", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] as const;
const APPEND_ACTIONS = ["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"] as const;

export const DEFAULT_THRESHOLDS: CircuitBreakerThresholds = Object.freeze({
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  trackRemaining: false,
});

const RAW_BUFFER_TYPE = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
const RAW_BUFFER_NAMES = new Set(["envoy.transport_sockets.raw_buffer", "raw_buffer"]);
const NOT_YET: ReadonlyMap<string, string> = new Map([
  ["envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "TLS to upstream clusters is not yet supported"],
  ["envoy.api.v2.auth.UpstreamTlsContext", "TLS to upstream clusters is not yet supported"],
  [
    "envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport",
    "sending a PROXY protocol header to upstream clusters is not yet supported",
  ],
]);

/** An IP literal as Tollgate accepts one (strict: dotted quads without leading zeros, IPv6 without zone ids). */
export function isIpLiteral(text: string): boolean {
  return parseIp(text) !== null;
}

/** Parse one Cluster from a plain object at `path` (e.g. `static_resources.clusters[0]`). */
export function parseClusterJson(value: unknown, path: string): ClusterConfig {
  return parseCluster(new ConfigReader(value, path));
}

/** Parse one Cluster; `r.done()` is called. */
export function parseCluster(r: ConfigReader): ClusterConfig {
  const name = r.str("name", { required: true });
  if (r.has("cluster_type")) {
    throw new ConfigError(r.at("cluster_type"), "custom cluster types are not supported (use type STATIC, STRICT_DNS or LOGICAL_DNS)");
  }
  const type = r.enum("type", DISCOVERY_TYPES, "STATIC");
  if (type !== "STATIC" && type !== "STRICT_DNS" && type !== "LOGICAL_DNS") {
    throw new ConfigError(r.at("type"), `cluster type ${type} is not supported (supported: STATIC, STRICT_DNS, LOGICAL_DNS)`);
  }
  const connectTimeoutMs = r.duration("connect_timeout", { default: 5000 });
  if (connectTimeoutMs <= 0) throw new ConfigError(r.at("connect_timeout"), "must be greater than 0s");

  if (r.has("load_balancing_policy")) {
    throw new ConfigError(r.at("load_balancing_policy"), "typed load balancing policies are not supported (use lb_policy)");
  }
  const lbPolicy = r.enum("lb_policy", LB_POLICIES, "ROUND_ROBIN");
  if (lbPolicy !== "ROUND_ROBIN" && lbPolicy !== "LEAST_REQUEST" && lbPolicy !== "RANDOM") {
    throw new ConfigError(r.at("lb_policy"), `lb_policy ${lbPolicy} is not supported (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM)`);
  }
  let leastRequestChoiceCount = 2;
  const lrc = r.obj("least_request_lb_config");
  if (lrc) {
    if (lbPolicy !== "LEAST_REQUEST") throw new ConfigError(lrc.path, "only valid with lb_policy LEAST_REQUEST");
    leastRequestChoiceCount = lrc.int("choice_count", { default: 2, min: 2 });
    lrc.done();
  }
  let healthyPanicThreshold = 50;
  const clc = r.obj("common_lb_config");
  if (clc) {
    const hpt = clc.obj("healthy_panic_threshold");
    if (hpt) {
      healthyPanicThreshold = hpt.num("value", { default: 0, min: 0, max: 100 }) ?? 0;
      hpt.done();
    }
    clc.done();
  }

  const dnsLookupFamily = r.enum("dns_lookup_family", DNS_FAMILIES, "AUTO");
  const dnsRefreshRateMs = r.duration("dns_refresh_rate", { default: 5000 });
  if (r.has("dns_refresh_rate") && dnsRefreshRateMs < 1) throw new ConfigError(r.at("dns_refresh_rate"), "must be at least 1ms");
  const respectDnsTtl = r.bool("respect_dns_ttl", false);

  const la = r.obj("load_assignment");
  let loadAssignmentClusterName = name;
  let endpoints: EndpointConfig[] = [];
  if (la) {
    loadAssignmentClusterName = la.str("cluster_name", { required: true });
    endpoints = parseLocalityEndpoints(la, type);
    la.done();
  }
  if (type === "LOGICAL_DNS" && endpoints.length !== 1) {
    throw new ConfigError(
      la ? la.at("endpoints") : r.at("load_assignment"),
      `a LOGICAL_DNS cluster must have exactly one lb_endpoint, found ${endpoints.length}`,
    );
  }

  const hcs = r.objList("health_checks");
  if (hcs.length > 1) throw new ConfigError(r.at("health_checks"), "only one health check per cluster is supported");
  const healthChecks = hcs.map(parseHealthCheck);

  const circuitBreakers = parseCircuitBreakers(r.obj("circuit_breakers"));
  const perConnectionBufferLimitBytes = r.int("per_connection_buffer_limit_bytes", { default: 1024 * 1024, min: 1 });

  let idleTimeoutMs = 3_600_000;
  const chpo = r.obj("common_http_protocol_options");
  if (chpo) {
    idleTimeoutMs = chpo.duration("idle_timeout", { default: 3_600_000 });
    chpo.done();
  }

  const teo = r.raw("typed_extension_protocol_options");
  if (teo !== undefined) {
    if (teo === null || typeof teo !== "object" || Array.isArray(teo)) {
      throw new ConfigError(r.at("typed_extension_protocol_options"), "expected a map");
    }
    const keys = Object.keys(teo);
    if (keys.length > 0) {
      throw new ConfigError(
        `${r.at("typed_extension_protocol_options")}.${keys[0]}`,
        "typed extension protocol options are not supported (Tollgate speaks HTTP/1.1 to upstreams)",
      );
    }
  }

  const ts = r.obj("transport_socket");
  const transportSocket = ts ? parseTransportSocket(ts) : "raw_buffer";
  r.done();

  return Object.freeze({
    name,
    type,
    connectTimeoutMs,
    lbPolicy,
    leastRequestChoiceCount,
    healthyPanicThreshold,
    loadAssignmentClusterName,
    endpoints: Object.freeze(endpoints),
    dnsLookupFamily,
    dnsRefreshRateMs,
    respectDnsTtl,
    healthChecks: Object.freeze(healthChecks),
    circuitBreakers: Object.freeze(circuitBreakers),
    perConnectionBufferLimitBytes,
    idleTimeoutMs,
    transportSocket,
  });
}

/**
 * Refuse two clusters with the same name (Envoy does so at bootstrap). `listPath` names the list, e.g.
 * `static_resources.clusters`; the error names the second occurrence.
 */
export function checkUniqueClusterNames(clusters: readonly { readonly name: string }[], listPath = "static_resources.clusters"): void {
  const seen = new Map<string, number>();
  clusters.forEach((c, i) => {
    const first = seen.get(c.name);
    if (first !== undefined) {
      throw new ConfigError(`${listPath}[${i}].name`, `duplicate cluster name '${c.name}' (also at ${listPath}[${first}])`);
    }
    seen.set(c.name, i);
  });
}

/** Parse a whole `clusters` list and check name uniqueness. */
export function parseClusterList(value: unknown, listPath = "static_resources.clusters"): ClusterConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(listPath, "expected a list");
  const out = value.map((item, i) => parseClusterJson(item, `${listPath}[${i}]`));
  checkUniqueClusterNames(out, listPath);
  return out;
}

function parseLocalityEndpoints(la: ConfigReader, type: DiscoveryType): EndpointConfig[] {
  const out: EndpointConfig[] = [];
  for (const lle of la.objList("endpoints")) {
    const priority = lle.int("priority", { default: 0, min: 0 });
    if (priority !== 0) throw new ConfigError(lle.at("priority"), "only priority 0 is supported");
    let locality: LocalityConfig = Object.freeze({ region: "", zone: "", subZone: "" });
    const loc = lle.obj("locality");
    if (loc) {
      locality = Object.freeze({
        region: loc.str("region") ?? "",
        zone: loc.str("zone") ?? "",
        subZone: loc.str("sub_zone") ?? "",
      });
      loc.done();
    }
    // Envoy ignores locality weights unless locality-weighted balancing is configured (which Tollgate refuses), so
    // accepting the field keeps Envoy's meaning.
    lle.int("load_balancing_weight", { min: 1 });
    for (const lbe of lle.objList("lb_endpoints")) out.push(parseLbEndpoint(lbe, type, locality));
    lle.done();
  }
  return out;
}

function parseLbEndpoint(lbe: ConfigReader, type: DiscoveryType, locality: LocalityConfig): EndpointConfig {
  if (lbe.has("endpoint_name")) throw new ConfigError(lbe.at("endpoint_name"), "named endpoints (EDS) are not supported");
  const ep = lbe.obj("endpoint", { required: true });
  const healthStatus = lbe.enum("health_status", HEALTH_STATUSES, "UNKNOWN");
  const weight = lbe.int("load_balancing_weight", { default: 1, min: 1 });
  lbe.done();

  const addr = ep.obj("address", { required: true });
  const sa = addr.obj("socket_address");
  if (!sa) {
    throw new ConfigError(addr.path, "only socket_address endpoints are supported (pipe and internal addresses are not)");
  }
  addr.done();
  const protocol = sa.enum("protocol", ["TCP", "UDP"] as const, "TCP");
  if (protocol !== "TCP") throw new ConfigError(sa.at("protocol"), "only TCP upstreams are supported");
  let address = sa.str("address", { required: true });
  const port = sa.int("port_value", { required: true, min: 1, max: 65535 });
  sa.done();
  if (type === "STATIC") {
    const ip = parseIp(address);
    if (ip === null) {
      throw new ConfigError(
        sa.at("address"),
        `'${address}' is not an IP address: a STATIC cluster needs IP literals (use type STRICT_DNS or LOGICAL_DNS for names)`,
      );
    }
    // Canonical text (RFC 5952; an IPv4-mapped address becomes IPv4), as Envoy prints hosts.
    address = formatIp(ip);
  }

  const hostname = ep.str("hostname") ?? "";
  let healthCheckHostname = "";
  let healthCheckPort = 0;
  let disableActiveHealthCheck = false;
  const hcc = ep.obj("health_check_config");
  if (hcc) {
    healthCheckPort = hcc.int("port_value", { default: 0, min: 0, max: 65535 });
    const h = hcc.str("hostname");
    if (h) healthCheckHostname = h;
    disableActiveHealthCheck = hcc.bool("disable_active_health_check", false);
    hcc.done();
  }
  ep.done();
  return Object.freeze({
    address,
    port,
    hostname,
    healthCheckHostname,
    healthCheckPort,
    disableActiveHealthCheck,
    healthStatus,
    weight,
    locality,
  });
}

function positiveDuration(r: ConfigReader, key: string, opt: { required: true } | { default: number }): number {
  const v = r.duration(key, opt as { default: number });
  if (v <= 0) throw new ConfigError(r.at(key), "must be greater than 0s");
  return v;
}

function parseHealthCheck(hc: ConfigReader): HealthCheckConfig {
  const timeoutMs = positiveDuration(hc, "timeout", { required: true });
  const intervalMs = positiveDuration(hc, "interval", { required: true });
  const unhealthyThreshold = hc.int("unhealthy_threshold", { required: true, min: 0 });
  const healthyThreshold = hc.int("healthy_threshold", { required: true, min: 0 });
  const noTrafficIntervalMs = positiveDuration(hc, "no_traffic_interval", { default: 60_000 });
  const noTrafficHealthyIntervalMs = positiveDuration(hc, "no_traffic_healthy_interval", { default: noTrafficIntervalMs });
  const unhealthyIntervalMs = positiveDuration(hc, "unhealthy_interval", { default: intervalMs });
  const unhealthyEdgeIntervalMs = positiveDuration(hc, "unhealthy_edge_interval", { default: unhealthyIntervalMs });
  const healthyEdgeIntervalMs = positiveDuration(hc, "healthy_edge_interval", { default: intervalMs });
  const intervalJitterMs = hc.duration("interval_jitter", { default: 0 });
  const initialJitterMs = hc.duration("initial_jitter", { default: 0 });
  const intervalJitterPercent = hc.int("interval_jitter_percent", { default: 0, min: 0 });
  const reuseConnection = hc.bool("reuse_connection", true);

  const kind = hc.oneof(
    ["http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check"] as const,
    { required: true, name: "health_checker" },
  );
  let checker: HttpHealthCheckConfig | TcpHealthCheckConfig;
  if (kind === "http_health_check") {
    checker = parseHttpHealthCheck(hc.obj("http_health_check", { required: true }));
  } else if (kind === "tcp_health_check") {
    const t = hc.obj("tcp_health_check", { required: true });
    if (t.has("send")) throw new ConfigError(t.at("send"), "TCP health checks with a payload are not yet supported (connect-only checks are)");
    if (t.list("receive").length > 0) {
      throw new ConfigError(t.at("receive"), "TCP health checks with an expected payload are not yet supported (connect-only checks are)");
    }
    t.done();
    checker = Object.freeze({ type: "tcp" as const });
  } else {
    throw new ConfigError(hc.at(kind ?? "health_checker"), `${kind} is not supported (use http_health_check or tcp_health_check)`);
  }
  hc.done();
  return Object.freeze({
    timeoutMs,
    intervalMs,
    intervalJitterMs,
    intervalJitterPercent,
    initialJitterMs,
    unhealthyThreshold,
    healthyThreshold,
    noTrafficIntervalMs,
    noTrafficHealthyIntervalMs,
    unhealthyIntervalMs,
    unhealthyEdgeIntervalMs,
    healthyEdgeIntervalMs,
    reuseConnection,
    checker,
  });
}

function parseStatusRanges(h: ConfigReader, key: string): [number, number][] {
  return h.objList(key).map((rr) => {
    const start = rr.int("start", { required: true });
    const end = rr.int("end", { required: true });
    rr.done();
    if (start >= end) throw new ConfigError(rr.path, `expecting start < end, but found start=${start} and end=${end}`);
    if (start < 100) throw new ConfigError(rr.at("start"), `expecting start >= 100, but found start=${start}`);
    if (end > 600) throw new ConfigError(rr.at("end"), `expecting end <= 600, but found end=${end}`);
    return [start, end] as [number, number];
  });
}

function parseHttpHealthCheck(h: ConfigReader): HttpHealthCheckConfig {
  const path = h.str("path", { required: true });
  const host = h.str("host") ?? "";
  const m = h.enum("method", HC_METHODS, "METHOD_UNSPECIFIED");
  if (m === "CONNECT") throw new ConfigError(h.at("method"), "CONNECT is not a valid health check method");
  const method = m === "METHOD_UNSPECIFIED" ? "GET" : m;
  const codec = h.enum("codec_client_type", ["HTTP1", "HTTP2", "HTTP3"] as const, "HTTP1");
  if (codec !== "HTTP1") throw new ConfigError(h.at("codec_client_type"), "only HTTP1 health checks are supported");
  if (h.has("send")) throw new ConfigError(h.at("send"), "HTTP health check payloads are not yet supported");
  if (h.has("receive")) throw new ConfigError(h.at("receive"), "HTTP health check response matching is not yet supported");
  if (h.has("service_name_matcher")) throw new ConfigError(h.at("service_name_matcher"), "not yet supported");
  const expected = parseStatusRanges(h, "expected_statuses");
  const retriable = parseStatusRanges(h, "retriable_statuses");
  const requestHeadersToAdd = h.objList("request_headers_to_add").map(parseHeaderToAdd).filter((x): x is HeaderToAdd => x !== null);
  const requestHeadersToRemove = h.strList("request_headers_to_remove").map((n) => n.toLowerCase());
  h.done();
  return Object.freeze({
    type: "http" as const,
    path,
    host,
    method,
    expectedStatuses: Object.freeze(expected.length > 0 ? expected : [[200, 201] as [number, number]]),
    retriableStatuses: Object.freeze(retriable),
    requestHeadersToAdd: Object.freeze(requestHeadersToAdd),
    requestHeadersToRemove: Object.freeze(requestHeadersToRemove),
  });
}

/** null: an empty value without keep_empty_value, which Envoy's header parser never adds (nor lets overwrite). */
function parseHeaderToAdd(o: ConfigReader): HeaderToAdd | null {
  const header = o.obj("header", { required: true });
  let name = header.str("key", { required: true }).toLowerCase();
  if (header.has("raw_value")) throw new ConfigError(header.at("raw_value"), "raw_value is not supported (use value)");
  let value = header.str("value") ?? "";
  header.done();
  if (name === ":authority") name = "host";
  if (name.startsWith(":")) throw new ConfigError(header.at("key"), `pseudo-header '${name}' cannot be added to a health check`);
  // Envoy expands %COMMAND% operators in these values. Tollgate sends values literally, so any operator is refused
  // rather than sent as text; "%%" is Envoy's escape for a literal '%'.
  if (value.replace(/%%/g, "").includes("%")) {
    throw new ConfigError(header.at("value"), "command operators (%...%) in health check headers are not supported");
  }
  value = value.replace(/%%/g, "%");
  const hasAppend = o.has("append");
  const append = o.bool("append", true);
  let action = o.enum("append_action", APPEND_ACTIONS, "APPEND_IF_EXISTS_OR_ADD");
  if (hasAppend) {
    if (o.has("append_action")) throw new ConfigError(o.at("append"), "append and append_action cannot both be set");
    action = append ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD";
  }
  const keepEmpty = o.bool("keep_empty_value", false);
  o.done();
  if (value === "" && !keepEmpty) return null;
  return Object.freeze({ name, value, action });
}

function parseCircuitBreakers(cb: ConfigReader | undefined): { DEFAULT: CircuitBreakerThresholds; HIGH: CircuitBreakerThresholds } {
  const out: { DEFAULT: CircuitBreakerThresholds; HIGH: CircuitBreakerThresholds } = {
    DEFAULT: DEFAULT_THRESHOLDS,
    HIGH: DEFAULT_THRESHOLDS,
  };
  if (!cb) return out;
  const seen = new Set<RoutingPriority>();
  for (const t of cb.objList("thresholds")) {
    const priority = t.enum("priority", PRIORITIES, "DEFAULT");
    if (seen.has(priority)) {
      throw new ConfigError(t.at("priority"), `a second threshold for priority ${priority} (Envoy would ignore it; remove one)`);
    }
    seen.add(priority);
    if (t.has("retry_budget")) throw new ConfigError(t.at("retry_budget"), "retry budgets are not supported (use max_retries)");
    if (t.has("max_connection_pools")) throw new ConfigError(t.at("max_connection_pools"), "not supported");
    out[priority] = Object.freeze({
      maxConnections: t.int("max_connections", { default: 1024, min: 0 }),
      maxPendingRequests: t.int("max_pending_requests", { default: 1024, min: 0 }),
      maxRequests: t.int("max_requests", { default: 1024, min: 0 }),
      maxRetries: t.int("max_retries", { default: 3, min: 0 }),
      trackRemaining: t.bool("track_remaining", false),
    });
    t.done();
  }
  if (cb.has("per_host_thresholds")) throw new ConfigError(cb.at("per_host_thresholds"), "per-host circuit breakers are not supported");
  cb.done();
  return out;
}

function parseTransportSocket(ts: ConfigReader): "raw_buffer" {
  const name = ts.str("name") ?? "";
  const tc = ts.obj("typed_config");
  ts.done();
  if (!tc) {
    // raw_buffer has no configuration, so its bare name means exactly the default; any other bare name is refused.
    if (RAW_BUFFER_NAMES.has(name)) return "raw_buffer";
    throw new ConfigError(
      ts.at("typed_config"),
      `Didn't find a registered implementation for '${name}' with type URL: '' (a typed_config with @type is required)`,
    );
  }
  const url = bareTypeName(tc.str("@type", { required: true }));
  const notYet = NOT_YET.get(url);
  if (notYet) throw new ConfigError(tc.path, `${notYet} (${url})`);
  if (url !== RAW_BUFFER_TYPE) {
    throw new ConfigError(tc.at("@type"), `transport socket '${url}' is not supported for clusters (supported: ${RAW_BUFFER_TYPE})`);
  }
  tc.done();
  return "raw_buffer";
}
