// A runtime cluster: its hosts (fixed for STATIC, re-resolved for STRICT_DNS / LOGICAL_DNS), their health, the
// load-balancing sets derived from that health, the circuit breakers and the stats.
//
// Work happens on change, not per request: when membership or health changes, the healthy / degraded / all-hosts
// sets, the panic decision and the pickers are rebuilt; `chooseHost()` then costs a random draw and an O(1) pick.
import { EventEmitter } from "node:events";
import type { StatsStore } from "../observability/stats.js";
import { ResourceManager } from "./circuit-breaker.js";
import { ClusterStats } from "./cluster-stats.js";
import type { ClusterConfig, EndpointConfig } from "./config.js";
import { tcpConnect, type Connector } from "./connect.js";
import { systemResolver, type DnsResolver } from "./dns.js";
import { HealthChecker } from "./health-check.js";
import { HealthFlag, Host, type HostSpec } from "./host.js";
import { createPicker, type Cursor, type Picker } from "./load-balancer.js";

export interface ClusterOptions {
  /** DNS resolver for STRICT_DNS / LOGICAL_DNS (default: the system resolver). */
  resolver?: DnsResolver;
  /** TCP connector (default: node:net with connect_timeout). */
  connector?: Connector;
  /** Random source in [0, 1) for the load balancer and health-check jitter (default Math.random). */
  random?: () => number;
}

/** Events: `hosts` (membership changed), `health` (host) after a host's health flags changed, `dns` after a resolution. */
export interface ClusterEvents {
  hosts: [hosts: readonly Host[]];
  health: [host: Host];
  dns: [result: { ok: boolean; addresses: string[]; error?: Error }];
}

interface LbState {
  /** Non-excluded hosts, used in panic mode. */
  all: Picker<Host> | null;
  healthy: Picker<Host> | null;
  degraded: Picker<Host> | null;
  panic: boolean;
  /** Percent of picks that go to healthy hosts (the rest to degraded ones), Envoy's single-priority load split. */
  healthyLoad: number;
}

// Envoy's default overprovisioning factor (1.4): a set with 72% healthy hosts still takes 100% of the load.
const OVERPROVISIONING = 1.4;

export class Cluster extends EventEmitter<ClusterEvents> {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly resources: { readonly DEFAULT: ResourceManager; readonly HIGH: ResourceManager };
  readonly connector: Connector;
  readonly healthChecker: HealthChecker | null;
  private readonly resolver: DnsResolver;
  private readonly rand: () => number;
  private hostList: Host[] = [];
  private lb: LbState = { all: null, healthy: null, degraded: null, panic: false, healthyLoad: 100 };
  private readonly cursors: { all: Cursor; healthy: Cursor; degraded: Cursor } = { all: { i: 0 }, healthy: { i: 0 }, degraded: { i: 0 } };
  private dnsTimer: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;
  private initPromise: Promise<void> | null = null;

  constructor(config: ClusterConfig, store: StatsStore, opts: ClusterOptions = {}) {
    super();
    this.name = config.name;
    this.config = config;
    this.stats = new ClusterStats(store.scope(`cluster.${config.name}.`));
    this.resources = {
      DEFAULT: new ResourceManager(this.stats.scope, "DEFAULT", config.circuitBreakers.DEFAULT),
      HIGH: new ResourceManager(this.stats.scope, "HIGH", config.circuitBreakers.HIGH),
    };
    this.connector = opts.connector ?? tcpConnect;
    this.resolver = opts.resolver ?? systemResolver;
    this.rand = opts.random ?? Math.random;
    const hc = config.healthChecks[0];
    this.healthChecker = hc
      ? new HealthChecker(
          {
            name: config.name,
            connector: this.connector,
            hadTraffic: () => this.stats.upstream_cx_total.value() > 0,
            onHostHealthChanged: (h) => this.onHostHealthChanged(h),
            random: this.rand,
          },
          hc,
          this.stats.scope,
        )
      : null;
    if (config.type === "STATIC") {
      this.hostList = config.endpoints.map((e) => this.makeHost(e, e.address));
    }
    this.rebuild();
  }

  /** The current hosts (all of them, whatever their health). */
  get hosts(): readonly Host[] {
    return this.hostList;
  }

  random(): number {
    return this.rand();
  }

  /**
   * Start DNS refresh and health checking. Resolves when the cluster is warm, as Envoy's cluster initialisation:
   * after the first DNS resolution attempt and the first health check of every host.
   */
  initialize(): Promise<void> {
    if (this.initPromise) return this.initPromise;
    this.started = true;
    this.initPromise = (async () => {
      if (this.config.type !== "STATIC") await this.resolveOnce();
      else this.healthChecker?.addHosts(this.hostList);
      await this.healthChecker?.firstRound();
    })();
    return this.initPromise;
  }

  /**
   * Pick a host for a request, or null when there is none (the router then answers 503 `no healthy upstream`, UH).
   * Envoy's panic rule: when healthy (plus degraded) hosts are fewer than healthy_panic_threshold percent (50) of the
   * hosts, health is ignored and all hosts take traffic.
   */
  chooseHost(): Host | null {
    const lb = this.lb;
    let picker: Picker<Host> | null;
    if (lb.panic) {
      this.stats.lb_healthy_panic.inc();
      picker = lb.all;
    } else if (lb.degraded === null) {
      picker = lb.healthy;
    } else if (lb.healthy === null) {
      picker = lb.degraded;
    } else {
      picker = this.rand() * 100 < lb.healthyLoad ? lb.healthy : lb.degraded;
    }
    if (picker === null) {
      this.stats.upstream_cx_none_healthy.inc();
      return null;
    }
    return picker.pick();
  }

  /**
   * Take one retry from the max_retries circuit breaker. Returns the release function, or null when the breaker is
   * open (upstream_rq_retry_overflow counted; the router then does not retry).
   */
  tryRetry(priority: "DEFAULT" | "HIGH" = "DEFAULT"): (() => void) | null {
    const r = this.resources[priority].retries;
    if (!r.canCreate()) {
      this.stats.upstream_rq_retry_overflow.inc();
      return null;
    }
    r.inc();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      r.dec();
    };
  }

  /** Stop DNS and health checking, refuse new requests, and close connections once their requests finish. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    this.dnsTimer = null;
    this.healthChecker?.stop();
    await Promise.all(this.hostList.map((h) => h.close()));
  }

  private makeHost(e: EndpointConfig, address: string): Host {
    const spec: HostSpec = {
      address,
      port: e.port,
      hostname: e.hostname || (this.config.type === "STATIC" ? "" : e.address),
      healthCheckHostname: e.healthCheckHostname,
      healthCheckPort: e.healthCheckPort,
      disableActiveHealthCheck: e.disableActiveHealthCheck,
      weight: e.weight,
      locality: e.locality,
      healthStatus: e.healthStatus,
    };
    const host = new Host(this, spec);
    // With active health checking, a host starts as failed_active_hc until its first check passes (Envoy).
    if (this.healthChecker && !e.disableActiveHealthCheck) host.healthFlags |= HealthFlag.FAILED_ACTIVE_HC;
    return host;
  }

  // ---- DNS ---------------------------------------------------------------------------------------------------------

  private async resolveOnce(): Promise<void> {
    if (this.closed) return;
    const cfg = this.config;
    this.stats.update_attempt.inc();
    const targets = cfg.type === "LOGICAL_DNS" ? cfg.endpoints.slice(0, 1) : cfg.endpoints;
    let ttl: number | undefined;
    try {
      const answers = await Promise.all(targets.map((e) => this.resolver(e.address, cfg.dnsLookupFamily, cfg.respectDnsTtl)));
      if (this.closed) return;
      const next: { e: EndpointConfig; address: string }[] = [];
      answers.forEach((a, i) => {
        // LOGICAL_DNS uses only the first address of the answer.
        const addrs = cfg.type === "LOGICAL_DNS" ? a.addresses.slice(0, 1) : a.addresses;
        for (const address of addrs) next.push({ e: targets[i], address });
        if (a.ttlSeconds !== undefined && (ttl === undefined || a.ttlSeconds < ttl)) ttl = a.ttlSeconds;
      });
      this.stats.update_success.inc();
      this.applyResolution(next);
      this.emit("dns", { ok: true, addresses: next.map((n) => n.address) });
    } catch (err) {
      if (this.closed) return;
      // Keep the last good host set; Envoy counts the failure and tries again at the refresh rate.
      this.stats.update_failure.inc();
      this.emit("dns", { ok: false, addresses: this.hostList.map((h) => h.address), error: err as Error });
    } finally {
      if (!this.closed) {
        const refresh = cfg.respectDnsTtl && ttl !== undefined && ttl > 0 ? ttl * 1000 : cfg.dnsRefreshRateMs;
        this.dnsTimer = setTimeout(() => void this.resolveOnce(), refresh);
        this.dnsTimer.unref();
      }
    }
  }

  private applyResolution(next: { e: EndpointConfig; address: string }[]): void {
    const key = (address: string, port: number): string => `${address}|${port}`;
    const existing = new Map(this.hostList.map((h) => [key(h.address, h.port), h]));
    const kept: Host[] = [];
    const added: Host[] = [];
    const seen = new Set<string>();
    for (const { e, address } of next) {
      const k = key(address, e.port);
      if (seen.has(k)) continue;
      seen.add(k);
      const old = existing.get(k);
      if (old) kept.push(old);
      else added.push(this.makeHost(e, address));
    }
    const removed = this.hostList.filter((h) => !seen.has(key(h.address, h.port)));
    if (added.length === 0 && removed.length === 0) {
      this.stats.update_no_rebuild.inc();
      return;
    }
    // Keep the resolver's order for a stable round robin.
    const byKey = new Map([...kept, ...added].map((h) => [key(h.address, h.port), h]));
    this.hostList = [...seen].map((k) => byKey.get(k)!);
    this.stats.membership_change.inc();
    if (this.started) this.healthChecker?.addHosts(added);
    this.healthChecker?.removeHosts(removed);
    for (const h of removed) void h.close();
    this.rebuild();
    this.emit("hosts", this.hostList);
  }

  // ---- health and load-balancing sets --------------------------------------------------------------------------------

  private onHostHealthChanged(host: Host): void {
    if (this.closed) return;
    this.rebuild();
    this.emit("health", host);
  }

  private rebuild(): void {
    const all: Host[] = [];
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    let excluded = 0;
    let maxWeight = 0;
    for (const h of this.hostList) {
      if (h.weight > maxWeight) maxWeight = h.weight;
      if (h.excluded()) {
        excluded++;
        continue;
      }
      all.push(h);
      const state = h.health();
      if (state === "healthy") healthy.push(h);
      else if (state === "degraded") degraded.push(h);
    }
    const s = this.stats;
    s.membership_total.set(this.hostList.length);
    s.membership_healthy.set(healthy.length);
    s.membership_degraded.set(degraded.length);
    s.membership_excluded.set(excluded);
    s.max_host_weight.set(maxWeight);

    const n = all.length;
    const healthyPct = n === 0 ? 0 : (100 * healthy.length) / n;
    const degradedPct = n === 0 ? 0 : (100 * degraded.length) / n;
    const panic = healthyPct + degradedPct < this.config.healthyPanicThreshold;
    // Envoy's priority load for one priority: healthy hosts take min(100, 1.4 × healthy%), degraded hosts the rest up
    // to 1.4 × degraded%, normalised to 100 when the two together fall short.
    let hLoad = Math.min(100, Math.round(OVERPROVISIONING * healthyPct));
    let dLoad = Math.min(100 - hLoad, Math.round(OVERPROVISIONING * degradedPct));
    if (hLoad + dLoad > 0 && hLoad + dLoad < 100) {
      const sum = hLoad + dLoad;
      hLoad = (100 * hLoad) / sum;
      dLoad = 100 - hLoad;
    }
    const mk = (hosts: Host[], cursor: Cursor): Picker<Host> | null =>
      hosts.length === 0
        ? null
        : createPicker(this.config.lbPolicy, hosts, { random: this.rand, cursor, choiceCount: this.config.leastRequestChoiceCount });
    this.lb = {
      all: mk(all, this.cursors.all),
      healthy: mk(healthy, this.cursors.healthy),
      degraded: dLoad > 0 ? mk(degraded, this.cursors.degraded) : null,
      panic,
      healthyLoad: hLoad,
    };
  }
}
