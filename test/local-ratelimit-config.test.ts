// Configuration of the local rate limiters: Envoy's defaults, Tollgate's additions, and every refusal with the
// path of the offending field. Route-level rate_limits are parsed into the route table.
import test from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import { ConfigReader } from "../proxy/config/reader.js";
import { parseBootstrap } from "../proxy/config/bootstrap.js";
import "../proxy/config/extensions.js";
import { parseRouteConfiguration } from "../proxy/filters/network/http-connection-manager/route-config.js";
import type { HttpLocalRateLimitConfig } from "../proxy/filters/http/local-ratelimit/config.js";
import type { NetworkLocalRateLimitConfig } from "../proxy/filters/network/local-ratelimit/config.js";
import type { HttpConnectionManagerConfig } from "../proxy/filters/network/http-connection-manager/config.js";

type J = Record<string, unknown>;
const HTTP_ENVOY = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const HTTP_TOLLGATE = "type.googleapis.com/tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit";
const NET_ENVOY = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const NET_TOLLGATE = "type.googleapis.com/tollgate.extensions.filters.network.local_ratelimit.v1.LocalRateLimit";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const HTTP_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";
const NET_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

const cluster = { name: "b", type: "STATIC", load_assignment: { cluster_name: "b", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } };

function withHttp(rl: J, routeExtra: J = {}, vhExtra: J = {}): J {
  const hcm = {
    name: "hcm",
    typed_config: {
      "@type": HCM,
      stat_prefix: "in",
      route_config: { virtual_hosts: [{ name: "v", domains: ["*"], ...vhExtra, routes: [{ match: { prefix: "/" }, route: { cluster: "b" }, ...routeExtra }] }] },
      http_filters: [{ name: "envoy.filters.http.local_ratelimit", typed_config: rl }, { name: "router", typed_config: { "@type": ROUTER } }],
    },
  };
  return { static_resources: { listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: [{ filters: [hcm] }] }], clusters: [cluster] } };
}

function withNet(rl: J): J {
  const filters = [{ name: "rl", typed_config: rl }, { name: "tcp", typed_config: { "@type": TCP, stat_prefix: "t", cluster: "b" } }];
  return { static_resources: { listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: [{ filters }] }], clusters: [cluster] } };
}

function httpConfig(rl: J): HttpLocalRateLimitConfig {
  const b = parseBootstrap(withHttp(rl) as never);
  const hcm = b.listeners[0]!.filterChains[0]!.filters[0]!.config as unknown as HttpConnectionManagerConfig;
  return hcm.httpFilters[0]!.config as unknown as HttpLocalRateLimitConfig;
}

function refused(t: import("ava").ExecutionContext, doc: J, path: string, detail: RegExp): void {
  const err = t.throws(() => parseBootstrap(doc as never), { instanceOf: ConfigError }) as ConfigError;
  t.is(err.path, path);
  t.regex(err.detail, detail);
}

test("Envoy's defaults: status 429, inert (0% enabled and enforced), no x-ratelimit headers, OVERRIDE, default bucket always consumed", (t) => {
  const c = httpConfig({ "@type": HTTP_ENVOY, stat_prefix: "p" });
  t.is(c.status, 429);
  t.is(c.filterEnabled.numerator, 0);
  t.is(c.filterEnforced.numerator, 0);
  t.false(c.xRateLimitHeaders);
  t.is(c.vhRateLimits, "OVERRIDE");
  t.true(c.limiter.alwaysConsumeDefault);
  t.is(c.limiter.defaultBucket, null);
  t.is(c.limiter.maxDynamicDescriptors, 20);
  t.is(c.limiter.maxClients, 1_000_000);
  t.deepEqual(c.limiter.prefixes, { ipv4: 32, ipv6: 128 }, "the Envoy type keys clients by full address");
  const d = httpConfig({
    "@type": HTTP_ENVOY,
    stat_prefix: "p",
    token_bucket: { max_tokens: 10, fill_interval: "0.05s" },
    filter_enabled: { runtime_key: "k", default_value: { numerator: 5, denominator: "TEN_THOUSAND" } },
    always_consume_default_token_bucket: { value: false },
    descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1, fill_interval: "1s" } }],
  });
  t.deepEqual(d.limiter.defaultBucket, { maxTokens: 10, tokensPerFill: 1, fillIntervalMs: 50 });
  t.deepEqual({ ...d.filterEnabled }, { runtimeKey: "k", numerator: 5, denominator: 10_000 });
  t.false(d.limiter.alwaysConsumeDefault);
  t.is(d.limiter.descriptors[0]!.kind, "per_client");
});

test("the Tollgate type adds max_clients and prefix lengths (IPv6 grouped by /64 unless told otherwise)", (t) => {
  const c = httpConfig({ "@type": HTTP_TOLLGATE, stat_prefix: "p", max_clients: 5000, ipv4_prefix_len: 24 });
  t.is(c.limiter.maxClients, 5000);
  t.deepEqual(c.limiter.prefixes, { ipv4: 24, ipv6: 64 });
});

test("HTTP filter refusals carry the field's path", (t) => {
  const rl = (extra: J): J => withHttp({ "@type": HTTP_ENVOY, stat_prefix: "p", ...extra });
  refused(t, withHttp({ "@type": HTTP_ENVOY }), `${HTTP_PATH}.stat_prefix`, /required/);
  refused(t, rl({ token_bucket: { max_tokens: 1, fill_interval: "0.049s" } }), `${HTTP_PATH}.token_bucket.fill_interval`, /fill timer must be >= 50ms/);
  refused(t, rl({ token_bucket: { max_tokens: 1 } }), `${HTTP_PATH}.token_bucket.fill_interval`, /required/);
  refused(t, rl({ token_bucket: { max_tokens: 1, tokens_per_fill: 0, fill_interval: "1s" } }), `${HTTP_PATH}.token_bucket.tokens_per_fill`, /at least 1/);
  refused(
    t,
    rl({ descriptors: [{ entries: [{ key: "k", value: "v" }], token_bucket: { max_tokens: 1, fill_interval: "0.01s" } }] }),
    `${HTTP_PATH}.descriptors[0].token_bucket.fill_interval`,
    /descriptor token bucket fill timer must be >= 50ms/,
  );
  const d = { entries: [{ key: "k", value: "v" }], token_bucket: { max_tokens: 1, fill_interval: "1s" } };
  refused(t, rl({ descriptors: [d, d] }), `${HTTP_PATH}.descriptors[1]`, /duplicate descriptor in the local rate descriptor: k=v/);
  refused(t, rl({ descriptors: [{ entries: [], token_bucket: d.token_bucket }] }), `${HTTP_PATH}.descriptors[0].entries`, /at least 1/);
  refused(t, rl({ descriptors: [{ entries: [{ key: "k" }] }] }), `${HTTP_PATH}.descriptors[0].token_bucket`, /required/);
  refused(t, rl({ local_cluster_rate_limit: {} }), `${HTTP_PATH}.local_cluster_rate_limit`, /not supported/);
  refused(t, rl({ status: { code: 999 } }), `${HTTP_PATH}.status.code`, /StatusCode/);
  refused(t, rl({ stage: 11 }), `${HTTP_PATH}.stage`, /at most 10/);
  refused(t, rl({ enable_x_ratelimit_headers: "DRAFT_VERSION_04" }), `${HTTP_PATH}.enable_x_ratelimit_headers`, /OFF, DRAFT_VERSION_03/);
  refused(t, rl({ filter_enabled: { runtime_key: "k" } }), `${HTTP_PATH}.filter_enabled.default_value`, /required/);
  refused(t, rl({ max_clients: 10 }), `${HTTP_PATH}.max_clients`, /unknown or unsupported field/);
  refused(t, withHttp({ "@type": HTTP_TOLLGATE, stat_prefix: "p", max_clients: 0 }), `${HTTP_PATH}.max_clients`, /at least 1/);
  refused(t, withHttp({ "@type": HTTP_TOLLGATE, stat_prefix: "p", ipv6_prefix_len: 129 }), `${HTTP_PATH}.ipv6_prefix_len`, /at most 128/);
  const many = Array.from({ length: 11 }, (_, i) => ({ header: { key: `x-${i}`, value: "1" } }));
  refused(t, rl({ response_headers_to_add: many }), `${HTTP_PATH}.response_headers_to_add`, /at most 10/);
  refused(
    t,
    rl({ request_headers_to_add_when_not_enforced: [{ header: { key: "bad header", value: "1" } }] }),
    `${HTTP_PATH}.request_headers_to_add_when_not_enforced[0].header.key`,
    /invalid header name/,
  );
  refused(t, rl({ descriptors: [{ entries: [{ key: "k" }], token_bucket: d.token_bucket, shadow_mode: true }] }), `${HTTP_PATH}.descriptors[0].shadow_mode`, /not supported/);
});

test("per-route configs need their own token_bucket (Envoy's rule), with the path of the route", (t) => {
  const perRoute = { typed_per_filter_config: { "envoy.filters.http.local_ratelimit": { "@type": HTTP_ENVOY, stat_prefix: "r" } } };
  refused(
    t,
    withHttp({ "@type": HTTP_ENVOY, stat_prefix: "p" }, perRoute),
    "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config.envoy.filters.http.local_ratelimit.token_bucket",
    /token bucket must be set for per filter configs/,
  );
});

test("route and virtual-host rate_limits are parsed into the route table; unsupported actions are refused with paths", (t) => {
  const table = parseRouteConfiguration(
    new ConfigReader(
      {
        virtual_hosts: [
          {
            name: "v",
            domains: ["*"],
            rate_limits: [{ stage: 1, actions: [{ generic_key: { descriptor_value: "vh" } }] }],
            routes: [
              {
                match: { prefix: "/" },
                route: {
                  cluster: "b",
                  include_vh_rate_limits: true,
                  rate_limits: [
                    {
                      actions: [
                        { remote_address: {} },
                        { request_headers: { header_name: "Host", descriptor_key: "host", skip_if_absent: true } },
                        { header_value_match: { descriptor_value: "get", headers: [{ name: ":method", string_match: { exact: "GET" } }] } },
                        { destination_cluster: {} },
                      ],
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
      "route_config",
    ),
  );
  const route = table.virtualHosts[0]!.routes[0]!;
  if (route.action.kind !== "route") throw new Error("expected a forwarding route");
  t.true(route.action.includeVhRateLimits);
  t.deepEqual(
    route.action.rateLimits[0]!.actions.map((a) => a.kind),
    ["remote_address", "request_headers", "header_value_match", "destination_cluster"],
  );
  const rh = route.action.rateLimits[0]!.actions[1]!;
  t.deepEqual(rh, { kind: "request_headers", headerName: ":authority", descriptorKey: "host", skipIfAbsent: true });
  const hvm = route.action.rateLimits[0]!.actions[2]!;
  t.is(hvm.kind === "header_value_match" ? hvm.descriptorKey : "", "header_match");
  t.deepEqual(route.virtualHostRateLimits, table.virtualHosts[0]!.rateLimits);
  t.deepEqual(table.virtualHosts[0]!.rateLimits[0], { stage: 1, disableKey: "", actions: [{ kind: "generic_key", descriptorKey: "generic_key", descriptorValue: "vh" }] });

  const bad = (rateLimit: J): void => {
    parseRouteConfiguration(new ConfigReader({ virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "b", rate_limits: [rateLimit] } }] }] }, "rc"));
  };
  const at = "rc.virtual_hosts[0].routes[0].route.rate_limits[0]";
  const e1 = t.throws(() => bad({ actions: [{ masked_remote_address: {} }] }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e1.path, `${at}.actions[0].masked_remote_address`);
  const e2 = t.throws(() => bad({ actions: [] }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e2.path, `${at}.actions`);
  const e3 = t.throws(() => bad({ stage: 11, actions: [{ remote_address: {} }] }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e3.path, `${at}.stage`);
  const e4 = t.throws(() => bad({ actions: [{ generic_key: {} }] }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e4.path, `${at}.actions[0].generic_key.descriptor_value`);
  const e5 = t.throws(() => bad({ actions: [{ remote_address: {} }], hits_addend: { number: 2 } }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e5.path, `${at}.hits_addend`);
});

test("network filter: Envoy's fields and refusals; the Tollgate type's client bucket", (t) => {
  const net = (rl: J): NetworkLocalRateLimitConfig =>
    parseBootstrap(withNet(rl) as never).listeners[0]!.filterChains[0]!.filters[0]!.config as unknown as NetworkLocalRateLimitConfig;
  const c = net({ "@type": NET_ENVOY, stat_prefix: "n", token_bucket: { max_tokens: 5, fill_interval: "1s" } });
  t.true(c.enabled);
  t.is(c.shareKey, "");
  t.is(c.clientTokenBucket, null);
  const off = net({ "@type": NET_ENVOY, stat_prefix: "n", token_bucket: { max_tokens: 5, fill_interval: "1s" }, runtime_enabled: { runtime_key: "k", default_value: false } });
  t.false(off.enabled);
  const cl = net({ "@type": NET_TOLLGATE, stat_prefix: "n", client_token_bucket: { max_tokens: 2, fill_interval: "10s" }, max_clients: 100 });
  t.is(cl.tokenBucket, null);
  t.deepEqual(cl.clientTokenBucket, { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 10_000 });
  t.deepEqual(cl.prefixes, { ipv4: 32, ipv6: 64 });

  refused(t, withNet({ "@type": NET_ENVOY, stat_prefix: "n" }), `${NET_PATH}.token_bucket`, /required/);
  refused(t, withNet({ "@type": NET_ENVOY, token_bucket: { max_tokens: 1, fill_interval: "1s" } }), `${NET_PATH}.stat_prefix`, /required/);
  refused(t, withNet({ "@type": NET_ENVOY, stat_prefix: "n", token_bucket: { max_tokens: 1, fill_interval: "0.02s" } }), `${NET_PATH}.token_bucket.fill_interval`, />= 50ms/);
  refused(
    t,
    withNet({ "@type": NET_ENVOY, stat_prefix: "n", token_bucket: { max_tokens: 1, fill_interval: "1s" }, client_token_bucket: { max_tokens: 1, fill_interval: "1s" } }),
    `${NET_PATH}.client_token_bucket`,
    /unknown or unsupported field/,
  );
  refused(t, withNet({ "@type": NET_TOLLGATE, stat_prefix: "n" }), `${NET_PATH}.token_bucket`, /unless client_token_bucket is set/);
  refused(
    t,
    withNet({ "@type": NET_ENVOY, stat_prefix: "n", token_bucket: { max_tokens: 1, fill_interval: "1s" }, runtime_enabled: { default_value: true } }),
    `${NET_PATH}.runtime_enabled.runtime_key`,
    /required/,
  );
});
