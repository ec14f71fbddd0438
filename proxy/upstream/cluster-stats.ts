// The `cluster.<name>.` statistics, declared once when the cluster is built. Names are Envoy's.
import type { Counter, Gauge, Histogram, StatsScope } from "../observability/stats.js";

export class ClusterStats {
  readonly scope: StatsScope;
  // connections
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_http1_total: Counter;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_none_healthy: Counter;
  readonly upstream_cx_destroy: Counter;
  readonly upstream_cx_destroy_with_active_rq: Counter;
  readonly upstream_cx_connect_ms: Histogram;
  readonly upstream_cx_length_ms: Histogram;
  // requests
  readonly upstream_rq_total: Counter;
  readonly upstream_rq_active: Gauge;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
  readonly upstream_rq_pending_failure_eject: Counter;
  readonly upstream_rq_cancelled: Counter;
  readonly upstream_rq_completed: Counter;
  readonly upstream_rq_timeout: Counter;
  readonly upstream_rq_per_try_timeout: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_tx_reset: Counter;
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_overflow: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_time: Histogram;
  // membership, discovery, balancing
  readonly membership_healthy: Gauge;
  readonly membership_degraded: Gauge;
  readonly membership_excluded: Gauge;
  readonly membership_total: Gauge;
  readonly membership_change: Counter;
  readonly max_host_weight: Gauge;
  readonly lb_healthy_panic: Counter;
  readonly update_attempt: Counter;
  readonly update_success: Counter;
  readonly update_failure: Counter;
  readonly update_empty: Counter;
  readonly update_no_rebuild: Counter;

  private readonly classes: Counter[];
  // Per-status counters (`upstream_rq_503`) are created on first sight of a status and kept by index, so a response
  // costs one array read after the first.
  private readonly byCode: (Counter | undefined)[] = new Array(600);

  constructor(scope: StatsScope) {
    this.scope = scope;
    const c = (n: string): Counter => scope.counter(n);
    const g = (n: string): Gauge => scope.gauge(n);
    const h = (n: string): Histogram => scope.histogram(n);
    this.upstream_cx_total = c("upstream_cx_total");
    this.upstream_cx_active = g("upstream_cx_active");
    this.upstream_cx_http1_total = c("upstream_cx_http1_total");
    this.upstream_cx_connect_fail = c("upstream_cx_connect_fail");
    this.upstream_cx_connect_timeout = c("upstream_cx_connect_timeout");
    this.upstream_cx_overflow = c("upstream_cx_overflow");
    this.upstream_cx_none_healthy = c("upstream_cx_none_healthy");
    this.upstream_cx_destroy = c("upstream_cx_destroy");
    this.upstream_cx_destroy_with_active_rq = c("upstream_cx_destroy_with_active_rq");
    this.upstream_cx_connect_ms = h("upstream_cx_connect_ms");
    this.upstream_cx_length_ms = h("upstream_cx_length_ms");
    this.upstream_rq_total = c("upstream_rq_total");
    this.upstream_rq_active = g("upstream_rq_active");
    this.upstream_rq_pending_total = c("upstream_rq_pending_total");
    this.upstream_rq_pending_active = g("upstream_rq_pending_active");
    this.upstream_rq_pending_overflow = c("upstream_rq_pending_overflow");
    this.upstream_rq_pending_failure_eject = c("upstream_rq_pending_failure_eject");
    this.upstream_rq_cancelled = c("upstream_rq_cancelled");
    this.upstream_rq_completed = c("upstream_rq_completed");
    this.upstream_rq_timeout = c("upstream_rq_timeout");
    this.upstream_rq_per_try_timeout = c("upstream_rq_per_try_timeout");
    this.upstream_rq_rx_reset = c("upstream_rq_rx_reset");
    this.upstream_rq_tx_reset = c("upstream_rq_tx_reset");
    this.upstream_rq_retry = c("upstream_rq_retry");
    this.upstream_rq_retry_overflow = c("upstream_rq_retry_overflow");
    this.upstream_rq_retry_success = c("upstream_rq_retry_success");
    this.upstream_rq_time = h("upstream_rq_time");
    this.membership_healthy = g("membership_healthy");
    this.membership_degraded = g("membership_degraded");
    this.membership_excluded = g("membership_excluded");
    this.membership_total = g("membership_total");
    this.membership_change = c("membership_change");
    this.max_host_weight = g("max_host_weight");
    this.lb_healthy_panic = c("lb_healthy_panic");
    this.update_attempt = c("update_attempt");
    this.update_success = c("update_success");
    this.update_failure = c("update_failure");
    this.update_empty = c("update_empty");
    this.update_no_rebuild = c("update_no_rebuild");
    this.classes = [1, 2, 3, 4, 5].map((n) => c(`upstream_rq_${n}xx`));
  }

  /**
   * Envoy's chargeUpstreamCode: `upstream_rq_<code>`, `upstream_rq_<N>xx` and `upstream_rq_completed`. Called for
   * every upstream response (by the host, at response headers) and, as Envoy's router does, for the 503/504 the
   * router answers when the upstream failed.
   */
  chargeResponseCode(code: number): void {
    if (code < 100 || code > 599) return;
    let counter = this.byCode[code];
    if (counter === undefined) {
      counter = this.scope.counter(`upstream_rq_${code}`);
      this.byCode[code] = counter;
    }
    counter.inc();
    this.classes[((code / 100) | 0) - 1].inc();
    this.upstream_rq_completed.inc();
  }
}
