import test, { type ExecutionContext } from "ava";
import { spawnSync } from "node:child_process";
import { createAdminServer, type AdminDeps, type AdminServer, type ServerState } from "../proxy/admin/index.js";
import type { AccessLogContext, AccessLogger } from "../proxy/observability/access-log/index.js";
import { getLogLevel, logger, LogLevelError, setLogLevel } from "../proxy/observability/logger.js";
import { StatsStore } from "../proxy/observability/stats.js";

interface Harness {
  base: string;
  admin: AdminServer;
  deps: AdminDeps;
  calls: string[];
  setState(s: ServerState): void;
  logged: AccessLogContext[];
  quit: Promise<void>;
}

async function start(t: ExecutionContext): Promise<Harness> {
  let state: ServerState = "LIVE";
  const calls: string[] = [];
  const logged: AccessLogContext[] = [];
  let quitResolve!: () => void;
  const quit = new Promise<void>((r) => (quitResolve = r));
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  stats.counter("cluster.backend.upstream_rq_200").inc(7);
  stats.counter("http.ingress.downstream_rq_total").inc(9);
  stats.gauge("server.live").set(1);
  const accessLog: AccessLogger = {
    log: (ctx) => logged.push(ctx),
    config: { kind: "file", path: "/dev/null", format: () => "" },
  };
  const deps: AdminDeps = {
    stats,
    getState: () => state,
    serverInfo: () => ({
      version: "tollgate/0.1.0",
      commandLineOptions: { drain_time: "600s", parent_shutdown_time: "900s", mode: "Serve" },
      node: { id: "n1", cluster: "edge" },
      startTimeCurrentEpochMs: 1_000_000,
      startTimeFirstEpochMs: 1_000_000,
    }),
    configDump: () => ({ configs: [{ "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump" }] }),
    listeners: () => [
      { name: "l0", address: "0.0.0.0", port: 10000 },
      { name: "l6", address: "::", port: 10001 },
    ],
    clusters: (format) =>
      format === "json"
        ? { cluster_statuses: [{ name: "backend" }] }
        : "backend::10.0.0.5:8080::health_flags::healthy\n",
    onHealthcheckFail: () => calls.push("healthcheck/fail"),
    onHealthcheckOk: () => calls.push("healthcheck/ok"),
    onDrainListeners: (o) => calls.push(`drain ${JSON.stringify(o)}`),
    onQuit: () => {
      calls.push("quit");
      quitResolve();
    },
    onReopenLogs: () => calls.push("reopen"),
    accessLogs: [accessLog],
    now: () => 1_012_500,
  };
  const admin = await createAdminServer(deps, { address: "127.0.0.1", port: 0 });
  t.teardown(() => admin.close());
  return { base: `http://127.0.0.1:${admin.port}`, admin, deps, calls, setState: (s) => (state = s), logged, quit };
}

async function get(h: Harness, path: string, method = "GET"): Promise<{ status: number; body: string; type: string | null; headers: Headers }> {
  const r = await fetch(h.base + path, { method });
  return { status: r.status, body: await r.text(), type: r.headers.get("content-type"), headers: r.headers };
}

test("binds port 0 to a real port on the requested address", async (t) => {
  const h = await start(t);
  t.is(h.admin.address, "127.0.0.1");
  t.true(h.admin.port > 0);
});

test("/ready: the state name; 200 only when LIVE", async (t) => {
  const h = await start(t);
  for (const [state, status] of [["LIVE", 200], ["DRAINING", 503], ["PRE_INITIALIZING", 503], ["INITIALIZING", 503]] as const) {
    h.setState(state);
    const r = await get(h, "/ready");
    t.is(r.status, status, state);
    t.is(r.body, `${state}\n`);
    t.is(r.type, "text/plain; charset=UTF-8");
    t.is(r.headers.get("cache-control"), "no-cache, max-age=0");
    t.is(r.headers.get("x-content-type-options"), "nosniff");
  }
  h.setState("LIVE");
  const head = await fetch(`${h.base}/ready`, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(await head.text(), "");
});

test("/server_info: Envoy's shape with state and uptimes", async (t) => {
  const h = await start(t);
  h.setState("DRAINING");
  const r = await get(h, "/server_info");
  t.is(r.status, 200);
  t.is(r.type, "application/json");
  t.deepEqual(JSON.parse(r.body), {
    version: "tollgate/0.1.0",
    state: "DRAINING",
    hot_restart_version: "disabled",
    command_line_options: { drain_time: "600s", parent_shutdown_time: "900s", mode: "Serve" },
    node: { id: "n1", cluster: "edge" },
    uptime_current_epoch: "12s",
    uptime_all_epochs: "12s",
  });
});

test("/stats in text, json and prometheus; bad parameters are 400 with Envoy's messages", async (t) => {
  const h = await start(t);
  const text = await get(h, "/stats");
  t.is(text.type, "text/plain; charset=UTF-8");
  t.is(text.body, "cluster.backend.upstream_rq_200: 7\nhttp.ingress.downstream_rq_total: 9\nserver.live: 1\n");
  t.is((await get(h, "/stats?filter=^http\\.")).body, "http.ingress.downstream_rq_total: 9\n");
  t.is((await get(h, "/stats?filter=rq_\\d+")).body, "cluster.backend.upstream_rq_200: 7\n");
  t.is((await get(h, "/stats?filter=upstream%5Frq")).body, "cluster.backend.upstream_rq_200: 7\n");
  const json = await get(h, "/stats?format=json&usedonly");
  t.is(json.type, "application/json");
  t.deepEqual(JSON.parse(json.body).stats[0], { name: "cluster.backend.upstream_rq_200", value: 7 });
  const prom = await get(h, "/stats?format=prometheus");
  t.is(prom.type, "text/plain; version=0.0.4; charset=utf-8");
  t.true(prom.body.includes('envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 7\n'));
  const prom2 = await get(h, "/stats/prometheus?usedonly");
  t.true(prom2.body.includes('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 9\n'));
  t.deepEqual(await get(h, "/stats?filter=(").then((r) => [r.status, r.body]), [400, "Invalid re2 regex"]);
  t.deepEqual(await get(h, "/stats?type=Nope").then((r) => [r.status, r.body]), [400, "invalid &type= param"]);
  t.is((await get(h, "/stats?format=html")).status, 400);
  t.is((await get(h, "/stats?histogram_buckets=detailed")).status, 400);
});

test("mutating endpoints answer only POST: GET is 405 and changes nothing", async (t) => {
  const h = await start(t);
  for (const path of ["/healthcheck/fail", "/healthcheck/ok", "/drain_listeners", "/quitquitquit", "/logging", "/reset_counters", "/reopen_logs"]) {
    const r = await get(h, path);
    t.is(r.status, 405, path);
    t.is(r.body, "Method GET not allowed, POST required.", path);
  }
  t.deepEqual(h.calls, []);
  t.is(h.deps.stats.counter("cluster.backend.upstream_rq_200").value(), 7);
  const put = await get(h, "/healthcheck/fail", "PUT");
  t.is(put.body, "Method PUT not allowed, POST required.");
});

test("POST /healthcheck/fail, /healthcheck/ok, /drain_listeners, /reset_counters, /reopen_logs", async (t) => {
  const h = await start(t);
  t.deepEqual(await get(h, "/healthcheck/fail", "POST").then((r) => [r.status, r.body]), [200, "OK\n"]);
  await get(h, "/healthcheck/ok", "POST");
  await get(h, "/drain_listeners?graceful&inboundonly", "POST");
  t.deepEqual(await get(h, "/drain_listeners?skip_exit", "POST").then((r) => r.status), 400);
  await get(h, "/reopen_logs", "POST");
  t.deepEqual(h.calls, [
    "healthcheck/fail",
    "healthcheck/ok",
    'drain {"graceful":true,"inboundOnly":true,"skipExit":false}',
    "reopen",
  ]);
  t.is((await get(h, "/reset_counters", "POST")).body, "OK\n");
  t.is(h.deps.stats.counter("cluster.backend.upstream_rq_200").value(), 0);
});

test("POST /quitquitquit answers OK before the server is told to quit", async (t) => {
  const h = await start(t);
  const r = await get(h, "/quitquitquit", "POST");
  t.is(r.body, "OK\n");
  await h.quit;
  t.deepEqual(h.calls, ["quit"]);
});

test("unknown paths are 404 with the list of admin commands; paths match exactly", async (t) => {
  const h = await start(t);
  for (const path of ["/nope", "/stats/", "/ready/x"]) {
    const r = await get(h, path);
    t.is(r.status, 404, path);
    t.is(r.type, "text/plain; charset=UTF-8");
    t.true(r.body.startsWith("invalid path. admin commands are:\n"), path);
  }
  const help = await get(h, "/help");
  t.is(help.status, 200);
  t.true(help.body.includes("  /ready: print server state, return 200 if LIVE, otherwise return 503\n"));
  t.true(help.body.includes("  /quitquitquit (POST): exit the server\n"));
  t.true(help.body.includes("      format: File format to use; One of (text, json)\n"));
  const lines = help.body.split("\n").filter((l) => /^ {2}\//.test(l)).map((l) => l.trim().split(/[ :]/)[0]);
  t.deepEqual(lines, [...lines].sort());
  t.is((await get(h, "/")).status, 200);
});

test("/listeners, /clusters and /config_dump in their formats", async (t) => {
  const h = await start(t);
  t.is((await get(h, "/listeners")).body, "l0::0.0.0.0:10000\nl6::[::]:10001\n");
  t.deepEqual(JSON.parse((await get(h, "/listeners?format=json")).body).listener_statuses[1], {
    name: "l6",
    local_address: { socket_address: { address: "::", port_value: 10001 } },
  });
  t.is((await get(h, "/clusters")).body, "backend::10.0.0.5:8080::health_flags::healthy\n");
  const cj = await get(h, "/clusters?format=json");
  t.is(cj.type, "application/json");
  t.deepEqual(JSON.parse(cj.body), { cluster_statuses: [{ name: "backend" }] });
  const dump = await get(h, "/config_dump");
  t.is(dump.type, "application/json");
  t.is(JSON.parse(dump.body).configs[0]["@type"], "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump");
  t.is((await get(h, "/config_dump?resource=dynamic_listeners")).status, 400);
});

test.serial("/logging lists loggers, ?level= sets all, ?<name>= sets one, bad input is 400 with usage", async (t) => {
  const h = await start(t);
  const before = getLogLevel();
  t.teardown(() => setLogLevel(before));
  const list = await get(h, "/logging", "POST");
  t.is(list.status, 200);
  t.true(list.body.startsWith("active loggers:\n"));
  t.true(list.body.includes("  admin: "));
  const set = await get(h, "/logging?level=debug", "POST");
  t.is(set.status, 200);
  t.is(getLogLevel(), "debug");
  t.true(set.body.includes("  tollgate: debug\n"));
  t.true(set.body.includes("  admin: debug\n"));
  await get(h, "/logging?level=warn", "POST");
  t.is(getLogLevel(), "warning");
  const one = await get(h, "/logging?admin=trace", "POST");
  t.true(one.body.includes("  admin: trace\n"));
  t.true(one.body.includes("  tollgate: warning\n"));
  const paths = await get(h, "/logging?paths=admin:error,tollgate:critical", "POST");
  t.true(paths.body.includes("  admin: error\n") && paths.body.includes("  tollgate: critical\n"));
  const bad = await get(h, "/logging?level=loud", "POST");
  t.is(bad.status, 400);
  t.true(bad.body.startsWith("error: unknown logger level\n\nusage: /logging?<name>=<level> (change single level)\n"));
  t.true(bad.body.includes("levels: trace debug info warning error critical off \n"));
  t.is(getLogLevel(), "critical");
  t.is((await get(h, "/logging?nosuchlogger=info", "POST")).status, 400);
  t.is((await get(h, "/logging?level=info&admin=info", "POST")).status, 400);
});

test("admin requests go to the admin access log", async (t) => {
  const h = await start(t);
  await get(h, "/ready?x=1");
  await get(h, "/nope");
  t.is(h.logged.length, 2);
  const [a, b] = h.logged;
  t.is(a.requestHeaders?.get(":path"), "/ready?x=1");
  t.is(a.requestHeaders?.get(":method"), "GET");
  t.is(a.responseCode, 200);
  t.is(a.bytesSent, "LIVE\n".length);
  t.is(a.protocol, "HTTP/1.1");
  t.regex(a.downstreamRemoteAddress, /^127\.0\.0\.1:\d+$/);
  t.is(a.downstreamLocalAddress, `127.0.0.1:${h.admin.port}`);
  t.is(b.responseCode, 404);
});

test.serial("setLogLevel maps Envoy's level names onto pino's", (t) => {
  const before = getLogLevel();
  t.teardown(() => setLogLevel(before));
  for (const [envoy, pino, back] of [
    ["trace", "trace", "trace"],
    ["debug", "debug", "debug"],
    ["info", "info", "info"],
    ["warning", "warn", "warning"],
    ["warn", "warn", "warning"],
    ["error", "error", "error"],
    ["critical", "fatal", "critical"],
    ["off", "silent", "off"],
  ]) {
    setLogLevel(envoy);
    t.is(logger.level, pino, envoy);
    t.is(getLogLevel() as string, back, envoy);
  }
  t.throws(() => setLogLevel("verbose"), { instanceOf: LogLevelError });
});

test("TOLLGATE_LOG_LEVEL sets the initial level; an unknown value falls back to info", (t) => {
  const run = (value: string): string => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", 'import { getLogLevel } from "./proxy/observability/logger.ts"; console.log(getLogLevel());'],
      { cwd: process.cwd(), encoding: "utf8", timeout: 30_000, env: { ...process.env, TOLLGATE_LOG_LEVEL: value } },
    );
    return r.stdout.trim();
  };
  t.is(run("debug"), "debug");
  t.is(run("critical"), "critical");
  t.is(run("nonsense"), "info");
});
