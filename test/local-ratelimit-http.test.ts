// End to end: envoy.filters.http.local_ratelimit in a real TollgateServer behind a PROXY-protocol listener.
// Clients are raw sockets that send PROXY v1 headers, so each test chooses its clients' addresses. Buckets use
// long fill intervals (nothing refills during a test), so no test depends on time.
import test from "ava";
import { FakeClock, useRateLimitClock } from "../proxy/filters/common/ratelimit/clock.js";
import { renderEnvoyPrometheus } from "../proxy/observability/stats/render-prometheus.js";
import {
  bootstrapYaml,
  echoOf,
  get,
  hcmFilter,
  listener,
  openConnection,
  proxyProtocolFilter,
  proxyV1,
  readAccessLog,
  startEcho,
  startTollgate,
  staticCluster,
  tempDir,
  type Json,
  type RawResponse,
  type RunningTollgate,
} from "./helpers/e2e.js";

const ENVOY = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const TOLLGATE = "type.googleapis.com/tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit";
const ALWAYS = (key: string): Json => ({ runtime_key: key, default_value: { numerator: 100, denominator: "HUNDRED" } });
const ON = { filter_enabled: ALWAYS("rl_enabled"), filter_enforced: ALWAYS("rl_enforced") };

function rlFilter(config: Record<string, Json>, type = ENVOY): Json {
  return { name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": type, stat_prefix: "edge", ...config } };
}

interface Setup {
  filter: Json;
  virtualHosts?: Json[];
  accessLog?: string;
  hcmExtra?: Record<string, Json>;
}

async function start(t: Parameters<Parameters<typeof test>[1]>[0], s: Setup): Promise<RunningTollgate> {
  const echo = await startEcho(t);
  const hcm = hcmFilter({ virtualHosts: s.virtualHosts, accessLogPath: s.accessLog ?? null, extra: s.hcmExtra }) as { typed_config: { http_filters: Json[] } };
  hcm.typed_config.http_filters.unshift(s.filter);
  const yaml = bootstrapYaml({
    listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcm as unknown as Json] })],
    clusters: [staticCluster("backend", [echo.port])],
  });
  return startTollgate(t, yaml);
}

/** One request from `client` (its PROXY source address) on a fresh connection. */
async function request(t: Parameters<Parameters<typeof test>[1]>[0], tg: RunningTollgate, client: string, path = "/", headers: Record<string, string> = {}): Promise<RawResponse> {
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1(client, client.includes(":") ? "2001:db8::1" : "192.0.2.1"), Buffer.from(get(path, headers))]));
  const r = await c.response();
  c.destroy();
  return r;
}

const statuses = async (t: Parameters<Parameters<typeof test>[1]>[0], tg: RunningTollgate, client: string, n: number, path = "/", headers: Record<string, string> = {}): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request(t, tg, client, path, headers)).status);
  return out;
};

test("a limited request gets Envoy's local reply, byte for byte, with flag RL and the filter's stats", async (t) => {
  const log = `${tempDir(t)}/access.log`;
  const tg = await start(t, { filter: rlFilter({ ...ON, token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" } }), accessLog: log });
  t.is((await request(t, tg, "203.0.113.10")).status, 200);
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1("203.0.113.10", "192.0.2.1"), Buffer.from(get("/", { connection: "close" }))]));
  const raw = (await c.readToEnd()).toString("latin1");
  t.is(
    raw.replace(/\r\n(date): [^\r]+\r\n/i, "\r\n$1: <date>\r\n"),
    "HTTP/1.1 429 Too Many Requests\r\n" +
      "content-type: text/plain\r\n" +
      "content-length: 18\r\n" +
      "server: envoy\r\n" +
      "Date: <date>\r\n" +
      "Connection: close\r\n" +
      "\r\n" +
      "local_rate_limited",
  );
  const entries = await readAccessLog(log, 2);
  t.deepEqual(
    entries.map((e) => [e.code, e.flags, e.details]),
    [
      ["200", "-", "via_upstream"],
      ["429", "RL", "local_rate_limited"],
    ],
  );
  t.is(tg.stat("edge.http_local_rate_limit.enabled"), 2);
  t.is(tg.stat("edge.http_local_rate_limit.ok"), 1);
  t.is(tg.stat("edge.http_local_rate_limit.rate_limited"), 1);
  t.is(tg.stat("edge.http_local_rate_limit.enforced"), 1);
  const prom = renderEnvoyPrometheus(tg.server.stats, { usedOnly: true, filter: null });
  t.regex(prom, /^# TYPE envoy_http_local_rate_limit_rate_limited counter\nenvoy_http_local_rate_limit_rate_limited\{envoy_local_http_ratelimit_prefix="edge"\} 1$/m);
});

test("status below 400 answers 429; a configured 4xx/5xx status is used, with response_headers_to_add", async (t) => {
  const tg = await start(t, {
    filter: rlFilter({
      ...ON,
      status: { code: "ServiceUnavailable" },
      token_bucket: { max_tokens: 1, fill_interval: "3600s" },
      response_headers_to_add: [{ append_action: "OVERWRITE_IF_EXISTS_OR_ADD", header: { key: "x-local-rate-limit", value: "true" } }],
    }),
  });
  await request(t, tg, "203.0.113.10");
  const r = await request(t, tg, "203.0.113.10");
  t.is(r.status, 503);
  t.is(r.body.toString(), "local_rate_limited");
  t.is(r.header("x-local-rate-limit"), "true");
  t.is(r.header("x-envoy-ratelimited"), undefined, "Envoy's local rate limiter does not add x-envoy-ratelimited (docs/rate-limits.md)");

  const low = await start(t, { filter: rlFilter({ ...ON, status: { code: 200 }, token_bucket: { max_tokens: 1, fill_interval: "3600s" } }) });
  await request(t, low, "203.0.113.10");
  t.is((await request(t, low, "203.0.113.10")).status, 429);
});

test("inert by default: without filter_enabled nothing is limited or counted", async (t) => {
  const tg = await start(t, { filter: rlFilter({ token_bucket: { max_tokens: 1, fill_interval: "3600s" } }) });
  t.deepEqual(await statuses(t, tg, "203.0.113.10", 4), [200, 200, 200, 200]);
  t.is(tg.stat("edge.http_local_rate_limit.enabled"), 0);
  t.is(tg.stat("edge.http_local_rate_limit.rate_limited"), 0);
});

test("enabled but not enforced: limited requests are counted and forwarded with request_headers_to_add_when_not_enforced", async (t) => {
  const tg = await start(t, {
    filter: rlFilter({
      filter_enabled: ALWAYS("rl_enabled"),
      token_bucket: { max_tokens: 1, fill_interval: "3600s" },
      request_headers_to_add_when_not_enforced: [{ append_action: "OVERWRITE_IF_EXISTS_OR_ADD", header: { key: "x-local-ratelimited", value: "true" } }],
    }),
  });
  const first = await request(t, tg, "203.0.113.10");
  const second = await request(t, tg, "203.0.113.10");
  t.is(first.status, 200);
  t.is(second.status, 200);
  t.is(echoOf(first).headers["x-local-ratelimited"], undefined);
  t.is(echoOf(second).headers["x-local-ratelimited"], "true");
  t.is(tg.stat("edge.http_local_rate_limit.enabled"), 2);
  t.is(tg.stat("edge.http_local_rate_limit.rate_limited"), 1);
  t.is(tg.stat("edge.http_local_rate_limit.enforced"), 0);
});

const PER_CLIENT_ROUTES: Json[] = [
  {
    name: "all",
    domains: ["*"],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend", rate_limits: [{ actions: [{ remote_address: {} }] }] } }],
  },
];

test("per-client buckets: a remote_address wildcard descriptor limits each PROXY client on its own", async (t) => {
  const tg = await start(t, {
    filter: rlFilter({
      ...ON,
      token_bucket: { max_tokens: 1000, fill_interval: "1s" },
      descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 3, fill_interval: "3600s" } }],
    }),
    virtualHosts: PER_CLIENT_ROUTES,
  });
  t.deepEqual(await statuses(t, tg, "198.51.100.7", 5), [200, 200, 200, 429, 429], "the noisy client");
  t.deepEqual(await statuses(t, tg, "203.0.113.9", 3), [200, 200, 200], "a quiet client is unaffected");
  // X-Forwarded-For does not mint identities: with no trusted hops the client is the PROXY address.
  t.is((await request(t, tg, "198.51.100.7", "/", { "x-forwarded-for": "192.0.2.200" })).status, 429);
});

test("IPv6 clients of one /64 share a bucket under the Tollgate type", async (t) => {
  const tg = await start(t, {
    filter: rlFilter(
      {
        ...ON,
        descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 2, fill_interval: "3600s" } }],
        max_clients: 1024,
        ipv6_prefix_len: 64,
      },
      TOLLGATE,
    ),
    virtualHosts: PER_CLIENT_ROUTES,
  });
  t.is((await request(t, tg, "2001:db8:5:6::1")).status, 200);
  t.is((await request(t, tg, "2001:db8:5:6::2")).status, 200);
  t.is((await request(t, tg, "2001:db8:5:6:ffff::3")).status, 429, "a third address of the same /64");
  t.is((await request(t, tg, "2001:db8:5:7::1")).status, 200, "another /64");
});

test("x-ratelimit-* headers (DRAFT_VERSION_03) on forwarded and limited responses", async (t) => {
  const tg = await start(t, {
    filter: rlFilter({ ...ON, enable_x_ratelimit_headers: "DRAFT_VERSION_03", token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: "60s" } }),
  });
  const hdrs = (r: RawResponse): string[] => ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"].map((h) => r.header(h) ?? "-");
  const a = await request(t, tg, "203.0.113.10");
  const b = await request(t, tg, "203.0.113.10");
  const c = await request(t, tg, "203.0.113.10");
  t.deepEqual([a.status, ...hdrs(a)], [200, "2", "1", "0"]);
  t.deepEqual([b.status, ...hdrs(b)], [200, "2", "0", "60"]);
  t.deepEqual([c.status, ...hdrs(c)], [429, "2", "0", "60"]);
});

test("descriptors: a static descriptor from request_headers gets its own bucket; others fall back to the default one", async (t) => {
  const tg = await start(t, {
    filter: rlFilter({
      ...ON,
      always_consume_default_token_bucket: false,
      token_bucket: { max_tokens: 1, fill_interval: "3600s" },
      descriptors: [{ entries: [{ key: "plan", value: "gold" }], token_bucket: { max_tokens: 3, fill_interval: "3600s" } }],
    }),
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        rate_limits: [{ actions: [{ request_headers: { header_name: "x-plan", descriptor_key: "plan" } }] }],
        routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
      },
    ],
  });
  t.deepEqual(await statuses(t, tg, "203.0.113.1", 4, "/", { "x-plan": "gold" }), [200, 200, 200, 429], "virtual host rate_limits apply (OVERRIDE, route has none)");
  t.deepEqual(await statuses(t, tg, "203.0.113.2", 2, "/", { "x-plan": "silver" }), [200, 429], "no descriptor matches: the default bucket");
});

test("per-route configuration: its own bucket and stats; FilterConfig disabled turns the filter off on a route", async (t) => {
  const route = (prefix: string, extra: Record<string, Json> = {}): Json => ({ match: { prefix }, route: { cluster: "backend" }, ...extra });
  const tg = await start(t, {
    filter: rlFilter({ ...ON, token_bucket: { max_tokens: 1, fill_interval: "3600s" } }),
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          route("/api", {
            typed_per_filter_config: {
              "envoy.filters.http.local_ratelimit": { "@type": ENVOY, stat_prefix: "api", ...ON, token_bucket: { max_tokens: 2, fill_interval: "3600s" } },
            },
          }),
          route("/health", {
            typed_per_filter_config: { "envoy.filters.http.local_ratelimit": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } },
          }),
          route("/"),
        ],
      },
    ],
  });
  t.deepEqual(await statuses(t, tg, "203.0.113.1", 3, "/api"), [200, 200, 429]);
  t.deepEqual(await statuses(t, tg, "203.0.113.1", 2, "/"), [200, 429], "the filter's own bucket is separate");
  t.deepEqual(await statuses(t, tg, "203.0.113.1", 3, "/health"), [200, 200, 200]);
  t.is(tg.stat("api.http_local_rate_limit.rate_limited"), 1);
  t.is(tg.stat("edge.http_local_rate_limit.rate_limited"), 1);
});

test("local_rate_limit_per_downstream_connection: each connection has its own bucket", async (t) => {
  const tg = await start(t, { filter: rlFilter({ ...ON, local_rate_limit_per_downstream_connection: true, token_bucket: { max_tokens: 1, fill_interval: "3600s" } }) });
  for (let conn = 0; conn < 2; conn++) {
    const c = await openConnection(t, tg.port());
    await c.write(Buffer.concat([proxyV1("203.0.113.10", "192.0.2.1"), Buffer.from(get("/") + get("/"))]));
    t.is((await c.response()).status, 200, `connection ${conn}, first request`);
    t.is((await c.response()).status, 429, `connection ${conn}, second request`);
    c.destroy();
  }
});

test.serial("refill through a running server, on an injected fake clock: a token comes back after fill_interval / tokens_per_fill", async (t) => {
  const clock = new FakeClock(1_000);
  t.teardown(useRateLimitClock(clock));
  const tg = await start(t, { filter: rlFilter({ ...ON, token_bucket: { max_tokens: 2, tokens_per_fill: 2, fill_interval: "1s" } }) });
  t.deepEqual(await statuses(t, tg, "203.0.113.10", 3), [200, 200, 429]);
  clock.advance(499);
  t.is((await request(t, tg, "203.0.113.10")).status, 429, "499 ms: not yet a whole token");
  clock.advance(1);
  t.deepEqual(await statuses(t, tg, "203.0.113.10", 2), [200, 429], "500 ms: exactly one token");
  clock.advance(10_000);
  t.deepEqual(await statuses(t, tg, "203.0.113.10", 3), [200, 200, 429], "refilled to max_tokens, not beyond");
});

test("vh_rate_limits: OVERRIDE uses the virtual host's only when the route has none; INCLUDE adds them; IGNORE drops them", async (t) => {
  const vhosts = (routeRateLimits: Json[]): Json[] => [
    {
      name: "all",
      domains: ["*"],
      rate_limits: [{ actions: [{ remote_address: {} }] }],
      routes: [{ match: { prefix: "/" }, route: { cluster: "backend", rate_limits: routeRateLimits } }],
    },
  ];
  const filter = (vh: string): Json =>
    rlFilter({
      ...ON,
      vh_rate_limits: vh,
      descriptors: [
        { entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1, fill_interval: "3600s" } },
        { entries: [{ key: "generic_key", value: "route" }], token_bucket: { max_tokens: 100, fill_interval: "3600s" } },
      ],
    });
  const routeKey: Json[] = [{ actions: [{ generic_key: { descriptor_value: "route" } }] }];
  const override = await start(t, { filter: filter("OVERRIDE"), virtualHosts: vhosts(routeKey) });
  t.deepEqual(await statuses(t, override, "203.0.113.1", 3), [200, 200, 200], "OVERRIDE, route has rate_limits: no per-client limit");
  const overrideEmpty = await start(t, { filter: filter("OVERRIDE"), virtualHosts: vhosts([]) });
  t.deepEqual(await statuses(t, overrideEmpty, "203.0.113.1", 2), [200, 429], "OVERRIDE, route has none: the virtual host's apply");
  const include = await start(t, { filter: filter("INCLUDE"), virtualHosts: vhosts(routeKey) });
  t.deepEqual(await statuses(t, include, "203.0.113.1", 2), [200, 429]);
  const ignore = await start(t, { filter: filter("IGNORE"), virtualHosts: vhosts([]) });
  t.deepEqual(await statuses(t, ignore, "203.0.113.1", 3), [200, 200, 200]);
});
