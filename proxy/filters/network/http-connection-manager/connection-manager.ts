// envoy.filters.network.http_connection_manager — the HTTP/1.1 codec and the per-request pipeline.
//
// The codec is Node's own (llhttp) behind an http.Server that never listens: the listener hands it each socket after
// the listener filters (`emit("connection")`), with the PROXY header already consumed. Per request, in order:
// derive the trusted client address once (client-address.ts), mutate the request headers as Envoy does
// (request-headers.ts), select the route (route-match.ts), then run the HTTP filters; the router is last.
import { createServer, IncomingMessage, ServerResponse, type Server } from "node:http";
import type { Socket } from "node:net";
import { formatEndpoint, type DownstreamConnection, type Endpoint } from "../../../listener/connection.js";
import type { AccessLogContext, HeaderSource } from "../../../observability/access-log/index.js";
import type { ActivityRecorder } from "../../../observability/activity.js";
import type { Counter, Gauge, Histogram } from "../../../observability/stats.js";
import type { BuildContext, HttpFilter, NetworkFilter } from "../../types.js";
import { deriveClientAddress, type ClientAddressResult } from "./client-address.js";
import type { HttpConnectionManagerConfig } from "./config.js";
import { HeaderList } from "./header-list.js";
import { applyHeaderMutation, type HeaderMutation } from "./header-mutations.js";
import { mutateRequestHeaders, type RequestHeadersResult } from "./request-headers.js";
import type { Route } from "./route-config.js";
import { normalizeHost, selectRoute } from "./route-match.js";
import type { HttpStream, LocalReplyOptions } from "./stream.js";

const kConn = Symbol("tollgate.connection");
const kActiveStream = Symbol("tollgate.activeStream");
/** Set once a codec error on the socket has been answered. */
const kCodecError = Symbol("tollgate.codecError");
type TaggedSocket = Socket & { [kConn]?: DownstreamConnection; [kActiveStream]?: ActiveStream; [kCodecError]?: boolean };
/** The stream a ServerResponse belongs to, so a codec error on its socket can still answer through it. */
const kStream = Symbol("tollgate.stream");
type StreamResponse = ServerResponse & { [kStream]?: ActiveStream };
/** Local replies that end the connection (codec errors). */
const CLOSE: ReadonlyArray<readonly [string, string]> = [["connection", "close"]];
/** absolute-form request target: scheme://authority[path-and-query]. */
const ABSOLUTE_URL = /^https?:\/\/([^/?#\s]+)([/?][^#\s]*)?$/i;
const MISSING_HOST = Object.freeze({ status: 400, details: "missing_host_header" });

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 426: "Upgrade Required", 431: "Request Header Fields Too Large" };

interface HcmStats {
  cxTotal: Counter;
  cxHttp1Total: Counter;
  cxActive: Gauge;
  cxHttp1Active: Gauge;
  cxDestroy: Counter;
  cxProtocolError: Counter;
  cxDrainClose: Counter;
  cxLength: Histogram;
  rqTotal: Counter;
  rqHttp1Total: Counter;
  rqActive: Gauge;
  rqCompleted: Counter;
  rqClass: Counter[];
  rqTime: Histogram;
  rqRxReset: Counter;
  rqTimeout: Counter;
  rqIdleTimeout: Counter;
  listenerRqClass: Counter[];
  listenerRqCompleted: Counter;
}

class ActiveStream implements HttpStream {
  readonly startTime = Date.now();
  readonly startHr = performance.now();
  responseFlags: string[] = [];
  responseCodeDetails: string | undefined;
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  bytesSent = 0;
  bytesReceivedSource: { bytes: number } | null = null;
  responseHeaders: HeaderList | null = null;
  metadata: Map<string, Record<string, unknown>> | null = null;
  upgradeHead: Buffer | undefined;
  tunnel: { status: number; bytesReceived: number; bytesSent: number } | null = null;
  private done = false;

  constructor(
    readonly hcm: ConnectionManager,
    readonly conn: DownstreamConnection,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly method: string,
    readonly path: string,
    readonly authority: string,
    readonly protocol: string,
    readonly headers: HeaderList,
    readonly clientAddress: Endpoint,
    readonly route: Route | null,
    readonly mutation: RequestHeadersResult | null,
  ) {}

  /** Report the end of the exchange once, whether the response finished, the client went away, or a tunnel closed. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.hcm.onStreamDone(this);
  }

  setMetadata(namespace: string, key: string, value: unknown): void {
    this.metadata ??= new Map();
    let ns = this.metadata.get(namespace);
    if (!ns) this.metadata.set(namespace, (ns = {}));
    ns[key] = value;
  }

  sendLocalReply(status: number, body: string, opts: LocalReplyOptions): void {
    const res = this.res;
    // Already answered in full (the codec's 400 for a malformed body can come before the router gives up on its
    // upstream): the first answer stands, and destroying the socket now could cut it short.
    if (res.writableEnded) return;
    if (opts.flag) this.responseFlags.push(opts.flag);
    this.responseCodeDetails = opts.details;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const headers: Array<[string, string]> = [];
    const len = Buffer.byteLength(body);
    if (len > 0) headers.push(["content-type", "text/plain"]);
    headers.push(["content-length", String(len)]);
    if (opts.headers) for (const h of opts.headers) headers.push([h[0], h[1]]);
    this.writeResponseHead(status, headers, !opts.routeHeaders);
    res.end(body);
  }

  /** Final response headers: server header, the route's mutations, x-request-id, draining. */
  /** Headers HTTP filters asked to add to the response (Envoy's encodeHeaders), whichever response it is. */
  private extraResponseHeaders: Array<[string, string]> | null = null;

  addResponseHeaders(headers: ReadonlyArray<readonly [string, string]>): void {
    const extra = (this.extraResponseHeaders ??= []);
    for (const h of headers) extra.push([h[0], h[1]]);
  }

  writeResponseHead(status: number, headers: Array<[string, string]>, local = false): void {
    const cfg = this.hcm.config;
    const route = this.route;
    if (this.extraResponseHeaders) for (const h of this.extraResponseHeaders) headers.push(h);
    if (!local && route !== null) {
      const table = cfg.routeTable;
      const vh = this.hcm.vhostOf(route);
      const order: Array<HeaderMutation | null> = table.mostSpecificHeaderMutationsWins
        ? [table.responseHeaders, vh, route.responseHeaders]
        : [route.responseHeaders, vh, table.responseHeaders];
      for (const m of order) applyHeaderMutation(headers, m);
    }
    switch (cfg.serverHeaderTransformation) {
      case "OVERWRITE":
        removeHeader(headers, "server");
        headers.push(["server", cfg.serverName]);
        break;
      case "APPEND_IF_ABSENT":
        if (!headers.some((h) => h[0] === "server")) headers.push(["server", cfg.serverName]);
        break;
      case "PASS_THROUGH":
        break;
    }
    const rid = this.mutation?.responseRequestId;
    if (rid) {
      removeHeader(headers, "x-request-id");
      headers.push(["x-request-id", rid]);
    }
    if (this.hcm.draining) {
      removeHeader(headers, "connection");
      headers.push(["connection", "close"]);
      this.hcm.stats.cxDrainClose.inc();
    }
    this.responseHeaders = new HeaderList(headers);
    const flat: string[] = new Array(headers.length * 2);
    for (let i = 0; i < headers.length; i++) {
      flat[2 * i] = headers[i][0];
      flat[2 * i + 1] = headers[i][1];
    }
    this.res.writeHead(status, flat);
  }
}

function removeHeader(h: Array<[string, string]>, name: string): void {
  for (let i = h.length - 1; i >= 0; i--) if (h[i][0] === name) h.splice(i, 1);
}

/** %REQ(...)% over the mutated request headers plus HTTP/1's pseudo-headers. */
class RequestHeaderSource implements HeaderSource {
  constructor(private readonly s: ActiveStream) {}
  get(name: string): string | undefined {
    switch (name) {
      // Empty when no request line was parsed (a codec error): Envoy prints "-" for those.
      case ":method":
        return this.s.method || undefined;
      case ":path":
        return this.s.path || undefined;
      case ":authority":
        return this.s.authority || undefined;
      case ":scheme":
        return this.s.mutation?.scheme ?? "http";
      default:
        return this.s.headers.getJoined(name);
    }
  }
}

export interface RequestReject {
  readonly status: number;
  readonly details: string;
}

export interface PreparedRequest {
  /** Set when the connection manager answers itself (Envoy's codec and connection-manager refusals). */
  readonly reject: RequestReject | null;
  /** How the trusted client address was derived (with the steps when `explain`). */
  readonly client: ClientAddressResult;
  /** The trusted client address: the PROXY-restored peer, or the XFF entry Envoy's rules pick (port 0). */
  readonly clientAddress: Endpoint;
  readonly mutation: RequestHeadersResult | null;
  readonly authority: string;
  readonly route: Route | null;
}

/**
 * What every HTTP request goes through before its filters run, in Envoy's order: header-count and underscore checks,
 * the trusted client address (once: everything after reads this result), Envoy's request-header mutation, the Host
 * checks and normalisation, and route selection. `headers` is mutated in place. The connection manager calls it for
 * each request and `tollgate explain` replays it, so the two cannot drift apart.
 */
export function prepareRequest(
  cfg: HttpConnectionManagerConfig,
  conn: DownstreamConnection,
  headers: HeaderList,
  method: string,
  path: string,
  rejected: RequestReject | null,
  explain = false,
): PreparedRequest {
  let reject = rejected;
  if (reject === null) {
    if (headers.entries.length > cfg.maxHeadersCount) reject = { status: 431, details: "http1.too_many_headers" };
    else if (cfg.headersWithUnderscoresAction !== "ALLOW" && headers.entries.some((h) => h[0].includes("_"))) {
      if (cfg.headersWithUnderscoresAction === "REJECT_REQUEST") reject = { status: 400, details: "http1.unexpected_underscore" };
      else for (let i = headers.entries.length - 1; i >= 0; i--) if (headers.entries[i][0].includes("_")) headers.entries.splice(i, 1);
    }
  }
  const rh = cfg.requestHeaders;
  const client = deriveClientAddress(rh.xff, conn.remote.ip, rh.localIp, headers.getJoined("x-forwarded-for"), explain);
  const clientAddress: Endpoint =
    client.trustedAddress === null ? conn.remote : client.trustedFromXff ? { ip: client.trustedAddress, port: 0 } : conn.remote;
  let mutation: RequestHeadersResult | null = null;
  if (reject === null) {
    mutation = mutateRequestHeaders(rh, headers.entries, client, {
      tls: false,
      localPort: conn.local.port,
      internalOnlyHeaders: cfg.routeTable.internalOnlyHeaders,
      allowedUpgrades: cfg.upgrades,
    });
    reject = mutation.reject;
  }
  // Envoy requires a host (ConnectionManagerImpl: MissingHost): 400, empty body, the connection stays usable.
  if (reject === null && method !== "CONNECT" && !headers.has("host")) reject = MISSING_HOST;
  // strip_trailing_host_dot / strip_*_host_port: before routing, on the header itself (forwarded as normalised).
  if (reject === null) normalizeHost(headers, rh, conn.local.port, method);
  const authority = headers.get("host") ?? "";
  // A CONNECT request has no :path, so no ordinary route matches it and Envoy answers 404 NR (envoy#11048);
  // Tollgate has no connect_matcher. Its request target must not be matched as a path (prefix "" would take it).
  const selection =
    reject === null && method !== "CONNECT" ? selectRoute(cfg.routeTable, authority, path, headers.entries, { method, scheme: mutation?.scheme }) : null;
  return { reject, client, clientAddress, mutation, authority, route: selection?.route ?? null };
}

export class ConnectionManager implements NetworkFilter {
  readonly stats: HcmStats;
  draining = false;
  private readonly server: Server;
  /** The built HTTP filters; filters[i] is config.httpFilters[i] (the explain tool reads them, never runs them). */
  readonly filters: readonly HttpFilter[];
  /** Each route's virtual-host response mutation, by route object (virtual host names need not be unique). */
  private readonly vhostResponseHeaders = new Map<Route, HeaderMutation | null>();
  private readonly sockets = new Set<Socket>();
  private readonly activity: ActivityRecorder | null;
  /** Whether any stream can have an idle timer: stream_idle_timeout, or a route's idle_timeout that overrides it. */
  private readonly streamIdleTimers: boolean;

  constructor(
    readonly config: HttpConnectionManagerConfig,
    ctx: BuildContext,
  ) {
    const prefix = `http.${config.statPrefix}.`;
    const s = ctx.stats.scope(prefix);
    const ls = ctx.stats.scope(`${ctx.listenerStatPrefix}${prefix}`);
    this.stats = {
      cxTotal: s.counter("downstream_cx_total"),
      cxHttp1Total: s.counter("downstream_cx_http1_total"),
      cxActive: s.gauge("downstream_cx_active"),
      cxHttp1Active: s.gauge("downstream_cx_http1_active"),
      cxDestroy: s.counter("downstream_cx_destroy"),
      cxProtocolError: s.counter("downstream_cx_protocol_error"),
      cxDrainClose: s.counter("downstream_cx_drain_close"),
      cxLength: s.histogram("downstream_cx_length_ms"),
      rqTotal: s.counter("downstream_rq_total"),
      rqHttp1Total: s.counter("downstream_rq_http1_total"),
      rqActive: s.gauge("downstream_rq_active"),
      rqCompleted: s.counter("downstream_rq_completed"),
      rqClass: [1, 2, 3, 4, 5].map((c) => s.counter(`downstream_rq_${c}xx`)),
      rqTime: s.histogram("downstream_rq_time"),
      rqRxReset: s.counter("downstream_rq_rx_reset"),
      rqTimeout: s.counter("downstream_rq_timeout"),
      rqIdleTimeout: s.counter("downstream_rq_idle_timeout"),
      listenerRqClass: [1, 2, 3, 4, 5].map((c) => ls.counter(`downstream_rq_${c}xx`)),
      listenerRqCompleted: ls.counter("downstream_rq_completed"),
    };
    for (const vh of config.routeTable.virtualHosts) for (const r of vh.routes) this.vhostResponseHeaders.set(r, vh.responseHeaders);
    this.filters = config.httpFilters.map((f) => f.config.build({ ...ctx, hcmStatPrefix: prefix, filterName: f.name, canonicalName: f.canonicalName, routeTable: config.routeTable }));
    this.activity = ctx.activity ?? null;
    this.streamIdleTimers =
      config.streamIdleTimeoutMs > 0 ||
      config.routeTable.virtualHosts.some((vh) => vh.routes.some((r) => r.action.kind === "route" && (r.action.idleTimeoutMs ?? 0) > 0));

    // maxHeadersCount 0: Node would silently drop headers past its count; we count them ourselves and answer 431.
    this.server = createServer(
      {
        maxHeaderSize: config.maxRequestHeadersBytes,
        requireHostHeader: false,
        joinDuplicateHeaders: false,
        keepAliveTimeout: config.idleTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        // Envoy has no header timeout by default; a Node codec without one is open to slowloris, so Tollgate keeps
        // Node's 60 s unless request_headers_timeout says otherwise (docs/http.md).
        headersTimeout: config.requestHeadersTimeoutMs || (config.requestTimeoutMs ? Math.min(60_000, config.requestTimeoutMs) : 60_000),
        connectionsCheckingInterval: 1000,
      },
      (req, res) => this.onRequest(req, res, null),
    );
    this.server.maxHeadersCount = 0;
    // node:http starts its connection tracking (the timer that enforces headersTimeout / requestTimeout, and the list
    // closeIdleConnections() walks) on the server's 'listening' event. This server never listens, so without this
    // neither timeout fired (a client trickling headers held its connection forever: no slowloris defence, no
    // request_headers_timeout, no request_timeout) and closeIdleConnections() was a no-op. The timer is unref'd;
    // close() stops it.
    this.server.emit("listening");
    // A client that half-closes after its request (shutdown(SHUT_WR): busybox wget, `nc -N`, HTTP conformance probes)
    // still gets its response, then the connection is closed — what nginx and HAProxy do and RFC 9112 §9.6 asks.
    // Node's default (false) aborted the request in flight and ended the socket at the FIN; Envoy does the same
    // (envoy#2066, #17160), which loses the response. Undocumented but stable node:http switch, read in socketOnEnd.
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    // node:http hands CONNECT requests over like upgrades, and destroyed the socket without a word when nobody
    // listened; Envoy answers them (404 NR, see onRequest).
    this.server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  vhostOf(route: Route): HeaderMutation | null {
    return this.vhostResponseHeaders.get(route) ?? null;
  }

  onNewConnection(conn: DownstreamConnection, socket: Socket): boolean {
    const st = this.stats;
    (socket as TaggedSocket)[kConn] = conn;
    st.cxTotal.inc();
    st.cxHttp1Total.inc();
    st.cxActive.inc();
    st.cxHttp1Active.inc();
    this.sockets.add(socket);
    if (this.streamIdleTimers) {
      socket.on("timeout", () => {
        const active = (socket as TaggedSocket)[kActiveStream];
        if (!active) return;
        st.rqIdleTimeout.inc();
        // Envoy resets the stream, which on HTTP/1 ends the connection. Close after the reply is flushed: destroying
        // at once could cut the 408 short.
        active.sendLocalReply(408, "stream timeout", { flag: "SI", details: "stream_idle_timeout", headers: CLOSE });
        socket.end(() => socket.destroy());
      });
    }
    socket.once("close", () => {
      this.sockets.delete(socket);
      st.cxActive.dec();
      st.cxHttp1Active.dec();
      st.cxDestroy.inc();
      st.cxLength.record(Date.now() - conn.startTime);
    });
    this.server.emit("connection", socket);
    return true;
  }

  /**
   * Stop keep-alive: every response from now on carries `Connection: close`, so a client that keeps sending closes
   * cleanly after its next answer. Idle connections are NOT closed here: closing one races with a request the
   * client may be writing into it at that instant (a reset a client cannot tell from a failure). They are closed by
   * closeIdle(), when the caller's grace period is over.
   */
  startDrain(): void {
    this.draining = true;
  }

  /** Close keep-alive connections that have no request in flight (end of a drain's grace period). */
  closeIdle(): void {
    this.draining = true;
    this.server.closeIdleConnections();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const tagged = socket as TaggedSocket;
    // node:http reports the broken stream again on every later read: the first report is answered, the rest ignored.
    if (tagged[kCodecError]) return;
    tagged[kCodecError] = true;
    const inFlight = (socket as Socket & { _httpMessage?: StreamResponse | null })._httpMessage;
    let status: number;
    let body: string;
    let details: string;
    let flag: string | undefined;
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
      // Envoy's bodies and details: headers not complete in time => request_headers_timeout; a request whose body
      // did not arrive in time => request_timeout.
      status = 408;
      [body, details] = inFlight ? ["request timeout", "request_overall_timeout"] : ["request header timeout", "request_header_timeout"];
      if (inFlight) this.stats.rqTimeout.inc();
    } else {
      this.stats.cxProtocolError.inc();
      const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
      status = tooLarge ? 431 : 400;
      body = STATUS_TEXT[status] ?? "";
      details = tooLarge ? "http1.headers_too_large" : err.code === "HPE_INVALID_URL" ? "http1.invalid_url" : "http1.codec_error";
      flag = "DPE";
    }
    if (inFlight) {
      // The error came after a request was dispatched (a malformed chunked body, a body cut short). Envoy's codec
      // still answers while that request's response has not started (ServerConnectionImpl::sendProtocolError);
      // destroying the socket here gave the client a bare reset instead.
      const stream = inFlight[kStream];
      if (stream && socket.writable && !inFlight.headersSent && !inFlight.destroyed) {
        stream.sendLocalReply(status, body, { flag, details, headers: CLOSE });
      } else {
        socket.destroy();
      }
      return;
    }
    const conn = tagged[kConn];
    if (!socket.writable || !conn) {
      socket.destroy();
      return;
    }
    // No request was parsed. Envoy's codec opens a stream for the error anyway, so the reply is counted
    // (downstream_rq_4xx) and access-logged with DPE and its details; writing raw bytes here skipped both, and a
    // malformed request left no trace in the access log.
    const req = new IncomingMessage(socket);
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.end(() => socket.destroy()));
    this.stats.rqTotal.inc();
    this.stats.rqHttp1Total.inc();
    this.stats.rqActive.inc();
    const stream = new ActiveStream(this, conn, req, res, "", "", "", "HTTP/1.1", new HeaderList(), conn.remote, null, null);
    res.once("close", () => stream.finish());
    stream.sendLocalReply(status, body, { flag, details, headers: CLOSE });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Node hands upgrade requests over without a ServerResponse; make one so filters and local replies work alike.
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    // node:http has given this socket up entirely (its parser and its end/close handling are gone), so a local reply
    // (403 for an upgrade type that is not configured, 404, 503...) is the last thing said on it: close the socket
    // once the reply is written. Without this the socket stayed open until the client closed it. A tunnel detaches
    // the socket from `res` first (res.socket becomes null) and owns it from then on.
    res.once("finish", () => {
      if (res.socket === socket) socket.end(() => socket.destroy());
    });
    this.onRequest(req, res, head);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, upgradeHead: Buffer | null): void {
    const cfg = this.config;
    const st = this.stats;
    const conn = (req.socket as TaggedSocket)[kConn]!;
    st.rqTotal.inc();
    st.rqHttp1Total.inc();
    st.rqActive.inc();
    const headers = HeaderList.fromRaw(req.rawHeaders);
    let path = req.url ?? "/";
    const method = req.method ?? "GET";
    const protocol = `HTTP/${req.httpVersion}`;
    let reject: { status: number; details: string } | null = null;
    // The request target, as Envoy's HTTP/1 codec reads it (ServerConnectionImpl::handlePath, allow_absolute_url on
    // by default): origin-form passes; `*` only for OPTIONS; absolute-form (what clients send to a proxy) becomes
    // :path plus a Host taken from the URL (RFC 9112 §3.2.2: the received Host is ignored); anything else is a 400.
    // node's parser accepts any target, so without this `GET http://host/x` was routed on the whole URL (404) and
    // `GET x` on "x".
    if (method !== "CONNECT" && path.charCodeAt(0) !== 47 /* "/" */ && !(path === "*" && method === "OPTIONS")) {
      const abs = ABSOLUTE_URL.exec(path);
      if (abs) {
        headers.set("host", abs[1]);
        const rest = abs[2] ?? "";
        path = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
      } else reject = { status: 400, details: "http1.invalid_url" };
    }
    if (reject === null && req.httpVersion === "1.0" && !cfg.acceptHttp10) reject = { status: 426, details: "low_version" };
    const prepared = prepareRequest(cfg, conn, headers, method, path, reject);
    reject = prepared.reject;
    const { clientAddress, mutation, authority } = prepared;
    const stream = new ActiveStream(this, conn, req, res, method, path, authority, protocol, headers, clientAddress, prepared.route, mutation);

    (res as StreamResponse)[kStream] = stream;
    res.once("close", () => stream.finish());
    // A route's idle_timeout replaces stream_idle_timeout for its streams (0s: none), as Envoy's refreshIdleTimeout.
    const routeAction = stream.route?.action;
    const idleMs = routeAction?.kind === "route" && routeAction.idleTimeoutMs !== null ? routeAction.idleTimeoutMs : cfg.streamIdleTimeoutMs;
    if (idleMs > 0) {
      // The 'timeout' listener is installed once per connection (onNewConnection); here only the timer is armed.
      (req.socket as TaggedSocket)[kActiveStream] = stream;
      req.socket.setTimeout(idleMs);
    }
    if (reject !== null) {
      // These are Envoy's HTTP/1 codec errors (too many headers, HTTP/1.0 refused, bad Connection nominations,
      // underscores) or an upgrade it will not carry: Envoy answers and closes the connection, as the rest of what
      // the client sent can no longer be trusted to line up. Without `connection: close` the socket stayed open.
      if (reject === MISSING_HOST) stream.sendLocalReply(400, "", { details: reject.details });
      else stream.sendLocalReply(reject.status, STATUS_TEXT[reject.status] ?? "", { details: reject.details, headers: CLOSE });
      return;
    }
    if (upgradeHead !== null || mutation?.upgrade) {
      stream.upgradeHead = upgradeHead ?? Buffer.alloc(0);
    }
    for (const f of this.filters) {
      if (f.decodeHeaders(stream) === "stop") return;
    }
  }

  onStreamDone(stream: ActiveStream): void {
    const st = this.stats;
    const res = stream.res;
    const tunnel = stream.tunnel;
    st.rqActive.dec();
    const sock = stream.req.socket as TaggedSocket | null;
    if (sock && sock[kActiveStream] === stream) {
      sock[kActiveStream] = undefined;
      sock.setTimeout(0);
    }
    const code = tunnel ? tunnel.status : res.headersSent ? res.statusCode : 0;
    if (code >= 100 && code < 600) {
      const cls = Math.floor(code / 100) - 1;
      st.rqClass[cls].inc();
      st.listenerRqClass[cls].inc();
    }
    if (res.writableFinished || (tunnel && tunnel.status !== 0)) {
      st.rqCompleted.inc();
      st.listenerRqCompleted.inc();
    } else {
      st.rqRxReset.inc();
      if (stream.responseFlags.length === 0) stream.responseFlags.push("DC");
    }
    const duration = performance.now() - stream.startHr;
    st.rqTime.record(duration);
    // The admin dashboard: by the stream's trusted client address (after PROXY protocol and XFF), once per request.
    this.activity?.record(stream.clientAddress.ip, code, stream.responseFlags, stream.responseCodeDetails);
    if (this.config.accessLogs.length === 0) return;
    const conn = stream.conn;
    const ctx: AccessLogContext = {
      startTime: stream.startTime,
      requestHeaders: new RequestHeaderSource(stream),
      responseHeaders: stream.responseHeaders,
      protocol: stream.protocol,
      responseCode: code,
      responseFlags: stream.responseFlags.length ? stream.responseFlags.join(",") : "-",
      responseCodeDetails: stream.responseCodeDetails,
      bytesReceived: tunnel ? tunnel.bytesReceived : (stream.bytesReceivedSource?.bytes ?? 0),
      bytesSent: tunnel ? tunnel.bytesSent : stream.bytesSent,
      durationMs: duration,
      upstreamHost: stream.upstreamHost,
      upstreamCluster: stream.upstreamCluster,
      downstreamRemoteAddress: formatEndpoint(stream.clientAddress),
      downstreamDirectRemoteAddress: formatEndpoint(conn.directRemote),
      downstreamLocalAddress: formatEndpoint(conn.local),
      routeName: stream.route?.name || undefined,
      connectionTerminationDetails: conn.terminationDetails,
      dynamicMetadata: stream.metadata ? mergeMetadata(conn.dynamicMetadata, stream.metadata) : conn.dynamicMetadata,
      connectionId: conn.id,
    };
    for (const l of this.config.accessLogs) l.log(ctx);
  }

  async close(): Promise<void> {
    this.closeIdle();
    // Stops node:http's connection-tracking timer (started by the 'listening' emitted in the constructor).
    this.server.close();
  }
}

function mergeMetadata(a: ReadonlyMap<string, Record<string, unknown>>, b: ReadonlyMap<string, Record<string, unknown>>): Map<string, Record<string, unknown>> {
  const out = new Map(a);
  for (const [ns, v] of b) out.set(ns, { ...(out.get(ns) ?? {}), ...v });
  return out;
}

