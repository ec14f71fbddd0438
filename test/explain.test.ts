// The explain tool on a DigitalOcean-like configuration: PROXY required from the LB (trusted_sources 10.0.0.0/8),
// use_remote_address true, an RBAC allowlist on remote_ip, a per-client rate limit. Each test asks what an operator
// asks ("why was this client denied?") and checks the steps that answer it.
import test from "ava";
import { setLogLevel } from "../proxy/observability/logger.js";
import { ConnectionManager } from "../proxy/filters/network/http-connection-manager/connection-manager.js";
import { LocalRateLimitFilter } from "../proxy/filters/http/local-ratelimit/filter.js";
import { RbacRequest } from "../proxy/filters/common/rbac/request.js";
import { ExplainInputError, formatReport, type ExplainReport } from "../proxy/tools/explain.js";
import { compileYaml, doConfig, explain, networkRateLimit, networkRbac, rbacPerRoute } from "./explain-fixtures.js";

setLogLevel("error");

const LB = "10.0.0.5";

function httpRbac(r: ExplainReport) {
  const f = r.http?.filters.find((x) => x.kind === "rbac");
  if (!f || f.kind !== "rbac") throw new Error("no HTTP RBAC step");
  return f.rbac;
}

function httpRateLimit(r: ExplainReport) {
  const f = r.http?.filters.find((x) => x.kind === "local_ratelimit");
  if (!f || f.kind !== "local_ratelimit") throw new Error("no HTTP rate limit step");
  return f.ratelimit;
}

test("a client in the allowlist is allowed, and the explanation names the policy and the principal that matched", async (t) => {
  const c = await compileYaml(t, doConfig());
  const r = explain(c, { peer: LB, proxySrc: "203.0.113.7:51000", host: "shop.example.com" });
  t.is(r.proxy_protocol.peer_trusted, true);
  t.true(r.proxy_protocol.honoured);
  t.is(r.proxy_protocol.remote_address, "203.0.113.7:51000");
  t.is(r.http?.client_address.trusted_address, "203.0.113.7");
  const rbac = httpRbac(r);
  t.true(rbac.allowed);
  t.is(rbac.rules?.effective_policy, "office");
  t.is(rbac.rules?.policies[0]?.principal, 0);
  t.like(rbac.rules?.policies[0]?.principals[0], { text: "remote_ip 203.0.113.0/24", matched: true });
  t.like(r.decision, { outcome: "forwarded", status: null });
  t.like(r.http?.route, { virtual_host: "all", route: "everything", action: "cluster backend" });
  const text = formatReport(r);
  t.regex(text, /policy "office": MATCHED \(the effective policy\)/);
  t.regex(text, /\+ principals\[0\] remote_ip 203\.0\.113\.0\/24/);
  t.regex(text, /Decision: FORWARDED/);
});

test("a client outside the allowlist is denied with Envoy's 403 and details rbac_access_denied_matched_policy[none]", async (t) => {
  const c = await compileYaml(t, doConfig());
  const r = explain(c, { peer: LB, proxySrc: "192.0.2.44" });
  const rbac = httpRbac(r);
  t.false(rbac.allowed);
  t.is(rbac.rules?.effective_policy, null);
  t.is(rbac.details, "rbac_access_denied_matched_policy[none]");
  t.true(rbac.rules!.policies[0]!.principals.every((p) => !p.matched));
  t.deepEqual(r.decision, {
    outcome: "denied",
    status: 403,
    details: "rbac_access_denied_matched_policy[none]",
    by: "envoy.filters.http.rbac (http_filters[0])",
    summary: "403 RBAC: access denied",
  });
  // The rate limit after it is still explained, but marked as not reached.
  const rl = r.http!.filters.find((f) => f.kind === "local_ratelimit")!;
  t.false(rl.reached);
  t.regex(formatReport(r), /Decision: DENIED: 403 RBAC: access denied; details rbac_access_denied_matched_policy\[none\]/);
});

test("with xff_num_trusted_hops 1 the rightmost X-Forwarded-For entry is the client, and the hop counting is shown", async (t) => {
  const c = await compileYaml(t, doConfig({ hops: 1 }));
  // A CDN in front of the LB: the PROXY source is the CDN's edge server, the client is in XFF.
  const r = explain(c, { peer: LB, proxySrc: "192.0.2.200", xff: "198.51.100.250, 203.0.113.9" });
  const ca = r.http!.client_address;
  t.is(ca.trusted_address, "203.0.113.9");
  t.true(ca.from_xff);
  t.is(ca.xff_num_trusted_hops, 1);
  t.true(ca.steps.some((s) => s.includes('xff_num_trusted_hops=1: entry 1 from the right of "198.51.100.250, 203.0.113.9" is 203.0.113.9')), ca.steps.join("\n"));
  t.is(ca.stream_remote, "203.0.113.9:0");
  t.is(ca.x_forwarded_for_upstream, "198.51.100.250, 203.0.113.9,192.0.2.200");
  const rbac = httpRbac(r);
  // remote_ip reads the XFF-derived client; source_ip keeps the PROXY source; direct_remote_ip the LB.
  t.deepEqual(rbac.addresses, { remote_ip: "203.0.113.9", direct_remote_ip: LB, source_ip: "192.0.2.200", destination: "127.0.0.1:0" });
  t.true(rbac.allowed);

  // The same request with hops 0: the XFF entry is not trusted, the CDN's address is judged, and denied.
  const c0 = await compileYaml(t, doConfig({ hops: 0 }));
  const r0 = explain(c0, { peer: LB, proxySrc: "192.0.2.200", xff: "198.51.100.250, 203.0.113.9" });
  t.is(r0.http!.client_address.trusted_address, "192.0.2.200");
  t.false(r0.http!.client_address.from_xff);
  t.is(r0.decision.outcome, "denied");
  t.regex(formatReport(r0), /=> 192\.0\.2\.200 \(the connection's remote address\)/);
});

test("too few X-Forwarded-For entries for the trusted hops: the explanation says it falls back to the connection address", async (t) => {
  const c = await compileYaml(t, doConfig({ hops: 2 }));
  const r = explain(c, { peer: LB, proxySrc: "203.0.113.7", xff: "198.51.100.1" });
  t.is(r.http!.client_address.trusted_address, "203.0.113.7");
  t.true(r.http!.client_address.steps.some((s) => s.includes("has no valid entry 2 from the right") && s.includes("using the peer")));
});

test("a peer outside trusted_sources: the header is not honoured, and the explanation says why", async (t) => {
  const c = await compileYaml(t, doConfig());
  const r = explain(c, { peer: "192.0.2.99", proxySrc: "203.0.113.7" });
  t.is(r.proxy_protocol.peer_trusted, false);
  t.false(r.proxy_protocol.honoured);
  t.true(r.proxy_protocol.required!);
  t.true(r.proxy_protocol.explanation.some((l) => l.includes("the peer 192.0.2.99 is NOT in the list")));
  t.is(r.connection, null);
  t.is(r.http, null);
  t.like(r.decision, { outcome: "closed", details: "proxy_protocol: peer 192.0.2.99 is not in trusted_sources" });
  t.regex(formatReport(r), /trusted_sources 10\.0\.0\.0\/8: the peer 192\.0\.2\.99 is NOT in the list/);

  // Optional PROXY: the bytes pass unread, the HTTP codec sees the header as data and answers 400.
  const opt = await compileYaml(t, doConfig({ optional: true }));
  const ro = explain(opt, { peer: "192.0.2.99", proxySrc: "203.0.113.7" });
  t.false(ro.proxy_protocol.honoured);
  t.true(ro.connection!.unread_proxy_header);
  t.is(ro.connection!.remote, "192.0.2.99:0");
  t.like(ro.decision, { outcome: "local_reply", status: 400, details: "http1.codec_error" });
  // Without a header from that peer, the request is judged on the peer's own address.
  const plain = explain(opt, { peer: "192.0.2.99" });
  t.is(plain.http!.client_address.trusted_address, "192.0.2.99");
  t.is(plain.decision.outcome, "denied");
});

test("no PROXY header where one is required: closed, not_found_disallowed", async (t) => {
  const c = await compileYaml(t, doConfig());
  const r = explain(c, { peer: LB });
  t.true(r.proxy_protocol.explanation.some((l) => l.includes("no --proxy-src")));
  t.like(r.decision, { outcome: "closed" });
  t.regex(r.decision.details ?? "", /not_found_disallowed/);
});

test("direct_remote_ip reads the load balancer, remote_ip the client: the explanation shows both", async (t) => {
  const policies = {
    "from-lb-network": { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] },
    "lb-as-client": { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] },
  };
  const c = await compileYaml(t, doConfig({ policies }));
  const r = explain(c, { peer: LB, proxySrc: "198.51.100.3" });
  const rbac = httpRbac(r);
  t.is(rbac.addresses.remote_ip, "198.51.100.3");
  t.is(rbac.addresses.direct_remote_ip, LB);
  const byName = new Map(rbac.rules!.policies.map((p) => [p.name, p]));
  t.true(byName.get("from-lb-network")!.matched);
  t.false(byName.get("lb-as-client")!.matched);
  t.like(byName.get("from-lb-network")!.principals[0], { text: "direct_remote_ip 10.0.0.0/8", matched: true });
  t.is(rbac.rules!.effective_policy, "from-lb-network");
  const text = formatReport(r);
  t.regex(text, /addresses: remote_ip 198\.51\.100\.3, direct_remote_ip 10\.0\.0\.5/);
});

test("the per-client rate-limit key groups IPv6 clients by /64, and explaining takes no token", async (t) => {
  const c = await compileYaml(t, doConfig({ clientBucket: { max_tokens: 3, tokens_per_fill: 1, fill_interval: "3600s" } }));
  const a = explain(c, { peer: LB, proxySrc: "[2001:db8:1200:5:aaaa::1]:4444" });
  const b = explain(c, { peer: LB, proxySrc: "2001:db8:1200:5:ffff:1:2:3" });
  const rlA = httpRateLimit(a);
  t.deepEqual(rlA.descriptors, ["remote_address=2001:db8:1200:5:aaaa::1"]);
  t.like(rlA.buckets[0], { bucket: "descriptors[0]", kind: "per_client", key: "2001:db8:1200:5::/64", tokens: 3, takes: true });
  t.like(rlA.buckets[1], { bucket: "token_bucket", kind: "default", tokens: 5000, takes: true });
  t.is(httpRateLimit(b).buckets[0]?.key, "2001:db8:1200:5::/64");
  t.regex(formatReport(a), /descriptors\[0\] \(per_client, key 2001:db8:1200:5::\/64\): 3 of 3 tokens/);

  // The live buckets: requests through the filter's own limiter drain the /64; explain then shows it, and
  // explaining again shows the same count (peek takes nothing).
  const hcm = [...c.graphs.values()][0]!.chains[0]!.filters.find((f) => f instanceof ConnectionManager) as ConnectionManager;
  const rl = hcm.filters.find((f) => f instanceof LocalRateLimitFilter) as LocalRateLimitFilter;
  const limiter = rl.runtime.sharedLimiter!;
  for (let i = 0; i < 3; i++) t.true(limiter.requestAllowed([[{ key: "remote_address", value: "2001:db8:1200:5::77" }]]).allowed);
  for (let i = 0; i < 2; i++) {
    const r = explain(c, { peer: LB, proxySrc: "2001:db8:1200:5:aaaa::1" });
    t.like(httpRateLimit(r).buckets[0], { key: "2001:db8:1200:5::/64", tokens: 0, takes: false });
    t.is(httpRateLimit(r).buckets.length, 1, "the list ends at the limiting bucket");
    t.like(r.decision, { outcome: "rate_limited", status: 429, details: "local_rate_limited" });
  }
  // Another /64 is untouched.
  t.like(httpRateLimit(explain(c, { peer: LB, proxySrc: "2001:db8:1200:6::1" })).buckets[0], { key: "2001:db8:1200:6::/64", tokens: 3 });
});

test("network RBAC and the network rate limit are explained at the connection level, with the connection's addresses", async (t) => {
  const networkFilters = [
    networkRbac({ "vpc-lb": { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] } }),
    networkRateLimit(2),
  ];
  const c = await compileYaml(t, doConfig({ networkFilters }));
  const r = explain(c, { peer: LB, proxySrc: "203.0.113.7", xff: "192.0.2.1" });
  const [rbacStep, rlStep, hcmStep] = r.network_filters;
  t.like(rbacStep, { kind: "rbac", index: 0, reached: true });
  if (rbacStep?.kind !== "rbac" || rlStep?.kind !== "local_ratelimit") throw new Error("unexpected steps");
  t.is(rbacStep.rbac.level, "network");
  // At L4, remote_ip is the connection's address after PROXY: X-Forwarded-For plays no part.
  t.deepEqual(rbacStep.rbac.addresses, { remote_ip: "203.0.113.7", direct_remote_ip: LB, source_ip: "203.0.113.7", destination: "127.0.0.1:0" });
  t.is(rbacStep.rbac.rules?.effective_policy, "vpc-lb");
  t.deepEqual(rlStep.ratelimit.client, { key: "203.0.113.7/32", tokens: 2 });
  t.true(rlStep.ratelimit.allowed);
  t.like(hcmStep, { kind: "http_connection_manager", reached: true });

  // A peer outside the VPC (PROXY trusted from anywhere here): network RBAC closes the connection.
  const open = await compileYaml(t, doConfig({ trusted: ["0.0.0.0/0"], networkFilters }));
  const d = explain(open, { peer: "192.0.2.9", proxySrc: "203.0.113.7" });
  t.like(d.decision, { outcome: "closed", details: "rbac_access_denied_matched_policy[none]", by: "envoy.filters.network.rbac (network filter 0)" });
  t.false(d.network_filters[2]!.reached);
  t.regex(formatReport(d), /network filter 0, connection level/);
});

test("per-route RBAC: an override replaces the filter's rules on its route, and a disabled route skips RBAC", async (t) => {
  const routes = [
    { name: "public", match: { prefix: "/public" }, route: { cluster: "backend" }, typed_per_filter_config: rbacPerRoute(null) },
    {
      name: "partners",
      match: { prefix: "/partners" },
      route: { cluster: "backend" },
      typed_per_filter_config: rbacPerRoute({ partner: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } }] } }),
    },
  ];
  const c = await compileYaml(t, doConfig({ routes }));
  const pub = explain(c, { peer: LB, proxySrc: "198.51.100.200", path: "/public/x" });
  t.is(httpRbac(pub).settings, "disabled");
  t.is(pub.decision.outcome, "forwarded");
  t.is(pub.http!.route.route, "public");
  const partner = explain(c, { peer: LB, proxySrc: "192.0.2.7", path: "/partners/api" });
  t.is(httpRbac(partner).settings, "route");
  t.is(httpRbac(partner).rules?.effective_policy, "partner");
  t.is(partner.decision.outcome, "forwarded");
  // The office allowlist does not apply on /partners, and the partner list does not apply elsewhere.
  t.is(explain(c, { peer: LB, proxySrc: "203.0.113.7", path: "/partners/api" }).decision.outcome, "denied");
  t.is(explain(c, { peer: LB, proxySrc: "192.0.2.7", path: "/" }).decision.outcome, "denied");
  t.regex(formatReport(pub), /disabled on this route/);
});

test("shadow rules are evaluated and shown, and never decide", async (t) => {
  const shadowPolicies = { "would-be": { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: "198.51.100.0", prefix_len: 24 } }] } };
  const c = await compileYaml(t, doConfig({ shadowPolicies }));
  const r = explain(c, { peer: LB, proxySrc: "203.0.113.7" });
  const rbac = httpRbac(r);
  t.false(rbac.shadow_rules!.allowed);
  t.true(rbac.allowed);
  t.is(r.decision.outcome, "forwarded");
  t.regex(formatReport(r), /shadow_rules \(never enforced\): action ALLOW/);
});

test("no route: the router's 404 NR; an unknown listener or a bad address is an input error", async (t) => {
  const routes = [{ name: "api", match: { prefix: "/api" }, route: { cluster: "backend" } }];
  const c = await compileYaml(t, doConfig({ policies: null, clientBucket: null, routes, catchAll: false }));
  const none = explain(c, { peer: LB, proxySrc: "203.0.113.7", path: "/x" });
  t.deepEqual(none.decision, {
    outcome: "local_reply",
    status: 404,
    details: "route_not_found",
    by: "envoy.filters.http.router",
    summary: "404 Not Found: no route matches (response flag NR)",
  });
  t.is(none.http!.route.explanation, 'no route of virtual host "all" matches GET /x');
  t.like(explain(c, { peer: LB, proxySrc: "203.0.113.7", path: "/api/v1" }).decision, { outcome: "forwarded" });
  const e1 = t.throws(() => explain(c, { peer: LB, listener: "nope" }), { instanceOf: ExplainInputError });
  t.is(e1?.code, "BAD_LISTENER");
  const e2 = t.throws(() => explain(c, { peer: "10.0.0.300" }), { instanceOf: ExplainInputError });
  t.is(e2?.code, "BAD_ADDRESS");
  const e3 = t.throws(() => explain(c, { peer: LB, proxySrc: "203.0.113.7", proxyDst: "2001:db8::1" }), { instanceOf: ExplainInputError });
  t.regex(e3!.message, /one family/);
});

test("the RBAC request explain builds reads the same addresses as RbacRequest.forHttp on a real stream would", (t) => {
  // A guard on the assumption explain-http.ts relies on: forHttp keeps directRemote and source from the connection.
  const conn = { remote: { ip: "203.0.113.7", port: 1 }, directRemote: { ip: LB, port: 2 }, local: { ip: "10.0.0.1", port: 443 } };
  const req = RbacRequest.forHttp(conn as never, { ip: "198.51.100.1", port: 0 }, { method: "GET", path: "/", authority: "", headers: { entries: [] } });
  t.is(req.remote.ip, "198.51.100.1");
  t.is(req.directRemote.ip, LB);
  t.is(req.source.ip, "203.0.113.7");
});
