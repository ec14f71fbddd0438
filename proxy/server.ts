// The lifecycle of one Tollgate process (one Envoy "instance"): start, hot reload (a swap), drain, stop.
//
// A configuration is compiled in full (clusters, listener graphs, filter factories, stats) before anything uses
// it; a reload compiles the new one beside the running one and swaps references only if it compiled
// (DESIGN.md principle 3). Listeners whose name and address did not change keep their sockets.
import { VERSION } from "./version.js";
import { ConfigError } from "./config/errors.js";
import { loadConfigDocument, type ConfigSource } from "./config/load.js";
import { readReferencedFiles } from "./config/files.js";
import { watchFile, type FileWatcher } from "./config/watch.js";
import { parseBootstrap, type BootstrapConfig } from "./config/bootstrap.js";
import { createAdminServer, type AdminServer, type ServerState } from "./admin/index.js";
import { ActiveListener, ListenerGraph } from "./listener/listener.js";
import type { ListenerConfig } from "./listener/config.js";
import { logger } from "./observability/logger.js";
import { StatsStore, type Counter } from "./observability/stats.js";
import { ActivityRecorder } from "./observability/activity.js";
import { createServerStats, type ServerStats } from "./observability/server-stats.js";
import { registerWasmTrapStats } from "./observability/wasm-stats.js";
import { closeAccessLogs, flushAccessLogs, reopenAccessLogs } from "./observability/access-log/index.js";
import { ClusterManager } from "./upstream/cluster-manager.js";
import { ConnectionManager } from "./filters/network/http-connection-manager/connection-manager.js";
import { explainRequest } from "./tools/explain.js";
import type { NetworkFilter } from "./filters/types.js";


/** One compiled configuration: what a reload swaps. */
export interface Compiled {
  readonly bootstrap: BootstrapConfig;
  readonly clusters: ClusterManager;
  readonly graphs: ReadonlyMap<string, ListenerGraph>;
}

interface WithClusterRefs {
  clusterReferences?: readonly string[];
  routeTable?: { validateClusters: boolean | undefined };
}

/** Every cluster a filter names must exist (Envoy validates inline route tables unless validate_clusters is false). */
function checkClusterReferences(b: BootstrapConfig): void {
  const names = new Set(b.clusters.map((c) => c.name));
  b.listeners.forEach((l, li) => {
    const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
    chains.forEach((chain, ci) => {
      chain.filters.forEach((f, fi) => {
        const cfg = f.config as WithClusterRefs;
        if (cfg.routeTable?.validateClusters === false) return;
        for (const name of cfg.clusterReferences ?? []) {
          if (!names.has(name)) {
            const chainPath = ci < l.filterChains.length ? `filter_chains[${ci}]` : "default_filter_chain";
            throw new ConfigError(`static_resources.listeners[${li}].${chainPath}.filters[${fi}].typed_config`, `unknown cluster '${name}'`);
          }
        }
      });
    });
  });
}

/** Compile a bootstrap into live objects (no sockets bound, no timers started). */
export function compile(bootstrap: BootstrapConfig, stats: StatsStore, activity?: ActivityRecorder): Compiled {
  checkClusterReferences(bootstrap);
  const clusters = new ClusterManager(bootstrap.clusters, stats);
  const graphs = new Map<string, ListenerGraph>();
  for (const l of bootstrap.listeners) {
    graphs.set(l.name, new ListenerGraph(l, { stats, clusters, listenerStatPrefix: l.statPrefix, activity }));
  }
  return { bootstrap, clusters, graphs };
}

/** Load the document, read the files it names (allowlists) asynchronously, then parse (synchronous, no I/O). */
export async function loadAndParse(source: ConfigSource): Promise<BootstrapConfig> {
  const document = await loadConfigDocument(source);
  return parseBootstrap(document, await readReferencedFiles(document));
}

/** `--mode validate`: everything a start does except binding and resolving. Returns the error, or null. */
export async function validateConfig(source: ConfigSource): Promise<Error | null> {
  try {
    const b = await loadAndParse(source);
    const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
    const c = compile(b, stats);
    await c.clusters.close();
    return null;
  } catch (err) {
    return err as Error;
  }
}

export interface ServerOptions {
  source: ConfigSource;
  /** --drain-time-s */
  drainTimeS: number;
  argv: readonly string[];
  /** Seconds listeners keep accepting after a drain starts (default: min(5, drainTimeS / 2)). */
  drainGraceS?: number;
  /** Reload when the -c file changes (default true). */
  watchConfig?: boolean;
}

function sameAddress(a: ListenerConfig, b: ListenerConfig): boolean {
  return a.address.host === b.address.host && a.address.port === b.address.port && a.address.ipv6Only === b.address.ipv6Only;
}

export class TollgateServer {
  readonly stats = new StatsStore();
  /** Recent requests for the admin dashboard; survives reloads (each compiled configuration reports to it). */
  readonly activity = new ActivityRecorder();
  state: ServerState = "PRE_INITIALIZING";
  private current: Compiled | null = null;
  private readonly listeners = new Map<string, ActiveListener>();
  private admin: AdminServer | null = null;
  private readonly startedAt = Date.now();
  private resolveClosed!: (code: number) => void;
  /** Resolves with the exit code when the server has stopped. */
  readonly closed = new Promise<number>((r) => (this.resolveClosed = r));
  private stopping = false;
  private healthcheckFailed = false;
  private readonly serverStats: ServerStats;
  private readonly reloadSuccess: Counter;
  private readonly reloadFailure: Counter;
  private stopFlushListener: (() => void) | null = null;
  private reloading: Promise<boolean> | null = null;
  private watcher: FileWatcher | null = null;

  constructor(private readonly opts: ServerOptions) {
    this.serverStats = createServerStats(this.stats, { startTimeMs: this.startedAt });
    this.reloadSuccess = this.stats.counter("tollgate.reload.success");
    this.reloadFailure = this.stats.counter("tollgate.reload.failure");
  }

  /** Addresses actually bound, by listener name (port 0 resolved). */
  readonly boundAddresses = new Map<string, { address: string; port: number }>();

  get adminAddress(): { address: string; port: number } | null {
    return this.admin ? { address: this.admin.address, port: this.admin.port } : null;
  }

  private setState(s: ServerState): void {
    this.state = s;
    this.serverStats.setState(s);
  }

  private updateConnectionCount(): void {
    let total = 0;
    for (const l of this.listeners.values()) total += l.connectionCount;
    this.serverStats.totalConnections.set(total);
  }

  async start(): Promise<void> {
    this.setState("INITIALIZING");
    const bootstrap = await loadAndParse(this.opts.source);
    const compiled = compile(bootstrap, this.stats, this.activity);
    this.current = compiled;
    if (bootstrap.admin) {
      this.admin = await createAdminServer(this.adminDeps(), { address: bootstrap.admin.address.host, port: bootstrap.admin.address.port });
    }
    await compiled.clusters.initialize();
    try {
      await bootstrap.resources.start(this.stats);
      for (const [name, graph] of compiled.graphs) {
        const l = new ActiveListener(graph);
        this.boundAddresses.set(name, await l.listen());
        this.listeners.set(name, l);
      }
    } catch (err) {
      await this.shutdownNow();
      throw err;
    }
    if (this.opts.source.path && this.opts.watchConfig !== false) {
      this.watcher = await watchFile(this.opts.source.path, () => {
        logger.info({ path: this.opts.source.path }, "configuration file changed; reloading");
        void this.reload();
      });
    }
    this.setState("LIVE");
    this.serverStats.initializationTimeMs.record(Date.now() - this.startedAt);
    this.updateConnectionCount();
    const stopConnections = this.stats.onFlush(() => this.updateConnectionCount());
    const stopTraps = registerWasmTrapStats(this.stats);
    this.stopFlushListener = () => {
      stopConnections();
      stopTraps();
    };
    logger.info({ listeners: Object.fromEntries(this.boundAddresses), admin: this.adminAddress, version: VERSION }, "tollgate is live");
  }

  installSignalHandlers(): void {
    const drain = (sig: string): void => {
      logger.info({ signal: sig }, "draining");
      void this.drainAndStop();
    };
    process.on("SIGTERM", () => drain("SIGTERM"));
    process.on("SIGINT", () => drain("SIGINT"));
    process.on("SIGHUP", () => void this.reload());
    process.on("SIGUSR1", () => reopenAccessLogs());
  }

  /**
   * Compile the configuration again and swap it in. A failure logs the error with its path, counts
   * `tollgate.reload.failure`, and changes nothing. Concurrent calls share one reload.
   */
  reload(): Promise<boolean> {
    if (this.reloading) return this.reloading;
    this.reloading = this.doReload().finally(() => (this.reloading = null));
    return this.reloading;
  }

  private async doReload(): Promise<boolean> {
    if (this.stopping || !this.current) return false;
    const old = this.current;
    let next: Compiled;
    try {
      const bootstrap = await loadAndParse(this.opts.source);
      next = compile(bootstrap, this.stats, this.activity);
      this.checkKeptListeners(next);
      await next.clusters.initialize();
    } catch (err) {
      this.reloadFailure.inc();
      logger.error({ err: (err as Error).message, path: (err as ConfigError).path }, "configuration reload failed; the running configuration is unchanged");
      return false;
    }
    // The new configuration's file watchers (allowlists); start() closes what it started if it fails.
    try {
      await next.bootstrap.resources.start(this.stats);
    } catch (err) {
      await next.clusters.close();
      this.reloadFailure.inc();
      logger.error({ err: (err as Error).message }, "configuration reload failed: a file it names could not be watched; the running configuration is unchanged");
      return false;
    }
    // Bind new listeners first: if one cannot bind, nothing has changed yet.
    const added: ActiveListener[] = [];
    try {
      for (const [name, graph] of next.graphs) {
        const prev = this.listeners.get(name);
        if (prev && sameAddress(prev.graph.config, graph.config)) continue;
        const l = new ActiveListener(graph);
        this.boundAddresses.set(name, await l.listen());
        added.push(l);
      }
    } catch (err) {
      for (const l of added) await l.stopAccepting();
      next.bootstrap.resources.close();
      await next.clusters.close();
      this.reloadFailure.inc();
      logger.error({ err: (err as Error).message }, "configuration reload failed: a listener could not bind; the running configuration is unchanged");
      return false;
    }
    const retired: ActiveListener[] = [];
    for (const [name, l] of this.listeners) {
      const graph = next.graphs.get(name);
      if (graph && sameAddress(l.graph.config, graph.config)) l.graph = graph;
      else {
        retired.push(l);
        this.listeners.delete(name);
        this.boundAddresses.delete(name);
      }
    }
    for (const l of added) this.listeners.set(l.name, l);
    this.current = next;
    // The old configuration's watchers stop now (its connections keep deciding on the sets they have).
    old.bootstrap.resources.close();
    this.reloadSuccess.inc();
    logger.info({ listeners: [...next.graphs.keys()], clusters: next.clusters.clusters().length }, "configuration reloaded");
    void this.retire(old, retired);
    return true;
  }

  /** A listener kept across a reload keeps its socket, and with it the buffer limit it was created with. */
  private checkKeptListeners(next: Compiled): void {
    next.bootstrap.listeners.forEach((l, i) => {
      const prev = this.listeners.get(l.name)?.graph.config;
      if (prev && sameAddress(prev, l) && prev.perConnectionBufferLimitBytes !== l.perConnectionBufferLimitBytes) {
        throw new ConfigError(
          `static_resources.listeners[${i}].per_connection_buffer_limit_bytes`,
          `changing the buffer limit of listener '${l.name}' needs a restart (its socket is kept across reloads)`,
        );
      }
    });
  }

  /** Connections on an old graph finish on it: keep-alive ends after their current request; then its clusters close. */
  private async retire(old: Compiled, listeners: ActiveListener[]): Promise<void> {
    for (const l of listeners) await l.stopAccepting();
    const hcms = connectionManagers(old);
    for (const h of hcms) h.startDrain();
    // Connections that keep sending get `Connection: close` on their next response; the ones left idle after the
    // HCM's drain_timeout are closed.
    const idleAt = Date.now() + Math.min(...hcms.map((h) => h.config.drainTimeoutMs), this.opts.drainTimeS * 1000);
    const deadline = Date.now() + this.opts.drainTimeS * 1000;
    let idleClosed = false;
    while (Date.now() < deadline && hcms.some((h) => h.connectionCount > 0)) {
      if (!idleClosed && Date.now() >= idleAt) {
        for (const h of hcms) h.closeIdle();
        idleClosed = true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const l of listeners) l.destroyAll();
    await closeFilters(old);
    await old.clusters.close();
  }

  /** SIGTERM/SIGINT: /ready turns 503 at once; listeners keep accepting for a grace period, then stop; exit when done. */
  async drainAndStop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.setState("DRAINING");
    const hcms = this.current ? connectionManagers(this.current) : [];
    for (const h of hcms) h.startDrain();
    const graceS = this.opts.drainGraceS ?? Math.min(5, this.opts.drainTimeS / 2);
    await new Promise((r) => setTimeout(r, graceS * 1000));
    for (const l of this.listeners.values()) await l.stopAccepting();
    for (const h of hcms) h.closeIdle();
    const deadline = Date.now() + Math.max(0, this.opts.drainTimeS - graceS) * 1000;
    while (Date.now() < deadline && [...this.listeners.values()].some((l) => l.connectionCount > 0)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.shutdownNow();
    this.resolveClosed(0);
  }

  private async shutdownNow(): Promise<void> {
    this.stopFlushListener?.();
    this.watcher?.close();
    this.current?.bootstrap.resources.close();
    this.serverStats.close();
    for (const l of this.listeners.values()) {
      await l.stopAccepting();
      l.destroyAll();
    }
    this.listeners.clear();
    if (this.current) await closeFilters(this.current);
    await this.current?.clusters.close();
    await this.admin?.close();
    await flushAccessLogs();
    this.stats.close?.();
  }

  /** Stop at once (tests, /quitquitquit). */
  async stop(): Promise<void> {
    if (this.stopping) {
      await this.closed;
      return;
    }
    this.stopping = true;
    await this.shutdownNow();
    this.resolveClosed(0);
  }

  private adminDeps(): Parameters<typeof createAdminServer>[0] {
    return {
      stats: this.stats,
      getState: () => this.state,
      serverInfo: () => ({
        version: VERSION,
        hotRestartVersion: "disabled",
        commandLineOptions: {
          config_path: this.opts.source.path ?? "",
          config_yaml: this.opts.source.yaml ?? "",
          drain_time: `${this.opts.drainTimeS}s`,
          mode: "Serve",
          log_level: "info",
        },
        node: { id: this.current?.bootstrap.node.id ?? "", cluster: this.current?.bootstrap.node.cluster ?? "" },
        startTimeCurrentEpochMs: this.startedAt,
        startTimeFirstEpochMs: this.startedAt,
      }),
      configDump: () => configDump(this.current),
      listeners: () => [...this.listeners.entries()].map(([name]) => ({ name, ...this.boundAddresses.get(name)! })),
      clusters: (format) => (format === "json" ? (this.current?.clusters.adminJson() ?? { cluster_statuses: [] }) : (this.current?.clusters.adminText() ?? "")),
      onHealthcheckFail: () => {
        this.healthcheckFailed = true;
        if (this.state === "LIVE") this.setState("DRAINING");
      },
      onHealthcheckOk: () => {
        this.healthcheckFailed = false;
        if (this.state === "DRAINING" && !this.stopping) this.setState("LIVE");
      },
      onDrainListeners: () => void this.drainAndStop(),
      onQuit: () => void this.stop(),
      onReopenLogs: () => undefined,
      accessLogs: this.current?.bootstrap.admin?.accessLogs ?? [],
      activity: this.activity,
      upstreamClusters: () => this.current?.clusters.clusters() ?? [],
      explain: (input) => {
        if (!this.current) throw new Error("no configuration is running");
        return explainRequest(this.current, input);
      },
    };
  }
}

/** Every built network filter of a compiled configuration. */
function networkFilters(c: Compiled): NetworkFilter[] {
  const out: NetworkFilter[] = [];
  for (const g of c.graphs.values()) {
    for (const chain of g.defaultChain ? [...g.chains, g.defaultChain] : g.chains) out.push(...chain.filters);
  }
  return out;
}

async function closeFilters(c: Compiled): Promise<void> {
  await Promise.all(networkFilters(c).map((f) => f.close?.()));
}

function connectionManagers(c: Compiled): ConnectionManager[] {
  return networkFilters(c).filter((f): f is ConnectionManager => f instanceof ConnectionManager);
}

const SECRET_KEYS = new Set(["private_key", "password", "inline_string_secret", "session_ticket_keys"]);

/** /config_dump: the bootstrap as loaded, with secrets redacted, in Envoy's ConfigDump shape. */
function configDump(c: Compiled | null): unknown {
  const redact = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(redact);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEYS.has(k) ? "[redacted]" : redact(x);
      return out;
    }
    return v;
  };
  return {
    configs: [
      {
        "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
        bootstrap: redact(c?.bootstrap.document ?? {}),
        last_updated: new Date().toISOString(),
      },
    ],
  };
}

export { closeAccessLogs };
