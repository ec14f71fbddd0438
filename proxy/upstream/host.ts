// An upstream host: one address of a cluster, with Envoy's health flags, per-host stats, and its connection pools
// (one per routing priority, as in Envoy). `request()` is the router's entry point, `connect()` tcp_proxy's.
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { ClusterStats } from "./cluster-stats.js";
import type { ResourceManager } from "./circuit-breaker.js";
import type { ClusterConfig, EdsHealthStatus, LocalityConfig } from "./config.js";
import type { Connector } from "./connect.js";
import { overflow, UpstreamError } from "./errors.js";
import { UpstreamHttpRequest, type UpstreamRequestOptions, type UpstreamResponse } from "./http-request.js";
import { HostStats, HttpConnPool } from "./pool.js";

/** Envoy's Host::HealthFlag bits, in Envoy's order (which is the order /clusters prints them in). */
export const HealthFlag = {
  FAILED_ACTIVE_HC: 1 << 0,
  FAILED_OUTLIER_CHECK: 1 << 1,
  FAILED_EDS_HEALTH: 1 << 2,
  DEGRADED_ACTIVE_HC: 1 << 3,
  DEGRADED_EDS_HEALTH: 1 << 4,
  PENDING_DYNAMIC_REMOVAL: 1 << 5,
  PENDING_ACTIVE_HC: 1 << 6,
  EXCLUDED_VIA_IMMEDIATE_HC_FAIL: 1 << 7,
  ACTIVE_HC_TIMEOUT: 1 << 8,
  EDS_STATUS_DRAINING: 1 << 9,
} as const;

const FLAG_NAMES: readonly [number, string][] = [
  [HealthFlag.FAILED_ACTIVE_HC, "/failed_active_hc"],
  [HealthFlag.FAILED_OUTLIER_CHECK, "/failed_outlier_check"],
  [HealthFlag.FAILED_EDS_HEALTH, "/failed_eds_health"],
  [HealthFlag.DEGRADED_ACTIVE_HC, "/degraded_active_hc"],
  [HealthFlag.DEGRADED_EDS_HEALTH, "/degraded_eds_health"],
  [HealthFlag.PENDING_DYNAMIC_REMOVAL, "/pending_dynamic_removal"],
  [HealthFlag.PENDING_ACTIVE_HC, "/pending_active_hc"],
  [HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL, "/excluded_via_immediate_hc_fail"],
  [HealthFlag.ACTIVE_HC_TIMEOUT, "/active_hc_timeout"],
  [HealthFlag.EDS_STATUS_DRAINING, "/eds_status_draining"],
];

const UNHEALTHY_MASK = HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK | HealthFlag.FAILED_EDS_HEALTH;
const DEGRADED_MASK = HealthFlag.DEGRADED_ACTIVE_HC | HealthFlag.DEGRADED_EDS_HEALTH;
const EXCLUDED_MASK = HealthFlag.PENDING_ACTIVE_HC | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;

export type CoarseHealth = "healthy" | "degraded" | "unhealthy";

/** What a host needs from its cluster. */
export interface HostCluster {
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly connector: Connector;
  readonly resources: { readonly DEFAULT: ResourceManager; readonly HIGH: ResourceManager };
}

export interface HostSpec {
  address: string;
  port: number;
  hostname: string;
  healthCheckHostname: string;
  healthCheckPort: number;
  disableActiveHealthCheck: boolean;
  weight: number;
  locality: LocalityConfig;
  healthStatus: EdsHealthStatus;
}

export function formatHostAddress(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

export class Host {
  readonly address: string;
  readonly port: number;
  /** `ip:port` (`[v6]:port`), as Envoy prints a host. */
  readonly addressString: string;
  readonly hostname: string;
  readonly healthCheckHostname: string;
  readonly healthCheckPort: number;
  readonly disableActiveHealthCheck: boolean;
  readonly weight: number;
  readonly locality: LocalityConfig;
  readonly stats = new HostStats();
  healthFlags = 0;
  private readonly pools: [HttpConnPool | null, HttpConnPool | null] = [null, null];
  private closed = false;

  constructor(
    private readonly cluster: HostCluster,
    spec: HostSpec,
  ) {
    this.address = spec.address;
    this.port = spec.port;
    this.addressString = formatHostAddress(spec.address, spec.port);
    this.hostname = spec.hostname;
    this.healthCheckHostname = spec.healthCheckHostname;
    this.healthCheckPort = spec.healthCheckPort;
    this.disableActiveHealthCheck = spec.disableActiveHealthCheck;
    this.weight = spec.weight;
    this.locality = spec.locality;
    switch (spec.healthStatus) {
      case "UNHEALTHY":
      case "TIMEOUT":
        this.healthFlags |= HealthFlag.FAILED_EDS_HEALTH;
        break;
      case "DRAINING":
        this.healthFlags |= HealthFlag.FAILED_EDS_HEALTH | HealthFlag.EDS_STATUS_DRAINING;
        break;
      case "DEGRADED":
        this.healthFlags |= HealthFlag.DEGRADED_EDS_HEALTH;
        break;
      default:
        break;
    }
  }

  /** Requests in flight (LEAST_REQUEST reads this). */
  get rqActive(): number {
    return this.stats.rq_active;
  }

  health(): CoarseHealth {
    if (this.healthFlags & UNHEALTHY_MASK) return "unhealthy";
    if (this.healthFlags & DEGRADED_MASK) return "degraded";
    return "healthy";
  }

  excluded(): boolean {
    return (this.healthFlags & EXCLUDED_MASK) !== 0;
  }

  /** Envoy's HostUtility::healthFlagsToString: `healthy`, or the set flags as `/failed_active_hc/...`. */
  healthFlagsString(): string {
    if (this.healthFlags === 0) return "healthy";
    let out = "";
    for (const [bit, name] of FLAG_NAMES) if (this.healthFlags & bit) out += name;
    return out;
  }

  /** Send one HTTP/1.1 request. Fails with UpstreamError (see errors.ts for the reasons and flags). */
  request(opts: UpstreamRequestOptions): Promise<UpstreamResponse> {
    const rq = new UpstreamHttpRequest(this.pool(opts.priority === "HIGH" ? 1 : 0), opts);
    rq.start();
    return rq.promise;
  }

  private pool(i: 0 | 1): HttpConnPool {
    let p = this.pools[i];
    if (p === null) {
      p = new HttpConnPool(this, this.cluster, i === 0 ? this.cluster.resources.DEFAULT : this.cluster.resources.HIGH);
      this.pools[i] = p;
    }
    return p;
  }

  /**
   * Open a TCP connection for tcp_proxy (default timeout: the cluster's connect_timeout). Counted as an upstream
   * connection of the cluster and bounded by max_connections (overflow fails at once with UO). The caller owns the
   * socket and must attach its 'error' listener.
   */
  async connect(timeoutMs: number = this.cluster.config.connectTimeoutMs, signal?: AbortSignal): Promise<Socket> {
    const stats = this.cluster.stats;
    const cx = this.cluster.resources.DEFAULT.connections;
    if (this.closed) throw new UpstreamError("LOCAL_RESET");
    if (!cx.canCreate()) {
      stats.upstream_cx_overflow.inc();
      throw overflow();
    }
    cx.inc();
    stats.upstream_cx_total.inc();
    stats.upstream_cx_active.inc();
    this.stats.cx_total++;
    this.stats.cx_active++;
    const started = performance.now();
    const release = (): void => {
      cx.dec();
      stats.upstream_cx_active.dec();
      stats.upstream_cx_destroy.inc();
      this.stats.cx_active--;
    };
    let socket: Socket;
    try {
      socket = await this.cluster.connector(this.address, this.port, timeoutMs, signal);
    } catch (err) {
      const e = err instanceof UpstreamError ? err : new UpstreamError("CONNECT_FAILURE", { cause: err });
      if (e.code === "CONNECT_FAILURE" || e.code === "CONNECT_TIMEOUT") {
        stats.upstream_cx_connect_fail.inc();
        this.stats.cx_connect_fail++;
        if (e.code === "CONNECT_TIMEOUT") stats.upstream_cx_connect_timeout.inc();
      }
      release();
      throw e;
    }
    const connectedAt = performance.now();
    stats.upstream_cx_connect_ms.record(connectedAt - started);
    socket.once("close", () => {
      stats.upstream_cx_length_ms.record(performance.now() - connectedAt);
      release();
    });
    return socket;
  }

  /** Number of upstream connections of this host (HTTP pools), for tests and admin output. */
  connectionCount(): number {
    return (this.pools[0]?.connectionCount() ?? 0) + (this.pools[1]?.connectionCount() ?? 0);
  }

  /** Stop taking requests; resolves when in-flight requests have finished and the connections are closed. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pools.map((p) => p?.drain()));
  }

  isClosed(): boolean {
    return this.closed;
  }
}
