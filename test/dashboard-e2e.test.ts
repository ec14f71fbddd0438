// The dashboard's data through a running Tollgate: requests are accounted by the stream's trusted client address
// (PROXY header, then X-Forwarded-For per xff_num_trusted_hops), and a listener without PROXY protocol shows what an
// operator behind a load balancer would see, with the hint that says why.
import test from "ava";
import type { DashboardData } from "../proxy/admin/dashboard.js";
import { bootstrapYaml, exchange, get, hcmFilter, listener, proxyProtocolFilter, proxyV1, startTollgate, type Json } from "./helpers/e2e.js";

const ROUTES: Json[] = [
  { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] },
];

async function data(adminPort: number): Promise<DashboardData> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/dashboard/data?top=20`);
  return (await r.json()) as DashboardData;
}

/** Poll /dashboard/data until `ok` holds: a request is accounted when its stream closes, just after the reply. */
async function until(adminPort: number, ok: (d: DashboardData) => boolean, what: string): Promise<DashboardData> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const d = await data(adminPort);
    if (ok(d)) return d;
    if (Date.now() > deadline) throw new Error(`dashboard never showed ${what}: ${JSON.stringify(d.activity?.topClients)} ${JSON.stringify(d.hints)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("requests are counted by the PROXY source, then by the trusted X-Forwarded-For hop", async (t) => {
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter({ virtualHosts: ROUTES, xffNumTrustedHops: 1 })] })],
      admin: true,
    }),
  );
  const port = tg.port();
  const admin = tg.server.adminAddress!.port;
  // The PROXY source (the hop in front of Tollgate) is trusted to have appended the client: 198.51.100.50.
  const r = await exchange(t, port, Buffer.concat([proxyV1("10.20.0.5", "127.0.0.1"), Buffer.from(get("/", { "x-forwarded-for": "198.51.100.50" }))]));
  t.is(r.status, 200);
  // Without XFF the PROXY source is the client.
  t.is((await exchange(t, port, Buffer.concat([proxyV1("203.0.113.77", "127.0.0.1"), Buffer.from(get("/"))]))).status, 200);
  const d = await until(admin, (x) => (x.activity?.totals.window.requests ?? 0) >= 2, "two requests");
  const keys = d.activity!.topClients.map((e) => e.key).sort();
  t.deepEqual(keys, ["198.51.100.50", "203.0.113.77"]);
  t.deepEqual(d.activity!.totals.window.byClass, [0, 2, 0, 0, 0]);
  t.is(d.server.state, "LIVE");
});

test("without PROXY protocol every request comes from the peer, and the dashboard says so", async (t) => {
  const tg = await startTollgate(
    t,
    bootstrapYaml({ listeners: [listener({ filters: [hcmFilter({ virtualHosts: ROUTES })] })], admin: true }),
  );
  const port = tg.port();
  const admin = tg.server.adminAddress!.port;
  for (let i = 0; i < 25; i++) t.is((await exchange(t, port, get("/"))).status, 200);
  // The hint looks at the last complete minute's seconds, so it shows once the current second is over.
  const d = await until(admin, (x) => x.hints.length > 0, "a hint");
  t.deepEqual(d.activity!.topClients.map((e) => e.key), ["127.0.0.1"]);
  t.true(d.hints[0].text.includes("127.0.0.1, an internal address"), d.hints[0].text);
});

test("upstream health per cluster on the dashboard", async (t) => {
  const yaml = bootstrapYaml({
    listeners: [listener({ filters: [hcmFilter({ virtualHosts: ROUTES })] })],
    clusters: [
      {
        name: "backend",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: {
          cluster_name: "backend",
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } },
                { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 2 } } }, health_status: "UNHEALTHY" },
              ],
            },
          ],
        },
      },
    ],
    admin: true,
  });
  const tg = await startTollgate(t, yaml);
  const d = await data(tg.server.adminAddress!.port);
  t.deepEqual(
    d.upstreams.map((u) => ({ name: u.name, total: u.total, healthy: u.healthy, unhealthy: u.unhealthy, first: u.hosts[0]?.address })),
    [{ name: "backend", total: 2, healthy: 1, unhealthy: 1, first: "127.0.0.1:2" }],
  );
});

test("an RBAC denial is on the dashboard: the denied client by its PROXY address, and the policy that denied it", async (t) => {
  const rbac = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    rules: {
      action: "DENY",
      policies: { "block admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: [{ any: true }] } },
    },
  };
  const hcm = hcmFilter({
    virtualHosts: ROUTES,
    extra: {
      http_filters: [
        { name: "envoy.filters.http.rbac", typed_config: rbac },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  });
  const tg = await startTollgate(t, bootstrapYaml({ listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcm] })], admin: true }));
  const port = tg.port();
  t.is((await exchange(t, port, Buffer.concat([proxyV1("192.0.2.44", "127.0.0.1"), Buffer.from(get("/admin/users"))]))).status, 403);
  t.is((await exchange(t, port, Buffer.concat([proxyV1("203.0.113.77", "127.0.0.1"), Buffer.from(get("/public"))]))).status, 200);
  const d = await until(tg.server.adminAddress!.port, (x) => (x.activity?.totals.window.requests ?? 0) >= 2, "two requests");
  const a = d.activity!;
  t.is(a.totals.window.rbacDenied, 1);
  t.deepEqual(a.topDenied.map((e) => [e.key, e.count]), [["192.0.2.44", 1]]);
  t.deepEqual(a.topDenyReasons.map((e) => e.key), ["rbac_access_denied_matched_policy[block_admin]"]);
  t.deepEqual(a.totals.window.byClass, [0, 1, 0, 1, 0]);
});

test("a rate-limited request is on the dashboard by its client address", async (t) => {
  const always = (key: string): Json => ({ runtime_key: key, default_value: { numerator: 100, denominator: "HUNDRED" } });
  const hcm = hcmFilter({
    virtualHosts: ROUTES,
    extra: {
      http_filters: [
        {
          name: "envoy.filters.http.local_ratelimit",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            stat_prefix: "edge",
            token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" },
            filter_enabled: always("rl_enabled"),
            filter_enforced: always("rl_enforced"),
          },
        },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  });
  const tg = await startTollgate(t, bootstrapYaml({ listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcm] })], admin: true }));
  const port = tg.port();
  const send = async (src: string): Promise<number> =>
    (await exchange(t, port, Buffer.concat([proxyV1(src, "127.0.0.1"), Buffer.from(get("/"))]))).status;
  t.is(await send("203.0.113.77"), 200);
  t.is(await send("192.0.2.50"), 429);
  const d = await until(tg.server.adminAddress!.port, (x) => (x.activity?.totals.window.requests ?? 0) >= 2, "two requests");
  t.is(d.activity!.totals.window.rateLimited, 1);
  t.deepEqual(d.activity!.topRateLimited.map((e) => [e.key, e.count]), [["192.0.2.50", 1]]);
});
