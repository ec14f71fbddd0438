// Request-header mutation, after Envoy's conn_manager_utility_test.cc and the HTTP/1 codec's Connection sanitising.
import test from "ava";
import { ConfigReader } from "../proxy/config/reader.js";
import { deriveClientAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { readRequestHeadersConfig, type RequestHeadersConfig } from "../proxy/filters/network/http-connection-manager/headers-config.js";
import {
  mutateRequestHeaders,
  STRIPPED_FROM_EDGE,
  STRIPPED_FROM_EXTERNAL,
  type DownstreamInfo,
  type HeaderEntries,
} from "../proxy/filters/network/http-connection-manager/request-headers.js";

function config(obj: object): RequestHeadersConfig {
  let n = 0;
  const r = new ConfigReader(obj, "hcm");
  const c = readRequestHeadersConfig(r, { localIp: "10.3.2.1", newRequestId: () => `generated-${++n}` });
  r.done();
  return c;
}

const EDGE = { use_remote_address: true };
const INTERNAL_NET = { internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }] } };

function run(cfgObj: object, peer: string, headers: HeaderEntries, down: Partial<DownstreamInfo> = {}) {
  const cfg = config(cfgObj);
  let xff: string | undefined;
  for (const [n, v] of headers) if (n === "x-forwarded-for") xff = xff === undefined ? v : `${xff},${v}`;
  const client = deriveClientAddress(cfg.xff, peer, cfg.localIp, xff);
  const result = mutateRequestHeaders(cfg, headers, client, { tls: false, localPort: 8080, ...down });
  return { result, client, headers };
}

const get = (h: HeaderEntries, name: string) => h.filter(([n]) => n === name).map(([, v]) => v);
const has = (h: HeaderEntries, name: string) => h.some(([n]) => n === name);

test("hop-by-hop headers and an incoming x-envoy-internal are removed", (t) => {
  const { headers } = run(EDGE, "50.0.0.1", [
    ["connection", "keep-alive, close"],
    ["keep-alive", "timeout=5"],
    ["proxy-connection", "keep-alive"],
    ["transfer-encoding", "chunked"],
    ["upgrade", "websocket"],
    ["x-envoy-internal", "true"],
    ["x-custom", "kept"],
  ]);
  for (const n of ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "x-envoy-internal"]) t.false(has(headers, n), n);
  t.deepEqual(get(headers, "x-custom"), ["kept"]);
});

test("headers nominated in Connection are removed; close/keep-alive/upgrade tokens are not header names", (t) => {
  const { headers, result } = run({}, "50.0.0.1", [
    ["connection", "te, mike, sam, will, close"],
    ["te", "gzip, trailers"],
    ["sam", "bar"],
    ["will", "baz"],
    ["x-request-foo", "downstream"],
  ]);
  t.is(result.reject, null);
  t.false(has(headers, "sam"));
  t.false(has(headers, "will"));
  t.deepEqual(get(headers, "te"), ["trailers"]);
  t.deepEqual(get(headers, "x-request-foo"), ["downstream"]);
  t.false(has(headers, "connection"));
});

test("nominating x-forwarded-*, a pseudo-header, or ten or more headers is a 400", (t) => {
  for (const c of ["x-forwarded-for", "X-Forwarded-Proto", "x-forwarded-host", ":path", "a,b,c,d,e,f,g,h,i,j"]) {
    const { result } = run({}, "50.0.0.1", [["connection", c]]);
    t.deepEqual(result.reject, { status: 400, details: "http1.connection_header_rejected" }, c);
  }
  const { result } = run({}, "50.0.0.1", [["connection", "te"], ["te", "x".repeat(256)]]);
  t.is(result.reject?.status, 400);
});

test("a nominated x-request-id is gone before request-id handling, so a new one is generated", (t) => {
  const { headers, result } = run({}, "50.0.0.1", [["connection", "x-request-id"], ["x-request-id", "client-chosen"]]);
  t.deepEqual(get(headers, "x-request-id"), ["generated-1"]);
  t.is(result.requestId, "generated-1");
});

test("TE keeps only 'trailers', otherwise it is dropped", (t) => {
  t.deepEqual(get(run({}, "50.0.0.1", [["te", "trailers, deflate"]]).headers, "te"), ["trailers"]);
  t.deepEqual(get(run({}, "50.0.0.1", [["te", "Trailers"]]).headers, "te"), ["trailers"]);
  t.false(has(run({}, "50.0.0.1", [["te", "gzip"]]).headers, "te"));
});

test("upgrade requests keep Connection and Upgrade when the upgrade type is allowed", (t) => {
  const ok = run({}, "50.0.0.1", [["connection", "Upgrade"], ["upgrade", "WebSocket"]], { allowedUpgrades: new Set(["websocket"]) });
  t.is(ok.result.reject, null);
  t.is(ok.result.upgrade, "websocket");
  t.deepEqual(get(ok.headers, "connection"), ["Upgrade"]);
  t.deepEqual(get(ok.headers, "upgrade"), ["WebSocket"]);
  const refused = run({}, "50.0.0.1", [["connection", "keep-alive, upgrade"], ["upgrade", "h2c"]], { allowedUpgrades: new Set(["websocket"]) });
  t.deepEqual(refused.result.reject, { status: 403, details: "upgrade_failed" });
  const none = run({}, "50.0.0.1", [["connection", "upgrade"], ["upgrade", "websocket"]]);
  t.is(none.result.reject?.details, "upgrade_failed");
  // An Upgrade header without the connection token is not an upgrade: both are dropped.
  const notUpgrade = run({}, "50.0.0.1", [["connection", "close"], ["upgrade", "websocket"]]);
  t.is(notUpgrade.result.upgrade, null);
  t.false(has(notUpgrade.headers, "upgrade"));
});

test("external requests lose Envoy control headers; internal requests keep them", (t) => {
  const control: HeaderEntries = [
    ["x-envoy-retry-on", "5xx"],
    ["x-envoy-retry-grpc-on", "cancelled"],
    ["x-envoy-max-retries", "9"],
    ["x-envoy-upstream-rq-timeout-ms", "1"],
    ["x-envoy-upstream-rq-per-try-timeout-ms", "1"],
    ["x-envoy-expected-rq-timeout-ms", "10"],
    ["x-envoy-force-trace", "true"],
    ["x-envoy-original-url", "http://x/"],
    ["x-envoy-retriable-status-codes", "123,456"],
    ["x-envoy-hedge-on-per-try-timeout", "true"],
    ["x-envoy-ip-tags", "bar"],
    ["x-envoy-upstream-alt-stat-name", "foo"],
    ["x-envoy-upstream-rq-timeout-alt-response", "204"],
    ["x-envoy-retriable-header-names", "x"],
  ];
  const ext = run({ ...EDGE, ...INTERNAL_NET }, "50.0.0.1", control.map(([n, v]) => [n, v] as [string, string]));
  for (const [n] of control) t.false(has(ext.headers, n), `external keeps ${n}`);
  const int = run({ ...EDGE, ...INTERNAL_NET }, "10.0.0.1", control.map(([n, v]) => [n, v] as [string, string]));
  t.true(int.client.internal);
  for (const [n] of control) t.true(has(int.headers, n), `internal loses ${n}`);
  t.deepEqual(get(int.headers, "x-envoy-internal"), ["true"]);
  t.false(has(ext.headers, "x-envoy-internal"));
});

test("edge requests also lose decorator, downstream-service and original-path headers; non-edge external keep them", (t) => {
  const edgeOnly: HeaderEntries = [
    ["x-envoy-decorator-operation", "foo"],
    ["x-envoy-downstream-service-cluster", "foo"],
    ["x-envoy-downstream-service-node", "foo"],
    ["x-envoy-original-path", "/my_path"],
  ];
  const edge = run(EDGE, "50.0.0.1", edgeOnly.map(([n, v]) => [n, v] as [string, string]));
  for (const [n] of edgeOnly) t.false(has(edge.headers, n), n);
  const notEdge = run({}, "50.0.0.1", [["x-forwarded-for", "60.0.0.1"], ...edgeOnly.map(([n, v]) => [n, v] as [string, string])]);
  for (const [n] of edgeOnly) t.true(has(notEdge.headers, n), n);
  t.deepEqual([...STRIPPED_FROM_EDGE].sort(), edgeOnly.map(([n]) => n).sort());
  t.true(STRIPPED_FROM_EXTERNAL.includes("x-envoy-force-trace"));
});

test("route_config internal_only_headers are stripped from external requests only", (t) => {
  const only = new Set(["custom_header"]);
  t.false(has(run(EDGE, "50.0.0.1", [["custom_header", "foo"]], { internalOnlyHeaders: only }).headers, "custom_header"));
  const int = run({ ...EDGE, ...INTERNAL_NET }, "10.0.0.1", [["custom_header", "foo"]], { internalOnlyHeaders: only });
  t.deepEqual(get(int.headers, "custom_header"), ["foo"]);
});

test("x-envoy-external-address is set on edge requests only", (t) => {
  const edge = run(EDGE, "50.0.0.1", [["x-envoy-external-address", "6.6.6.6"]]);
  t.deepEqual(get(edge.headers, "x-envoy-external-address"), ["50.0.0.1"]);
  const viaXff = run({ use_remote_address: true, xff_num_trusted_hops: 1 }, "203.0.113.128", [["x-forwarded-for", "198.51.100.1"]]);
  t.deepEqual(get(viaXff.headers, "x-envoy-external-address"), ["198.51.100.1"]);
  // Internal: an incoming value is preserved (Envoy ExternalAddressInternalRequestUseRemote).
  const internal = run({ ...EDGE, ...INTERNAL_NET }, "10.0.0.1", [["x-envoy-external-address", "60.0.0.1"]]);
  t.deepEqual(get(internal.headers, "x-envoy-external-address"), ["60.0.0.1"]);
  // Not edge (use_remote_address false): passed through, not set.
  const inner = run({}, "50.0.0.1", [["x-forwarded-for", "60.0.0.1"], ["x-envoy-external-address", "60.0.0.1"]]);
  t.deepEqual(get(inner.headers, "x-envoy-external-address"), ["60.0.0.1"]);
  t.false(has(run({}, "50.0.0.1", []).headers, "x-envoy-external-address"));
});

test("x-forwarded-for is rewritten as one header with the peer appended", (t) => {
  const { headers } = run(EDGE, "192.0.2.5", [["x-forwarded-for", "203.0.113.128, 203.0.113.10"], ["x-a", "1"], ["x-forwarded-for", "203.0.113.1"]]);
  t.deepEqual(get(headers, "x-forwarded-for"), ["203.0.113.128, 203.0.113.10,203.0.113.1,192.0.2.5"]);
  t.deepEqual(get(run(EDGE, "192.0.2.5", []).headers, "x-forwarded-for"), ["192.0.2.5"]);
  t.deepEqual(get(run({}, "192.0.2.5", [["x-forwarded-for", "1.1.1.1"]]).headers, "x-forwarded-for"), ["1.1.1.1"]);
});

test("x-forwarded-proto: overwritten at an untrusted edge, kept from a trusted hop, set when absent", (t) => {
  t.deepEqual(get(run(EDGE, "50.0.0.1", [["x-forwarded-proto", "https"]]).headers, "x-forwarded-proto"), ["http"]);
  t.deepEqual(get(run(EDGE, "50.0.0.1", [], { tls: true }).headers, "x-forwarded-proto"), ["https"]);
  const trusted = run({ use_remote_address: true, xff_num_trusted_hops: 1 }, "12.12.12.12", [["x-forwarded-proto", "https"]]);
  t.deepEqual(get(trusted.headers, "x-forwarded-proto"), ["https"]);
  t.is(trusted.result.scheme, "https");
  t.deepEqual(get(run({}, "50.0.0.1", [["x-forwarded-proto", "https"]]).headers, "x-forwarded-proto"), ["https"]);
  t.deepEqual(get(run({}, "50.0.0.1", []).headers, "x-forwarded-proto"), ["http"]);
  // An invalid forwarded proto is kept but the scheme follows the connection (PreserveForwardedProtoWhenInternalButSetScheme).
  const foo = run({ use_remote_address: true, xff_num_trusted_hops: 1 }, "12.12.12.12", [["x-forwarded-proto", "foo"]]);
  t.deepEqual(get(foo.headers, "x-forwarded-proto"), ["foo"]);
  t.is(foo.result.scheme, "http");
  const over = run({ scheme_header_transformation: { scheme_to_overwrite: "https" } }, "50.0.0.1", []);
  t.deepEqual(get(over.headers, "x-forwarded-proto"), ["https"]);
  t.is(over.result.scheme, "https");
});

test("append_x_forwarded_port sets the listener port like x-forwarded-proto", (t) => {
  t.deepEqual(get(run({ ...EDGE, append_x_forwarded_port: true }, "50.0.0.1", [["x-forwarded-port", "1"]]).headers, "x-forwarded-port"), ["8080"]);
  t.deepEqual(get(run({ append_x_forwarded_port: true }, "50.0.0.1", [["x-forwarded-port", "443"]]).headers, "x-forwarded-port"), ["443"]);
  t.false(has(run(EDGE, "50.0.0.1", []).headers, "x-forwarded-port"));
});

test("x-request-id: regenerated on edge requests, kept on internal ones, added when missing", (t) => {
  const edge = run(EDGE, "134.2.2.11", [["x-request-id", "original"]]);
  t.deepEqual(get(edge.headers, "x-request-id"), ["generated-1"]);
  const preserved = run({ ...EDGE, preserve_external_request_id: true }, "134.2.2.11", [["x-request-id", "original"]]);
  t.deepEqual(get(preserved.headers, "x-request-id"), ["original"]);
  t.is(preserved.result.requestId, "original");
  const internal = run({ ...EDGE, ...INTERNAL_NET }, "10.0.0.1", [["x-request-id", "original_request_id"]]);
  t.deepEqual(get(internal.headers, "x-request-id"), ["original_request_id"]);
  const notEdge = run({}, "50.0.0.1", [["x-forwarded-for", "34.0.0.1"], ["x-request-id", "id"]]);
  t.deepEqual(get(notEdge.headers, "x-request-id"), ["id"]);
  t.deepEqual(get(run({}, "50.0.0.1", []).headers, "x-request-id"), ["generated-1"]);
  t.deepEqual(get(run({}, "50.0.0.1", [["x-request-id", ""]]).headers, "x-request-id"), ["generated-1"]);
  const off = run({ ...EDGE, generate_request_id: false }, "50.0.0.1", []);
  t.false(has(off.headers, "x-request-id"));
  t.is(off.result.requestId, undefined);
});

test("a real request id is a UUIDv4 by default", (t) => {
  const r = new ConfigReader({ use_remote_address: true }, "hcm");
  const cfg = readRequestHeadersConfig(r, { localIp: "10.3.2.1" });
  const headers: HeaderEntries = [];
  const res = mutateRequestHeaders(cfg, headers, deriveClientAddress(cfg.xff, "50.0.0.1", cfg.localIp, undefined), { tls: false, localPort: 80 });
  t.regex(res.requestId ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("the response echoes x-request-id only with always_set_request_id_in_response or an internal x-envoy-force-trace", (t) => {
  t.is(run(EDGE, "50.0.0.1", []).result.responseRequestId, null);
  t.is(run({ ...EDGE, always_set_request_id_in_response: true }, "50.0.0.1", []).result.responseRequestId, "generated-1");
  const forced = run({ ...INTERNAL_NET }, "50.0.0.1", [["x-forwarded-for", "10.0.0.1"], ["x-request-id", "rid"], ["x-envoy-force-trace", "true"]]);
  t.is(forced.result.responseRequestId, "rid");
  t.true(has(forced.headers, "x-envoy-force-trace"));
  const external = run({}, "50.0.0.1", [["x-forwarded-for", "34.0.0.1"], ["x-request-id", "rid"], ["x-envoy-force-trace", "true"]]);
  t.is(external.result.responseRequestId, null);
  t.false(has(external.headers, "x-envoy-force-trace"));
});

test("x-forwarded-client-cert is sanitised by default; FORWARD_ONLY keeps it over mTLS only", (t) => {
  t.false(has(run({}, "50.0.0.1", [["x-forwarded-client-cert", "By=test"]]).headers, "x-forwarded-client-cert"));
  t.false(has(run({ forward_client_cert_details: "FORWARD_ONLY" }, "50.0.0.1", [["x-forwarded-client-cert", "By=test"]]).headers, "x-forwarded-client-cert"));
  const mtls = run({ forward_client_cert_details: "FORWARD_ONLY" }, "50.0.0.1", [["x-forwarded-client-cert", "By=test"]], { peerCertificatePresented: true });
  t.deepEqual(get(mtls.headers, "x-forwarded-client-cert"), ["By=test"]);
  t.true(has(run({ forward_client_cert_details: "ALWAYS_FORWARD_ONLY" }, "50.0.0.1", [["x-forwarded-client-cert", "x"]]).headers, "x-forwarded-client-cert"));
});

test("referer: invalid, fragment, userinfo or repeated values are dropped; valid ones kept", (t) => {
  const keep = ["https://example.com/", "android-app+1.0://example.com/", "/foo/bar/", "resource.html"];
  for (const v of keep) t.deepEqual(get(run({}, "50.0.0.1", [["referer", v]]).headers, "referer"), [v], v);
  const drop = ["fo\\0o", "https://example.com/foo/bar/#fragment", "https://example.com/  /foo", "https://user:info@example.com"];
  for (const v of drop) t.false(has(run({}, "50.0.0.1", [["referer", v]]).headers, "referer"), v);
  t.false(has(run({}, "50.0.0.1", [["referer", "https://example.com/"], ["referer", "https://google.com/"]]).headers, "referer"));
});

test("via is appended with ', '", (t) => {
  t.deepEqual(get(run({ via: "tollgate" }, "50.0.0.1", []).headers, "via"), ["tollgate"]);
  t.deepEqual(get(run({ via: "tollgate" }, "50.0.0.1", [["via", "1.1 cdn"]]).headers, "via"), ["1.1 cdn, tollgate"]);
  t.false(has(run({}, "50.0.0.1", []).headers, "via"));
});

test("header config errors name their path", (t) => {
  const bad = (obj: object, re: RegExp) => t.regex(t.throws(() => config(obj))!.message, re);
  bad({ strip_matching_host_port: true, strip_any_host_port: true }, /^hcm: only one of strip_matching_host_port or strip_any_host_port/);
  bad({ forward_client_cert_details: "APPEND_FORWARD" }, /^hcm\.forward_client_cert_details: APPEND_FORWARD is not supported/);
  bad({ original_ip_detection_extensions: [{ name: "x" }] }, /^hcm\.original_ip_detection_extensions: /);
  bad({ xff_num_trusted_hops: -1 }, /^hcm\.xff_num_trusted_hops: must be at least 0/);
  bad({ via: "a\r\nb" }, /^hcm\.via: /);
  bad({ scheme_header_transformation: { scheme_to_overwrite: "ftp" } }, /^hcm\.scheme_header_transformation\.scheme_to_overwrite: /);
});
