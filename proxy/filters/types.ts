// The contracts between the listener, the filters and the server. A filter's config.ts parses its typed_config
// once (validated, frozen) and registers it; `build()` turns that config into a factory bound to a runtime
// context (stats, clusters) when a configuration is compiled; the factory's per-connection or per-request
// objects only look things up.
import type { Socket } from "node:net";
import type { ActivityRecorder } from "../observability/activity.js";
import type { StatsStore } from "../observability/stats.js";
import type { ClusterManager } from "../upstream/cluster-manager.js";
import type { DownstreamConnection } from "../listener/connection.js";
import type { HttpStream } from "./network/http-connection-manager/stream.js";
import type { RouteTable } from "./network/http-connection-manager/route-config.js";

export interface BuildContext {
  stats: StatsStore;
  clusters: ClusterManager;
  /** e.g. `listener.0.0.0.0_10000.` */
  listenerStatPrefix: string;
  /** The admin dashboard's recorder; the HTTP connection manager reports each finished request to it. */
  activity?: ActivityRecorder;
}

// ---- listener filters -------------------------------------------------------------------------------------------

export type ListenerFilterVerdict =
  /** Done: `consumed` bytes at the front are removed from the stream (e.g. the PROXY header). */
  | { status: "continue"; consumed: number }
  /** More bytes are needed before this filter can decide. */
  | { status: "need_more" }
  /** Close the connection (the filter has counted why). */
  | { status: "close"; reason: string };

export interface ListenerFilter {
  /** Called with all bytes read and not yet consumed; again with more bytes after `need_more`. */
  onData(conn: DownstreamConnection, bytes: Buffer): ListenerFilterVerdict;
  /** The peer closed before the filter decided. */
  onEndOfStream?(conn: DownstreamConnection): void;
}

export interface ListenerFilterConfig {
  build(ctx: BuildContext): ListenerFilter;
}

// ---- network filters --------------------------------------------------------------------------------------------

export interface NetworkFilter {
  /**
   * Called once when the connection reaches this filter. A non-terminal filter returns true to let the next filter
   * run, false when it has closed the connection. A terminal filter (http_connection_manager, tcp_proxy) takes the
   * socket over and returns true.
   */
  onNewConnection(conn: DownstreamConnection, socket: Socket): boolean;
  /** Release timers held by the built filter once its configuration is retired and its connections are gone. */
  close?(): Promise<void>;
}

export interface NetworkFilterConfig {
  readonly terminal: boolean;
  build(ctx: BuildContext): NetworkFilter;
}

// ---- HTTP filters -----------------------------------------------------------------------------------------------

/** `continue`: run the next filter; `stop`: the filter has answered (local reply) and the chain ends. */
export type HttpFilterStatus = "continue" | "stop";

export interface HttpFilter {
  decodeHeaders(stream: HttpStream): HttpFilterStatus;
}

export interface HttpFilterBuildContext extends BuildContext {
  /** The connection manager's stat prefix, with the trailing dot: `http.ingress.` */
  hcmStatPrefix: string;
  /**
   * The filter's configured `name` in http_filters. typed_per_filter_config is keyed by this name, so a filter with
   * per-route configuration looks itself up under it (RBAC: `route.perFilterConfig(filterName)`).
   */
  filterName?: string;
  /** The filter's canonical name (its type's well-known name): Envoy's fallback key for per-route entries. */
  canonicalName?: string;
  /** The connection manager's route table, so per-route filter state is built at load, not on a first request. */
  routeTable?: RouteTable;
}

export interface HttpFilterConfig {
  readonly terminal: boolean;
  build(ctx: HttpFilterBuildContext): HttpFilter;
  /**
   * Whether a resolved typed_per_filter_config value is one this filter reads on a route. Absent: the filter has no
   * per-route configuration. The connection manager refuses entries no filter would read (DESIGN.md principle 2).
   */
  acceptsPerRouteConfig?(config: unknown): boolean;
}
