// A listener's configuration (Envoy's config.listener.v3.Listener), validated once at load.
import { ConfigError } from "../config/errors.js";
import type { ConfigReader } from "../config/reader.js";
import { resolveExtension, type ResolvedExtension } from "../config/registry.js";
import { parseCidrRange } from "../filters/common/cidr-config.js";
import type { ListenerFilterConfig, NetworkFilterConfig } from "../filters/types.js";
import { parseIp, type Cidr } from "../net/ip.js";

export interface SocketAddress {
  readonly host: string;
  readonly port: number;
  /** Envoy binds `::` as IPv6-only unless `ipv4_compat` is set. */
  readonly ipv6Only: boolean;
}

export interface FilterChainMatch {
  readonly destinationPort: number | null;
  readonly prefixRanges: readonly Cidr[];
  readonly directSourcePrefixRanges: readonly Cidr[];
  readonly sourceType: "ANY" | "SAME_IP_OR_LOOPBACK" | "EXTERNAL";
  readonly sourcePrefixRanges: readonly Cidr[];
  readonly sourcePorts: readonly number[];
  /** Lower-case SNI names: exact, or `*.example.com` wildcards (set by tls_inspector). */
  readonly serverNames: readonly string[];
  /** `raw_buffer` or `tls` (tls_inspector sets `tls`); "" when not matched on. */
  readonly transportProtocol: string;
  /** ALPN values, any of which matches (set by tls_inspector). */
  readonly applicationProtocols: readonly string[];
}

export interface FilterChainConfig {
  readonly name: string;
  readonly match: FilterChainMatch;
  readonly filters: readonly ResolvedExtension<NetworkFilterConfig>[];
}

export interface ListenerConfig {
  readonly name: string;
  readonly address: SocketAddress;
  /** `listener.<stat_prefix or address>.` */
  readonly statPrefix: string;
  readonly listenerFilters: readonly ResolvedExtension<ListenerFilterConfig>[];
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  readonly perConnectionBufferLimitBytes: number;
  readonly filterChains: readonly FilterChainConfig[];
  readonly defaultFilterChain: FilterChainConfig | null;
}

export function parseSocketAddress(r: ConfigReader): SocketAddress {
  const sa = r.obj("socket_address", { required: true });
  r.done();
  const host = sa.str("address", { required: true });
  const port = sa.int("port_value", { required: true, min: 0, max: 65535 });
  const protocol = sa.enum("protocol", ["TCP", "UDP"] as const, "TCP");
  if (protocol !== "TCP") throw new ConfigError(sa.at("protocol"), "only TCP listeners are supported");
  const ipv4Compat = sa.bool("ipv4_compat", false);
  sa.done();
  if (!parseIp(host)) throw new ConfigError(sa.at("address"), `expected an IP address to bind, got ${JSON.stringify(host)}`);
  return Object.freeze({ host, port, ipv6Only: host.includes(":") && !ipv4Compat });
}

/** Envoy's stat name for a listener address: `0.0.0.0_10000`, `[__]_10000` (':' is not allowed in stat names). */
export function listenerAddressStatName(a: SocketAddress): string {
  const host = a.host.includes(":") ? `[${a.host}]` : a.host;
  return `${host}_${a.port}`.replace(/:/g, "_");
}

function parseFilterChainMatch(r: ConfigReader | undefined): FilterChainMatch {
  const ranges = (key: string): Cidr[] => (r ? r.objList(key).map((c) => parseCidrRange(c)) : []);
  if (!r) {
    return Object.freeze({
      destinationPort: null,
      prefixRanges: [],
      directSourcePrefixRanges: [],
      sourceType: "ANY",
      sourcePrefixRanges: [],
      sourcePorts: [],
      serverNames: [],
      transportProtocol: "",
      applicationProtocols: [],
    });
  }
  const destinationPort = r.int("destination_port", { min: 1, max: 65535 }) ?? null;
  const m: FilterChainMatch = {
    destinationPort,
    prefixRanges: ranges("prefix_ranges"),
    directSourcePrefixRanges: ranges("direct_source_prefix_ranges"),
    sourceType: r.enum("source_type", ["ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"] as const, "ANY"),
    sourcePrefixRanges: ranges("source_prefix_ranges"),
    sourcePorts: r.list("source_ports").map((p, i) => {
      if (typeof p !== "number" || !Number.isInteger(p) || p < 1 || p > 65535) {
        throw new ConfigError(`${r.at("source_ports")}[${i}]`, "expected a port from 1 to 65535");
      }
      return p;
    }),
    serverNames: r.strList("server_names").map((n, i) => {
      const name = n.toLowerCase();
      // Envoy: exact names or a leading `*.` wildcard; no bare `*`, no partial wildcards.
      if (name === "" || name === "*" || name.indexOf("*", name.startsWith("*.") ? 1 : 0) >= 0) {
        throw new ConfigError(`${r.at("server_names")}[${i}]`, `invalid server name ${JSON.stringify(n)}: use an exact name or a leading "*." wildcard`);
      }
      return name;
    }),
    transportProtocol: r.str("transport_protocol") ?? "",
    applicationProtocols: r.strList("application_protocols"),
  };
  for (const k of ["address_suffix", "suffix_len"]) {
    if (r.has(k)) throw new ConfigError(r.at(k), "deprecated in Envoy and not supported");
  }
  r.done();
  return Object.freeze(m);
}

function parseFilterChain(r: ConfigReader, index: number): FilterChainConfig {
  const name = r.str("name") ?? `filter_chain_${index}`;
  const match = parseFilterChainMatch(r.obj("filter_chain_match"));
  if (r.has("transport_socket")) {
    const ts = r.obj("transport_socket", { required: true });
    const tc = ts.obj("typed_config");
    const type = tc?.str("@type") ?? "";
    if (!type.endsWith("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer")) {
      throw new ConfigError(ts.path, `transport socket '${ts.str("name") ?? type}' is not supported yet (Tollgate serves plaintext; TLS arrives with the TLS issue)`);
    }
    tc?.done();
    ts.accept("name");
    ts.done();
  }
  if (r.has("use_proxy_proto")) {
    throw new ConfigError(r.at("use_proxy_proto"), "deprecated in Envoy and not supported: add envoy.filters.listener.proxy_protocol to listener_filters");
  }
  const filters = r.objList("filters", { minItems: 1 }).map((f) => resolveExtension<NetworkFilterConfig>("network_filter", f));
  filters.forEach((f, i) => {
    const last = i === filters.length - 1;
    if (f.config.terminal && !last) throw new ConfigError(`${r.at("filters")}[${i}]`, `terminal filter '${f.name}' must be the last in the chain`);
    if (!f.config.terminal && last) throw new ConfigError(`${r.at("filters")}[${i}]`, `the last filter must be terminal (http_connection_manager or tcp_proxy), got '${f.name}'`);
  });
  r.done();
  return Object.freeze({ name, match, filters: Object.freeze(filters) });
}

export function parseListener(r: ConfigReader): ListenerConfig {
  const name = r.str("name", { required: true });
  const addressReader = r.obj("address", { required: true });
  const address = parseSocketAddress(addressReader);
  const statPrefix = `listener.${r.str("stat_prefix") || listenerAddressStatName(address)}.`;
  const listenerFilters = r.objList("listener_filters").map((f) => resolveExtension<ListenerFilterConfig>("listener_filter", f));
  const listenerFiltersTimeoutMs = r.duration("listener_filters_timeout", { default: 15_000 });
  const continueOnListenerFiltersTimeout = r.bool("continue_on_listener_filters_timeout", false);
  const perConnectionBufferLimitBytes = r.int("per_connection_buffer_limit_bytes", { default: 1_048_576, min: 1 });
  const filterChains = r.objList("filter_chains").map((c, i) => parseFilterChain(c, i));
  const dfc = r.obj("default_filter_chain");
  const defaultFilterChain = dfc ? parseFilterChain(dfc, -1) : null;
  if (filterChains.length === 0 && !defaultFilterChain) {
    throw new ConfigError(r.at("filter_chains"), "a listener needs at least one filter chain (or a default_filter_chain)");
  }
  const td = r.enum("traffic_direction", ["UNSPECIFIED", "INBOUND", "OUTBOUND"] as const, "UNSPECIFIED");
  void td; // a label for Envoy's own stats and tracing; Tollgate's behaviour does not depend on it
  r.done();
  return Object.freeze({
    name,
    address,
    statPrefix,
    listenerFilters: Object.freeze(listenerFilters),
    listenerFiltersTimeoutMs,
    continueOnListenerFiltersTimeout,
    perConnectionBufferLimitBytes,
    filterChains: Object.freeze(filterChains),
    defaultFilterChain,
  });
}
