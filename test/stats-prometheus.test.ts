import test from "ava";
import { spawnSync } from "node:child_process";
import { StatsStore } from "../proxy/observability/stats.js";
import { renderEnvoyPrometheus, renderPrometheus } from "../proxy/observability/stats/render-prometheus.js";

function store(processMetrics = false): StatsStore {
  return new StatsStore({ processMetrics, flushIntervalMs: 0 });
}

function populated(processMetrics = false): StatsStore {
  const s = store(processMetrics);
  s.counter("http.ingress.downstream_rq_total").inc(5);
  s.counter("http.ingress.downstream_rq_2xx").inc(4);
  s.counter("http.ingress.downstream_rq_5xx").inc(1);
  s.counter("http.egress.downstream_rq_2xx").inc(2);
  s.counter("cluster.backend.upstream_rq_200").inc(4);
  s.counter("cluster.backend.upstream_rq_503").inc(1);
  s.counter("listener.0.0.0.0_10000.downstream_cx_total").inc(3);
  s.counter("listener.admin.downstream_cx_total").inc(1);
  s.counter("proxy_proto.versions.v2.found").inc(2);
  s.counter("proxy_proto.pp.versions.v2.found").inc(1);
  s.counter("downstream_cx_proxy_proto_error");
  s.gauge("server.live").set(1);
  s.gauge("cluster.backend.membership_healthy").set(2);
  const h = s.histogram("cluster.backend.upstream_rq_time");
  for (const v of [0, 1, 3, 12, 700, 4_000_000]) h.record(v);
  s.histogram("http.ingress.downstream_rq_time");
  s.flush();
  return s;
}

test("counters become Envoy's tag-extracted families with labels", (t) => {
  const out = renderEnvoyPrometheus(populated(), { usedOnly: false, filter: null });
  t.true(out.includes('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 5\n'));
  t.true(out.includes('envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"} 4\n'));
  t.true(out.includes('envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 4\n'));
  t.true(out.includes('envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_10000"} 3\n'));
  t.true(out.includes("envoy_listener_admin_downstream_cx_total{} 1\n"));
  t.true(out.includes('envoy_proxy_proto_found{envoy_proxy_protocol_version="2"} 2\n'));
  t.true(out.includes('envoy_proxy_proto_found{envoy_proxy_protocol_prefix="pp",envoy_proxy_protocol_version="2"} 1\n'));
});

test("one # TYPE per family, series grouped, counters then gauges then histograms, a blank line after each family", (t) => {
  const out = renderEnvoyPrometheus(populated(), { usedOnly: false, filter: null });
  const types = [...out.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
  const names = types.map(([n]) => n);
  t.is(new Set(names).size, names.length);
  const kinds = types.map(([, k]) => k);
  t.deepEqual(kinds, [...kinds].sort((a, b) => ["counter", "gauge", "histogram"].indexOf(a) - ["counter", "gauge", "histogram"].indexOf(b)));
  t.true(
    out.includes(
      "# TYPE envoy_http_downstream_rq_xx counter\n" +
        'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="egress"} 2\n' +
        'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"} 4\n' +
        'envoy_http_downstream_rq_xx{envoy_response_code_class="5",envoy_http_conn_manager_prefix="ingress"} 1\n\n',
    ),
  );
  t.true(out.includes("# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n\n"));
});

test("histograms: Envoy's bucket bounds in ms, cumulative counts, +Inf, _sum and _count", (t) => {
  const out = renderEnvoyPrometheus(populated(), { usedOnly: false, filter: null });
  const lines = out.split("\n").filter((l) => l.startsWith("envoy_cluster_upstream_rq_time"));
  const les = lines.filter((l) => l.includes("_bucket")).map((l) => /le="([^"]+)"/.exec(l)?.[1]);
  t.deepEqual(les, [
    "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000",
    "300000", "600000", "1800000", "3600000", "+Inf",
  ]);
  t.true(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="0.5"} 1'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="1"} 2'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="1000"} 5'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="3600000"} 5'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 6'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 4000716'));
  t.true(lines.includes('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 6'));
});

test("usedonly and filter (on the Envoy name) narrow the output; a filter leaves out process metrics", async (t) => {
  const s = populated(true);
  const used = renderEnvoyPrometheus(s, { usedOnly: true, filter: null });
  t.false(used.includes("envoy_downstream_cx_proxy_proto_error"));
  t.false(used.includes("envoy_http_downstream_rq_time"));
  t.true(used.includes("envoy_cluster_upstream_rq_time_count"));
  const filtered = await renderPrometheus(s, { usedOnly: false, filter: /^cluster\.backend\.upstream_rq_\d/ });
  t.deepEqual(
    filtered.split("\n").filter((l) => l !== ""),
    [
      "# TYPE envoy_cluster_upstream_rq counter",
      'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 4',
      'envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"} 1',
    ],
  );
  const all = await renderPrometheus(s);
  t.true(all.includes("# TYPE process_cpu_user_seconds_total counter"));
  t.true(all.includes("nodejs_eventloop_lag_seconds"));
});

test("a stat whose Prometheus name belongs to another type is left out rather than emitting a second TYPE", (t) => {
  const s = store();
  s.counter("x.same").inc();
  s.gauge("x.same").set(3);
  const out = renderEnvoyPrometheus(s, { usedOnly: false, filter: null });
  t.is(out, "# TYPE envoy_x_same counter\nenvoy_x_same{} 1\n\n");
});

test("label values are escaped", (t) => {
  const s = store();
  s.counter('cluster.we"ird\\name.upstream_rq_total').inc();
  t.true(renderEnvoyPrometheus(s, { usedOnly: false, filter: null }).includes('{envoy_cluster_name="we\\"ird\\\\name"} 1'));
});

// promtool parses and lints the exposition. Envoy's own output has two lint findings by design, which Tollgate keeps
// for fidelity: counters such as envoy_cluster_upstream_rq lack the `_total` suffix, and Envoy prints no HELP lines.
// prom-client's process metrics add one more: its nodejs_active_*_total gauges. Anything else (a parse error, a
// duplicate family, a bad label) fails the test.
const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" });
const havePromtool = promtool.status === 0;
const ALLOWED_LINT = [
  /^envoy_\w+ counter metrics should have "_total" suffix$/,
  /^envoy_\w+ no help text$/,
  /^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/,
];

(havePromtool || process.env.CI === "true" ? test : test.skip)("promtool check metrics accepts the output", async (t) => {
  t.true(havePromtool, "promtool is required when CI=true (apt-get install prometheus)");
  const body = await renderPrometheus(populated(true));
  const r = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
  const findings = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "");
  // Exit 0: clean; exit 3: lint findings only. Exit 1 is a parse failure.
  t.true(r.status === 0 || r.status === 3, `promtool exit ${r.status}: ${findings.join("\n")}`);
  const unexpected = findings.filter((f) => !ALLOWED_LINT.some((re) => re.test(f)));
  t.deepEqual(unexpected, []);
});
