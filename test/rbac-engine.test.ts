// The RBAC engine on its own: actions, policy order, which address each principal reads, header/path/port/SNI
// permissions, L4 behaviour, merged CIDR lists and explain(). Requests are built directly (rbacRequest), so a test
// can give the PROXY source, the XFF-derived client and the TCP peer three different values.
import test from "ava";
import { ConfigReader } from "../proxy/config/reader.js";
import { parseRbacRules } from "../proxy/filters/common/rbac/config.js";
import type { RbacEngine } from "../proxy/filters/common/rbac/engine.js";
import { RbacRequest, rbacRequest, type RbacRequestInit } from "../proxy/filters/common/rbac/request.js";

function engine(rules: unknown): RbacEngine {
  return parseRbacRules(new ConfigReader(rules, "rules"));
}

const ANY_PERMISSION = [{ any: true }];

/** The effective policy name (or null) and the decision. */
function decide(e: RbacEngine, init: RbacRequestInit | RbacRequest): { policy: string | null; allowed: boolean } {
  const req = init instanceof RbacRequest ? init : rbacRequest(init);
  const p = e.firstMatch(req);
  return { policy: p?.name ?? null, allowed: e.allows(p) };
}

const office = { permissions: ANY_PERMISSION, principals: [{ remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } }] };

test("ALLOW: allowed iff a policy matches", (t) => {
  const e = engine({ action: "ALLOW", policies: { office } });
  t.deepEqual(decide(e, { remoteIp: "203.0.113.9" }), { policy: "office", allowed: true });
  t.deepEqual(decide(e, { remoteIp: "198.51.100.1" }), { policy: null, allowed: false });
});

test("DENY: allowed iff no policy matches; the matching policy is the one reported", (t) => {
  const e = engine({ action: "DENY", policies: { office } });
  t.deepEqual(decide(e, { remoteIp: "203.0.113.9" }), { policy: "office", allowed: false });
  t.deepEqual(decide(e, { remoteIp: "198.51.100.1" }), { policy: null, allowed: true });
});

test("LOG: always allowed; explain reports the access_log_hint the filter sets", (t) => {
  const e = engine({ action: "LOG", policies: { office } });
  t.deepEqual(decide(e, { remoteIp: "203.0.113.9" }), { policy: "office", allowed: true });
  t.deepEqual(decide(e, { remoteIp: "198.51.100.1" }), { policy: null, allowed: true });
  t.true(e.explain(rbacRequest({ remoteIp: "203.0.113.9" })).accessLogHint);
  t.false(e.explain(rbacRequest({ remoteIp: "198.51.100.1" })).accessLogHint);
});

test("action defaults to ALLOW; rules without policies deny everything (ALLOW) or nothing (DENY)", (t) => {
  t.is(engine({ policies: { office } }).action, "ALLOW");
  t.false(decide(engine({}), { remoteIp: "203.0.113.9" }).allowed);
  t.true(decide(engine({ action: "DENY" }), { remoteIp: "203.0.113.9" }).allowed);
  t.true(decide(engine({ action: "LOG" }), { remoteIp: "203.0.113.9" }).allowed);
});

test("policies are evaluated in byte order of their names; the first match is reported", (t) => {
  const everyone = { permissions: ANY_PERMISSION, principals: [{ any: true }] };
  // Written out of order. Byte order: "B" < "a" < "b"; U+FF21 (UTF-8 EF BC A1) < U+1F600 (F0 9F 98 80), the reverse of
  // their UTF-16 order, which a plain JavaScript sort would use.
  const e = engine({ policies: { b: everyone, a: everyone, B: everyone } });
  t.deepEqual(
    e.policies.map((p) => p.name),
    ["B", "a", "b"],
  );
  t.is(decide(e, { remoteIp: "192.0.2.1" }).policy, "B");
  const wide = engine({ policies: { "\u{1F600}": everyone, "\uFF21": everyone } });
  t.deepEqual(
    wide.policies.map((p) => p.name),
    ["\uFF21", "\u{1F600}"],
  );
  // A policy that does not match is skipped: the next in order is reported.
  const mixed = engine({ action: "DENY", policies: { a: office, b: everyone } });
  t.is(decide(mixed, { remoteIp: "192.0.2.1" }).policy, "b");
  t.is(decide(mixed, { remoteIp: "203.0.113.1" }).policy, "a");
});

test("remote_ip, direct_remote_ip and source_ip read three different addresses", (t) => {
  // A request through a cloud LB (10.0.0.5) with PROXY source 198.51.100.7, and an XFF-derived client 203.0.113.9.
  const req = rbacRequest({ remoteIp: "203.0.113.9", sourceIp: "198.51.100.7", directRemoteIp: "10.0.0.5" });
  const only = (principal: Record<string, unknown>): RbacEngine => engine({ policies: { p: { permissions: ANY_PERMISSION, principals: [principal] } } });
  const cidr = (ip: string, len = 32): { address_prefix: string; prefix_len: number } => ({ address_prefix: ip, prefix_len: len });

  t.true(decide(only({ remote_ip: cidr("203.0.113.9") }), req).allowed);
  t.false(decide(only({ remote_ip: cidr("198.51.100.7") }), req).allowed);
  t.false(decide(only({ remote_ip: cidr("10.0.0.5") }), req).allowed);

  t.true(decide(only({ direct_remote_ip: cidr("10.0.0.0", 8) }), req).allowed);
  t.false(decide(only({ direct_remote_ip: cidr("203.0.113.9") }), req).allowed);

  t.true(decide(only({ source_ip: cidr("198.51.100.7") }), req).allowed);
  t.false(decide(only({ source_ip: cidr("203.0.113.9") }), req).allowed);
});

test("remote_ip: IPv6 ranges, prefix_len 0 (everything of a family) and IPv4-mapped clients", (t) => {
  const e = engine({
    policies: {
      v6: { permissions: ANY_PERMISSION, principals: [{ remote_ip: { address_prefix: "2001:db8::", prefix_len: 32 } }] },
    },
  });
  t.true(decide(e, { remoteIp: "2001:db8:1::7" }).allowed);
  t.false(decide(e, { remoteIp: "2001:db9::7" }).allowed);
  t.false(decide(e, { remoteIp: "203.0.113.9" }).allowed);
  const all4 = engine({ policies: { v4: { permissions: ANY_PERMISSION, principals: [{ remote_ip: { address_prefix: "0.0.0.0" } }] } } });
  t.true(decide(all4, { remoteIp: "203.0.113.9" }).allowed);
  t.false(decide(all4, { remoteIp: "2001:db8::1" }).allowed);
  // A dual-stack socket reports ::ffff:a.b.c.d; it is the IPv4 client.
  t.true(decide(all4, { remoteIp: "::ffff:203.0.113.9" }).allowed);
  t.false(decide(all4, { remoteIp: "not-an-ip" }).allowed);
});

test("a long allowlist in one principals list matches through one merged set, and explain names the entry", (t) => {
  const principals: unknown[] = [];
  for (let i = 0; i < 1000; i++) principals.push({ remote_ip: { address_prefix: `10.${i >> 8}.${i & 255}.0`, prefix_len: 24 } });
  principals.push({ header: { name: "x-bypass", string_match: { exact: "yes" } } });
  principals.push({ remote_ip: { address_prefix: "2001:db8:77::", prefix_len: 48 } });
  const e = engine({ policies: { allow: { permissions: ANY_PERMISSION, principals } } });
  t.true(decide(e, { remoteIp: "10.3.231.200" }).allowed); // entry 999: 10.3.231.0/24
  t.false(decide(e, { remoteIp: "10.3.232.1" }).allowed);
  t.true(decide(e, { remoteIp: "2001:db8:77:1::1" }).allowed);
  t.true(decide(e, { remoteIp: "192.0.2.1", http: { headers: [["X-Bypass", "yes"]] } }).allowed);

  const ex = e.explain(rbacRequest({ remoteIp: "10.3.231.200" }));
  t.is(ex.policies[0]!.principal, 999);
  t.is(ex.policies[0]!.principals[999]!.text, "remote_ip 10.3.231.0/24");
  t.is(ex.policies[0]!.principals[999]!.path, "rules.policies.allow.principals[999]");
  t.is(ex.policies[0]!.principals.filter((p) => p.matched).length, 1);
  t.is(e.explain(rbacRequest({ remoteIp: "2001:db8:77::9" })).policies[0]!.principal, 1001);
});

const http = (path: string, headers: Array<[string, string]> = [], method = "GET", authority = "api.example.com"): RbacRequestInit => ({
  remoteIp: "192.0.2.1",
  http: { method, path, authority, headers },
});

function permissionEngine(permission: Record<string, unknown>): RbacEngine {
  return engine({ policies: { p: { permissions: [permission], principals: [{ any: true }] } } });
}

test("header :path includes the query; url_path does not", (t) => {
  const pathHeader = permissionEngine({ header: { name: ":path", string_match: { exact: "/admin" } } });
  t.true(decide(pathHeader, http("/admin")).allowed);
  t.false(decide(pathHeader, http("/admin?x=1")).allowed);
  const urlPath = permissionEngine({ url_path: { path: { exact: "/admin" } } });
  t.true(decide(urlPath, http("/admin")).allowed);
  t.true(decide(urlPath, http("/admin?x=1")).allowed);
  t.true(decide(urlPath, http("/admin#frag")).allowed);
  t.false(decide(urlPath, http("/admin/x")).allowed);
  const prefix = permissionEngine({ url_path: { path: { prefix: "/API/", ignore_case: true } } });
  t.true(decide(prefix, http("/api/v1?q")).allowed);
});

test("pseudo-headers come from the request: :method, :authority (Host), :scheme", (t) => {
  const method = permissionEngine({ header: { name: ":method", string_match: { exact: "POST" } } });
  t.true(decide(method, http("/", [], "POST")).allowed);
  t.false(decide(method, http("/", [], "GET")).allowed);
  const authority = permissionEngine({ header: { name: ":authority", string_match: { suffix: ".example.com" } } });
  t.true(decide(authority, http("/")).allowed);
  t.false(decide(authority, http("/", [], "GET", "evil.test")).allowed);
  // `host` names the same header as :authority (Envoy keeps HTTP/1's Host as :authority).
  const host = permissionEngine({ header: { name: "host", string_match: { exact: "api.example.com" } } });
  t.true(decide(host, http("/")).allowed);
  const scheme = permissionEngine({ header: { name: ":scheme", string_match: { exact: "https" } } });
  t.false(decide(scheme, http("/")).allowed);
  t.true(decide(scheme, http("/", [["x-forwarded-proto", "https"]])).allowed);
});

test("header: repeated values are joined with ',', absence and invert_match behave as Envoy's matchHeaders", (t) => {
  const joined = permissionEngine({ header: { name: "x-role", string_match: { exact: "a,b" } } });
  t.true(decide(joined, http("/", [["x-role", "a"], ["X-Role", "b"]])).allowed);
  const absent = permissionEngine({ header: { name: "x-debug", present_match: false } });
  t.true(decide(absent, http("/")).allowed);
  t.false(decide(absent, http("/", [["x-debug", "1"]])).allowed);
  const inverted = permissionEngine({ header: { name: "x-env", string_match: { exact: "prod" }, invert_match: true } });
  t.true(decide(inverted, http("/", [["x-env", "dev"]])).allowed);
  t.false(decide(inverted, http("/", [["x-env", "prod"]])).allowed);
  t.false(decide(inverted, http("/")).allowed); // a missing header does not match an inverted string matcher
});

test("at L4 (no HTTP request) header rules see no headers and url_path never matches", (t) => {
  const l4 = rbacRequest({ remoteIp: "192.0.2.1" });
  t.false(decide(permissionEngine({ header: { name: ":path", string_match: { prefix: "/" } } }), l4).allowed);
  t.true(decide(permissionEngine({ header: { name: "x-anything", present_match: false } }), l4).allowed);
  t.false(decide(permissionEngine({ url_path: { path: { prefix: "/" } } }), l4).allowed);
  t.true(decide(permissionEngine({ not_rule: { url_path: { path: { prefix: "/" } } } }), l4).allowed);
});

test("destination_ip, destination_port and the half-open destination_port_range read the local address", (t) => {
  const at = (localIp: string, localPort: number): RbacRequestInit => ({ remoteIp: "192.0.2.1", localIp, localPort });
  const ip = permissionEngine({ destination_ip: { address_prefix: "198.51.100.0", prefix_len: 24 } });
  t.true(decide(ip, at("198.51.100.1", 443)).allowed);
  t.false(decide(ip, at("192.0.2.10", 443)).allowed);
  const port = permissionEngine({ destination_port: 443 });
  t.true(decide(port, at("198.51.100.1", 443)).allowed);
  t.false(decide(port, at("198.51.100.1", 80)).allowed);
  const range = permissionEngine({ destination_port_range: { start: 8000, end: 8080 } });
  t.false(decide(range, at("198.51.100.1", 7999)).allowed);
  t.true(decide(range, at("198.51.100.1", 8000)).allowed);
  t.true(decide(range, at("198.51.100.1", 8079)).allowed);
  t.false(decide(range, at("198.51.100.1", 8080)).allowed);
});

test("requested_server_name is the SNI, the empty string for plaintext", (t) => {
  const sni = permissionEngine({ requested_server_name: { suffix: ".example.com" } });
  t.true(decide(sni, { remoteIp: "192.0.2.1", serverName: "api.example.com" }).allowed);
  t.false(decide(sni, { remoteIp: "192.0.2.1" }).allowed);
  const plain = permissionEngine({ requested_server_name: { exact: "" } });
  t.true(decide(plain, { remoteIp: "192.0.2.1" }).allowed);
  t.false(decide(plain, { remoteIp: "192.0.2.1", serverName: "api.example.com" }).allowed);
});

test("and/or/not nest: (GET or HEAD) and not /admin, from the office but not its printer", (t) => {
  const e = engine({
    policies: {
      readers: {
        permissions: [
          {
            and_rules: {
              rules: [
                { or_rules: { rules: [{ header: { name: ":method", string_match: { exact: "GET" } } }, { header: { name: ":method", string_match: { exact: "HEAD" } } }] } },
                { not_rule: { url_path: { path: { prefix: "/admin" } } } },
              ],
            },
          },
        ],
        principals: [
          {
            and_ids: {
              ids: [
                { remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } },
                { not_id: { remote_ip: { address_prefix: "203.0.113.250", prefix_len: 32 } } },
              ],
            },
          },
        ],
      },
    },
  });
  const r = (method: string, path: string, ip: string): RbacRequestInit => ({ remoteIp: ip, http: { method, path } });
  t.true(decide(e, r("GET", "/docs", "203.0.113.9")).allowed);
  t.true(decide(e, r("HEAD", "/docs", "203.0.113.9")).allowed);
  t.false(decide(e, r("POST", "/docs", "203.0.113.9")).allowed);
  t.false(decide(e, r("GET", "/admin/users", "203.0.113.9")).allowed);
  t.false(decide(e, r("GET", "/docs", "203.0.113.250")).allowed);
  t.false(decide(e, r("GET", "/docs", "198.51.100.9")).allowed);
  // or_ids groups its CIDRs like a top-level list.
  const orIds = engine({
    policies: {
      p: {
        permissions: ANY_PERMISSION,
        principals: [{ or_ids: { ids: [{ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }, { direct_remote_ip: { address_prefix: "192.0.2.1", prefix_len: 32 } }] } }],
      },
    },
  });
  t.true(decide(orIds, { remoteIp: "10.9.9.9", directRemoteIp: "198.51.100.1" }).allowed);
  t.true(decide(orIds, { remoteIp: "172.16.0.1", directRemoteIp: "192.0.2.1" }).allowed);
  t.false(decide(orIds, { remoteIp: "172.16.0.1", directRemoteIp: "198.51.100.1" }).allowed);
});

test("explain lists every policy in order, which permission and principal matched, and the denial details", (t) => {
  const e = engine({
    action: "DENY",
    policies: {
      "z last": { permissions: ANY_PERMISSION, principals: [{ any: true }] },
      "block admin": {
        permissions: [{ destination_port: 9000 }, { url_path: { path: { prefix: "/admin" } } }],
        principals: [{ remote_ip: { address_prefix: "198.51.100.0", prefix_len: 24 } }, { not_id: { remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } } }],
      },
    },
  });
  const ex = e.explain(rbacRequest({ remoteIp: "192.0.2.1", localPort: 443, http: { path: "/admin/x" } }));
  t.false(ex.allowed);
  t.is(ex.effectivePolicy, "block admin");
  t.is(ex.details, "rbac_access_denied_matched_policy[block_admin]");
  t.deepEqual(
    ex.policies.map((p) => [p.name, p.matched, p.effective, p.permission, p.principal]),
    [
      ["block admin", true, true, 1, 1],
      ["z last", true, false, 0, 0],
    ],
  );
  const notId = ex.policies[0]!.principals[1]!;
  t.is(notId.text, "not_id(remote_ip 203.0.113.0/24)");
  t.true(notId.matched);
  t.false(notId.children![0]!.matched);
  t.is(ex.policies[0]!.permissions[1]!.text, 'url_path prefix "/admin"');
  t.is(ex.policies[0]!.permissions[0]!.text, "destination_port 9000");

  const allowed = e.explain(rbacRequest({ remoteIp: "192.0.2.1", http: { path: "/" } }));
  t.is(allowed.effectivePolicy, "z last");
  t.false(allowed.allowed);
  const none = engine({ action: "ALLOW", policies: {} }).explain(rbacRequest({ remoteIp: "192.0.2.1" }));
  t.is(none.details, "rbac_access_denied_matched_policy[none]");
});
