// Configuration fields that were parsed and accepted but had no effect (DESIGN.md principle 2: never silently ignore
// configuration). Each test fails when the field is read and then dropped: it either must change what a client or an
// upstream sees, or the configuration must be refused with the field's path.
import test from "ava";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseBootstrap } from "../proxy/config/bootstrap.js";
import { ConfigError } from "../proxy/config/errors.js";
import type { Json } from "../proxy/config/reader.js";
import { stringify } from "yaml";
import { echoOf, exchange, get, hcmFilter, listener, openConnection, proxyV2, readAccessLog, startEcho, startHttpUpstream, startProxy, startTollgate, staticCluster, tempDir, type HcmOptions } from "./helpers/e2e.js";
import { clusterJson, httpServer, lbEndpoint, makeCluster } from "./upstream-fixtures.js";

// The PROXY header's destination port (80) is the connection's local port: what strip_matching_host_port compares.
const HDR = proxyV2("203.0.113.60", "192.0.2.1", 45000, 80);

async function request(t: Parameters<typeof openConnection>[0], port: number, raw: string) {
  const c = await openConnection(t, port);
  await c.write(HDR);
  await c.write(raw);
  return c.response();
}

const apiHost = (): Json[] => [{ name: "api", domains: ["api.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }];

// ---- HCM strip_*_host_port / strip_trailing_host_dot --------------------------------------------------------------

test("strip_any_host_port: the port leaves Host before routing, and the upstream gets the stripped Host", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { virtualHosts: apiHost(), extra: { strip_any_host_port: true } } });
  const r = await request(t, tg.port(), "GET /a HTTP/1.1\r\nhost: api.example:8443\r\n\r\n");
  t.is(r.status, 200);
  t.is(echoOf(r).headers.host, "api.example");
});

test("strip_matching_host_port: only the listener's own port is stripped", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { virtualHosts: apiHost(), extra: { strip_matching_host_port: true } } });
  const matching = await request(t, tg.port(), "GET /a HTTP/1.1\r\nhost: api.example:80\r\n\r\n");
  t.is(matching.status, 200);
  t.is(echoOf(matching).headers.host, "api.example");
  const other = await request(t, tg.port(), "GET /a HTTP/1.1\r\nhost: api.example:81\r\n\r\n");
  t.is(other.status, 404, "a port other than the listener's stays, so no virtual host matches");
});

test("strip_trailing_host_dot: 'api.example.' routes as 'api.example'", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { virtualHosts: apiHost(), extra: { strip_trailing_host_dot: true } } });
  const r = await request(t, tg.port(), "GET /a HTTP/1.1\r\nhost: api.example.\r\n\r\n");
  t.is(r.status, 200);
  t.is(echoOf(r).headers.host, "api.example");
});

// ---- route idle_timeout ----------------------------------------------------------------------------------------------

/** An upstream that answers `delayMs` after the request (never, when null); pending timers are cleared at teardown. */
async function slowUpstream(t: Parameters<typeof startHttpUpstream>[0], delayMs: number | null) {
  const timers = new Set<NodeJS.Timeout>();
  t.teardown(() => timers.forEach(clearTimeout));
  return startHttpUpstream(t, (rq: IncomingMessage, res: ServerResponse) => {
    rq.resume();
    if (delayMs === null) return;
    const timer = setTimeout(() => res.end("late"), delayMs);
    timers.add(timer);
  });
}

test("route idle_timeout replaces stream_idle_timeout: an idle stream on that route gets 408 SI", async (t) => {
  const up = await slowUpstream(t, null);
  const log = `${tempDir(t)}/a.log`;
  // The route timeout (10 s) would answer 504 if the route's idle_timeout were ignored.
  const tg = await startProxy(t, { backendPort: up.port, hcm: { accessLogPath: log, routeExtra: { idle_timeout: "0.2s", timeout: "10s" } } });
  const r = await request(t, tg.port(), "GET /idle HTTP/1.1\r\nhost: a\r\n\r\n");
  t.is(r.status, 408);
  t.is(r.body.toString(), "stream timeout");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "SI");
});

test("route idle_timeout 0s turns the connection manager's stream_idle_timeout off on that route", async (t) => {
  const up = await slowUpstream(t, 1000);
  const hcm: HcmOptions = { routeExtra: { idle_timeout: "0s" }, extra: { stream_idle_timeout: "0.2s" } };
  const tg = await startProxy(t, { backendPort: up.port, hcm });
  const r = await request(t, tg.port(), "GET /slow HTTP/1.1\r\nhost: a\r\n\r\n");
  t.is(r.status, 200);
  t.is(r.body.toString(), "late");
});

// ---- request header mutations at every level ---------------------------------------------------------------------

function add(key: string, value: string): Json {
  return { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" };
}

function append(key: string, value: string): Json {
  return { header: { key, value }, append_action: "APPEND_IF_EXISTS_OR_ADD" };
}

function leveledRouteConfig(mostSpecificWins: boolean): Json {
  return {
    name: "local",
    most_specific_header_mutations_wins: mostSpecificWins,
    request_headers_to_add: [add("x-global", "1"), add("x-level", "global"), append("x-order", "global")],
    virtual_hosts: [
      {
        name: "all",
        domains: ["*"],
        request_headers_to_add: [add("x-vhost", "1"), add("x-level", "vhost"), append("x-order", "vhost")],
        request_headers_to_remove: ["x-drop-me"],
        routes: [{ match: { prefix: "/" }, route: { cluster: "backend" }, request_headers_to_add: [add("x-route", "1"), add("x-level", "route"), append("x-order", "route")] }],
      },
    ],
  };
}

test("virtual host and route configuration request_headers_to_add/_remove reach the upstream, least specific last", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { extra: { route_config: leveledRouteConfig(false) } } });
  const seen = echoOf(await request(t, tg.port(), "GET / HTTP/1.1\r\nhost: a\r\nx-drop-me: yes\r\n\r\n")).headers;
  t.is(seen["x-route"], "1");
  t.is(seen["x-vhost"], "1");
  t.is(seen["x-global"], "1");
  t.is(seen["x-drop-me"], undefined);
  t.is(seen["x-level"], "global");
  t.is(seen["x-order"], "route, vhost, global");
});

test("most_specific_header_mutations_wins applies to request headers: global first, the route's value wins", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { extra: { route_config: leveledRouteConfig(true) } } });
  const seen = echoOf(await request(t, tg.port(), "GET / HTTP/1.1\r\nhost: a\r\n\r\n")).headers;
  t.is(seen["x-order"], "global, vhost, route");
  t.is(seen["x-level"], "route");
});

test("two virtual hosts with the same name each apply their own response_headers_to_add", async (t) => {
  const echo = await startEcho(t);
  const vh = (domain: string, value: string): Json => ({
    name: "same",
    domains: [domain],
    response_headers_to_add: [add("x-which", value)],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
  });
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { virtualHosts: [vh("one.example", "one"), vh("two.example", "two")] } });
  t.is((await request(t, tg.port(), "GET / HTTP/1.1\r\nhost: one.example\r\n\r\n")).header("x-which"), "one");
  t.is((await request(t, tg.port(), "GET / HTTP/1.1\r\nhost: two.example\r\n\r\n")).header("x-which"), "two");
});

// ---- typed_per_filter_config that no filter reads ----------------------------------------------------------------

const T_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const T_RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const T_LRL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

const DENY_ALL_PER_ROUTE: Json = {
  "@type": T_RBAC_PER_ROUTE,
  rbac: { rules: { action: "ALLOW", policies: {} } },
};
const LRL_PER_ROUTE: Json = {
  "@type": T_LRL,
  stat_prefix: "route",
  token_bucket: { max_tokens: 1, fill_interval: "1s" },
};

/** A bootstrap whose one route carries `perFilter`, with an RBAC filter named `edge-rbac` before the router. */
function bootstrapWithPerRoute(perFilter: Record<string, Json>): Json {
  const hcm = hcmFilter({
    virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" }, typed_per_filter_config: perFilter }] }],
  }) as { typed_config: Record<string, Json> };
  hcm.typed_config.http_filters = [
    { name: "edge-rbac", typed_config: { "@type": T_RBAC, rules: { action: "DENY", policies: {} } } },
    { name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } },
  ];
  return { static_resources: { listeners: [listener({ filters: [hcm as Json] })], clusters: [staticCluster("backend", [1])] } };
}

const ROUTE_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]";

test("typed_per_filter_config keyed by the filter's configured name loads", (t) => {
  t.notThrows(() => parseBootstrap(bootstrapWithPerRoute({ "edge-rbac": DENY_ALL_PER_ROUTE })));
});

test("typed_per_filter_config naming no filter of the connection manager is refused with its path", (t) => {
  // A route that silently kept the filter's own rules (here: allow everything) would be an open door.
  const err = t.throws(() => parseBootstrap(bootstrapWithPerRoute({ "edge-rbac-typo": DENY_ALL_PER_ROUTE })), { instanceOf: ConfigError });
  t.true(err!.message.includes(`${ROUTE_PATH}.typed_per_filter_config.edge-rbac-typo`), err!.message);
  t.true(err!.message.includes("'edge-rbac'"), err!.message);
});

test("typed_per_filter_config keyed by the filter's canonical name applies when its configured name has none, as in Envoy", async (t) => {
  const tg = await startTollgate(t, stringify(bootstrapWithPerRoute({ "envoy.filters.http.rbac": DENY_ALL_PER_ROUTE })));
  const r = await exchange(t, tg.port(), get("/"));
  t.is(r.status, 403, "the route's RBACPerRoute (deny all) replaced the filter's own rules (allow all)");
  t.is(r.body.toString(), "RBAC: access denied");
});

test("typed_per_filter_config of another filter's type, or for a filter without per-route config, is refused", (t) => {
  const wrongType = t.throws(() => parseBootstrap(bootstrapWithPerRoute({ "edge-rbac": LRL_PER_ROUTE })), { instanceOf: ConfigError });
  t.true(wrongType!.message.includes(`${ROUTE_PATH}.typed_per_filter_config.edge-rbac`), wrongType!.message);
  const router = t.throws(() => parseBootstrap(bootstrapWithPerRoute({ "envoy.filters.http.router": DENY_ALL_PER_ROUTE })), { instanceOf: ConfigError });
  t.true(router!.message.includes("has no per-route configuration"), router!.message);
});

// ---- router dynamic_stats ----------------------------------------------------------------------------------------

function bootstrapWithRouter(routerConfig: Record<string, Json>): Json {
  const hcm = hcmFilter() as { typed_config: Record<string, Json> };
  hcm.typed_config.http_filters = [{ name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER, ...routerConfig } }];
  return { static_resources: { listeners: [listener({ filters: [hcm as Json] })], clusters: [staticCluster("backend", [1])] } };
}

test("router dynamic_stats: false is refused (the per-code stats would be kept anyway); true loads", (t) => {
  t.notThrows(() => parseBootstrap(bootstrapWithRouter({ dynamic_stats: true })));
  const err = t.throws(() => parseBootstrap(bootstrapWithRouter({ dynamic_stats: false })), { instanceOf: ConfigError });
  t.true(err!.message.includes("http_filters[0].typed_config.dynamic_stats"), err!.message);
});

// ---- health check keep_empty_value -------------------------------------------------------------------------------

test("health check request_headers_to_add: an empty value is sent only with keep_empty_value", async (t) => {
  let last: IncomingMessage | null = null;
  const { port } = await httpServer(t, (req, res) => {
    last = req;
    res.end();
  });
  await makeCluster(
    t,
    clusterJson("hc", [lbEndpoint("127.0.0.1", port)], {
      health_checks: [
        {
          timeout: "1s",
          interval: "60s",
          unhealthy_threshold: 1,
          healthy_threshold: 1,
          http_health_check: {
            path: "/healthz",
            request_headers_to_add: [
              { header: { key: "x-dropped", value: "" } },
              { header: { key: "x-kept", value: "" }, keep_empty_value: true },
            ],
          },
        },
      ],
    }),
  );
  const headers = (last as IncomingMessage | null)!.headers;
  t.false("x-dropped" in headers);
  t.is(headers["x-kept"], "");
});

