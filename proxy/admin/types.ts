// The contract between the admin listener and the server lifecycle that owns it (server.ts injects these).
import type { AccessLogger } from "../observability/access-log/config.js";
import type { ActivityRecorder } from "../observability/activity.js";
import type { StatsStore } from "../observability/stats.js";
import type { ExplainInput, ExplainReport } from "../tools/explain.js";

/** Envoy's admin.v3.ServerInfo.State, by name. */
export type ServerState = "LIVE" | "DRAINING" | "PRE_INITIALIZING" | "INITIALIZING";

/** What `/server_info` reports; the admin adds `state` and the uptimes. */
export interface ServerInfoSource {
  version: string;
  /** Envoy prints its hot-restart compatibility string; Tollgate has no hot restart: "disabled". */
  hotRestartVersion?: string;
  /** admin.v3.CommandLineOptions in proto JSON, e.g. {drain_time: "600s", parent_shutdown_time: "900s", mode: "Serve", ...}. */
  commandLineOptions: Readonly<Record<string, unknown>>;
  /** config.core.v3.Node from the bootstrap (id, cluster, ...), {} when absent. */
  node: Readonly<Record<string, unknown>>;
  /** Epoch ms when this process started serving (the current "epoch"). */
  startTimeCurrentEpochMs: number;
  /** Epoch ms of the first epoch (equal to the current one: no hot restart). */
  startTimeFirstEpochMs: number;
}

/** One listener for `/listeners`. */
export interface ListenerStatus {
  name: string;
  /** The bound local address: "0.0.0.0", "::". */
  address: string;
  port: number;
}

export interface DrainOptions {
  /** `?graceful`: enter the graceful drain period before closing listeners. */
  graceful: boolean;
  /** `?inboundonly`: only inbound listeners (traffic_direction). */
  inboundOnly: boolean;
  /** `?skip_exit`: do not exit after the drain period (requires graceful). */
  skipExit: boolean;
}

/** What the dashboard reads of an upstream host (upstream/host.ts's Host has this shape). */
export interface DashboardHost {
  /** `ip:port` */
  readonly addressString: string;
  health(): "healthy" | "degraded" | "unhealthy";
  /** Excluded from load balancing (e.g. waiting for its first health check). */
  excluded(): boolean;
  /** Envoy's `healthy` or `/failed_active_hc/...`. */
  healthFlagsString(): string;
}

/** What the dashboard reads of a cluster (upstream/cluster.ts's Cluster has this shape). */
export interface DashboardCluster {
  readonly name: string;
  readonly hosts: readonly DashboardHost[];
}

export interface AdminDeps {
  stats: StatsStore;
  getState(): ServerState;
  serverInfo(): ServerInfoSource;
  /** The `/config_dump` object (admin.v3.ConfigDump as proto JSON). */
  configDump(): unknown;
  listeners(): readonly ListenerStatus[];
  /** `/clusters` body: Envoy's `cluster::host::stat::value` text, or the `?format=json` object. */
  clusters(format: "text" | "json"): string | object;
  onHealthcheckFail(): void;
  onHealthcheckOk(): void;
  onDrainListeners(opts: DrainOptions): void;
  /** Called after the `/quitquitquit` response has been sent. */
  onQuit(): void;
  /** Called by `/reopen_logs` after the access log files were reopened. */
  onReopenLogs?(): void;
  /** The bootstrap's `admin.access_log`: one line per admin request. */
  accessLogs?: readonly AccessLogger[];
  /** Recent requests (by status class, client, denial, rate limit) for the dashboard at `/`; absent: no traffic shown. */
  activity?: ActivityRecorder;
  /** The running configuration's clusters, for the dashboard's upstream health panel. */
  upstreamClusters?(): Iterable<DashboardCluster>;
  /**
   * `/rbac/explain`: the explain tool bound to the running configuration (the one a reload swapped in last).
   * Throws ExplainInputError for inputs it cannot use. Absent: the endpoint answers 503.
   */
  explain?(input: ExplainInput): ExplainReport;
  /** Clock for uptimes (epoch ms). Default Date.now. */
  now?(): number;
}
