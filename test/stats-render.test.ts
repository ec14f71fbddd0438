import test from "ava";
import { StatsStore } from "../proxy/observability/stats.js";
import { DEFAULT_STATS_QUERY, renderStatsJson, renderStatsText, type StatsQuery } from "../proxy/observability/stats/render-envoy.js";
import { formatG } from "../proxy/observability/stats/number-format.js";

function store(): StatsStore {
  return new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
}

const q = (over: Partial<StatsQuery>): StatsQuery => ({ ...DEFAULT_STATS_QUERY, ...over });

test("the same name returns the same stat; scopes join prefixes with a dot", (t) => {
  const s = store();
  t.is(s.counter("cluster.backend.upstream_rq_total"), s.scope("cluster.backend.").counter("upstream_rq_total"));
  t.is(s.counter("cluster.backend.upstream_rq_total"), s.scope("cluster").scope("backend").counter("upstream_rq_total"));
  t.is(s.gauge("server.live"), s.scope("server.").gauge("live"));
  t.is(s.histogram("http.x.downstream_rq_time"), s.scope("http.x").histogram("downstream_rq_time"));
});

test("stat names are sanitised as Envoy's: ':' becomes '_'", (t) => {
  const s = store();
  s.counter("listener.[::]_10000.downstream_cx_total").inc();
  t.is(renderStatsText(s), "listener.[__]_10000.downstream_cx_total: 1\n");
  t.is(s.counter("listener.[::]_10000.downstream_cx_total").value(), 1);
});

test("text: counters and gauges interleaved by name, then histograms", (t) => {
  const s = store();
  s.counter("cluster.b.upstream_rq_total").inc(3);
  s.gauge("cluster.b.membership_healthy").set(2);
  s.counter("a.first").inc();
  s.gauge("z.gauge").inc(5);
  s.gauge("z.gauge").dec(2);
  s.histogram("cluster.b.upstream_rq_time");
  t.is(
    renderStatsText(s),
    [
      "a.first: 1",
      "cluster.b.membership_healthy: 2",
      "cluster.b.upstream_rq_total: 3",
      "z.gauge: 3",
      "cluster.b.upstream_rq_time: No recorded values",
      "",
    ].join("\n"),
  );
});

test("usedonly leaves out stats never written; filter is a partial regex match on the name", (t) => {
  const s = store();
  s.counter("cluster.a.upstream_rq_total").inc();
  s.counter("cluster.a.upstream_rq_timeout");
  s.counter("cluster.b.upstream_rq_total").inc(0);
  s.gauge("server.live").set(0);
  t.is(renderStatsText(s, q({ usedOnly: true })), "cluster.a.upstream_rq_total: 1\ncluster.b.upstream_rq_total: 0\nserver.live: 0\n");
  t.is(renderStatsText(s, q({ filter: /rq_total/ })), "cluster.a.upstream_rq_total: 1\ncluster.b.upstream_rq_total: 0\n");
  t.is(renderStatsText(s, q({ filter: /^cluster\.a\./, usedOnly: true })), "cluster.a.upstream_rq_total: 1\n");
  t.is(renderStatsText(s, q({ type: "Gauges" })), "server.live: 0\n");
});

test("histograms: nothing shows until a flush; then interval and cumulative percentiles as Envoy prints them", (t) => {
  const s = store();
  const h = s.histogram("cluster.b.upstream_rq_time");
  h.record(1);
  t.is(renderStatsText(s), "cluster.b.upstream_rq_time: No recorded values\n");
  s.flush();
  t.is(
    renderStatsText(s),
    "cluster.b.upstream_rq_time: P0(1,1) P25(1.025,1.025) P50(1.05,1.05) P75(1.075,1.075) P90(1.09,1.09) " +
      "P95(1.095,1.095) P99(1.099,1.099) P99.5(1.0995,1.0995) P99.9(1.0999,1.0999) P100(1.1,1.1)\n",
  );
  // An empty interval prints nan, the cumulative side keeps the history.
  s.flush();
  t.regex(renderStatsText(s), /^cluster\.b\.upstream_rq_time: P0\(nan,1\) P25\(nan,1\.025\) .* P100\(nan,1\.1\)\n$/);
  h.record(300);
  s.flush();
  t.regex(renderStatsText(s), / P0\(300,1\) .* P100\(310,310\)\n$/);
});

test("histogram_buckets=cumulative|disjoint print B<bound>(interval,cumulative) with %g bounds", (t) => {
  const s = store();
  const h = s.histogram("x.rq_time");
  h.record(0.4);
  h.record(7);
  h.record(7);
  s.flush();
  const cumulative = renderStatsText(s, q({ histogramBuckets: "cumulative" }));
  t.true(cumulative.startsWith("x.rq_time: B0.5(1,1) B1(1,1) B5(1,1) B10(3,3) B25(3,3) "));
  t.true(cumulative.endsWith(" B600000(3,3) B1.8e+06(3,3) B3.6e+06(3,3)\n"));
  const disjoint = renderStatsText(s, q({ histogramBuckets: "disjoint" }));
  t.true(disjoint.startsWith("x.rq_time: B0.5(1,1) B1(0,0) B5(0,0) B10(2,2) B25(0,0) "));
});

test("json: {stats:[{name,value}...,{histograms:{supported_quantiles, computed_quantiles}}]}", (t) => {
  const s = store();
  s.counter("c.one").inc(2);
  s.gauge("g.two").set(7);
  s.histogram("h.three").record(1);
  s.histogram("h.unused");
  s.flush();
  const doc = JSON.parse(renderStatsJson(s));
  t.deepEqual(doc.stats.slice(0, 2), [
    { name: "c.one", value: 2 },
    { name: "g.two", value: 7 },
  ]);
  const hist = doc.stats[2].histograms;
  t.deepEqual(hist.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
  t.is(hist.computed_quantiles[0].name, "h.three");
  t.deepEqual(hist.computed_quantiles[0].values[2], { cumulative: 1.05, interval: 1.05 });
  t.deepEqual(hist.computed_quantiles[1].values[0], { cumulative: null, interval: null });
  const buckets = JSON.parse(renderStatsJson(s, q({ histogramBuckets: "cumulative", filter: /three/ })));
  t.deepEqual(buckets.stats[0].histograms[0].buckets[1], { upper_bound: 1, interval: 1, cumulative: 1 });
});

test("resetCounters zeroes counters and leaves gauges alone", (t) => {
  const s = store();
  s.counter("c").inc(4);
  s.gauge("g").set(4);
  s.resetCounters();
  t.is(s.counter("c").value(), 0);
  t.is(s.gauge("g").value(), 4);
});

test("the flush timer merges histograms on its own and tells onFlush listeners", async (t) => {
  const s = new StatsStore({ processMetrics: false, flushIntervalMs: 20 });
  t.teardown(() => s.close());
  s.histogram("h").record(5);
  // The store's timer is unref'd (it never keeps a process alive): hold the loop open, bounded, while waiting.
  const guard = setTimeout(() => t.fail("no flush within 5 s"), 5000);
  await new Promise<void>((resolve) => s.onFlush(resolve));
  clearTimeout(guard);
  t.regex(renderStatsText(s), /^h: P0\(5,5\)/);
});

test("%g formatting matches printf", (t) => {
  t.deepEqual([0.5, 1, 25, 1000, 300000, 600000, 1800000, 3600000, 99.5, 0.0001, 0.00001].map(formatG), [
    "0.5", "1", "25", "1000", "300000", "600000", "1.8e+06", "3.6e+06", "99.5", "0.0001", "1e-05",
  ]);
});
