import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import { createAdminServer, type AdminDeps, type DashboardCluster } from "../proxy/admin/index.js";
import { clusterHealth, dashboardHints, isInternalAddress, type DashboardData } from "../proxy/admin/dashboard.js";
import { ActivityRecorder } from "../proxy/observability/activity.js";
import { StatsStore } from "../proxy/observability/stats.js";

const NO_FLAGS: string[] = [];

function host(address: string, health: "healthy" | "degraded" | "unhealthy", flags = health === "healthy" ? "healthy" : `/${health}`, excluded = false) {
  return { addressString: address, health: () => health, excluded: () => excluded, healthFlagsString: () => flags };
}

async function start(t: ExecutionContext, extra: Partial<AdminDeps> = {}): Promise<string> {
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const deps: AdminDeps = {
    stats,
    getState: () => "LIVE",
    serverInfo: () => ({ version: "tollgate/test", commandLineOptions: {}, node: {}, startTimeCurrentEpochMs: 1_000_000, startTimeFirstEpochMs: 1_000_000 }),
    configDump: () => ({}),
    listeners: () => [],
    clusters: () => "",
    onHealthcheckFail: () => undefined,
    onHealthcheckOk: () => undefined,
    onDrainListeners: () => undefined,
    onQuit: () => undefined,
    now: () => 1_090_000,
    ...extra,
  };
  const admin = await createAdminServer(deps, { address: "127.0.0.1", port: 0 });
  t.teardown(() => admin.close());
  return `http://127.0.0.1:${admin.port}`;
}

test("/ is the dashboard: HTML whose CSP allows only its own inline script and same-origin fetches", async (t) => {
  const base = await start(t);
  const r = await fetch(`${base}/`);
  t.is(r.status, 200);
  t.is(r.headers.get("content-type"), "text/html; charset=UTF-8");
  const html = await r.text();
  t.true(html.startsWith("<!doctype html>"));
  const csp = r.headers.get("content-security-policy") ?? "";
  t.true(csp.includes("default-src 'none'"));
  t.true(csp.includes("connect-src 'self'"));
  t.true(csp.includes("img-src data:"));
  // The one inline script is exactly the one the policy's hash names.
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  t.is(scripts.length, 1);
  const hash = createHash("sha256").update(scripts[0], "utf8").digest("base64");
  t.true(csp.includes(`script-src 'sha256-${hash}'`), csp);
  // Self-contained: no external URL, no external script, stylesheet or image.
  t.false(/\b(?:src|href)\s*=\s*"(?:https?:)?\/\//i.test(html));
  t.false(/<script[^>]+src=/i.test(html));
  t.false(/<link[^>]+stylesheet/i.test(html));
  t.is(r.headers.get("x-content-type-options"), "nosniff");
});

test("/help keeps the endpoint list; unknown paths still 404 with it", async (t) => {
  const base = await start(t);
  const help = await (await fetch(`${base}/help`)).text();
  t.true(help.startsWith("admin commands are:\n"));
  t.true(help.includes("  /dashboard/data: "));
  t.true(help.includes("  /: Admin home page"));
  const nf = await fetch(`${base}/dashboard`);
  t.is(nf.status, 404);
  t.true((await nf.text()).startsWith("invalid path. admin commands are:\n"));
});

test("/dashboard/data: activity by the recorded client address, upstream health, server state", async (t) => {
  let now = 1_700_000_000_000;
  const activity = new ActivityRecorder({ now: () => now });
  for (let i = 0; i < 3; i++) activity.record("203.0.113.77", 200, NO_FLAGS, undefined);
  activity.record("198.51.100.4", 403, NO_FLAGS, "rbac_access_denied_matched_policy[office-only]");
  activity.record("198.51.100.5", 429, ["RL"], "local_rate_limited");
  now += 1000;
  const clusters: DashboardCluster[] = [
    { name: "backend", hosts: [host("10.0.0.1:80", "healthy"), host("10.0.0.2:80", "unhealthy", "/failed_active_hc")] },
    { name: "empty", hosts: [] },
  ];
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  stats.gauge("server.total_connections").set(4);
  const base = await start(t, { activity, upstreamClusters: () => clusters, stats });
  const r = await fetch(`${base}/dashboard/data`);
  t.is(r.status, 200);
  t.is(r.headers.get("content-type"), "application/json");
  const d = (await r.json()) as DashboardData;
  t.deepEqual(d.server, { version: "tollgate/test", state: "LIVE", uptimeSeconds: 90, connections: 4 });
  const a = d.activity!;
  t.is(a.totals.lastSecond.requests, 5);
  t.deepEqual(a.totals.lastSecond.byClass, [0, 3, 0, 2, 0]);
  t.deepEqual(a.topClients.map((e) => [e.key, e.count]), [["203.0.113.77", 3], ["198.51.100.4", 1], ["198.51.100.5", 1]]);
  t.deepEqual(a.topDenied.map((e) => e.key), ["198.51.100.4"]);
  t.deepEqual(a.topDenyReasons.map((e) => e.key), ["rbac_access_denied_matched_policy[office-only]"]);
  t.deepEqual(a.topRateLimited.map((e) => e.key), ["198.51.100.5"]);
  t.is(a.series.byClass[1].length, 300);
  t.deepEqual(
    d.upstreams.map((u) => [u.name, u.healthy, u.total, u.hosts.map((h) => h.address)]),
    [["backend", 1, 2, ["10.0.0.2:80", "10.0.0.1:80"]], ["empty", 0, 0, []]],
    "troubled hosts listed first",
  );
  t.deepEqual(d.hints.map((h) => h.text), ["Cluster empty has no hosts."]);

  const one = (await (await fetch(`${base}/dashboard/data?top=1`)).json()) as DashboardData;
  t.is(one.activity!.topClients.length, 1);
  for (const bad of ["0", "101", "x", "1.5"]) t.is((await fetch(`${base}/dashboard/data?top=${bad}`)).status, 400, bad);
});

test("/dashboard/data without a recorder or clusters: activity null, nothing else breaks, no stat created", async (t) => {
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const base = await start(t, { stats });
  const d = (await (await fetch(`${base}/dashboard/data`)).json()) as DashboardData;
  t.is(d.activity, null);
  t.deepEqual(d.upstreams, []);
  t.is(d.server.connections, null);
  t.is([...stats.allGauges()].length, 0, "reading the dashboard does not create gauges");
});

test("the hint for a load balancer without PROXY protocol: one internal address sends nearly everything", (t) => {
  let now = 0;
  const lb = new ActivityRecorder({ now: () => now });
  for (let i = 0; i < 50; i++) lb.record("10.0.3.17", 200, NO_FLAGS, undefined);
  now += 1000;
  const hints = dashboardHints(lb.snapshot(), []);
  t.is(hints.length, 1);
  t.is(hints[0].level, "warn");
  t.true(hints[0].text.startsWith("100% of the last minute's requests came from 10.0.3.17, an internal address."));
  t.true(hints[0].text.includes("PROXY protocol"));

  // The same volume from a public address (PROXY protocol working, one busy client) is no such sign.
  const pub = new ActivityRecorder({ now: () => now });
  for (let i = 0; i < 50; i++) pub.record("203.0.113.77", 200, NO_FLAGS, undefined);
  now += 1000;
  t.deepEqual(dashboardHints(pub.snapshot(), []), []);

  // Too few requests to tell.
  const quiet = new ActivityRecorder({ now: () => now });
  for (let i = 0; i < 5; i++) quiet.record("10.0.3.17", 200, NO_FLAGS, undefined);
  now += 1000;
  t.deepEqual(dashboardHints(quiet.snapshot(), []), []);
});

test("a cluster with hosts and none healthy gets a warning; excluded hosts are counted apart", (t) => {
  const health = clusterHealth([
    { name: "api", hosts: [host("10.0.0.1:80", "unhealthy"), host("10.0.0.2:80", "healthy", "/pending_active_hc", true)] },
  ]);
  t.like(health[0], { total: 2, healthy: 0, unhealthy: 1, excluded: 1, degraded: 0 });
  t.deepEqual(dashboardHints(null, health).map((h) => h.text), ["Cluster api: no healthy host (2 hosts)."]);
});

test("internal addresses: loopback, RFC 1918, CGNAT, link-local, ULA", (t) => {
  for (const ip of ["10.1.2.3", "127.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "169.254.1.1", "::1", "fd00::1", "fe80::1"]) {
    t.true(isInternalAddress(ip), ip);
  }
  for (const ip of ["203.0.113.77", "172.32.0.1", "100.128.0.1", "8.8.8.8", "2001:db8::1", "", "not-an-ip"]) t.false(isInternalAddress(ip), ip);
});
