// Envoy's `server.*` stats, declared in one place. The server lifecycle owns the values it knows (state, live,
// connections, concurrency); uptime and memory are refreshed here at each stats flush, as Envoy refreshes them.
//
//   server.live                   gauge   1 when the state is LIVE, else 0
//   server.state                  gauge   LIVE=0, DRAINING=1, PRE_INITIALIZING=2, INITIALIZING=3
//   server.uptime                 gauge   seconds since start (refreshed at flush)
//   server.concurrency            gauge   worker count (1 for a Node process)
//   server.total_connections      gauge   open downstream connections, all listeners
//   server.memory_allocated       gauge   bytes in use (V8 heapUsed + external; refreshed at flush)
//   server.memory_heap_size       gauge   bytes reserved by the heap (V8 heapTotal; refreshed at flush)
//   server.memory_physical_size   gauge   resident set size (refreshed at flush)
//   server.version                gauge   numeric build version (0 unless the server sets it)
//   server.hot_restart_epoch      gauge   0 (no hot restart)
//   server.days_until_first_cert_expiring  gauge  set by whoever loads certificates
//   server.initialization_time_ms histogram time from start to LIVE
//   server.static_unknown_fields, server.dynamic_unknown_fields, server.debug_assertion_failures,
//   server.envoy_bug_failures     counters (stay 0: Tollgate refuses unknown fields instead of counting them)
import type { ServerState } from "../admin/types.js";
import type { Counter, Gauge, Histogram, StatsStore } from "./stats.js";

const STATE_VALUE: Readonly<Record<ServerState, number>> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

export interface ServerStats {
  readonly live: Gauge;
  readonly state: Gauge;
  readonly uptime: Gauge;
  readonly concurrency: Gauge;
  readonly totalConnections: Gauge;
  readonly memoryAllocated: Gauge;
  readonly memoryHeapSize: Gauge;
  readonly memoryPhysicalSize: Gauge;
  readonly version: Gauge;
  readonly hotRestartEpoch: Gauge;
  readonly daysUntilFirstCertExpiring: Gauge;
  readonly initializationTimeMs: Histogram;
  readonly staticUnknownFields: Counter;
  readonly dynamicUnknownFields: Counter;
  readonly debugAssertionFailures: Counter;
  readonly envoyBugFailures: Counter;
  /** Set `server.state` and `server.live` together. */
  setState(state: ServerState): void;
  /** Stop refreshing at flush. */
  close(): void;
}

export interface ServerStatsOptions {
  /** Epoch ms when the server started. */
  startTimeMs: number;
  /** Clock (epoch ms). Default Date.now. */
  now?: () => number;
  /** Memory reader. Default process.memoryUsage. */
  memoryUsage?: () => NodeJS.MemoryUsage;
}

export function createServerStats(store: StatsStore, opts: ServerStatsOptions): ServerStats {
  const s = store.scope("server");
  const now = opts.now ?? Date.now;
  const memory = opts.memoryUsage ?? (() => process.memoryUsage());
  const stats = {
    live: s.gauge("live", { importMode: "never" }),
    state: s.gauge("state", { importMode: "never" }),
    uptime: s.gauge("uptime", { importMode: "never" }),
    concurrency: s.gauge("concurrency", { importMode: "never" }),
    totalConnections: s.gauge("total_connections", { importMode: "never" }),
    memoryAllocated: s.gauge("memory_allocated", { importMode: "never" }),
    memoryHeapSize: s.gauge("memory_heap_size", { importMode: "never" }),
    memoryPhysicalSize: s.gauge("memory_physical_size", { importMode: "never" }),
    version: s.gauge("version", { importMode: "never" }),
    hotRestartEpoch: s.gauge("hot_restart_epoch", { importMode: "never" }),
    daysUntilFirstCertExpiring: s.gauge("days_until_first_cert_expiring", { importMode: "never" }),
    initializationTimeMs: s.histogram("initialization_time_ms"),
    staticUnknownFields: s.counter("static_unknown_fields"),
    dynamicUnknownFields: s.counter("dynamic_unknown_fields"),
    debugAssertionFailures: s.counter("debug_assertion_failures"),
    envoyBugFailures: s.counter("envoy_bug_failures"),
  };
  stats.concurrency.set(1);
  stats.hotRestartEpoch.set(0);
  const refresh = (): void => {
    stats.uptime.set(Math.max(0, Math.floor((now() - opts.startTimeMs) / 1000)));
    const m = memory();
    stats.memoryAllocated.set(m.heapUsed + m.external);
    stats.memoryHeapSize.set(m.heapTotal);
    stats.memoryPhysicalSize.set(m.rss);
  };
  refresh();
  const unsubscribe = store.onFlush(refresh);
  return {
    ...stats,
    setState(state: ServerState): void {
      stats.state.set(STATE_VALUE[state]);
      stats.live.set(state === "LIVE" ? 1 : 0);
    },
    close: unsubscribe,
  };
}
