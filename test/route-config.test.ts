// RouteConfiguration parsing: what is accepted, what is refused, and that every refusal names its field path.
import test from "ava";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../proxy/config/errors.js";
import { ConfigReader } from "../proxy/config/reader.js";
import { parseRouteConfiguration, type RouteConfigOptions, type RouteTable } from "../proxy/filters/network/http-connection-manager/route-config.js";

function parse(yaml: string, opts?: RouteConfigOptions): RouteTable {
  return parseRouteConfiguration(new ConfigReader(parseYaml(yaml), "route_config"), opts);
}

function refused(t: import("ava").ExecutionContext, yaml: string, path: string, detail: RegExp): void {
  const e = t.throws(() => parse(yaml), { instanceOf: ConfigError });
  t.is(e!.path, path, e!.message);
  t.regex(e!.detail, detail);
}

const vhost = (routes: string, extra = "") => `
name: rc
virtual_hosts:
- name: v
  domains: ["*"]${extra}
  routes: ${routes}
`;

test("duplicate domains across virtual hosts are refused (case-insensitively), with the second's path", (t) => {
  refused(
    t,
    `
name: rc
virtual_hosts:
- {name: a, domains: ["example.com"], routes: []}
- {name: b, domains: ["other.com", "Example.COM"], routes: []}
`,
    "route_config.virtual_hosts[1].domains[1]",
    /^Only unique values for domains are permitted\. Duplicate entry of domain example\.com in route rc$/,
  );
  refused(
    t,
    `virtual_hosts: [{name: a, domains: ["*.foo.com", "*.foo.com"], routes: []}]`,
    "route_config.virtual_hosts[0].domains[1]",
    /Duplicate entry of domain \*\.foo\.com/,
  );
});

test("only one '*' domain", (t) => {
  refused(
    t,
    `
name: rc
virtual_hosts:
- {name: a, domains: ["*"], routes: []}
- {name: b, domains: ["*"], routes: []}
`,
    "route_config.virtual_hosts[1].domains[0]",
    /^Only a single wildcard domain is permitted in route rc$/,
  );
});

test("a suffix and a prefix wildcard with the same text do not collide; '*' alone is the default", (t) => {
  const rt = parse(`virtual_hosts: [{name: a, domains: ["*.x", "x.*", "*"], routes: []}]`);
  t.is(rt.suffixWildcards.length, 1);
  t.is(rt.prefixWildcards.length, 1);
  t.is(rt.defaultHost?.name, "a");
});

test("virtual host name and domains are required", (t) => {
  refused(t, `virtual_hosts: [{domains: ["*"], routes: []}]`, "route_config.virtual_hosts[0].name", /is required/);
  refused(t, `virtual_hosts: [{name: a, routes: []}]`, "route_config.virtual_hosts[0].domains", /at least 1/);
  refused(t, `virtual_hosts: [{name: a, domains: [""], routes: []}]`, "route_config.virtual_hosts[0].domains[0]", /non-empty/);
});

test("a bad regex is refused with its path and the reason", (t) => {
  refused(t, vhost(`[{match: {safe_regex: {regex: "/a("}}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.safe_regex.regex", /invalid regex/);
  refused(t, vhost(`[{match: {safe_regex: {regex: "(a)\\\\1"}}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.safe_regex.regex", /backreference/);
  refused(t, vhost(`[{match: {safe_regex: {regex: "/a(?=b)"}}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.safe_regex.regex", /lookaround/);
  refused(
    t,
    vhost(`[{match: {prefix: "/", headers: [{name: x, string_match: {safe_regex: {regex: "[a-"}}}]}, route: {cluster: c}}]`),
    "route_config.virtual_hosts[0].routes[0].match.headers[0].string_match.safe_regex.regex",
    /missing \]/,
  );
  refused(
    t,
    vhost(`[{match: {prefix: "/", headers: [{name: x, string_match: {safe_regex: {regex: "a"}, ignore_case: true}}]}, route: {cluster: c}}]`),
    "route_config.virtual_hosts[0].routes[0].match.headers[0].string_match.ignore_case",
    /no effect for safe_regex/,
  );
});

test("google_re2 is accepted empty; max_program_size is refused", (t) => {
  t.notThrows(() => parse(vhost(`[{match: {safe_regex: {google_re2: {}, regex: "/a"}}, route: {cluster: c}}]`)));
  refused(
    t,
    vhost(`[{match: {safe_regex: {google_re2: {max_program_size: 100}, regex: "/a"}}, route: {cluster: c}}]`),
    "route_config.virtual_hosts[0].routes[0].match.safe_regex.google_re2.max_program_size",
    /not supported/,
  );
});

test("unknown and unsupported fields are refused with their path", (t) => {
  refused(t, vhost(`[{match: {prefix: "/"}, route: {cluster: c, clustr: d}}]`), "route_config.virtual_hosts[0].routes[0].route.clustr", /unknown or unsupported field/);
  refused(t, vhost(`[{match: {prefix: "/"}, redirect: {path_redirect: "/x"}}]`), "route_config.virtual_hosts[0].routes[0].redirect", /redirect routes are not supported/);
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {weighted_clusters: {clusters: [{name: a, weight: 1}]}}}]`),
    "route_config.virtual_hosts[0].routes[0].route.weighted_clusters",
    /not supported by Tollgate yet/,
  );
  refused(t, vhost(`[{match: {prefix: "/"}, route: {cluster: c, auto_host_rewrite: true}}]`), "route_config.virtual_hosts[0].routes[0].route.auto_host_rewrite", /not supported/);
  refused(t, vhost(`[{match: {prefix: "/"}, route: {cluster: c, hash_policy: [{header: {header_name: x}}]}}]`), "route_config.virtual_hosts[0].routes[0].route.hash_policy", /not supported/);
  refused(t, vhost(`[{match: {prefix: "/", runtime_fraction: {default_value: {numerator: 1}}}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.runtime_fraction", /not supported/);
  refused(t, vhost(`[]`, `\n  require_tls: ALL`), "route_config.virtual_hosts[0].require_tls", /not supported/);
  refused(t, `vhds: {config_source: {ads: {}}}`, "route_config.vhds", /not supported/);
  refused(t, vhost(`[{match: {regex: "/a"}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match", /one of prefix, path/);
  refused(t, vhost(`[{match: {prefix: "/", headers: [{name: x, regex_match: "a"}]}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.headers[0].regex_match", /removed/);
});

test("exactly one path specifier and one action", (t) => {
  refused(t, vhost(`[{match: {prefix: "/", path: "/a"}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match", /only one of prefix, path may be set/);
  refused(t, vhost(`[{match: {prefix: "/"}}]`), "route_config.virtual_hosts[0].routes[0]", /one of route, redirect, direct_response.* is required/);
  refused(t, vhost(`[{match: {prefix: "/"}, route: {}}]`), "route_config.virtual_hosts[0].routes[0].route", /one of cluster, cluster_header.* is required/);
});

test("retry_on: supported conditions only", (t) => {
  t.notThrows(() => parse(vhost(`[{match: {prefix: "/"}, route: {cluster: c, retry_policy: {retry_on: "5xx, gateway-error,reset,connect-failure,retriable-4xx,refused-stream,retriable-status-codes", retriable_status_codes: [409]}}}]`)));
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c, retry_policy: {retry_on: "5xx,cancelled"}}}]`),
    "route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_on",
    /"cancelled" is not supported/,
  );
  refused(t, vhost(`[]`, `\n  retry_policy: {retry_on: "envoy-ratelimited"}`), "route_config.virtual_hosts[0].retry_policy.retry_on", /not supported/);
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c, retry_policy: {retry_back_off: {base_interval: 1s, max_interval: 0.5s}}}}]`),
    "route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_back_off.max_interval",
    /greater than or equal to the base_interval/,
  );
});

test("direct_response: status 200-599, inline body, size limit", (t) => {
  const rt = parse(vhost(`[{match: {prefix: "/"}, direct_response: {status: 503, body: {inline_string: "down"}}}]`));
  const a = rt.virtualHosts[0].routes[0].action;
  t.is(a.kind, "direct_response");
  if (a.kind === "direct_response") {
    t.is(a.status, 503);
    t.is(a.body?.toString(), "down");
  }
  refused(t, vhost(`[{match: {prefix: "/"}, direct_response: {status: 199}}]`), "route_config.virtual_hosts[0].routes[0].direct_response.status", /at least 200/);
  refused(t, vhost(`[{match: {prefix: "/"}, direct_response: {status: 600}}]`), "route_config.virtual_hosts[0].routes[0].direct_response.status", /at most 599/);
  refused(
    t,
    `max_direct_response_body_size_bytes: 3\n${vhost(`[{match: {prefix: "/"}, direct_response: {status: 200, body: {inline_string: "four"}}}]`)}`,
    "route_config.virtual_hosts[0].routes[0].direct_response.body",
    /4 bytes; maximum is 3/,
  );
  refused(t, vhost(`[{match: {prefix: "/"}, direct_response: {status: 200, body: {filename: "/etc/motd"}}}]`), "route_config.virtual_hosts[0].routes[0].direct_response.body.filename", /not supported/);
});

test("prefix_rewrite and regex_rewrite together are refused; a bad substitution group too", (t) => {
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c, prefix_rewrite: "/x", regex_rewrite: {pattern: {regex: "a"}, substitution: "b"}}}]`),
    "route_config.virtual_hosts[0].routes[0].route",
    /Cannot specify both prefix_rewrite and regex_rewrite/,
  );
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c, regex_rewrite: {pattern: {regex: "(a)"}, substitution: "\\\\2"}}}]`),
    "route_config.virtual_hosts[0].routes[0].route.regex_rewrite.substitution",
    /group \\2 but the pattern has 1/,
  );
});

test("path_separated_prefix syntax is checked", (t) => {
  for (const bad of ["/api/", "api", "/a?b", "/"]) {
    refused(t, vhost(`[{match: {path_separated_prefix: "${bad}"}, route: {cluster: c}}]`), "route_config.virtual_hosts[0].routes[0].match.path_separated_prefix", /must start with \//);
  }
});

test("header names and values in headers_to_add are validated; %formatters% are refused for now", (t) => {
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c}, request_headers_to_add: [{header: {key: "x-a", value: "%DOWNSTREAM_REMOTE_ADDRESS%"}}]}]`),
    "route_config.virtual_hosts[0].routes[0].request_headers_to_add[0].header.value",
    /formatter/,
  );
  refused(
    t,
    vhost(`[{match: {prefix: "/"}, route: {cluster: c}, request_headers_to_add: [{header: {key: ":path", value: "/x"}}]}]`),
    "route_config.virtual_hosts[0].routes[0].request_headers_to_add[0].header.key",
    /may not be modified/,
  );
  refused(t, `response_headers_to_remove: ["Host"]`, "route_config.response_headers_to_remove[0]", /may not be removed/);
  refused(t, `request_headers_to_add: [{header: {key: "bad name", value: "v"}}]`, "route_config.request_headers_to_add[0].header.key", /invalid header name/);
  refused(
    t,
    `request_headers_to_add: [{header: {key: "x", value: "v"}, append: true, append_action: ADD_IF_ABSENT}]`,
    "route_config.request_headers_to_add[0]",
    /Both append and append_action are set/,
  );
});

test("typed_per_filter_config is resolved through the injected resolver, most specific first", (t) => {
  const seen: string[] = [];
  const rt = parse(
    `
typed_per_filter_config:
  envoy.filters.http.rbac: {"@type": "type.googleapis.com/test.Global", v: global}
virtual_hosts:
- name: v
  domains: ["*"]
  typed_per_filter_config:
    envoy.filters.http.local_ratelimit: {"@type": "type.googleapis.com/test.Vhost", v: vhost}
  routes:
  - name: r
    match: {prefix: "/"}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.rbac:
        "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
        disabled: true
      other: {"@type": "type.googleapis.com/test.Route", v: route}
`,
    {
      resolvePerFilterConfig(name, any) {
        const type = any.str("@type", { required: true });
        const v = any.str("v");
        seen.push(`${name}=${v}`);
        return { type, v };
      },
    },
  );
  const route = rt.virtualHosts[0].routes[0];
  t.deepEqual((route.perFilterConfig("other") as { v: string }).v, "route");
  t.deepEqual((route.perFilterConfig("envoy.filters.http.local_ratelimit") as { v: string }).v, "vhost");
  t.true(route.filterDisabled("envoy.filters.http.rbac"));
  t.is(route.perFilterConfig("envoy.filters.http.rbac"), undefined);
  t.is(route.perFilterConfig("absent"), undefined);
  t.is(seen.length, 3);
  // A field the resolver did not read is refused with its path.
  const e = t.throws(() =>
    parse(vhost(`[{match: {prefix: "/"}, route: {cluster: c}, typed_per_filter_config: {f: {"@type": "t/x", stray: 1}}}]`), {
      resolvePerFilterConfig: (_n, any) => any.str("@type"),
    }),
  );
  t.regex(e!.message, /^route_config\.virtual_hosts\[0\]\.routes\[0\]\.typed_per_filter_config\.f\.stray: unknown/);
});

test("validate_clusters is accepted and the referenced clusters are listed for the caller", (t) => {
  const rt = parse(`
validate_clusters: true
virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - {match: {prefix: "/a"}, route: {cluster: alpha}}
  - {match: {prefix: "/b"}, route: {cluster_header: x-cluster}}
  - {match: {prefix: "/c"}, route: {cluster: alpha}}
  - {match: {prefix: "/d"}, route: {cluster: beta, cluster_not_found_response_code: NOT_FOUND}}
`);
  t.true(rt.validateClusters);
  t.deepEqual([...rt.referencedClusters].sort(), ["alpha", "beta"]);
  const d = rt.virtualHosts[0].routes[3].action;
  t.is(d.kind === "route" ? d.clusterNotFoundStatus : 0, 404);
  t.is(parse(`virtual_hosts: []`).validateClusters, undefined);
});

test("the parsed table is frozen", (t) => {
  const rt = parse(vhost(`[{match: {prefix: "/"}, route: {cluster: c}}]`));
  t.true(Object.isFrozen(rt));
  t.true(Object.isFrozen(rt.virtualHosts[0]));
  t.true(Object.isFrozen(rt.virtualHosts[0].routes[0]));
  t.true(Object.isFrozen(rt.virtualHosts[0].routes[0].match));
});
