import test from "ava";
import { defaultTagProducer, prometheusMetricName } from "../proxy/observability/stats/tag-extractors.js";
import { StatsStore } from "../proxy/observability/stats.js";

const producer = defaultTagProducer();

function tags(name: string): Record<string, string> {
  return Object.fromEntries(producer.extract(name).tags.map((t) => [t.name.replace(/^envoy\./, ""), t.value]));
}

// Cases from the task and from Envoy's own tag_extractor_impl_test.cc (DefaultTagExtractors).
const CASES: ReadonlyArray<[string, string, Record<string, string>]> = [
  ["http.ingress.downstream_rq_total", "http.downstream_rq_total", { http_conn_manager_prefix: "ingress" }],
  ["http.ingress.downstream_rq_2xx", "http.downstream_rq_xx", { response_code_class: "2", http_conn_manager_prefix: "ingress" }],
  ["cluster.backend.upstream_rq_200", "cluster.upstream_rq", { response_code: "200", cluster_name: "backend" }],
  ["cluster.backend.upstream_rq_total", "cluster.upstream_rq_total", { cluster_name: "backend" }],
  ["listener.0.0.0.0_10000.downstream_cx_total", "listener.downstream_cx_total", { listener_address: "0.0.0.0_10000" }],
  ["listener.[__1]_0.downstream_cx_total", "listener.downstream_cx_total", { listener_address: "[__1]_0" }],
  ["listener.my_prefix.downstream_cx_total", "listener.downstream_cx_total", { listener_address: "my_prefix" }],
  ["listener.admin.downstream_cx_total", "listener.admin.downstream_cx_total", {}],
  ["listener.[__1]_0.ssl.ciphers.AES256-SHA", "listener.ssl.ciphers", { listener_address: "[__1]_0", ssl_cipher: "AES256-SHA" }],
  [
    "listener.[2001_0db8_85a3_0000_0000_8a2e_0370_7334]_3543.ssl.ciphers.AES256-SHA",
    "listener.ssl.ciphers",
    { listener_address: "[2001_0db8_85a3_0000_0000_8a2e_0370_7334]_3543", ssl_cipher: "AES256-SHA" },
  ],
  ["listener.prefix.notmatching.ssl.ciphers.AES256-SHA", "listener.notmatching.ssl.ciphers", { listener_address: "prefix", ssl_cipher: "AES256-SHA" }],
  ["listener.admin.ssl.ciphers.AES256-SHA", "listener.admin.ssl.ciphers", { ssl_cipher: "AES256-SHA" }],
  [
    "listener.127.0.0.1_3012.http.http_prefix.downstream_rq_5xx",
    "listener.http.downstream_rq_xx",
    { http_conn_manager_prefix: "http_prefix", listener_address: "127.0.0.1_3012", response_code_class: "5" },
  ],
  ["vhost.vhost_1.vcluster.vcluster_1.upstream_rq_2xx", "vhost.vcluster.upstream_rq_xx", { virtual_host: "vhost_1", virtual_cluster: "vcluster_1", response_code_class: "2" }],
  ["vhost.vhost_1.vcluster.vcluster_1.upstream_rq_200", "vhost.vcluster.upstream_rq", { virtual_host: "vhost_1", virtual_cluster: "vcluster_1", response_code: "200" }],
  ["vhost.vh.route.rt.upstream_rq_total", "vhost.route.upstream_rq_total", { virtual_host: "vh", route: "rt" }],
  ["tcp.tcp_prefix.downstream_flow_control_resumed_reading_total", "tcp.downstream_flow_control_resumed_reading_total", { tcp_prefix: "tcp_prefix" }],
  ["foo_ratelimiter.http_local_rate_limit.ok", "http_local_rate_limit.ok", { local_http_ratelimit_prefix: "foo_ratelimiter" }],
  ["local_rate_limit.foo_ratelimiter.rate_limited", "local_rate_limit.rate_limited", { local_network_ratelimit_prefix: "foo_ratelimiter" }],
  ["listener_local_ratelimit.lp.rate_limited", "listener_local_ratelimit.rate_limited", { local_listener_ratelimit_prefix: "lp" }],
  ["my_rbac_prefix.rbac.allowed", "rbac.allowed", { rbac_prefix: "my_rbac_prefix" }],
  ["http.hcm_prefix.rbac.prefix.allowed", "http.rbac.allowed", { http_conn_manager_prefix: "hcm_prefix", rbac_http_prefix: "prefix" }],
  ["http.hcm_prefix.rbac.allowed", "http.rbac.allowed", { http_conn_manager_prefix: "hcm_prefix" }],
  ["http.hcm_prefix.rbac.policy.my_rbac_policy.allowed", "http.rbac.policy.allowed", { http_conn_manager_prefix: "hcm_prefix", rbac_policy_name: "my_rbac_policy" }],
  [
    "http.hcm_prefix.rbac.prefix.policy.my_rbac_policy.shadow_denied",
    "http.rbac.policy.shadow_denied",
    { http_conn_manager_prefix: "hcm_prefix", rbac_http_prefix: "prefix", rbac_policy_name: "my_rbac_policy" },
  ],
  ["proxy_proto.not_found_disallowed", "proxy_proto.not_found_disallowed", {}],
  ["proxy_proto.test_stat_prefix.not_found_disallowed", "proxy_proto.not_found_disallowed", { proxy_protocol_prefix: "test_stat_prefix" }],
  ["proxy_proto.versions.v2.error", "proxy_proto.error", { proxy_protocol_version: "2" }],
  ["proxy_proto.test_stat_prefix.versions.v2.error", "proxy_proto.error", { proxy_protocol_prefix: "test_stat_prefix", proxy_protocol_version: "2" }],
  ["listener_manager.worker_123.dispatcher.loop_duration_us", "listener_manager.worker_dispatcher.loop_duration_us", { worker_id: "123" }],
  ["listener.127.0.0.1_3012.worker_123.downstream_cx_active", "listener.worker_downstream_cx_active", { listener_address: "127.0.0.1_3012", worker_id: "123" }],
  ["server.worker_123.watchdog_miss", "server.worker_watchdog_miss", { worker_id: "123" }],
  ["http.rds_connection_manager.rds.agg/route_config.1-23.update_success", "http.rds.update_success", { http_conn_manager_prefix: "rds_connection_manager", rds_route_config: "agg/route_config.1-23" }],
  [
    "http.egress_dynamodb_iad.dynamodb.table.bar_table.capacity.Query.__partition_id=ABC1234",
    "http.dynamodb.table.capacity",
    { http_conn_manager_prefix: "egress_dynamodb_iad", dynamo_table: "bar_table", dynamo_operation: "Query", dynamo_partition_id: "ABC1234" },
  ],
  [
    "mongo.mongo_filter.collection.bar_collection.callsite.baz_callsite.query.scatter_get",
    "mongo.collection.callsite.query.scatter_get",
    { mongo_prefix: "mongo_filter", mongo_collection: "bar_collection", mongo_callsite: "baz_callsite" },
  ],
  ["cluster.grpc_cluster.grpc.grpc_service_1.grpc_method_1.success", "cluster.grpc.success", { cluster_name: "grpc_cluster", grpc_bridge_service: "grpc_service_1", grpc_bridge_method: "grpc_method_1" }],
  ["http.http_prefix.ext_authz.authpfx.denied", "http.ext_authz.denied", { http_conn_manager_prefix: "http_prefix", ext_authz_prefix: "authpfx" }],
  ["server.live", "server.live", {}],
  ["downstream_cx_proxy_proto_error", "downstream_cx_proxy_proto_error", {}],
];

for (const [name, extracted, expected] of CASES) {
  test(`tag extraction: ${name}`, (t) => {
    const r = producer.extract(name);
    t.is(r.extracted, extracted);
    t.deepEqual(tags(name), expected);
  });
}

test("label order follows Envoy's extractor order (response code before the prefix tags)", (t) => {
  t.deepEqual(
    producer.extract("http.ingress.downstream_rq_2xx").tags.map((x) => x.name),
    ["envoy.response_code_class", "envoy.http_conn_manager_prefix"],
  );
  t.deepEqual(
    producer.extract("cluster.backend.upstream_rq_200").tags.map((x) => x.name),
    ["envoy.response_code", "envoy.cluster_name"],
  );
});

test("a store computes the Prometheus name and labels once, at creation", (t) => {
  const store = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  store.counter("http.ingress.downstream_rq_2xx");
  store.counter("cluster.backend.upstream_rq_200");
  store.counter("listener.0.0.0.0_10000.downstream_cx_total");
  const ids = Object.fromEntries([...store.allCounters()].map((c) => [c.id.name, `${c.id.promName}{${c.id.promLabels}}`]));
  t.deepEqual(ids, {
    "http.ingress.downstream_rq_2xx": 'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"}',
    "cluster.backend.upstream_rq_200": 'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"}',
    "listener.0.0.0.0_10000.downstream_cx_total": 'envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_10000"}',
  });
});

test("Prometheus names replace every character outside [A-Za-z0-9_]", (t) => {
  t.is(prometheusMetricName("listener.admin.downstream_cx_total"), "envoy_listener_admin_downstream_cx_total");
  t.is(prometheusMetricName("a-b.c/d"), "envoy_a_b_c_d");
});
