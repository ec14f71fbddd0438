// envoy.filters.network.tcp_proxy — configuration, validated once at load.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import { parseAccessLogs, type AccessLogger } from "../../../observability/access-log/index.js";
import type { BuildContext, NetworkFilter, NetworkFilterConfig } from "../../types.js";
import { TcpProxy } from "./tcp-proxy.js";

export interface TcpProxyConfig extends NetworkFilterConfig {
  readonly statPrefix: string;
  readonly cluster: string;
  readonly idleTimeoutMs: number;
  readonly accessLogs: readonly AccessLogger[];
  readonly maxConnectAttempts: number;
  readonly clusterReferences: readonly string[];
}

function parseTcpProxy(r: ConfigReader): TcpProxyConfig {
  const statPrefix = r.str("stat_prefix", { required: true });
  if (r.has("weighted_clusters")) throw new ConfigError(r.at("weighted_clusters"), "weighted clusters are not supported: name one cluster");
  if (r.has("tunneling_config")) throw new ConfigError(r.at("tunneling_config"), "tunneling over HTTP is not supported");
  if (r.has("on_demand")) throw new ConfigError(r.at("on_demand"), "on-demand clusters are not supported");
  const cluster = r.str("cluster", { required: true });
  const idleTimeoutMs = r.duration("idle_timeout", { default: 3_600_000 });
  const maxConnectAttempts = r.int("max_connect_attempts", { default: 1, min: 1 });
  const accessLogs = parseAccessLogs(r.objList("access_log"));
  const config: TcpProxyConfig = {
    terminal: true,
    statPrefix,
    cluster,
    idleTimeoutMs,
    maxConnectAttempts,
    accessLogs: Object.freeze(accessLogs),
    clusterReferences: Object.freeze([cluster]),
    build(ctx: BuildContext): NetworkFilter {
      return new TcpProxy(config, ctx);
    },
  };
  return Object.freeze(config);
}

registerExtension<TcpProxyConfig>({
  category: "network_filter",
  typeUrls: ["envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"],
  names: ["envoy.filters.network.tcp_proxy", "envoy.tcp_proxy"],
  parse: parseTcpProxy,
});
