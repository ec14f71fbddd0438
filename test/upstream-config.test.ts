import test from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import { checkUniqueClusterNames, parseClusterList } from "../proxy/upstream/config.js";
import { clusterJson, lbEndpoint, parse } from "./upstream-fixtures.js";

const ep = lbEndpoint("10.0.0.1", 8080);

function refusal(t: import("ava").ExecutionContext, json: Record<string, unknown>): ConfigError {
  const err = t.throws(() => parse(json), { instanceOf: ConfigError });
  return err!;
}

test("defaults follow Envoy's", (t) => {
  const c = parse(clusterJson("backend", [ep]));
  t.is(c.type, "STATIC");
  t.is(c.connectTimeoutMs, 5000);
  t.is(c.lbPolicy, "ROUND_ROBIN");
  t.is(c.dnsLookupFamily, "AUTO");
  t.is(c.dnsRefreshRateMs, 5000);
  t.false(c.respectDnsTtl);
  t.is(c.healthyPanicThreshold, 50);
  t.is(c.perConnectionBufferLimitBytes, 1024 * 1024);
  t.is(c.idleTimeoutMs, 3_600_000);
  t.deepEqual(c.circuitBreakers.DEFAULT, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, trackRemaining: false });
  t.deepEqual(c.circuitBreakers.HIGH, c.circuitBreakers.DEFAULT);
  t.is(c.endpoints.length, 1);
  t.like(c.endpoints[0], { address: "10.0.0.1", port: 8080, weight: 1, healthStatus: "UNKNOWN" });
  t.true(Object.isFrozen(c));
  t.true(Object.isFrozen(c.endpoints));
});

test("every supported field is read", (t) => {
  const c = parse(
    clusterJson(
      "api",
      [
        lbEndpoint("api.internal", 80, { load_balancing_weight: 3, health_status: "HEALTHY" }),
        lbEndpoint("api2.internal", 81, { health_status: 5 }),
      ],
      {
        type: "STRICT_DNS",
        connect_timeout: "0.25s",
        lb_policy: "LEAST_REQUEST",
        least_request_lb_config: { choice_count: 3 },
        common_lb_config: { healthy_panic_threshold: { value: 25 } },
        dns_lookup_family: "V4_ONLY",
        dns_refresh_rate: "10s",
        respect_dns_ttl: true,
        per_connection_buffer_limit_bytes: 32768,
        common_http_protocol_options: { idle_timeout: "30s" },
        typed_extension_protocol_options: {},
        transport_socket: {
          name: "envoy.transport_sockets.raw_buffer",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" },
        },
        circuit_breakers: {
          thresholds: [
            { max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 1, track_remaining: true },
            { priority: "HIGH", max_connections: 100 },
          ],
        },
        health_checks: [
          {
            timeout: "1s",
            interval: "2s",
            unhealthy_threshold: 3,
            healthy_threshold: { value: 2 },
            no_traffic_interval: "5s",
            reuse_connection: false,
            http_health_check: {
              path: "/healthz",
              host: "health.local",
              expected_statuses: [{ start: 200, end: 300 }],
              request_headers_to_add: [{ header: { key: "x-probe", value: "1" } }],
            },
          },
        ],
      },
    ),
  );
  t.is(c.type, "STRICT_DNS");
  t.is(c.connectTimeoutMs, 250);
  t.is(c.lbPolicy, "LEAST_REQUEST");
  t.is(c.leastRequestChoiceCount, 3);
  t.is(c.healthyPanicThreshold, 25);
  t.is(c.dnsLookupFamily, "V4_ONLY");
  t.is(c.dnsRefreshRateMs, 10_000);
  t.true(c.respectDnsTtl);
  t.is(c.perConnectionBufferLimitBytes, 32768);
  t.is(c.idleTimeoutMs, 30_000);
  t.is(c.endpoints[0].weight, 3);
  t.is(c.endpoints[1].healthStatus, "DEGRADED");
  t.deepEqual(c.circuitBreakers.DEFAULT, { maxConnections: 10, maxPendingRequests: 5, maxRequests: 20, maxRetries: 1, trackRemaining: true });
  t.is(c.circuitBreakers.HIGH.maxConnections, 100);
  t.is(c.circuitBreakers.HIGH.maxRequests, 1024);
  const hc = c.healthChecks[0];
  t.like(hc, { timeoutMs: 1000, intervalMs: 2000, unhealthyThreshold: 3, healthyThreshold: 2, noTrafficIntervalMs: 5000, reuseConnection: false });
  t.like(hc.checker, { type: "http", path: "/healthz", host: "health.local", method: "GET" });
  t.deepEqual(hc.checker.type === "http" ? hc.checker.expectedStatuses : [], [[200, 300]]);
});

test("an HTTP health check expects 200 only unless told otherwise (half-open range [200, 201))", (t) => {
  const c = parse(
    clusterJson("b", [ep], {
      health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/" } }],
    }),
  );
  const checker = c.healthChecks[0].checker;
  t.is(checker.type, "http");
  t.deepEqual(checker.type === "http" ? checker.expectedStatuses : [], [[200, 201]]);
  t.is(c.healthChecks[0].noTrafficIntervalMs, 60_000);
  t.true(c.healthChecks[0].reuseConnection);
});

test("an unknown field is refused with its full path", (t) => {
  const err = refusal(t, clusterJson("b", [ep], { outlier_detection: { consecutive_5xx: 5 } }));
  t.is(err.path, "static_resources.clusters[0].outlier_detection");

  const nested = refusal(t, clusterJson("b", [lbEndpoint("10.0.0.1", 80, { metadata: {} })]));
  t.is(nested.path, "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata");
});

test("a STATIC endpoint must be an IP literal", (t) => {
  const err = refusal(t, clusterJson("b", [lbEndpoint("backend.local", 80)]));
  t.is(err.path, "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address");
  t.regex(err.message, /not an IP address.*STRICT_DNS/);
  t.is(parse(clusterJson("b", [lbEndpoint("0:0:0:0:0:0:0:1", 80)])).endpoints[0].address, "::1");
  t.is(parse(clusterJson("b", [lbEndpoint("::ffff:10.0.0.1", 80)])).endpoints[0].address, "10.0.0.1");
  refusal(t, clusterJson("b", [lbEndpoint("fe80::1%eth0", 80)]));
  refusal(t, clusterJson("b", [lbEndpoint("010.0.0.1", 80)]));
});

test("unsupported cluster types and load balancers are refused by name", (t) => {
  t.regex(refusal(t, clusterJson("b", [ep], { type: "EDS" })).message, /cluster type EDS is not supported/);
  t.regex(refusal(t, clusterJson("b", [ep], { type: 4 })).message, /ORIGINAL_DST/);
  const lb = refusal(t, clusterJson("b", [ep], { lb_policy: "MAGLEV" }));
  t.is(lb.path, "static_resources.clusters[0].lb_policy");
  t.regex(lb.message, /MAGLEV is not supported/);
  t.regex(refusal(t, clusterJson("b", [ep], { lb_policy: "RING_HASH" })).message, /RING_HASH/);
});

test("upstream TLS and upstream PROXY are refused as not yet supported, naming the path", (t) => {
  const tls = refusal(
    t,
    clusterJson("b", [ep], {
      transport_socket: {
        name: "envoy.transport_sockets.tls",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "x" },
      },
    }),
  );
  t.is(tls.path, "static_resources.clusters[0].transport_socket.typed_config");
  t.regex(tls.message, /TLS to upstream clusters is not yet supported/);
  const pp = refusal(
    t,
    clusterJson("b", [ep], {
      transport_socket: {
        name: "envoy.transport_sockets.upstream_proxy_protocol",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport",
          config: { version: "V2" },
        },
      },
    }),
  );
  t.regex(pp.message, /PROXY protocol header to upstream clusters is not yet supported/);
  t.notThrows(() => parse(clusterJson("b", [ep], { transport_socket: { name: "envoy.transport_sockets.raw_buffer" } })));
});

test("typed_extension_protocol_options are refused unless empty", (t) => {
  const err = refusal(
    t,
    clusterJson("b", [ep], {
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { explicit_http_config: { http2_protocol_options: {} } },
      },
    }),
  );
  t.is(err.path, "static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
});

test("LOGICAL_DNS needs exactly one endpoint; only priority 0 is supported", (t) => {
  t.regex(
    refusal(t, clusterJson("b", [lbEndpoint("a.local", 80), lbEndpoint("b.local", 80)], { type: "LOGICAL_DNS" })).message,
    /exactly one lb_endpoint, found 2/,
  );
  const p = refusal(t, { name: "b", load_assignment: { cluster_name: "b", endpoints: [{ priority: 1, lb_endpoints: [ep] }] } });
  t.is(p.path, "static_resources.clusters[0].load_assignment.endpoints[0].priority");
});

test("health check required fields and ranges are enforced with paths", (t) => {
  const missing = refusal(t, clusterJson("b", [ep], { health_checks: [{ interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }] }));
  t.is(missing.path, "static_resources.clusters[0].health_checks[0].timeout");
  const noPath = refusal(
    t,
    clusterJson("b", [ep], { health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: {} }] }),
  );
  t.is(noPath.path, "static_resources.clusters[0].health_checks[0].http_health_check.path");
  const range = refusal(
    t,
    clusterJson("b", [ep], {
      health_checks: [
        { timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/", expected_statuses: [{ start: 300, end: 200 }] } },
      ],
    }),
  );
  t.is(range.path, "static_resources.clusters[0].health_checks[0].http_health_check.expected_statuses[0]");
  const send = refusal(
    t,
    clusterJson("b", [ep], {
      health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: "0102" } } }],
    }),
  );
  t.is(send.path, "static_resources.clusters[0].health_checks[0].tcp_health_check.send");
  const grpc = refusal(
    t,
    clusterJson("b", [ep], { health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, grpc_health_check: {} }] }),
  );
  t.regex(grpc.message, /grpc_health_check is not supported/);
});

test("cluster names must be unique; the second occurrence is named", (t) => {
  const err = t.throws(() => parseClusterList([clusterJson("a", [ep]), clusterJson("b", [ep]), clusterJson("a", [ep])]), { instanceOf: ConfigError });
  t.is(err!.path, "static_resources.clusters[2].name");
  t.regex(err!.message, /duplicate cluster name 'a'/);
  t.notThrows(() => checkUniqueClusterNames([{ name: "a" }, { name: "b" }]));
});

test("circuit breaker thresholds: a priority given twice is refused", (t) => {
  const err = refusal(t, clusterJson("b", [ep], { circuit_breakers: { thresholds: [{ max_connections: 1 }, { priority: "DEFAULT", max_connections: 2 }] } }));
  t.is(err.path, "static_resources.clusters[0].circuit_breakers.thresholds[1].priority");
});

test("a name is required and connect_timeout must be positive", (t) => {
  t.is(refusal(t, { load_assignment: { cluster_name: "x", endpoints: [] } }).path, "static_resources.clusters[0].name");
  t.is(refusal(t, clusterJson("b", [ep], { connect_timeout: "0s" })).path, "static_resources.clusters[0].connect_timeout");
});
