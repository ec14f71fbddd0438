// Virtual host and route selection (Envoy's RouteMatcher::findVirtualHost and first-match route order).
import test from "ava";
import { parse as parseYaml } from "yaml";
import { ConfigReader } from "../proxy/config/reader.js";
import { parseRouteConfiguration, type RouteTable } from "../proxy/filters/network/http-connection-manager/route-config.js";
import {
  findVirtualHost,
  rewritePath,
  selectRoute,
  stripHostPort,
  stripTrailingHostDot,
} from "../proxy/filters/network/http-connection-manager/route-match.js";
import type { HeaderEntries } from "../proxy/filters/network/http-connection-manager/request-headers.js";

function table(yaml: string): RouteTable {
  return parseRouteConfiguration(new ConfigReader(parseYaml(yaml), "route_config"));
}

const DOMAINS = table(`
name: domains
virtual_hosts:
- {name: exact, domains: ["www.example.com", "API.Example.com", "example.com:8443"], routes: [{match: {prefix: "/"}, route: {cluster: exact}}]}
- {name: suffix-long, domains: ["*-bar.foo.com"], routes: [{match: {prefix: "/"}, route: {cluster: a}}]}
- {name: suffix-short, domains: ["*.foo.com"], routes: [{match: {prefix: "/"}, route: {cluster: b}}]}
- {name: suffix-shorter, domains: ["*.com"], routes: [{match: {prefix: "/"}, route: {cluster: c}}]}
- {name: prefix-long, domains: ["foo.bar.*"], routes: [{match: {prefix: "/"}, route: {cluster: d}}]}
- {name: prefix-short, domains: ["foo.*"], routes: [{match: {prefix: "/"}, route: {cluster: e}}]}
- {name: default, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: f}}]}
`);

const vh = (t: RouteTable, authority: string) => findVirtualHost(t, authority)?.name ?? null;

test("exact domains win and compare case-insensitively", (t) => {
  t.is(vh(DOMAINS, "www.example.com"), "exact");
  t.is(vh(DOMAINS, "WWW.EXAMPLE.COM"), "exact");
  t.is(vh(DOMAINS, "api.example.com"), "exact");
});

test("the longest suffix wildcard wins over shorter ones; suffix beats prefix", (t) => {
  t.is(vh(DOMAINS, "baz-bar.foo.com"), "suffix-long");
  t.is(vh(DOMAINS, "baz.foo.com"), "suffix-short");
  t.is(vh(DOMAINS, "baz.com"), "suffix-shorter");
  t.is(vh(DOMAINS, "foo.bar.com"), "suffix-shorter"); // *.com (suffix) beats foo.bar.* (prefix)
});

test("prefix wildcards: longest first, then the default", (t) => {
  t.is(vh(DOMAINS, "foo.bar.org"), "prefix-long");
  t.is(vh(DOMAINS, "foo.org"), "prefix-short");
  t.is(vh(DOMAINS, "bar.org"), "default");
});

test("a wildcard never matches an empty remainder", (t) => {
  t.is(vh(DOMAINS, ".foo.com"), "suffix-shorter"); // not *.foo.com: nothing left for the *
  t.is(vh(DOMAINS, "-bar.foo.com"), "suffix-short");
  t.is(vh(DOMAINS, "foo."), "default"); // not foo.*
  t.is(vh(DOMAINS, ".com"), "default");
});

test("the port is part of the host unless stripped or ignored", (t) => {
  t.is(vh(DOMAINS, "example.com:8443"), "exact");
  t.is(vh(DOMAINS, "www.example.com:8443"), "default"); // not the exact host, and "*.com" does not end "...com:8443"
  t.is(vh(DOMAINS, "foo.org:80"), "prefix-short");
  const ignore = table(`
ignore_port_in_host_matching: true
virtual_hosts:
- {name: exact, domains: ["www.example.com"], routes: []}
- {name: default, domains: ["*"], routes: []}
`);
  t.is(vh(ignore, "www.example.com:8443"), "exact");
  t.is(vh(ignore, "[2001:db8::1]"), "default");
});

test("no virtual host matches without a default", (t) => {
  const t2 = table(`virtual_hosts: [{name: only, domains: ["a.example"], routes: []}]`);
  t.is(vh(t2, "b.example"), null);
  t.is(selectRoute(t2, "b.example", "/", []), null);
});

test("stripHostPort and stripTrailingHostDot follow Envoy's HeaderUtility", (t) => {
  const cases: Array<[string, string]> = [
    ["localhost", "localhost"],
    ["localhost:443", "localhost"],
    ["", ""],
    [":443", ""],
    ["192.168.1.1:443", "192.168.1.1"],
    ["[fc00::1]:443", "[fc00::1]"],
    ["[fc00::1]", "[fc00::1]"],
    [":", ":"],
    ["]:", "]:"],
    [":abc", ":abc"],
    ["localhost:80", "localhost:80"],
    ["[fc00::1]:80", "[fc00::1]:80"],
  ];
  for (const [input, out] of cases) t.is(stripHostPort(input, "matching", 443), out, input);
  t.is(stripHostPort("localhost:9999", "any", 443), "localhost");
  t.is(stripHostPort("localhost:9999", "none", 443), "localhost:9999");
  t.is(stripTrailingHostDot("example.com."), "example.com");
  t.is(stripTrailingHostDot("example.com.:8080"), "example.com:8080");
  t.is(stripTrailingHostDot("example.com"), "example.com");
});

const ROUTES = table(`
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - {name: exact, match: {path: "/exact"}, route: {cluster: exact}}
  - {name: exact-ci, match: {path: "/CI", case_sensitive: false}, route: {cluster: ci}}
  - {name: sep, match: {path_separated_prefix: "/api"}, route: {cluster: sep}}
  - {name: regex, match: {safe_regex: {regex: "/users/[0-9]+"}}, route: {cluster: regex}}
  - name: header
    match:
      prefix: "/h"
      headers:
      - {name: x-version, string_match: {exact: "2"}}
    route: {cluster: header-v2}
  - {name: prefix-h, match: {prefix: "/h"}, route: {cluster: h}}
  - name: query
    match: {prefix: "/q", query_parameters: [{name: debug, present_match: true}]}
    route: {cluster: query}
  - {name: grpc, match: {prefix: "/svc.", grpc: {}}, route: {cluster: grpc}}
  - {name: catch-all, match: {prefix: ""}, route: {cluster: default}}
`);

const pick = (path: string, headers: HeaderEntries = [], method?: string) =>
  selectRoute(ROUTES, "x", path, headers, method === undefined ? undefined : { method })?.route.name ?? null;

test("the first matching route wins, in configuration order", (t) => {
  t.is(pick("/h", [["x-version", "2"]]), "header");
  t.is(pick("/h", [["x-version", "3"]]), "prefix-h");
  t.is(pick("/nothing"), "catch-all");
});

test("path matches ignore the query and fragment; prefix does too", (t) => {
  t.is(pick("/exact"), "exact");
  t.is(pick("/exact?x=1"), "exact");
  t.is(pick("/exact#frag"), "exact");
  t.is(pick("/exact/more"), "catch-all");
  t.is(pick("/ci"), "exact-ci");
  t.is(pick("/Ci?Q=1"), "exact-ci");
});

test("path_separated_prefix matches the prefix or the prefix followed by /", (t) => {
  t.is(pick("/api"), "sep");
  t.is(pick("/api/v1"), "sep");
  t.is(pick("/api?x"), "sep");
  t.is(pick("/apiary"), "catch-all");
});

test("safe_regex must match the whole path without the query", (t) => {
  t.is(pick("/users/42"), "regex");
  t.is(pick("/users/42?expand=1"), "regex");
  t.is(pick("/users/42/posts"), "catch-all");
  t.is(pick("/x/users/42"), "catch-all");
});

test("query_parameters and grpc matchers", (t) => {
  t.is(pick("/q?debug"), "query");
  t.is(pick("/q?a=1&debug=0"), "query");
  t.is(pick("/q?debugx=1"), "catch-all");
  t.is(pick("/svc.Greeter/Hello", [["content-type", "application/grpc"]]), "grpc");
  t.is(pick("/svc.Greeter/Hello", [["content-type", "application/grpc+proto"]]), "grpc");
  t.is(pick("/svc.Greeter/Hello", [["content-type", "application/grpcx"]]), "catch-all");
  t.is(pick("/svc.Greeter/Hello", [["content-type", "application/json"]]), "catch-all");
});

test("prefix matching is case-sensitive by default", (t) => {
  const t2 = table(`
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - {name: cs, match: {prefix: "/Foo"}, route: {cluster: a}}
  - {name: ci, match: {prefix: "/bar", case_sensitive: false}, route: {cluster: b}}
`);
  t.is(selectRoute(t2, "h", "/Foo/x", [])?.route.name, "cs");
  t.is(selectRoute(t2, "h", "/foo/x", []), null);
  t.is(selectRoute(t2, "h", "/BAR/x", [])?.route.name, "ci");
});

function headerRoute(matcher: string) {
  return table(`
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - name: m
    match:
      prefix: "/"
      headers: [${matcher}]
    route: {cluster: a}
`);
}
const hm = (matcher: string, headers: HeaderEntries, method?: string) =>
  selectRoute(headerRoute(matcher), "Host.Example", "/p?q=1", headers, method === undefined ? undefined : { method }) !== null;

test("header string matchers: exact, prefix, suffix, contains, regex, ignore_case", (t) => {
  t.true(hm(`{name: x, string_match: {exact: "abc"}}`, [["x", "abc"]]));
  t.false(hm(`{name: x, string_match: {exact: "abc"}}`, [["x", "ABC"]]));
  t.true(hm(`{name: x, string_match: {exact: "abc", ignore_case: true}}`, [["x", "ABC"]]));
  t.true(hm(`{name: x, string_match: {prefix: "ab"}}`, [["x", "abc"]]));
  t.true(hm(`{name: x, string_match: {suffix: "bc"}}`, [["x", "abc"]]));
  t.true(hm(`{name: x, string_match: {contains: "b"}}`, [["x", "abc"]]));
  t.true(hm(`{name: x, string_match: {contains: "B", ignore_case: true}}`, [["x", "abc"]]));
  t.true(hm(`{name: x, string_match: {safe_regex: {regex: "a.c"}}}`, [["x", "abc"]]));
  t.false(hm(`{name: x, string_match: {safe_regex: {regex: "a.c"}}}`, [["x", "abcd"]]));
});

test("repeated headers are matched as one value joined by ','", (t) => {
  t.true(hm(`{name: x, string_match: {exact: "a,b"}}`, [["x", "a"], ["x", "b"]]));
});

test("present_match, invert_match and treat_missing_header_as_empty", (t) => {
  t.true(hm(`{name: x, present_match: true}`, [["x", ""]]));
  t.false(hm(`{name: x, present_match: true}`, []));
  t.true(hm(`{name: x, present_match: false}`, []));
  t.false(hm(`{name: x, present_match: false}`, [["x", "1"]]));
  t.true(hm(`{name: x, present_match: true, invert_match: true}`, []));
  t.true(hm(`{name: x}`, [["x", "anything"]])); // no specifier: present
  t.false(hm(`{name: x, string_match: {exact: "a"}, invert_match: true}`, [])); // missing never matches a value matcher
  t.true(hm(`{name: x, string_match: {exact: "a"}, invert_match: true}`, [["x", "b"]]));
  t.true(hm(`{name: x, string_match: {exact: ""}, treat_missing_header_as_empty: true}`, []));
  t.true(hm(`{name: x, string_match: {exact: "a"}, invert_match: true, treat_missing_header_as_empty: true}`, []));
});

test("range_match is the half-open [start, end) over an int64 header value", (t) => {
  const r = `{name: x, range_match: {start: -10, end: 10}}`;
  t.true(hm(r, [["x", "-10"]]));
  t.true(hm(r, [["x", "9"]]));
  t.false(hm(r, [["x", "10"]]));
  t.false(hm(r, [["x", "1.5"]]));
  t.false(hm(r, [["x", "abc"]]));
  t.true(hm(r, [["x", " +5 "]]));
  t.false(hm(`{name: x, range_match: {start: 0, end: 10}}`, [["x", "99999999999999999999"]])); // beyond int64
});

test("pseudo-headers and host: :authority, :path (with the query) and :method", (t) => {
  t.true(hm(`{name: ":authority", string_match: {exact: "Host.Example"}}`, []));
  t.true(hm(`{name: host, string_match: {exact: "Host.Example"}}`, []));
  t.true(hm(`{name: ":path", string_match: {exact: "/p?q=1"}}`, []));
  t.true(hm(`{name: ":method", string_match: {exact: "GET"}}`, [], "GET"));
  t.false(hm(`{name: ":method", string_match: {exact: "GET"}}`, [], "POST"));
});

test("the deprecated exact_match still works, an empty one matching any value", (t) => {
  t.true(hm(`{name: x, exact_match: "a"}`, [["x", "a"]]));
  t.false(hm(`{name: x, exact_match: "a"}`, [["x", "b"]]));
  t.true(hm(`{name: x, exact_match: ""}`, [["x", "b"]]));
  t.true(hm(`{name: x, prefix_match: "a"}`, [["x", "abc"]]));
});

test("query parameter matchers: first value wins, string_match, present_match false", (t) => {
  const q = (m: string, path: string) =>
    selectRoute(table(`virtual_hosts: [{name: v, domains: ["*"], routes: [{match: {prefix: "/", query_parameters: [${m}]}, route: {cluster: a}}]}]`), "h", path, []) !== null;
  t.true(q(`{name: a, string_match: {exact: "1"}}`, "/?a=1&a=2"));
  t.false(q(`{name: a, string_match: {exact: "2"}}`, "/?a=1&a=2"));
  t.true(q(`{name: a, string_match: {exact: ""}}`, "/?a"));
  t.false(q(`{name: a, string_match: {exact: "x y"}}`, "/?a=x%20y")); // values are not percent-decoded
  t.true(q(`{name: a, present_match: false}`, "/?b=1"));
  t.false(q(`{name: a, present_match: false}`, "/?a=1"));
  t.false(q(`{name: a, string_match: {exact: "1"}}`, "/"));
});

test("ignore_path_parameters_in_path_matching cuts the path at ';'", (t) => {
  const t2 = table(`
ignore_path_parameters_in_path_matching: true
virtual_hosts: [{name: v, domains: ["*"], routes: [{name: p, match: {path: "/a"}, route: {cluster: a}}]}]
`);
  t.is(selectRoute(t2, "h", "/a;jsessionid=1?x", [])?.route.name, "p");
  t.is(selectRoute(ROUTES, "h", "/exact;x", [])?.route.name, "catch-all");
});

test("rewritePath: prefix_rewrite keeps the rest and the query; regex_rewrite keeps the query", (t) => {
  const t2 = table(`
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - {name: p, match: {prefix: "/old/"}, route: {cluster: a, prefix_rewrite: "/new/"}}
  - {name: r, match: {prefix: "/r/"}, route: {cluster: a, regex_rewrite: {pattern: {regex: "^/r/([^/]+)/(.*)$"}, substitution: "/\\\\2/\\\\1"}}}
  - {name: x, match: {safe_regex: {regex: "/x/[a-z]+"}}, route: {cluster: a, prefix_rewrite: "/y"}}
  - {name: n, match: {prefix: "/"}, route: {cluster: a}}
`);
  const rw = (p: string) => {
    const s = selectRoute(t2, "h", p, []);
    return s ? rewritePath(s.route, p) : undefined;
  };
  t.is(rw("/old/a/b?c=1"), "/new/a/b?c=1");
  t.is(rw("/r/one/two/three?q"), "/two/three/one?q");
  t.is(rw("/x/abc?k=v"), "/y?k=v");
  t.is(rw("/other"), null);
});

test("route timeout defaults to 15 s; the route's retry policy replaces the virtual host's", (t) => {
  const t2 = table(`
virtual_hosts:
- name: v
  domains: ["*"]
  retry_policy: {retry_on: "5xx,reset", num_retries: 3}
  routes:
  - {name: own, match: {prefix: "/own"}, route: {cluster: a, timeout: 0s, retry_policy: {retry_on: "connect-failure"}}}
  - {name: inherit, match: {prefix: "/"}, route: {cluster: a, timeout: 2.5s, idle_timeout: 30s}}
`);
  const own = selectRoute(t2, "h", "/own", [])!.route.action;
  const inherit = selectRoute(t2, "h", "/x", [])!.route.action;
  if (own.kind !== "route" || inherit.kind !== "route") return t.fail();
  t.is(own.timeoutMs, 0);
  t.deepEqual([...own.retryPolicy!.retryOn], ["connect-failure"]);
  t.is(own.retryPolicy!.numRetries, 1);
  t.is(inherit.timeoutMs, 2500);
  t.is(inherit.idleTimeoutMs, 30000);
  t.deepEqual([...inherit.retryPolicy!.retryOn], ["5xx", "reset"]);
  t.is(inherit.retryPolicy!.numRetries, 3);
  const dflt = table(`virtual_hosts: [{name: v, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: a}}]}]`);
  const a = dflt.virtualHosts[0].routes[0].action;
  t.is(a.kind === "route" ? a.timeoutMs : -1, 15000);
});
