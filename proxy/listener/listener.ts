// The accept loop and the listener-filter pipeline.
//
// A byte's path: the socket is read in flowing mode while listener filters run (the PROXY header parser first);
// each filter sees all bytes not yet consumed and answers continue / need_more / close. When the last filter says
// continue, the unconsumed bytes are pushed back onto the socket (`unshift`) so the network filters (the HTTP
// codec, tcp_proxy) read the stream from exactly where the header ended.
import { createServer, type Server, type Socket } from "node:net";
import type { Counter, Gauge, Histogram } from "../observability/stats.js";
import { logger } from "../observability/logger.js";
import type { BuildContext, ListenerFilter, NetworkFilter } from "../filters/types.js";
import { DownstreamConnection } from "./connection.js";
import type { FilterChainConfig, ListenerConfig } from "./config.js";
import { compileChainMatch, selectFilterChain, type CompiledChainMatch } from "./filter-chain-match.js";

/** Largest PROXY v2 header (16 + 65535); bytes beyond this without a verdict are never needed by a listener filter. */
const MAX_PEEK_BYTES = 16 + 65535;

interface BuiltChain {
  readonly match: CompiledChainMatch;
  readonly name: string;
  readonly filters: readonly NetworkFilter[];
}

interface ListenerStats {
  cxTotal: Counter;
  cxDestroy: Counter;
  cxActive: Gauge;
  cxLength: Histogram;
  preCxTimeout: Counter;
  preCxActive: Gauge;
  noFilterChainMatch: Counter;
  listenerFilterRemoteClose: Counter;
}

/** Everything built from one ListenerConfig: what a hot reload swaps. Connections keep the graph they started on. */
export class ListenerGraph {
  readonly listenerFilters: readonly ListenerFilter[];
  readonly chains: readonly BuiltChain[];
  readonly defaultChain: BuiltChain | null;
  readonly stats: ListenerStats;

  constructor(readonly config: ListenerConfig, ctx: BuildContext) {
    const s = ctx.stats.scope(config.statPrefix);
    this.stats = {
      cxTotal: s.counter("downstream_cx_total"),
      cxDestroy: s.counter("downstream_cx_destroy"),
      cxActive: s.gauge("downstream_cx_active"),
      cxLength: s.histogram("downstream_cx_length_ms"),
      preCxTimeout: s.counter("downstream_pre_cx_timeout"),
      preCxActive: s.gauge("downstream_pre_cx_active"),
      noFilterChainMatch: s.counter("no_filter_chain_match"),
      listenerFilterRemoteClose: s.counter("downstream_listener_filter_remote_close"),
    };
    const fctx: BuildContext = { ...ctx, listenerStatPrefix: config.statPrefix };
    this.listenerFilters = config.listenerFilters.map((f) => f.config.build(fctx));
    const build = (c: FilterChainConfig): BuiltChain => ({
      match: compileChainMatch(c.match),
      name: c.name,
      filters: c.filters.map((f) => f.config.build(fctx)),
    });
    this.chains = config.filterChains.map(build);
    this.defaultChain = config.defaultFilterChain ? build(config.defaultFilterChain) : null;
  }
}

export class ActiveListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private draining = false;

  constructor(public graph: ListenerGraph) {}

  get name(): string {
    return this.graph.config.name;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  async listen(): Promise<{ address: string; port: number }> {
    const a = this.graph.config.address;
    // allowHalfOpen: a client's FIN must not make Node end our side of the socket by itself. tcp_proxy forwards a
    // half-close to the upstream and keeps delivering the upstream's bytes; the HTTP codec decides on its own what a
    // FIN means (it answers the request in flight, then closes). Without it Node shut the socket's write side the
    // moment the FIN arrived, so a half-closing client never got its answer.
    // per_connection_buffer_limit_bytes is Envoy's per-connection buffer watermark: Node's equivalent is the socket's
    // read and write highWaterMark, at which streams apply backpressure. It belongs to the listening socket, so a
    // reload that changes it for a kept listener is refused (server.ts).
    const server = createServer(
      { pauseOnConnect: false, noDelay: true, allowHalfOpen: true, highWaterMark: this.graph.config.perConnectionBufferLimitBytes },
      (socket) => this.onConnection(socket),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: a.host, port: a.port, ipv6Only: a.ipv6Only, backlog: 1024 }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => logger.error({ err, listener: this.name }, "listener error"));
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("listener has no TCP address");
    return { address: addr.address, port: addr.port };
  }

  /** Stop accepting; existing connections continue. */
  async stopAccepting(): Promise<void> {
    this.draining = true;
    const s = this.server;
    if (!s || !s.listening) return;
    // net.Server.close() stops listening at once, but its callback waits until every open connection has ended:
    // awaiting it made a drain wait on its clients and stop() hang forever on a client that never closes (then
    // destroyAll() was never reached). Existing connections are the caller's to finish or destroy.
    s.close();
  }

  /** Destroy every connection still open (end of drain). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private onConnection(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    const graph = this.graph; // a reload swaps this.graph; this connection keeps the one it was accepted on
    const st = graph.stats;
    const opened = Date.now();
    this.sockets.add(socket);
    st.cxTotal.inc();
    st.cxActive.inc();
    socket.on("error", () => {
      // Resets and timeouts are normal at the edge; the close handler does the accounting.
    });
    socket.once("close", () => {
      this.sockets.delete(socket);
      st.cxActive.dec();
      st.cxDestroy.inc();
      st.cxLength.record(Date.now() - opened);
    });
    const conn = new DownstreamConnection(socket);
    if (graph.listenerFilters.length === 0) {
      this.startChain(graph, conn, socket);
      return;
    }
    this.runListenerFilters(graph, conn, socket);
  }

  private runListenerFilters(graph: ListenerGraph, conn: DownstreamConnection, socket: Socket): void {
    const st = graph.stats;
    const filters = graph.listenerFilters;
    let index = 0;
    let pending: Buffer = Buffer.alloc(0);
    let finished = false;
    st.preCxActive.inc();

    const finish = (): void => {
      finished = true;
      st.preCxActive.dec();
      if (timer) clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
    };
    const close = (): void => {
      finish();
      socket.destroy();
    };
    const proceed = (): void => {
      finish();
      if (pending.length > 0) socket.unshift(pending);
      // Resume BEFORE the chain starts: a terminal filter that must wait (tcp_proxy pauses until its upstream is
      // connected) then has the last word. Resuming after it would flow the unshifted bytes to no listener.
      socket.resume();
      this.startChain(graph, conn, socket);
    };
    // Run filters from `index` over the pending bytes; stop at need_more.
    const step = (): void => {
      while (index < filters.length) {
        const v = filters[index].onData(conn, pending);
        if (v.status === "need_more") {
          if (pending.length >= MAX_PEEK_BYTES) {
            conn.terminationDetails = "listener filter needed more bytes than any header may hold";
            close();
          }
          return;
        }
        if (v.status === "close") {
          logger.debug({ conn: conn.id, peer: conn.directRemote.ip, reason: v.reason }, "connection closed by listener filter");
          close();
          return;
        }
        if (v.consumed > 0) pending = pending.subarray(v.consumed);
        index++;
      }
      proceed();
    };
    const onData = (chunk: Buffer): void => {
      if (finished) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      step();
    };
    const onEnd = (): void => {
      if (finished) return;
      // The peer closed while the listener filters waited for bytes (an LB's TCP health check does this).
      st.listenerFilterRemoteClose.inc();
      filters[index]?.onEndOfStream?.(conn);
      close();
    };
    const timeoutMs = graph.config.listenerFiltersTimeoutMs;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            if (finished) return;
            st.preCxTimeout.inc();
            if (graph.config.continueOnListenerFiltersTimeout) {
              index = filters.length;
              proceed();
            } else {
              conn.terminationDetails = "listener filters timed out";
              close();
            }
          }, timeoutMs)
        : null;
    timer?.unref();
    socket.on("data", onData);
    socket.on("end", onEnd);
  }

  private startChain(graph: ListenerGraph, conn: DownstreamConnection, socket: Socket): void {
    const chain = selectFilterChain(graph.chains, conn) ?? graph.defaultChain;
    if (!chain) {
      graph.stats.noFilterChainMatch.inc();
      socket.destroy();
      return;
    }
    for (const f of chain.filters) {
      if (!f.onNewConnection(conn, socket)) return;
    }
  }
}
