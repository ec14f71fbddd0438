// envoy.filters.network.tcp_proxy — per-connection logic: connect to a host of the cluster, then splice bytes both
// ways with backpressure (pipe). Stats `tcp.<stat_prefix>.`, as Envoy names them.
import type { Socket } from "node:net";
import { formatEndpoint, type DownstreamConnection } from "../../../listener/connection.js";
import type { AccessLogContext } from "../../../observability/access-log/index.js";
import type { Counter } from "../../../observability/stats.js";
import type { ClusterManager } from "../../../upstream/cluster-manager.js";
import { UpstreamError } from "../../../upstream/errors.js";
import type { BuildContext, NetworkFilter } from "../../types.js";
import type { TcpProxyConfig } from "./config.js";

interface TcpStats {
  cxTotal: Counter;
  noRoute: Counter;
  rxBytes: Counter;
  txBytes: Counter;
  idleTimeout: Counter;
}

export class TcpProxy implements NetworkFilter {
  private readonly stats: TcpStats;
  private readonly clusters: ClusterManager;

  constructor(
    private readonly config: TcpProxyConfig,
    ctx: BuildContext,
  ) {
    this.clusters = ctx.clusters;
    const s = ctx.stats.scope(`tcp.${config.statPrefix}.`);
    this.stats = {
      cxTotal: s.counter("downstream_cx_total"),
      noRoute: s.counter("downstream_cx_no_route"),
      rxBytes: s.counter("downstream_cx_rx_bytes_total"),
      txBytes: s.counter("downstream_cx_tx_bytes_total"),
      idleTimeout: s.counter("idle_timeout"),
    };
  }

  onNewConnection(conn: DownstreamConnection, socket: Socket): boolean {
    this.stats.cxTotal.inc();
    void this.proxy(conn, socket);
    return true;
  }

  private async proxy(conn: DownstreamConnection, down: Socket): Promise<void> {
    const cfg = this.config;
    const started = Date.now();
    let flags = "";
    let upstreamHost: string | undefined;
    let rx = 0;
    let tx = 0;
    // Hold the client's bytes until the upstream is connected (the socket stays paused: backpressure).
    down.pause();
    const cluster = this.clusters.get(cfg.cluster);
    let up: Socket | null = null;
    if (!cluster) {
      this.stats.noRoute.inc();
      flags = "NC";
    } else {
      for (let attempt = 0; attempt < cfg.maxConnectAttempts && up === null && !down.destroyed; attempt++) {
        const host = cluster.chooseHost();
        if (!host) {
          flags = "UH";
          break;
        }
        upstreamHost = host.addressString;
        try {
          up = await host.connect();
        } catch (err) {
          flags = err instanceof UpstreamError ? err.responseFlag : "UF";
        }
      }
    }
    const log = (): void => {
      if (cfg.accessLogs.length === 0) return;
      const ctx: AccessLogContext = {
        startTime: started,
        responseCode: 0,
        responseFlags: flags || "-",
        bytesReceived: rx,
        bytesSent: tx,
        durationMs: Date.now() - started,
        upstreamHost,
        upstreamCluster: cfg.cluster,
        downstreamRemoteAddress: formatEndpoint(conn.remote),
        downstreamDirectRemoteAddress: formatEndpoint(conn.directRemote),
        downstreamLocalAddress: formatEndpoint(conn.local),
        connectionTerminationDetails: conn.terminationDetails,
        dynamicMetadata: conn.dynamicMetadata,
        connectionId: conn.id,
      };
      for (const l of cfg.accessLogs) l.log(ctx);
    };
    if (up === null || down.destroyed) {
      up?.destroy();
      down.destroy();
      log();
      return;
    }
    const upstream = up;
    upstream.setNoDelay(true);
    // Half-close both ways: the upstream's FIN must not make Node end our side towards it (the client may still be
    // sending). The connector opens sockets without allowHalfOpen; net.Socket reads the flag when the FIN arrives,
    // so setting it here is enough. The downstream socket is half-open capable from the listener.
    upstream.allowHalfOpen = true;
    if (cfg.idleTimeoutMs > 0) {
      const onIdle = (): void => {
        this.stats.idleTimeout.inc();
        upstream.destroy();
        down.destroy();
      };
      down.setTimeout(cfg.idleTimeoutMs, onIdle);
    }
    down.on("data", (c: Buffer) => {
      rx += c.length;
      this.stats.rxBytes.inc(c.length);
    });
    upstream.on("data", (c: Buffer) => {
      tx += c.length;
      this.stats.txBytes.inc(c.length);
    });
    upstream.on("error", () => {
      if (!flags) flags = "UC";
    });
    // Half-close is forwarded: a client that ends its side still receives the rest of the response.
    down.pipe(upstream);
    upstream.pipe(down);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 1) {
        // One side is gone: give the other side its remaining bytes, then close it.
        upstream.end();
        down.end();
        setTimeout(() => {
          upstream.destroy();
          down.destroy();
        }, 1000).unref();
      } else log();
    };
    upstream.once("close", onClose);
    down.once("close", onClose);
    down.resume();
  }
}
