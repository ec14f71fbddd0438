// Envoy's per-cluster, per-priority resource manager: four counted resources (connections, pending requests,
// requests, retries), each with a maximum, an `*_open` gauge that reads 1 while the resource is exhausted, and, with
// track_remaining, a `remaining_*` gauge. Checking is a compare of two numbers: this sits on the request path.
import type { Gauge, StatsScope } from "../observability/stats.js";
import type { CircuitBreakerThresholds, RoutingPriority } from "./config.js";

export class Resource {
  readonly max: number;
  private current = 0;
  private readonly open: Gauge;
  private readonly remaining: Gauge | null;

  constructor(max: number, open: Gauge, remaining: Gauge | null) {
    this.max = max;
    this.open = open;
    this.remaining = remaining;
    open.set(max === 0 ? 1 : 0);
    remaining?.set(max);
  }

  canCreate(): boolean {
    return this.current < this.max;
  }

  count(): number {
    return this.current;
  }

  inc(): void {
    this.current++;
    this.update();
  }

  dec(): void {
    this.current--;
    this.update();
  }

  private update(): void {
    this.open.set(this.current >= this.max ? 1 : 0);
    this.remaining?.set(this.max > this.current ? this.max - this.current : 0);
  }
}

export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: Resource;

  /** `scope` is the cluster's scope (`cluster.<name>.`). */
  constructor(scope: StatsScope, priority: RoutingPriority, t: CircuitBreakerThresholds) {
    const s = scope.scope(`circuit_breakers.${priority === "DEFAULT" ? "default" : "high"}.`);
    const rem = (n: string): Gauge | null => (t.trackRemaining ? s.gauge(n) : null);
    this.connections = new Resource(t.maxConnections, s.gauge("cx_open"), rem("remaining_cx"));
    this.pendingRequests = new Resource(t.maxPendingRequests, s.gauge("rq_pending_open"), rem("remaining_pending"));
    this.requests = new Resource(t.maxRequests, s.gauge("rq_open"), rem("remaining_rq"));
    this.retries = new Resource(t.maxRetries, s.gauge("rq_retry_open"), rem("remaining_retries"));
    // max_connection_pools is refused at config time, so the pool breaker is never open; the gauge exists for parity.
    s.gauge("cx_pool_open").set(0);
  }
}
