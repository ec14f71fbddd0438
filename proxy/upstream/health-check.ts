// Active health checking with Envoy's semantics (HealthCheckerImplBase and the HTTP/TCP checkers):
// - hosts of a cluster with a health check start as failed_active_hc; the first check result decides at once
//   (one success makes the host healthy), later transitions need healthy_threshold successes or
//   unhealthy_threshold network failures;
// - an HTTP status outside expected_statuses fails the host immediately, unless it is in retriable_statuses;
// - timeouts and connection failures are network failures (they count toward unhealthy_threshold);
// - the next check is due after no_traffic_interval until the cluster has made its first upstream connection,
//   then after interval (or the unhealthy / edge intervals), plus jitter;
// - checks use their own connections, which do not count as the cluster's upstream connections.
// Timers are unref'd: health checking never keeps the process alive.
import type { Socket } from "node:net";
import { Client } from "undici";
import type { Counter, Gauge, StatsScope } from "../observability/stats.js";
import type { HealthCheckConfig, HttpHealthCheckConfig } from "./config.js";
import type { Connector } from "./connect.js";
import { HealthFlag, type Host } from "./host.js";

export type HealthCheckResult = "success" | "degraded" | "active_failure" | "retriable_failure" | "network_failure" | "timeout";

export interface HealthCheckedCluster {
  readonly name: string;
  readonly connector: Connector;
  /** Whether the cluster ever opened an upstream connection (Envoy: upstream_cx_total used). */
  hadTraffic(): boolean;
  /** A host's health flags changed (or its first check completed): rebuild the load-balancing sets. */
  onHostHealthChanged(host: Host): void;
  random(): number;
}

const enum Transition {
  Unchanged,
  Changed,
  ChangePending,
}

const USER_AGENT = "Envoy/HC";

class HealthCheckStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly network_failure: Counter;
  readonly passive_failure: Counter;
  readonly verify_cluster: Counter;
  readonly healthy: Gauge;
  readonly degraded: Gauge;

  constructor(scope: StatsScope) {
    const s = scope.scope("health_check.");
    this.attempt = s.counter("attempt");
    this.success = s.counter("success");
    this.failure = s.counter("failure");
    this.network_failure = s.counter("network_failure");
    this.passive_failure = s.counter("passive_failure");
    this.verify_cluster = s.counter("verify_cluster");
    this.healthy = s.gauge("healthy");
    this.degraded = s.gauge("degraded");
  }
}

export class HealthChecker {
  readonly stats: HealthCheckStats;
  private readonly sessions = new Map<Host, Session>();
  private readonly waitingFirst = new Set<Session>();
  private firstWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    readonly cluster: HealthCheckedCluster,
    readonly config: HealthCheckConfig,
    scope: StatsScope,
  ) {
    this.stats = new HealthCheckStats(scope);
  }

  /** Start checking these hosts (new hosts are marked failed_active_hc first, as Envoy does). */
  addHosts(hosts: readonly Host[]): void {
    if (this.stopped) return;
    for (const host of hosts) {
      if (host.disableActiveHealthCheck || this.sessions.has(host)) continue;
      const s = new Session(this, host);
      this.sessions.set(host, s);
      this.waitingFirst.add(s);
    }
    this.recount();
    for (const host of hosts) this.sessions.get(host)?.start();
  }

  removeHosts(hosts: readonly Host[]): void {
    for (const host of hosts) {
      const s = this.sessions.get(host);
      if (!s) continue;
      this.sessions.delete(host);
      s.stop();
      this.firstDone(s);
    }
    this.recount();
  }

  /** Resolves once every host known now has had its first check (Envoy's cluster warm-up waits for this). */
  firstRound(): Promise<void> {
    if (this.waitingFirst.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.firstWaiters.push(resolve));
  }

  firstDone(s: Session): void {
    if (!this.waitingFirst.delete(s) || this.waitingFirst.size > 0) return;
    const waiters = this.firstWaiters;
    this.firstWaiters = [];
    for (const w of waiters) w();
  }

  recount(): void {
    let healthy = 0;
    let degraded = 0;
    for (const host of this.sessions.keys()) {
      if (!(host.healthFlags & HealthFlag.FAILED_ACTIVE_HC)) healthy++;
      if (host.healthFlags & HealthFlag.DEGRADED_ACTIVE_HC) degraded++;
    }
    this.stats.healthy.set(healthy);
    this.stats.degraded.set(degraded);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sessions.values()) {
      s.stop();
      this.firstDone(s);
    }
    this.sessions.clear();
  }

  /** Envoy's HealthCheckerImplBase::interval. */
  interval(healthy: boolean, t: Transition): number {
    const c = this.config;
    let base: number;
    if (this.cluster.hadTraffic()) {
      if (!healthy) base = t === Transition.ChangePending ? c.unhealthyEdgeIntervalMs : c.unhealthyIntervalMs;
      else base = t === Transition.ChangePending ? c.healthyEdgeIntervalMs : c.intervalMs;
    } else {
      base = healthy && t !== Transition.ChangePending ? c.noTrafficHealthyIntervalMs : c.noTrafficIntervalMs;
    }
    return this.withJitter(base, c.intervalJitterMs);
  }

  withJitter(base: number, jitterMs: number): number {
    let ms = base;
    const pct = Math.floor((this.config.intervalJitterPercent * base) / 100);
    if (pct > 0) ms += Math.floor(this.cluster.random() * pct);
    if (jitterMs > 0) ms += Math.floor(this.cluster.random() * jitterMs);
    return Math.max(1, ms);
  }
}

class Session {
  private numHealthy = 0;
  private numUnhealthy = 0;
  private firstCheck = true;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private client: Client | null = null;
  private inflight: AbortController | null = null;

  constructor(
    private readonly parent: HealthChecker,
    readonly host: Host,
  ) {
    host.healthFlags |= HealthFlag.FAILED_ACTIVE_HC;
  }

  start(): void {
    const jitter = this.parent.config.initialJitterMs;
    if (jitter === 0) this.run();
    else this.schedule(this.parent.withJitter(0, jitter));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inflight?.abort();
    this.closeClient();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    if (this.stopped) return;
    this.timer = null;
    this.parent.stats.attempt.inc();
    const ac = new AbortController();
    this.inflight = ac;
    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.parent.config.timeoutMs);
    timeout.unref();
    const check = this.parent.config.checker.type === "http" ? this.checkHttp(this.parent.config.checker, ac.signal) : this.checkTcp(ac.signal);
    check.then(
      (result) => this.finish(result),
      () => this.finish(timedOut ? "timeout" : "network_failure"),
    ).finally(() => {
      clearTimeout(timeout);
      if (this.inflight === ac) this.inflight = null;
    });
  }

  private finish(result: HealthCheckResult): void {
    if (this.stopped) return;
    if (result === "timeout" || result === "network_failure") this.closeClient();
    if (result === "success" || result === "degraded") this.handleSuccess(result === "degraded");
    else this.handleFailure(result);
  }

  private port(): number {
    return this.host.healthCheckPort || this.host.port;
  }

  private async checkTcp(signal: AbortSignal): Promise<HealthCheckResult> {
    // Connect-only check: a fresh connection each time, closed at once.
    const socket = await this.parent.cluster.connector(this.host.address, this.port(), this.parent.config.timeoutMs, signal);
    socket.destroy();
    return "success";
  }

  private httpClient(): Client {
    if (this.client) return this.client;
    const connector = this.parent.cluster.connector;
    const address = this.host.address;
    const port = this.port();
    const timeoutMs = this.parent.config.timeoutMs;
    const origin = `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
    const client = new Client(origin, {
      connect: (_opts, cb) => {
        connector(address, port, timeoutMs).then(
          (s: Socket) => cb(null, s),
          (e: Error) => cb(e, null),
        );
      },
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    (client as unknown as NodeJS.EventEmitter).on("error", () => {});
    this.client = client;
    return client;
  }

  private closeClient(): void {
    const c = this.client;
    this.client = null;
    c?.destroy().catch(() => {});
  }

  private async checkHttp(cfg: HttpHealthCheckConfig, signal: AbortSignal): Promise<HealthCheckResult> {
    const headers: [string, string][] = [
      // Envoy's HealthCheckerFactory::getHostname: the endpoint's health_check_config.hostname, then
      // http_health_check.host, then the cluster name.
      ["host", this.host.healthCheckHostname || cfg.host || this.parent.cluster.name],
      ["user-agent", USER_AGENT],
    ];
    applyHeaderEdits(headers, cfg);
    const flat: string[] = [];
    for (const [k, v] of headers) flat.push(k, v);
    const client = this.httpClient();
    const res = await client.request({ path: cfg.path, method: cfg.method as "GET", headers: flat, signal });
    // The body is not inspected (no `receive` matching); it is drained so the connection can be reused.
    await res.body.dump({ limit: 128 * 1024, signal });
    const connClose = /\bclose\b/i.test(String(res.headers.connection ?? ""));
    if (!this.parent.config.reuseConnection || connClose) this.closeClient();
    const code = res.statusCode;
    if (!inRanges(code, cfg.expectedStatuses)) {
      if (res.headers["x-envoy-immediate-health-check-fail"] !== undefined) {
        this.host.healthFlags |= HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;
      }
      return inRanges(code, cfg.retriableStatuses) ? "retriable_failure" : "active_failure";
    }
    return res.headers["x-envoy-degraded"] !== undefined ? "degraded" : "success";
  }

  /** Envoy's ActiveHealthCheckSession::handleSuccess. */
  private handleSuccess(degraded: boolean): void {
    const host = this.host;
    const before = host.healthFlags;
    this.numUnhealthy = 0;
    let t = Transition.Unchanged;
    if (host.healthFlags & HealthFlag.FAILED_ACTIVE_HC) {
      // The first result ever moves the host to healthy at once: faster start-up, as in Envoy.
      if (this.firstCheck || ++this.numHealthy === this.parent.config.healthyThreshold) {
        host.healthFlags &= ~(HealthFlag.FAILED_ACTIVE_HC | HealthFlag.ACTIVE_HC_TIMEOUT | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL);
        t = Transition.Changed;
      } else {
        t = Transition.ChangePending;
      }
    }
    if (degraded) host.healthFlags |= HealthFlag.DEGRADED_ACTIVE_HC;
    else host.healthFlags &= ~HealthFlag.DEGRADED_ACTIVE_HC;
    if (degraded !== ((before & HealthFlag.DEGRADED_ACTIVE_HC) !== 0) && t === Transition.Unchanged) t = Transition.Changed;
    this.parent.stats.success.inc();
    this.report(before);
    this.schedule(this.parent.interval(true, t));
  }

  /** Envoy's setUnhealthy + handleFailure. */
  private handleFailure(result: HealthCheckResult): void {
    const host = this.host;
    const before = host.healthFlags;
    const network = result === "network_failure" || result === "timeout";
    this.numHealthy = 0;
    let t = Transition.Unchanged;
    if (!(host.healthFlags & HealthFlag.FAILED_ACTIVE_HC)) {
      if ((!network && result !== "retriable_failure") || ++this.numUnhealthy === this.parent.config.unhealthyThreshold) {
        host.healthFlags |= HealthFlag.FAILED_ACTIVE_HC;
        t = Transition.Changed;
      } else {
        t = Transition.ChangePending;
      }
    }
    if (result === "timeout" && host.healthFlags & HealthFlag.FAILED_ACTIVE_HC) host.healthFlags |= HealthFlag.ACTIVE_HC_TIMEOUT;
    else host.healthFlags &= ~HealthFlag.ACTIVE_HC_TIMEOUT;
    this.parent.stats.failure.inc();
    if (network) this.parent.stats.network_failure.inc();
    this.report(before);
    this.schedule(this.parent.interval(false, t));
  }

  private report(before: number): void {
    const first = this.firstCheck;
    this.firstCheck = false;
    if (before !== this.host.healthFlags) {
      this.parent.recount();
      this.parent.cluster.onHostHealthChanged(this.host);
    }
    if (first) this.parent.firstDone(this);
  }
}

function inRanges(code: number, ranges: readonly (readonly [number, number])[]): boolean {
  for (const [start, end] of ranges) if (code >= start && code < end) return true;
  return false;
}

/** request_headers_to_remove, then request_headers_to_add, as Envoy's header parser applies them. */
function applyHeaderEdits(headers: [string, string][], cfg: HttpHealthCheckConfig): void {
  for (const name of cfg.requestHeadersToRemove) {
    if (name === "host" || name === ":authority") continue;
    for (let i = headers.length - 1; i >= 0; i--) if (headers[i][0] === name) headers.splice(i, 1);
  }
  for (const h of cfg.requestHeadersToAdd) {
    const idx = headers.findIndex((e) => e[0] === h.name);
    const exists = idx >= 0;
    switch (h.action) {
      case "APPEND_IF_EXISTS_OR_ADD":
        // Host is single-valued in HTTP/1.1; appending to it replaces it, anything else gets another line.
        if (h.name === "host" && exists) headers[idx][1] = h.value;
        else headers.push([h.name, h.value]);
        break;
      case "ADD_IF_ABSENT":
        if (!exists) headers.push([h.name, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        for (let i = headers.length - 1; i > idx && idx >= 0; i--) if (headers[i][0] === h.name) headers.splice(i, 1);
        if (exists) headers[idx][1] = h.value;
        else headers.push([h.name, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (exists) headers[idx][1] = h.value;
        break;
    }
  }
}
