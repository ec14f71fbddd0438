// The HTTP/1.1 connection pool of one host at one priority, shaped like Envoy's ConnPoolImplBase:
// ready connections (most recently used first), busy ones, connects in progress, and a FIFO of pending requests.
// A new request takes a ready connection, else waits as pending (bounded by max_pending_requests) while a connection
// is opened (bounded by max_connections, except that a pool with no connection at all may always open one); a failed
// connect fails every pending request with the connect failure, as Envoy purges its pending streams.
//
// Connections are opened here (so connect_timeout, the failure reasons and the cx stats are exact); each established
// socket is then handed to its own undici Client, which is only the HTTP/1 codec and keep-alive timer on it.
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Client } from "undici";
import type { ClusterStats } from "./cluster-stats.js";
import type { ResourceManager } from "./circuit-breaker.js";
import type { ClusterConfig } from "./config.js";
import type { Connector } from "./connect.js";
import { overflow, UpstreamError } from "./errors.js";
import type { UpstreamHttpRequest } from "./http-request.js";

/** Per-host numbers shown by /clusters (Envoy's host stats). */
export class HostStats {
  cx_total = 0;
  cx_active = 0;
  cx_connect_fail = 0;
  rq_total = 0;
  rq_active = 0;
  rq_error = 0;
  rq_success = 0;
  rq_timeout = 0;
}

export interface PoolHost {
  readonly address: string;
  readonly port: number;
  readonly stats: HostStats;
}

export interface PoolCluster {
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly connector: Connector;
}

const enum ClientState {
  Ready,
  Busy,
  Closed,
}

/** Idle timeouts longer than a timer can hold mean "never". */
const MAX_TIMER_MS = 2_147_483_647;

class StaleConnectionError extends Error {
  readonly code = "UND_ERR_SOCKET";
  constructor() {
    super("upstream connection already closed");
    this.name = "StaleConnectionError";
  }
}

export class ActiveClient {
  state = ClientState.Ready;
  readonly client: Client;
  readonly connectedAt = performance.now();

  constructor(readonly socket: Socket, origin: string, idleTimeoutMs: number) {
    let handedOver = false;
    const idle = idleTimeoutMs > 0 && idleTimeoutMs < MAX_TIMER_MS ? idleTimeoutMs : MAX_TIMER_MS;
    this.client = new Client(origin, {
      // The socket is already connected: undici gets exactly this one. A second call means undici wants to
      // reconnect a connection the pool has already retired, which must not happen silently behind the stats.
      connect: (_opts, cb) => {
        if (handedOver) {
          queueMicrotask(() => cb(new StaleConnectionError(), null));
          return;
        }
        handedOver = true;
        // undici ignores a connector that answers synchronously (it is still inside its own resume loop).
        queueMicrotask(() => cb(null, socket));
      },
      pipelining: 1,
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: idle,
      headersTimeout: 0,
      bodyTimeout: 0,
      // Envoy's default max_response_headers_kb is 60.
      maxHeaderSize: 60 * 1024,
    });
    // undici reports handler exceptions as 'error' events; the request already failed, the process must not.
    (this.client as unknown as NodeJS.EventEmitter).on("error", () => {});
  }
}

export class HttpConnPool {
  private readonly ready: ActiveClient[] = [];
  private busy = 0;
  private connecting = 0;
  private readonly pending: UpstreamHttpRequest[] = [];
  private readonly clients = new Set<ActiveClient>();
  private draining = false;
  private drained: (() => void) | null = null;
  readonly origin: string;
  readonly bufferLimit: number;

  constructor(
    readonly host: PoolHost,
    readonly cluster: PoolCluster,
    private readonly resources: ResourceManager,
  ) {
    this.origin = `http://${host.address.includes(":") ? `[${host.address}]` : host.address}:${host.port}`;
    this.bufferLimit = cluster.config.perConnectionBufferLimitBytes;
  }

  /** Envoy's newStreamImpl. */
  newStream(rq: UpstreamHttpRequest): void {
    if (this.draining) {
      rq.failBeforeDispatch(new UpstreamError("LOCAL_RESET"));
      return;
    }
    const ac = this.ready.pop();
    if (ac) {
      this.attach(ac, rq);
      return;
    }
    const stats = this.cluster.stats;
    if (!this.resources.pendingRequests.canCreate()) {
      stats.upstream_rq_pending_overflow.inc();
      rq.failBeforeDispatch(overflow());
      return;
    }
    rq.markPending();
    this.pending.push(rq);
    stats.upstream_rq_pending_total.inc();
    stats.upstream_rq_pending_active.inc();
    this.resources.pendingRequests.inc();
    this.tryCreateConnection();
  }

  /** A pending request timed out or was aborted before it got a connection. */
  cancelPending(rq: UpstreamHttpRequest): void {
    const i = this.pending.indexOf(rq);
    if (i < 0) return;
    this.pending.splice(i, 1);
    this.leavePending();
    this.cluster.stats.upstream_rq_cancelled.inc();
  }

  private leavePending(): void {
    this.cluster.stats.upstream_rq_pending_active.dec();
    this.resources.pendingRequests.dec();
  }

  private tryCreateConnection(): void {
    // Enough connects are already under way for the queued requests (one request per HTTP/1 connection).
    if (this.pending.length <= this.connecting) return;
    const can = this.resources.connections.canCreate();
    if (!can) this.cluster.stats.upstream_cx_overflow.inc();
    // A pool without any connection always opens one, or its pending requests could never be served when other
    // hosts hold every connection the breaker allows.
    if (can || (this.ready.length === 0 && this.busy === 0 && this.connecting === 0)) this.createConnection();
  }

  private createConnection(): void {
    const stats = this.cluster.stats;
    const hs = this.host.stats;
    this.connecting++;
    this.resources.connections.inc();
    stats.upstream_cx_total.inc();
    stats.upstream_cx_http1_total.inc();
    stats.upstream_cx_active.inc();
    hs.cx_total++;
    hs.cx_active++;
    const started = performance.now();
    const cfg = this.cluster.config;
    this.cluster.connector(this.host.address, this.host.port, cfg.connectTimeoutMs).then(
      (socket) => this.onConnected(socket, started),
      (err: unknown) => this.onConnectFailed(err instanceof UpstreamError ? err : new UpstreamError("CONNECT_FAILURE", { cause: err })),
    );
  }

  private releaseConnection(): void {
    this.resources.connections.dec();
    this.cluster.stats.upstream_cx_active.dec();
    this.cluster.stats.upstream_cx_destroy.inc();
    this.host.stats.cx_active--;
  }

  private onConnectFailed(err: UpstreamError): void {
    this.connecting--;
    const stats = this.cluster.stats;
    stats.upstream_cx_connect_fail.inc();
    if (err.code === "CONNECT_TIMEOUT") stats.upstream_cx_connect_timeout.inc();
    this.host.stats.cx_connect_fail++;
    this.releaseConnection();
    // Envoy purges every pending request of the pool on a connect failure, with that failure as the reason.
    const purged = this.pending.splice(0, this.pending.length);
    for (const rq of purged) {
      this.leavePending();
      stats.upstream_rq_pending_failure_eject.inc();
      this.host.stats.rq_error++;
      rq.failBeforeDispatch(err);
    }
    this.checkDrained();
  }

  private onConnected(socket: Socket, started: number): void {
    this.connecting--;
    this.cluster.stats.upstream_cx_connect_ms.record(performance.now() - started);
    const ac = new ActiveClient(socket, this.origin, this.cluster.config.idleTimeoutMs);
    this.clients.add(ac);
    // Our listeners come first, so the pool forgets a closed connection before undici fails its request.
    socket.on("error", () => {});
    socket.once("close", () => this.onClosed(ac));
    if (this.draining && this.pending.length === 0) {
      this.closeClient(ac);
      return;
    }
    this.ready.push(ac);
    this.onUpstreamReady();
  }

  /** Envoy's onUpstreamReady: hand ready connections to pending requests, oldest first. */
  private onUpstreamReady(): void {
    while (this.pending.length > 0 && this.ready.length > 0) {
      const rq = this.pending.shift()!;
      this.leavePending();
      this.attach(this.ready.pop()!, rq);
    }
    if (this.pending.length > 0) this.tryCreateConnection();
  }

  private attach(ac: ActiveClient, rq: UpstreamHttpRequest): void {
    const stats = this.cluster.stats;
    if (!this.resources.requests.canCreate()) {
      stats.upstream_rq_pending_overflow.inc();
      this.ready.push(ac);
      rq.failBeforeDispatch(overflow());
      return;
    }
    ac.state = ClientState.Busy;
    this.busy++;
    this.resources.requests.inc();
    stats.upstream_rq_total.inc();
    stats.upstream_rq_active.inc();
    this.host.stats.rq_total++;
    this.host.stats.rq_active++;
    rq.dispatchOn(ac);
  }

  onResponseHeaders(_ac: ActiveClient, statusCode: number): void {
    this.cluster.stats.chargeResponseCode(statusCode);
    if (statusCode >= 500) this.host.stats.rq_error++;
    else this.host.stats.rq_success++;
  }

  /** The request on `ac` is over (response complete, or failed). */
  onStreamComplete(ac: ActiveClient, closeConnection: boolean): void {
    this.resources.requests.dec();
    this.cluster.stats.upstream_rq_active.dec();
    this.host.stats.rq_active--;
    if (ac.state !== ClientState.Busy) return; // the connection closed first and was already retired
    // undici destroys the socket right after its completion callback when the response ends the connection
    // (Connection: close, HTTP/1.0, HEAD); a microtask later that is visible as socket.destroyed.
    queueMicrotask(() => {
      if (ac.state !== ClientState.Busy) return;
      this.busy--;
      if (closeConnection || this.draining || ac.socket.destroyed) {
        this.closeClient(ac);
        return;
      }
      ac.state = ClientState.Ready;
      this.ready.push(ac);
      this.onUpstreamReady();
    });
  }

  private closeClient(ac: ActiveClient): void {
    if (ac.state === ClientState.Ready) {
      const i = this.ready.indexOf(ac);
      if (i >= 0) this.ready.splice(i, 1);
    }
    ac.state = ClientState.Closed;
    ac.client.destroy().catch(() => {});
    ac.socket.destroy();
  }

  private onClosed(ac: ActiveClient): void {
    if (!this.clients.delete(ac)) return;
    const stats = this.cluster.stats;
    if (ac.state === ClientState.Ready) {
      const i = this.ready.indexOf(ac);
      if (i >= 0) this.ready.splice(i, 1);
    } else if (ac.state === ClientState.Busy) {
      this.busy--;
      stats.upstream_cx_destroy_with_active_rq.inc();
    }
    if (ac.state !== ClientState.Closed) {
      ac.state = ClientState.Closed;
      ac.client.destroy().catch(() => {});
    }
    stats.upstream_cx_length_ms.record(performance.now() - ac.connectedAt);
    this.releaseConnection();
    if (this.pending.length > 0) this.tryCreateConnection();
    this.checkDrained();
  }

  /** Graceful close: idle connections now, busy ones when their request ends; new requests are refused. */
  drain(): Promise<void> {
    this.draining = true;
    for (const ac of this.ready.splice(0, this.ready.length)) this.closeClient(ac);
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    // Connects still in progress do not hold the drain up: their socket is closed as soon as it connects.
    if (this.drained && this.clients.size === 0 && this.pending.length === 0) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }

  /** Connections open or opening (for tests and admin output). */
  connectionCount(): number {
    return this.clients.size + this.connecting;
  }
}
