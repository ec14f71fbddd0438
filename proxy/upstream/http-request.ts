// One upstream HTTP/1.1 request: waits in the host's pool, is written on a pooled connection by undici, and hands
// the response back as a status, ordered header pairs and a backpressure-aware body stream.
//
// The object is undici's dispatch handler itself (the onConnect/onHeaders/onData/onComplete/onError protocol the
// HTTP/1 client calls directly), so no per-request wrapper or header object is built: raw header bytes are turned into
// [name, value] pairs once, in order.
import { PassThrough, Readable, finished } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Dispatcher } from "undici";
import { classifyStreamError, UpstreamError } from "./errors.js";
import type { ActiveClient, HttpConnPool } from "./pool.js";

export interface UpstreamRequestOptions {
  method: string;
  path: string;
  /** Request headers, lower-case names, already mutated by the connection manager and the router. */
  headers: [string, string][];
  /** The request body, streamed with backpressure; null for none. Never destroyed by the upstream side. */
  body: Readable | null;
  /** Whole-request timeout from this call until the response body ends; 0 = none. */
  timeoutMs: number;
  /** The timeout is the route's per_try_timeout: a timeout counts upstream_rq_per_try_timeout, not _timeout. */
  perTryTimeout?: boolean;
  /** Abort (e.g. the downstream went away): the request is reset, LOCAL_RESET. An AbortSignal, or lighter. */
  signal: AbortSignalLike;
  /** Circuit-breaker priority (route priority); DEFAULT when absent. */
  priority?: "DEFAULT" | "HIGH";
}

/**
 * What a request needs of its abort signal. AbortSignal satisfies it; the router passes a plain object instead,
 * because an AbortController per request (an EventTarget, listener validation, an Event dispatched on every
 * completion) cost ~12 µs per request, ~7% of the proxy's CPU under load (bench/e2e.mjs, `perf record`).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface UpstreamResponse {
  statusCode: number;
  /** Response headers in order, names lower-cased. */
  headers: [string, string][];
  /** The body; reading it is what lets more bytes come from the upstream. Destroy it to reset the request. */
  body: Readable;
}

// Hop-by-hop headers are the connection manager's to remove; these are also ones undici refuses or would act on, so
// a stray one must not turn into an exception: they are dropped when the header list is flattened.
// (A downstream `Connection: close` concerns the downstream connection only: the upstream one stays pooled.)
const DROPPED = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "expect", "proxy-connection"]);

const enum State {
  Created,
  Pending,
  Dispatched,
  Streaming,
  Done,
}

/** The response body: undici's parser is paused when the buffer reaches its high-water mark, resumed on read. */
class UpstreamBody extends Readable {
  constructor(private readonly rq: UpstreamHttpRequest, highWaterMark: number) {
    super({ highWaterMark });
  }

  override _read(): void {
    this.rq.resumeParser();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.rq.onBodyDestroyed();
    cb(err);
  }
}

export class UpstreamHttpRequest implements Dispatcher.DispatchHandler {
  private state = State.Created;
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private abortFn: ((err?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private paused = false;
  private readWanted = false;
  private body: UpstreamBody | null = null;
  private requestBody: PassThrough | null = null;
  private closeConnection = false;
  private stopWatchingBody: (() => void) | null = null;
  private ac: ActiveClient | null = null;
  private readonly onAbortSignal = (): void => this.fail(new UpstreamError("LOCAL_RESET"), "local");
  private resolveFn!: (r: UpstreamResponse) => void;
  private rejectFn!: (e: UpstreamError) => void;
  readonly promise: Promise<UpstreamResponse>;

  constructor(
    readonly pool: HttpConnPool,
    readonly opts: UpstreamRequestOptions,
  ) {
    this.promise = new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  /** Arm the timeout and the abort signal, then join the pool. */
  start(): void {
    if (this.opts.signal.aborted) {
      this.finishWith(new UpstreamError("LOCAL_RESET"));
      return;
    }
    this.opts.signal.addEventListener("abort", this.onAbortSignal, { once: true });
    if (this.opts.timeoutMs > 0) {
      this.timer = setTimeout(() => this.fail(new UpstreamError("TIMEOUT"), "timeout"), this.opts.timeoutMs);
    }
    this.pool.newStream(this);
  }

  markPending(): void {
    this.state = State.Pending;
  }

  /** The pool gave up on this request before it reached a connection (overflow, connect failure). */
  failBeforeDispatch(err: UpstreamError): void {
    this.finishWith(err);
  }

  /** The pool attached this request to a ready connection. */
  dispatchOn(ac: ActiveClient): void {
    this.ac = ac;
    this.state = State.Dispatched;
    const h = this.opts.headers;
    const flat: string[] = [];
    for (let i = 0; i < h.length; i++) {
      const name = h[i][0];
      if (DROPPED.has(name)) continue;
      flat.push(name, h[i][1]);
    }
    let body: PassThrough | null = null;
    const src = this.opts.body;
    if (src) {
      // undici destroys the body it is given when the upstream fails; destroying the downstream request would cut
      // the downstream connection before the router can answer 503. The pass-through takes that hit instead, and
      // pipe() keeps backpressure. A downstream body that fails or closes early resets the upstream request.
      body = new PassThrough({ highWaterMark: this.pool.bufferLimit });
      this.requestBody = body;
      src.pipe(body);
      this.stopWatchingBody = finished(src, { writable: false }, (err) => {
        if (err && this.state !== State.Done) this.fail(new UpstreamError("LOCAL_RESET", { cause: err }), "local");
      });
    }
    ac.client.dispatch(
      {
        path: this.opts.path,
        method: this.opts.method,
        headers: flat,
        body,
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      this,
    );
  }

  // ---- undici's handler protocol -------------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    // Timed out or aborted while undici still held the request in its queue: reset it before a byte is written.
    if (this.state === State.Done) abort(new UpstreamError("LOCAL_RESET"));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx interim responses are not forwarded (HTTP/1.1 upstream, no Expect)
    this.resume = resume;
    const headers: [string, string][] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      // latin1, as node:http decodes header bytes; names lower-cased as Envoy's HTTP/1 codec does.
      const name = rawHeaders[i].toString("latin1").toLowerCase();
      const value = rawHeaders[i + 1].toString("latin1");
      if (name === "connection" && /\bclose\b/i.test(value)) this.closeConnection = true;
      headers.push([name, value]);
    }
    this.state = State.Streaming;
    this.pool.onResponseHeaders(this.ac!, statusCode);
    this.body = new UpstreamBody(this, this.pool.bufferLimit);
    this.resolveFn({ statusCode, headers, body: this.body });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.body === null || this.state !== State.Streaming) return true;
    this.readWanted = false;
    const more = this.body.push(chunk);
    // A consumer that asked for more during push() itself (a synchronous read in a 'data' handler) must not be left
    // waiting on a paused parser: only pause when nobody is asking.
    if (more || this.readWanted) return true;
    this.paused = true;
    return false;
  }

  onComplete(): void {
    if (this.state === State.Done) return;
    const body = this.body;
    this.state = State.Done;
    this.cleanup();
    // The upstream may answer before the request body is fully sent (e.g. 413); the rest of the body is not its.
    if (this.requestBody && !this.requestBody.writableFinished) this.detachRequestBody();
    this.pool.cluster.stats.upstream_rq_time.record(performance.now() - this.startedAt);
    this.pool.onStreamComplete(this.ac!, this.closeConnection);
    body?.push(null);
  }

  onError(err: Error): void {
    if (this.state === State.Done) return;
    const e = classifyStreamError(err);
    const stats = this.pool.cluster.stats;
    if (e.code === "TERMINATION" || e.code === "PROTOCOL_ERROR") stats.upstream_rq_rx_reset.inc();
    this.finishWith(e);
  }

  onUpgrade(): void {
    this.abortFn?.(new UpstreamError("PROTOCOL_ERROR"));
  }

  onBodySent(): void {}

  // ---- our side ----------------------------------------------------------------------------------------------------

  resumeParser(): void {
    if (this.paused && this.resume) {
      this.paused = false;
      this.resume();
    } else {
      this.readWanted = true;
    }
  }

  onBodyDestroyed(): void {
    // The consumer destroyed the body before it ended: reset the upstream request (closes its connection).
    if (this.state === State.Streaming) this.fail(new UpstreamError("LOCAL_RESET"), "local");
  }

  /** Timeout or abort from our side, at any stage. */
  private fail(err: UpstreamError, why: "local" | "timeout"): void {
    const state = this.state;
    if (state === State.Done) return;
    const stats = this.pool.cluster.stats;
    if (why === "timeout") {
      (this.opts.perTryTimeout ? stats.upstream_rq_per_try_timeout : stats.upstream_rq_timeout).inc();
      this.pool.host.stats.rq_timeout++;
    }
    if (state === State.Pending || state === State.Created) {
      this.pool.cancelPending(this);
      this.finishWith(err);
      return;
    }
    stats.upstream_rq_tx_reset.inc();
    if (this.abortFn) {
      // undici reports the abort back through onError synchronously, which finishes the request with `err`.
      this.abortFn(err);
    }
    this.finishWith(err);
  }

  private finishWith(err: UpstreamError): void {
    if (this.state === State.Done) return;
    const state = this.state;
    this.state = State.Done;
    this.cleanup();
    if (state === State.Dispatched || state === State.Streaming) {
      // A reset before response headers counts against the host; after them the status was already charged.
      if (state === State.Dispatched) this.pool.host.stats.rq_error++;
      this.pool.onStreamComplete(this.ac!, true);
    }
    if (this.requestBody) this.detachRequestBody();
    if (state === State.Streaming) {
      this.body?.destroy(err);
    } else {
      this.rejectFn(err);
    }
  }

  private detachRequestBody(): void {
    this.opts.body?.unpipe(this.requestBody!);
    this.requestBody!.destroy();
  }

  private cleanup(): void {
    this.stopWatchingBody?.();
    this.stopWatchingBody = null;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.opts.signal.removeEventListener("abort", this.onAbortSignal);
  }
}
