// The HTTP RBAC filter end to end: a TollgateServer on loopback behind a PROXY-protocol listener, raw requests with a
// PROXY v1 header (the load balancer's view of the client) and X-Forwarded-For (a CDN's view), and the answer,
// the access log, the dynamic metadata and the stats as an operator sees them.
import test from "ava";
import { createServer as createHttpServer } from "node:http";
import {
  bootstrapYaml,
  fileAccessLog,
  get,
  hcmFilter,
  listener,
  openConnection,
  proxyProtocolFilter,
  proxyV1,
  readAccessLog,
  staticCluster,
  startEcho,
  startTollgate,
  tempDir,
  type HcmOptions,
  type Json,
  type RunningTollgate,
} from "./helpers/e2e.js";

const T_HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const T_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const T_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

const RBAC_LOG_FORMAT: Record<string, string> = {
  code: "%RESPONSE_CODE%",
  flags: "%RESPONSE_FLAGS%",
  details: "%RESPONSE_CODE_DETAILS%",
  path: "%REQ(:PATH)%",
  shadow_result: "%DYNAMIC_METADATA(envoy.filters.http.rbac:canary_shadow_engine_result)%",
  shadow_policy: "%DYNAMIC_METADATA(envoy.filters.http.rbac:canary_shadow_effective_policy_id)%",
  enforced_result: "%DYNAMIC_METADATA(envoy.filters.http.rbac:enforced_engine_result)%",
  enforced_policy: "%DYNAMIC_METADATA(envoy.filters.http.rbac:enforced_effective_policy_id)%",
  log_hint: "%DYNAMIC_METADATA(envoy.common:access_log_hint)%",
};

const cidr = (ip: string, len = 32): Json => ({ address_prefix: ip, prefix_len: len });
const allow = (principals: Json[], permissions: Json[] = [{ any: true }]): Json => ({ permissions, principals });

interface Setup {
  /** The RBAC filter's typed_config fields. */
  rbac: Record<string, Json>;
  /** HCM options (virtual hosts, XFF settings). */
  hcm?: HcmOptions;
  /** Override the filter's configured name. */
  filterName?: string;
  accessLogPath?: string;
}

async function start(t: Parameters<typeof startTollgate>[0], s: Setup, backendPort: number): Promise<RunningTollgate> {
  const hcm = hcmFilter({
    useRemoteAddress: true,
    ...s.hcm,
    extra: {
      http_filters: [
        { name: s.filterName ?? "envoy.filters.http.rbac", typed_config: { "@type": T_HTTP_RBAC, ...s.rbac } },
        { name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } },
      ],
      ...(s.accessLogPath ? { access_log: [fileAccessLog(s.accessLogPath, RBAC_LOG_FORMAT)] } : {}),
      ...(s.hcm?.extra ?? {}),
    },
  });
  const yaml = bootstrapYaml({
    listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcm] })],
    clusters: [staticCluster("backend", [backendPort])],
  });
  return startTollgate(t, yaml);
}

/** An upstream that counts the requests reaching it. */
async function countingUpstream(t: Parameters<typeof startTollgate>[0]): Promise<{ port: number; seen: () => number }> {
  let n = 0;
  const server = createHttpServer((_req, res) => {
    n++;
    res.end("upstream");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, seen: () => n };
}

/** One request on its own connection: PROXY v1 from `client` (the LB's view), then the request. */
async function send(t: Parameters<typeof startTollgate>[0], tg: RunningTollgate, path: string, client = "198.51.100.7", headers: Record<string, string> = {}) {
  const conn = await openConnection(t, tg.port());
  await conn.write(Buffer.concat([proxyV1(client, "192.0.2.1", 40000, 443), Buffer.from(get(path, headers))]));
  const r = await conn.response();
  conn.destroy();
  return r;
}

test("a denial is Envoy's 403 byte for byte: `RBAC: access denied`, text/plain, no flag, policy in the details", async (t) => {
  const up = await countingUpstream(t);
  const logPath = `${tempDir(t)}/access.log`;
  // ALLOW with no policies: everything is denied, and no policy matched.
  const tg = await start(t, { rbac: { rules: { action: "ALLOW" } }, accessLogPath: logPath }, up.port);
  const conn = await openConnection(t, tg.port());
  await conn.write(Buffer.concat([proxyV1("203.0.113.9", "192.0.2.1"), Buffer.from(get("/secret", { connection: "close" }))]));
  const raw = (await conn.readToEnd()).toString("latin1");
  const date = /\r\nDate: ([^\r]+)\r\n/.exec(raw)?.[1] ?? "(no date)";
  t.is(
    raw,
    "HTTP/1.1 403 Forbidden\r\n" +
      "content-type: text/plain\r\n" +
      "content-length: 19\r\n" +
      "server: envoy\r\n" +
      `Date: ${date}\r\n` +
      "Connection: close\r\n" +
      "\r\n" +
      "RBAC: access denied",
  );
  t.regex(date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  t.is(up.seen(), 0);
  const [entry] = await readAccessLog(logPath, 1);
  t.is(entry!.code, "403");
  t.is(entry!.flags, "-");
  t.is(entry!.details, "rbac_access_denied_matched_policy[none]");
  t.is(entry!.enforced_result, "denied");
  t.is(tg.stat("http.ingress.rbac.denied"), 1);
  t.is(tg.stat("http.ingress.rbac.allowed"), 0);
});

test("a DENY policy names itself in the details (whitespace as `_`); other requests reach the upstream", async (t) => {
  const up = await countingUpstream(t);
  const logPath = `${tempDir(t)}/access.log`;
  const rbac = {
    rules: {
      action: "DENY",
      policies: { "block admin": allow([{ any: true }], [{ url_path: { path: { prefix: "/admin" } } }]) },
    },
  };
  const tg = await start(t, { rbac, accessLogPath: logPath }, up.port);
  t.is((await send(t, tg, "/admin/users?x=1")).status, 403);
  t.is((await send(t, tg, "/public")).status, 200);
  t.is(up.seen(), 1);
  const entries = await readAccessLog(logPath, 2);
  const denied = entries.find((e) => e.code === "403")!;
  t.is(denied.details, "rbac_access_denied_matched_policy[block_admin]");
  t.is(denied.enforced_policy, "block admin");
  t.is(entries.find((e) => e.code === "200")!.enforced_result, "allowed");
  t.is(tg.stat("http.ingress.rbac.denied"), 1);
  t.is(tg.stat("http.ingress.rbac.allowed"), 1);
});

test("remote_ip follows PROXY and X-Forwarded-For (use_remote_address, 1 trusted hop); source_ip only PROXY; direct_remote_ip the TCP peer", async (t) => {
  const echo = await startEcho(t);
  // Client 203.0.113.9 → CDN (adds XFF) → LB 198.51.100.7 as seen by the PROXY header → Tollgate, TCP peer 127.0.0.1.
  const rbac = {
    rules: {
      policies: {
        "remote is the client": allow([{ remote_ip: cidr("203.0.113.9") }], [{ url_path: { path: { exact: "/remote" } } }]),
        "remote is not the PROXY source": allow([{ remote_ip: cidr("198.51.100.7") }], [{ url_path: { path: { exact: "/remote-proxy" } } }]),
        "source is the PROXY source": allow([{ source_ip: cidr("198.51.100.7") }], [{ url_path: { path: { exact: "/source" } } }]),
        "source ignores XFF": allow([{ source_ip: cidr("203.0.113.9") }], [{ url_path: { path: { exact: "/source-xff" } } }]),
        "direct is the TCP peer": allow([{ direct_remote_ip: cidr("127.0.0.0", 8) }], [{ url_path: { path: { exact: "/direct" } } }]),
        "direct is not the PROXY source": allow([{ direct_remote_ip: cidr("198.51.100.7") }], [{ url_path: { path: { exact: "/direct-proxy" } } }]),
      },
    },
  };
  const tg = await start(t, { rbac, hcm: { xffNumTrustedHops: 1 } }, echo.port);
  const xff = { "x-forwarded-for": "203.0.113.9" };
  const status = async (path: string, h: Record<string, string> = xff): Promise<number> => (await send(t, tg, path, "198.51.100.7", h)).status;
  t.is(await status("/remote"), 200);
  t.is(await status("/remote-proxy"), 403);
  t.is(await status("/source"), 200);
  t.is(await status("/source-xff"), 403);
  t.is(await status("/direct"), 200);
  t.is(await status("/direct-proxy"), 403);
  // Without X-Forwarded-For the client address is the PROXY source.
  t.is(await status("/remote", {}), 403);
  t.is(await status("/remote-proxy", {}), 200);
});

test("with no trusted hops a client cannot pick its address with X-Forwarded-For", async (t) => {
  const echo = await startEcho(t);
  const rbac = { rules: { policies: { office: allow([{ remote_ip: cidr("203.0.113.0", 24) }]) } } };
  const tg = await start(t, { rbac }, echo.port);
  t.is((await send(t, tg, "/", "198.51.100.7", { "x-forwarded-for": "203.0.113.9" })).status, 403);
  t.is((await send(t, tg, "/", "203.0.113.9")).status, 200);
});

test("shadow rules never deny: they count shadow_* stats and set the shadow metadata (with the shadow prefix)", async (t) => {
  const echo = await startEcho(t);
  const logPath = `${tempDir(t)}/access.log`;
  const rbac = {
    shadow_rules: { action: "DENY", policies: { "block-office": allow([{ remote_ip: cidr("203.0.113.0", 24) }]) } },
    shadow_rules_stat_prefix: "canary_",
  };
  const tg = await start(t, { rbac, accessLogPath: logPath }, echo.port);
  t.is((await send(t, tg, "/a", "203.0.113.9")).status, 200);
  t.is((await send(t, tg, "/b", "198.51.100.7")).status, 200);
  const entries = await readAccessLog(logPath, 2);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.is(byPath.get("/a")!.shadow_result, "denied");
  t.is(byPath.get("/a")!.shadow_policy, "block-office");
  t.is(byPath.get("/b")!.shadow_result, "allowed");
  t.is(byPath.get("/b")!.shadow_policy, "-");
  t.is(byPath.get("/a")!.enforced_result, "-"); // no `rules`: no enforcement, no enforced metadata
  t.is(tg.stat("http.ingress.rbac.canary_.shadow_denied"), 1);
  t.is(tg.stat("http.ingress.rbac.canary_.shadow_allowed"), 1);
  t.is(tg.stat("http.ingress.rbac.denied"), 0);
});

test("LOG rules allow everything and set envoy.common access_log_hint to whether a policy matched", async (t) => {
  const echo = await startEcho(t);
  const logPath = `${tempDir(t)}/access.log`;
  const rbac = { rules: { action: "LOG", policies: { "log-admin": allow([{ any: true }], [{ url_path: { path: { prefix: "/admin" } } }]) } } };
  const tg = await start(t, { rbac, accessLogPath: logPath }, echo.port);
  t.is((await send(t, tg, "/admin")).status, 200);
  t.is((await send(t, tg, "/home")).status, 200);
  const byPath = new Map((await readAccessLog(logPath, 2)).map((e) => [e.path, e]));
  t.is(byPath.get("/admin")!.log_hint, "true");
  t.is(byPath.get("/home")!.log_hint, "false");
  t.is(tg.stat("http.ingress.rbac.allowed"), 2);
});

test("per route: RBACPerRoute replaces the rules, an empty RBACPerRoute or FilterConfig.disabled turns the filter off", async (t) => {
  const up = await countingUpstream(t);
  const route = (prefix: string, perFilter?: Json): Json => ({
    match: { prefix },
    route: { cluster: "backend" },
    ...(perFilter ? { typed_per_filter_config: { "edge-rbac": perFilter } } : {}),
  });
  const virtualHosts: Json[] = [
    {
      name: "all",
      domains: ["*"],
      routes: [
        route("/open", { "@type": T_PER_ROUTE }),
        route("/office", { "@type": T_PER_ROUTE, rbac: { rules: { policies: { office: allow([{ remote_ip: cidr("203.0.113.0", 24) }]) } } } }),
        route("/off", { "@type": T_FILTER_CONFIG, disabled: true }),
        route("/"),
      ],
    },
  ];
  // The filter's configured name is "edge-rbac": typed_per_filter_config is keyed by it, not by the type's name.
  const tg = await start(t, { rbac: { rules: { action: "ALLOW" } }, filterName: "edge-rbac", hcm: { virtualHosts } }, up.port);
  t.is((await send(t, tg, "/", "203.0.113.9")).status, 403);
  t.is((await send(t, tg, "/open", "198.51.100.7")).status, 200);
  t.is((await send(t, tg, "/off", "198.51.100.7")).status, 200);
  t.is((await send(t, tg, "/office", "203.0.113.9")).status, 200);
  t.is((await send(t, tg, "/office", "198.51.100.7")).status, 403);
  t.is(up.seen(), 3);
  // Route-level decisions count into the filter's stats; turned-off routes count nothing.
  t.is(tg.stat("http.ingress.rbac.denied"), 2);
  t.is(tg.stat("http.ingress.rbac.allowed"), 1);
});

test("rules_stat_prefix and track_per_rule_stats name the stats as Envoy does", async (t) => {
  const echo = await startEcho(t);
  const rbac = {
    rules: { action: "DENY", policies: { bots: allow([{ any: true }], [{ header: { name: "user-agent", string_match: { prefix: "bot" } } }]) } },
    shadow_rules: { policies: { office: allow([{ remote_ip: cidr("203.0.113.0", 24) }]) } },
    rules_stat_prefix: "edge",
    shadow_rules_stat_prefix: "trial",
    track_per_rule_stats: true,
  };
  const tg = await start(t, { rbac }, echo.port);
  t.is((await send(t, tg, "/", "203.0.113.9", { "user-agent": "botnet/1" })).status, 403);
  t.is((await send(t, tg, "/", "198.51.100.7", { "user-agent": "curl/8" })).status, 200);
  t.is(tg.stat("http.ingress.rbac.edge.denied"), 1);
  t.is(tg.stat("http.ingress.rbac.edge.allowed"), 1);
  t.is(tg.stat("http.ingress.rbac.edge.policy.bots.denied"), 1);
  t.is(tg.stat("http.ingress.rbac.trial.shadow_allowed"), 1);
  t.is(tg.stat("http.ingress.rbac.trial.shadow_denied"), 1);
  t.is(tg.stat("http.ingress.rbac.trial.policy.office.shadow_allowed"), 1);
  // The counters exist from the start (declared at config time), so /stats lists them before any request.
  const names = [...tg.server.stats.allCounters()].map((c) => c.id.name);
  t.true(names.includes("http.ingress.rbac.edge.policy.bots.allowed"));
});
