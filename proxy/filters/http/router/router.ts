// envoy.filters.http.router — forwards the request to the route's cluster and streams the response back.
//
// Local replies carry Envoy's status, body, response flag and details (envoy.md §5), so the access log line says
// what happened. Bodies stream both ways through node streams with backpressure; nothing is buffered whole.
import type { ServerResponse } from "node:http";
import { Transform, pipeline, type Readable, type TransformCallback } from "node:stream";
import type { Counter } from "../../../observability/stats.js";
import type { ClusterManager } from "../../../upstream/cluster-manager.js";
import type { Cluster } from "../../../upstream/cluster.js";
import { UpstreamError } from "../../../upstream/errors.js";
import type { AbortSignalLike, UpstreamResponse } from "../../../upstream/http-request.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterStatus } from "../../types.js";
import type { HttpStream } from "../../network/http-connection-manager/stream.js";
import type { ForwardAction, RetryPolicy, Route, RouteTable, VirtualHost } from "../../network/http-connection-manager/route-config.js";
import { applyRequestHeaderMutations, rewritePath } from "../../network/http-connection-manager/route-match.js";
import { applyHeaderMutation } from "../../network/http-connection-manager/header-mutations.js";
import type { RouterConfig } from "./config.js";
import { tunnelUpgrade } from "./upgrade.js";

/**
 * One request's tie between the downstream response and the upstream exchange: the abort signal the upstream
 * request watches (fired when the response closes, for whatever reason), and the piping of the upstream body into
 * the response.
 *
 * Why not an AbortController and stream.pipeline(): per request, Node 20's pipeline() makes its own AbortController
 * and aborts it without a reason when it finishes (a DOMException with a stack trace for every response), and
 * watches both streams with end-of-stream listeners; the router's own AbortController is an EventTarget that
 * dispatches an Event on every completion. Removing both halved the proxy's CPU per proxied request in
 * bench/e2e.mjs (~170 -> ~70 µs; `perf record` put ~35 µs of it in those two, plus garbage collection 10 -> 1.5 µs).
 * The behaviour is pipeline()'s: the body's end ends the response, a body error destroys the response with that
 * error, a response closed before the body ended destroys the body.
 */
class DownstreamLink implements AbortSignalLike {
  aborted = false;
  /** The abort listener (one at a time in practice: one upstream attempt at a time); `more` keeps any others in order. */
  private listener: (() => void) | null = null;
  private more: Array<() => void> | null = null;
  /** The upstream body while it is being piped into the response. */
  private body: Readable | null = null;

  constructor(private readonly stream: HttpStream) {}

  addEventListener(_type: "abort", fn: () => void): void {
    if (this.listener === null && this.more === null) this.listener = fn;
    else (this.more ??= []).push(fn);
  }

  removeEventListener(_type: "abort", fn: () => void): void {
    if (this.listener === fn) this.listener = null;
    else if (this.more !== null) {
      const i = this.more.indexOf(fn);
      if (i >= 0) this.more.splice(i, 1);
    }
  }

  /** res 'close': the downstream response is over. A body still being piped is destroyed (resets the upstream). */
  readonly onResponseClose = (): void => {
    if (!this.aborted) {
      this.aborted = true;
      const first = this.listener;
      const more = this.more;
      this.listener = null;
      this.more = null;
      first?.();
      if (more !== null) for (const fn of more) fn();
    }
    const body = this.body;
    if (body !== null) {
      this.body = null;
      body.destroy();
    }
  };

  /** Stream `body` into `res` with backpressure, counting %BYTES_SENT%. */
  pipe(body: Readable, res: ServerResponse): void {
    const stream = this.stream;
    // Destroyed before we got to it (an upstream reset in the same read as the headers): pipeline() reported the
    // stored error, or a premature close.
    if (body.destroyed) {
      this.bodyFailed(body.errored ?? new Error("premature close"), res);
      return;
    }
    this.body = body;
    const onDrain = (): void => {
      body.resume();
    };
    body.on("data", (chunk: Buffer) => {
      stream.bytesSent += chunk.length;
      if (!res.write(chunk)) {
        body.pause();
        res.once("drain", onDrain);
      }
    });
    body.once("end", () => {
      this.body = null;
      res.end();
    });
    body.once("error", (err: Error) => this.bodyFailed(err, res));
  }

  private bodyFailed(err: Error, res: ServerResponse): void {
    this.body = null;
    if (!res.writableFinished) {
      // The upstream body failed (a reset mid-body): nothing more can be said on this stream. A client that went
      // away first never gets here (onResponseClose destroys the body without an error; the connection manager
      // logs DC). `req.destroyed` cannot tell the two apart: a request whose body was read is destroyed already.
      const stream = this.stream;
      if (!stream.responseFlags.length) stream.responseFlags.push("UC");
    }
    res.destroy(err);
  }
}

const RESET_PREFIX = "upstream connect error or disconnect/reset before headers. ";

/** Response headers that belong to one hop and are never copied from the upstream to the client. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

/** Counts request body bytes on their way upstream (%BYTES_RECEIVED%) without buffering them. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

interface RouterStats {
  rqTotal: Counter;
  noRoute: Counter;
  noCluster: Counter;
  rqDirectResponse: Counter;
}

function hasRequestBody(stream: HttpStream): boolean {
  const te = stream.req.headers["transfer-encoding"];
  if (te !== undefined) return true;
  const cl = stream.req.headers["content-length"];
  return cl !== undefined && cl !== "0";
}

function isRetriableStatus(policy: RetryPolicy, status: number): boolean {
  const on = policy.retryOn;
  if (on.has("5xx") && status >= 500) return true;
  if (on.has("gateway-error") && (status === 502 || status === 503 || status === 504)) return true;
  if (on.has("retriable-4xx") && status === 409) return true;
  if (on.has("retriable-status-codes") && policy.retriableStatusCodes.includes(status)) return true;
  return false;
}

function isRetriableError(policy: RetryPolicy, err: UpstreamError): boolean {
  const on = policy.retryOn;
  if (err.code === "OVERFLOW" || err.code === "TIMEOUT" || err.code === "LOCAL_RESET") return false;
  if (on.has("5xx") || on.has("gateway-error") || on.has("reset")) return true;
  if (on.has("connect-failure") && (err.code === "CONNECT_FAILURE" || err.code === "CONNECT_TIMEOUT")) return true;
  return false;
}

export class Router implements HttpFilter {
  private readonly clusters: ClusterManager;
  private readonly stats: RouterStats;
  /** The route table and each route's virtual host: request header mutations apply at all three levels. */
  private readonly table: RouteTable | null;
  private readonly vhostOf = new Map<Route, VirtualHost>();

  constructor(
    private readonly config: RouterConfig,
    ctx: HttpFilterBuildContext,
  ) {
    this.clusters = ctx.clusters;
    this.table = ctx.routeTable ?? null;
    for (const vh of this.table?.virtualHosts ?? []) for (const r of vh.routes) this.vhostOf.set(r, vh);
    const s = ctx.stats.scope(ctx.hcmStatPrefix);
    this.stats = {
      rqTotal: s.counter("rq_total"),
      noRoute: s.counter("no_route"),
      noCluster: s.counter("no_cluster"),
      rqDirectResponse: s.counter("rq_direct_response"),
    };
  }

  decodeHeaders(stream: HttpStream): HttpFilterStatus {
    this.stats.rqTotal.inc();
    const route = stream.route;
    if (route === null) {
      this.stats.noRoute.inc();
      stream.sendLocalReply(404, "", { flag: "NR", details: "route_not_found" });
      return "stop";
    }
    const action = route.action;
    if (action.kind === "direct_response") {
      this.stats.rqDirectResponse.inc();
      stream.sendLocalReply(action.status, action.body === null ? "" : action.body.toString("utf8"), { details: "direct_response", routeHeaders: true });
      return "stop";
    }
    const clusterName = action.cluster.kind === "cluster" ? action.cluster.name : (stream.headers.get(action.cluster.header) ?? "");
    const cluster = this.clusters.get(clusterName);
    if (!cluster) {
      this.stats.noCluster.inc();
      stream.sendLocalReply(action.clusterNotFoundStatus, "", { flag: "NC", details: "cluster_not_found" });
      return "stop";
    }
    stream.upstreamCluster = clusterName;

    // Request rewrites, in Envoy's order: path, then host, then the route's header mutations.
    const newPath = rewritePath(route, stream.path);
    let upstreamPath = stream.path;
    if (newPath !== null) {
      if (!this.config.suppressEnvoyHeaders) stream.headers.set("x-envoy-original-path", stream.path);
      upstreamPath = newPath;
    }
    if (action.hostRewriteLiteral !== null) stream.headers.set("host", action.hostRewriteLiteral);
    // request_headers_to_add/_remove of the route, its virtual host and the route configuration (finalizeRequestHeaders).
    const vhost = this.vhostOf.get(route);
    if (this.table !== null && vhost !== undefined) applyRequestHeaderMutations(this.table, { vhost, route }, stream.headers.entries);
    else applyHeaderMutation(stream.headers.entries, route.requestHeaders);
    void this.forward(stream, action, cluster, upstreamPath);
    return "stop";
  }

  private async forward(stream: HttpStream, action: ForwardAction, cluster: Cluster, path: string): Promise<void> {
    const policy = action.retryPolicy;
    const withBody = hasRequestBody(stream);
    // A streamed body cannot be replayed: with a body only the first attempt is made (Envoy buffers bodies for
    // retries up to the buffer limit; Tollgate does not buffer, see docs/http.md).
    const maxAttempts = 1 + (policy && !withBody ? policy.numRetries : 0);
    const abort = new DownstreamLink(stream);
    // Once the downstream response is over, for whatever reason, the upstream exchange has no one to answer to: reset
    // it. Checking writableFinished missed the case where the response was completed by someone else (the codec's
    // 400 for a malformed request body): the upstream request then waited on a body that never ends until the route
    // timeout, holding its connection. After a normal completion the upstream request is already done and the
    // signal is ignored.
    stream.res.once("close", abort.onResponseClose);
    const started = performance.now();
    const deadline = action.timeoutMs > 0 ? started + action.timeoutMs : Infinity;
    let body: ByteCounter | null = null;
    if (withBody) {
      body = new ByteCounter();
      stream.bytesReceivedSource = body;
      pipeline(stream.req, body, () => {});
    } else {
      stream.req.resume();
    }

    let lastError: UpstreamError | null = null;
    let retried = false;
    let releaseRetry: (() => void) | null = null;
    try {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        if (attempt > 0) {
          releaseRetry?.();
          releaseRetry = cluster.tryRetry();
          if (releaseRetry === null) break;
          retried = true;
          cluster.stats.upstream_rq_retry.inc();
          // Envoy's back-off: a random wait up to base * 2^(n-1), capped at the maximum.
          const wait = Math.random() * Math.min(policy!.backOffBaseMs * 2 ** (attempt - 1), policy!.backOffMaxMs);
          if (performance.now() + wait >= deadline) break;
          await new Promise((r) => setTimeout(r, wait));
          if (abort.aborted) return;
        }
        const host = cluster.chooseHost();
        if (host === null) {
          stream.sendLocalReply(503, "no healthy upstream", { flag: "UH", details: "no_healthy_upstream" });
          return;
        }
        stream.upstreamHost = host.addressString;
        if (stream.upgradeHead !== undefined) {
          try {
            await tunnelUpgrade(stream, host, path);
            return;
          } catch (err) {
            lastError = err instanceof UpstreamError ? err : new UpstreamError("CONNECT_FAILURE", { cause: err });
            if (policy && isRetriableError(policy, lastError)) continue;
            break;
          }
        }
        const remaining = deadline === Infinity ? 0 : Math.max(1, deadline - performance.now());
        const perTry = policy?.perTryTimeoutMs ?? 0;
        const timeoutMs = perTry > 0 ? (remaining === 0 ? perTry : Math.min(remaining, perTry)) : remaining;
        // The per-try timeout governs this attempt only when it ends before the route's deadline.
        const perTryTimeout = perTry > 0 && timeoutMs === perTry;
        let response: UpstreamResponse;
        try {
          response = await host.request({ method: stream.method, path, headers: stream.headers.entries, body, timeoutMs, perTryTimeout, signal: abort });
        } catch (err) {
          if (abort.aborted) {
            stream.responseFlags.push("DC");
            stream.responseCodeDetails = "downstream_remote_disconnect";
            return;
          }
          const e = err instanceof UpstreamError ? err : new UpstreamError("PROTOCOL_ERROR", { cause: err });
          lastError = e;
          // Envoy retries a per-try timeout like a 504 when the policy retries 5xx or gateway errors.
          if (e.code === "TIMEOUT" && perTryTimeout && policy && (policy.retryOn.has("5xx") || policy.retryOn.has("gateway-error"))) {
            if (attempt + 1 < maxAttempts) continue;
          }
          if (e.code === "TIMEOUT") {
            // Envoy's router charges the codes it answers for a failed upstream: upstream_rq_504, _5xx, _completed.
            cluster.stats.chargeResponseCode(504);
            stream.sendLocalReply(504, "upstream request timeout", { flag: "UT", details: "upstream_response_timeout" });
            return;
          }
          if (policy && isRetriableError(policy, e)) continue;
          break;
        }
        if (policy && attempt + 1 < maxAttempts && isRetriableStatus(policy, response.statusCode)) {
          response.body.destroy();
          continue;
        }
        if (retried && policy && isRetriableStatus(policy, response.statusCode)) stream.responseFlags.push("URX");
        else if (retried) cluster.stats.upstream_rq_retry_success.inc();
        this.respond(stream, response, started, abort);
        return;
      }
    } finally {
      releaseRetry?.();
    }
    this.replyUpstreamFailure(stream, cluster, lastError, retried);
  }

  /** Envoy's local reply when no upstream response could be had. */
  private replyUpstreamFailure(stream: HttpStream, cluster: Cluster, err: UpstreamError | null, retried: boolean): void {
    if (err === null) {
      // Retries were cut short by the deadline or the retry breaker after a retriable response was dropped.
      cluster.stats.chargeResponseCode(504);
      stream.sendLocalReply(504, "upstream request timeout", { flag: "UT", details: "upstream_response_timeout" });
      return;
    }
    const flag = retried ? `${err.responseFlag},URX` : err.responseFlag;
    const tfr = err.transportFailureReason;
    const reason = tfr ? `${err.envoyReason}, transport failure reason: ${tfr}` : err.envoyReason;
    const status = err.code === "PROTOCOL_ERROR" ? 502 : 503;
    const details = `upstream_reset_before_response_started{${err.envoyReason.replace(/ /g, "_")}${tfr ? `|${tfr.replace(/ /g, "_")}` : ""}}`;
    cluster.stats.chargeResponseCode(status);
    stream.sendLocalReply(status, `${RESET_PREFIX}${retried ? "retried and the latest " : ""}reset reason: ${reason}`, { flag, details });
  }

  private respond(stream: HttpStream, response: UpstreamResponse, started: number, link: DownstreamLink): void {
    const res = stream.res;
    if (res.headersSent || res.destroyed) {
      response.body.destroy();
      return;
    }
    const headers: Array<[string, string]> = [];
    for (const h of response.headers) {
      if (!HOP_BY_HOP.has(h[0])) headers.push(h);
    }
    if (!this.config.suppressEnvoyHeaders) headers.push(["x-envoy-upstream-service-time", String(Math.round(performance.now() - started))]);
    stream.responseCodeDetails = "via_upstream";
    stream.writeResponseHead(response.statusCode, headers);
    link.pipe(response.body, res);
  }
}
