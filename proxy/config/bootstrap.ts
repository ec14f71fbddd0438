// The Envoy v3 bootstrap subset Tollgate runs. Parsing is strict: any field we do not implement refuses the whole
// configuration with its path (DESIGN.md principle 2). The result is a frozen tree that a compile step turns into
// live listeners and clusters.
import { ConfigError } from "./errors.js";
import { ConfigReader, type Json } from "./reader.js";
import { parseListener, parseSocketAddress, type ListenerConfig, type SocketAddress } from "../listener/config.js";
import { checkDistinctMatches } from "../listener/filter-chain-match.js";
import { checkUniqueClusterNames, parseCluster, type ClusterConfig } from "../upstream/config.js";
import { parseAccessLogs, type AccessLogger } from "../observability/access-log/index.js";
import { NO_FILES, type FileSnapshots } from "./files.js";
import { ParseContext, withParseContext, type ConfigResources } from "./parse-context.js";
import "./extensions.js";

export interface AdminConfig {
  readonly address: SocketAddress;
  readonly accessLogs: readonly AccessLogger[];
}

export interface NodeConfig {
  readonly id: string;
  readonly cluster: string;
}

export interface BootstrapConfig {
  readonly node: NodeConfig;
  readonly admin: AdminConfig | null;
  readonly listeners: readonly ListenerConfig[];
  readonly clusters: readonly ClusterConfig[];
  /** The document as loaded, for /config_dump. */
  readonly document: Json;
  /** What the configuration runs while live (allowlist file watchers): started and closed by server.ts. */
  readonly resources: ConfigResources;
}

const UNSUPPORTED_TOP_LEVEL: Record<string, string> = {
  dynamic_resources: "xDS (dynamic_resources) is not supported: Tollgate runs static_resources and reloads files",
  layered_runtime: "runtime layers are not supported",
  overload_manager: "the overload manager is not supported",
  stats_sinks: "stats sinks are not supported: scrape /stats/prometheus on the admin listener",
  stats_config: "stats_config (custom tags and matchers) is not supported: Tollgate uses Envoy's default tag extraction",
  tracing: "tracing is not supported",
  cluster_manager: "cluster_manager settings are not supported",
};

function parseAdmin(r: ConfigReader): AdminConfig {
  const address = parseSocketAddress(r.obj("address", { required: true }));
  const accessLogs = parseAccessLogs(r.objList("access_log"));
  const legacyPath = r.str("access_log_path");
  if (legacyPath !== undefined && legacyPath !== "/dev/null") {
    throw new ConfigError(r.at("access_log_path"), "deprecated in Envoy; use admin.access_log with envoy.access_loggers.file");
  }
  r.done();
  return Object.freeze({ address, accessLogs: Object.freeze(accessLogs) });
}

/** `files`: the files the document names, read by the loader (config/files.ts readReferencedFiles). */
export function parseBootstrap(document: Json, files: FileSnapshots = NO_FILES): BootstrapConfig {
  const ctx = new ParseContext(files);
  return withParseContext(ctx, () => parseBootstrapIn(document, ctx.resources));
}

function parseBootstrapIn(document: Json, resources: ConfigResources): BootstrapConfig {
  const r = new ConfigReader(document, "");
  for (const [key, why] of Object.entries(UNSUPPORTED_TOP_LEVEL)) {
    if (r.has(key)) throw new ConfigError(key, why);
  }
  const nodeR = r.obj("node");
  const node = Object.freeze({ id: nodeR?.str("id") ?? "", cluster: nodeR?.str("cluster") ?? "" });
  // locality, metadata and user_agent_name are labels Envoy reports to xDS servers; Tollgate has no xDS, so they change
  // nothing (only id and cluster are shown, in /server_info).
  nodeR?.accept("locality", "metadata", "user_agent_name");
  nodeR?.done();

  const adminR = r.obj("admin");
  const admin = adminR ? parseAdmin(adminR) : null;

  const sr = r.obj("static_resources");
  let listeners: ListenerConfig[] = [];
  let clusters: ClusterConfig[] = [];
  if (sr) {
    clusters = sr.objList("clusters").map((c) => parseCluster(c));
    checkUniqueClusterNames(clusters);
    listeners = sr.objList("listeners").map((l) => parseListener(l));
    for (const k of ["secrets"]) if (sr.has(k)) throw new ConfigError(sr.at(k), "static secrets are not supported yet (no TLS termination)");
    sr.done();
  }
  r.done();

  const names = new Map<string, number>();
  const addrs = new Map<string, number>();
  listeners.forEach((l, i) => {
    const path = `static_resources.listeners[${i}]`;
    if (names.has(l.name)) throw new ConfigError(`${path}.name`, `duplicate listener name '${l.name}' (also listeners[${names.get(l.name)}])`);
    names.set(l.name, i);
    const key = `${l.address.host}:${l.address.port}`;
    if (l.address.port !== 0 && addrs.has(key)) {
      throw new ConfigError(`${path}.address`, `another listener (listeners[${addrs.get(key)}]) already binds ${key}`);
    }
    addrs.set(key, i);
    checkDistinctMatches(l.filterChains, `${path}.filter_chains`);
  });
  if (admin && listeners.some((l) => l.address.port !== 0 && l.address.port === admin.address.port && l.address.host === admin.address.host)) {
    throw new ConfigError("admin.address", "the admin listener shares an address with a listener");
  }
  return Object.freeze({ node, admin, listeners: Object.freeze(listeners), clusters: Object.freeze(clusters), document, resources });
}
