import test from "ava";
import { createServerStats } from "../proxy/observability/server-stats.js";
import { StatsStore } from "../proxy/observability/stats.js";
import { renderEnvoyPrometheus } from "../proxy/observability/stats/render-prometheus.js";

test("server.* stats: state and live move together; uptime and memory refresh at each flush", (t) => {
  const store = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  let clock = 1_000_000;
  let heap = 100;
  const server = createServerStats(store, {
    startTimeMs: 1_000_000,
    now: () => clock,
    memoryUsage: () => ({ rss: 5000, heapTotal: 400, heapUsed: heap, external: 20, arrayBuffers: 0 }),
  });
  t.teardown(() => server.close());
  server.setState("INITIALIZING");
  t.is(server.state.value(), 3);
  t.is(server.live.value(), 0);
  server.setState("LIVE");
  t.is(server.state.value(), 0);
  t.is(server.live.value(), 1);
  server.setState("DRAINING");
  t.deepEqual([server.state.value(), server.live.value()], [1, 0]);
  t.is(server.uptime.value(), 0);
  clock += 61_500;
  heap = 300;
  store.flush();
  t.is(server.uptime.value(), 61);
  t.is(server.memoryAllocated.value(), 320);
  t.is(server.memoryHeapSize.value(), 400);
  t.is(server.memoryPhysicalSize.value(), 5000);
  t.is(server.concurrency.value(), 1);
  const prom = renderEnvoyPrometheus(store, { usedOnly: false, filter: null });
  t.true(prom.includes("# TYPE envoy_server_uptime gauge\nenvoy_server_uptime{} 61\n"));
  server.close();
  clock += 10_000;
  store.flush();
  t.is(server.uptime.value(), 61);
});
