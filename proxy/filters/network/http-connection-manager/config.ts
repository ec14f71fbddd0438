// envoy.filters.network.http_connection_manager — configuration, validated once at load.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension, resolveExtension, resolveTypedConfig, type ResolvedExtension } from "../../../config/registry.js";
import { parseAccessLogs, type AccessLogger } from "../../../observability/access-log/index.js";
import type { BuildContext, HttpFilterConfig, NetworkFilter, NetworkFilterConfig } from "../../types.js";
import { readRequestHeadersConfig, type RequestHeadersConfig } from "./headers-config.js";
import { parseRouteConfiguration, type PerFilterEntry, type RouteTable } from "./route-config.js";
import { ConnectionManager } from "./connection-manager.js";

export type ServerHeaderTransformation = "OVERWRITE" | "APPEND_IF_ABSENT" | "PASS_THROUGH";

export interface HttpConnectionManagerConfig extends NetworkFilterConfig {
  readonly statPrefix: string;
  readonly requestHeaders: RequestHeadersConfig;
  readonly routeTable: RouteTable;
  readonly httpFilters: readonly ResolvedExtension<HttpFilterConfig>[];
  readonly accessLogs: readonly AccessLogger[];
  readonly serverName: string;
  readonly serverHeaderTransformation: ServerHeaderTransformation;
  /** Upgrade types allowed (lower-case), e.g. "websocket". */
  readonly upgrades: ReadonlySet<string>;
  readonly maxRequestHeadersBytes: number;
  readonly maxHeadersCount: number;
  readonly idleTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly acceptHttp10: boolean;
  readonly headersWithUnderscoresAction: "ALLOW" | "REJECT_REQUEST" | "DROP_HEADER";
  /** Every cluster the routes name, with the path of the route config, for the bootstrap's cross-check. */
  readonly clusterReferences: readonly string[];
}

function refuse(r: ConfigReader, key: string, why: string): void {
  if (r.has(key)) throw new ConfigError(r.at(key), why);
}

function parseHcm(r: ConfigReader): HttpConnectionManagerConfig {
  const statPrefix = r.str("stat_prefix", { required: true });
  const codec = r.enum("codec_type", ["AUTO", "HTTP1", "HTTP2", "HTTP3"] as const, "AUTO");
  if (codec === "HTTP2" || codec === "HTTP3") {
    throw new ConfigError(r.at("codec_type"), `${codec} is not supported yet: Tollgate speaks HTTP/1.1 downstream (AUTO and HTTP1)`);
  }
  refuse(r, "rds", "RDS is not supported: give the route table inline as route_config");
  refuse(r, "scoped_routes", "scoped routes are not supported");
  refuse(r, "tracing", "tracing is not supported");
  refuse(r, "local_reply_config", "local_reply_config is not supported: local replies use Envoy's default bodies");
  refuse(r, "http2_protocol_options", "HTTP/2 is not supported yet");
  for (const k of ["normalize_path", "merge_slashes"]) {
    if (r.has(k) && r.bool(k, false)) throw new ConfigError(r.at(k), "path normalisation is not supported; leave it false");
    r.accept(k);
  }
  const requestHeaders = readRequestHeadersConfig(r);
  const routeTable = parseRouteConfiguration(r.obj("route_config", { required: true }), {
    resolvePerFilterConfig: (filterName, any) => resolvePerRoute(filterName, any),
  });
  const filterReaders = r.objList("http_filters", { minItems: 1 });
  const httpFilters = filterReaders.map((f) => resolveExtension<HttpFilterConfig>("http_filter", f));
  httpFilters.forEach((f, i) => {
    const last = i === httpFilters.length - 1;
    if (f.config.terminal && !last) throw new ConfigError(`${r.at("http_filters")}[${i}]`, `terminal filter '${f.name}' must be the last HTTP filter`);
    if (!f.config.terminal && last) {
      throw new ConfigError(`${r.at("http_filters")}[${i}]`, `the last HTTP filter must be the router (envoy.filters.http.router), got '${f.name}'`);
    }
  });
  checkPerFilterConfigs(routeTable, httpFilters, r.at("route_config"));
  const accessLogs = parseAccessLogs(r.objList("access_log"));
  const serverName = r.str("server_name") ?? "envoy";
  const serverHeaderTransformation = r.enum("server_header_transformation", ["OVERWRITE", "APPEND_IF_ABSENT", "PASS_THROUGH"] as const, "OVERWRITE");
  const upgrades = new Set<string>();
  for (const u of r.objList("upgrade_configs")) {
    const type = u.str("upgrade_type", { required: true }).toLowerCase();
    const enabled = u.bool("enabled", true);
    if (u.has("filters")) throw new ConfigError(u.at("filters"), "per-upgrade filter chains are not supported");
    u.done();
    if (enabled) upgrades.add(type);
  }
  const maxRequestHeadersKb = r.int("max_request_headers_kb", { default: 60, min: 1, max: 8192 });
  let idleTimeoutMs = 3_600_000;
  let maxHeadersCount = 100;
  let headersWithUnderscoresAction: HttpConnectionManagerConfig["headersWithUnderscoresAction"] = "ALLOW";
  const common = r.obj("common_http_protocol_options");
  if (common) {
    idleTimeoutMs = common.duration("idle_timeout", { default: idleTimeoutMs });
    maxHeadersCount = common.int("max_headers_count", { default: 100, min: 1 });
    headersWithUnderscoresAction = common.enum("headers_with_underscores_action", ["ALLOW", "REJECT_REQUEST", "DROP_HEADER"] as const, "ALLOW");
    common.done();
  }
  let acceptHttp10 = false;
  const h1 = r.obj("http_protocol_options");
  if (h1) {
    acceptHttp10 = h1.bool("accept_http_10", false);
    h1.done();
  }
  const streamIdleTimeoutMs = r.duration("stream_idle_timeout", { default: 300_000 });
  const requestTimeoutMs = r.duration("request_timeout", { default: 0 });
  const requestHeadersTimeoutMs = r.duration("request_headers_timeout", { default: 0 });
  const drainTimeoutMs = r.duration("drain_timeout", { default: 5000 });
  r.duration("delayed_close_timeout", { default: 1000 }); // Node closes after the last byte is flushed
  r.bool("add_proxy_protocol_connection_state", true); // the PROXY state always stays on the connection
  const config: HttpConnectionManagerConfig = {
    terminal: true,
    statPrefix,
    requestHeaders,
    routeTable,
    httpFilters: Object.freeze(httpFilters),
    accessLogs: Object.freeze(accessLogs),
    serverName,
    serverHeaderTransformation,
    upgrades,
    maxRequestHeadersBytes: maxRequestHeadersKb * 1024,
    maxHeadersCount,
    idleTimeoutMs,
    streamIdleTimeoutMs,
    requestTimeoutMs,
    requestHeadersTimeoutMs,
    drainTimeoutMs,
    acceptHttp10,
    headersWithUnderscoresAction,
    clusterReferences: routeTable.referencedClusters,
    build(ctx: BuildContext): NetworkFilter {
      return new ConnectionManager(config, ctx);
    },
  };
  return Object.freeze(config);
}

/**
 * typed_per_filter_config is keyed by an HTTP filter's configured name. An entry that names no filter of this
 * connection manager, or that the named filter does not read (another filter's type, or a filter without per-route
 * configuration), would be silently ignored: an RBACPerRoute under the wrong key leaves that route on the filter's
 * own rules. Envoy ignores such entries; Tollgate refuses them, naming the entry.
 * As in Envoy, an entry may also be keyed by the filter's canonical name (e.g. envoy.filters.http.rbac), which is
 * used when the configured name has no entry. The route table is inline (no RDS), so every
 * filter that could read an entry is known here.
 */
function checkPerFilterConfigs(table: RouteTable, filters: readonly ResolvedExtension<HttpFilterConfig>[], routeConfigPath: string): void {
  // Entries are found under a filter's configured name, or else under its canonical name (Envoy's fallback).
  const byName = new Map(filters.map((f) => [f.name, f]));
  for (const f of filters) if (!byName.has(f.canonicalName)) byName.set(f.canonicalName, f);
  const check = (entries: ReadonlyMap<string, PerFilterEntry>, path: string): void => {
    for (const [key, entry] of entries) {
      const at = `${path}.typed_per_filter_config.${key}`;
      const f = byName.get(key);
      if (f === undefined) {
        const names = [...byName.keys()].map((n) => `'${n}'`).join(", ");
        throw new ConfigError(
          at,
          `no HTTP filter of this connection manager is named '${key}' (http_filters: ${names}); entries are keyed by the filter's configured name, and one that no filter reads would be silently ignored`,
        );
      }
      if (entry.config !== null && f.config.acceptsPerRouteConfig?.(entry.config) !== true) {
        throw new ConfigError(
          at,
          f.config.acceptsPerRouteConfig === undefined
            ? `filter '${key}' (${f.typeUrl}) has no per-route configuration; this entry would be silently ignored`
            : `filter '${key}' (${f.typeUrl}) does not read a per-route configuration of this type; this entry would be silently ignored`,
        );
      }
    }
  };
  check(table.perFilterConfigs, routeConfigPath);
  table.virtualHosts.forEach((vh, i) => {
    const vhPath = `${routeConfigPath}.virtual_hosts[${i}]`;
    check(vh.perFilterConfigs, vhPath);
    vh.routes.forEach((route, j) => check(route.perFilterConfigs, `${vhPath}.routes[${j}]`));
  });
}

/** typed_per_filter_config values are resolved by their own @type, in the per-route category. */
function resolvePerRoute(filterName: string, any: ConfigReader): unknown {
  return resolveTypedConfig("http_filter_per_route", filterName, any).config;
}

registerExtension<HttpConnectionManagerConfig>({
  category: "network_filter",
  typeUrls: ["envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"],
  names: ["envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"],
  parse: parseHcm,
});
