// End to end: every local reply carries Envoy's status, body, response flag and details (envoy.md §5), as the client
// and the access log (%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%) see them.
import test from "ava";
import {
  REFUSED_PORT,
  bootstrapYaml,
  echoOf,
  exchange,
  freePort,
  get,
  hcmFilter,
  listener,
  proxyProtocolFilter,
  proxyV1,
  readAccessLog,
  startEcho,
  startHttpUpstream,
  startProxy,
  startTcpUpstream,
  startTollgate,
  staticCluster,
  tempDir,
  type Json,
} from "./helpers/e2e.js";

const HDR = proxyV1("203.0.113.50", "192.0.2.1");
const req = (path = "/", headers: Record<string, string> = {}, host = "example.com"): Buffer => Buffer.concat([HDR, Buffer.from(get(path, headers, host))]);
const RESET_PREFIX = "upstream connect error or disconnect/reset before headers. ";
const NO_PANIC: Record<string, Json> = { common_lb_config: { healthy_panic_threshold: { value: 0 } } };

test("no route: 404, empty body, NR route_not_found", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: echo.port,
    hcm: { accessLogPath: log, virtualHosts: [{ name: "only", domains: ["only.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
  });
  const r = await exchange(t, tg.port(), req("/", {}, "other.example"));
  t.is(r.status, 404);
  t.is(r.body.length, 0);
  t.is(r.header("content-length"), "0");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.code, "404");
  t.is(e!.flags, "NR");
  t.is(e!.details, "route_not_found");
  t.is(tg.stat("http.ingress.no_route"), 1);
  // The same host with a matching domain is served.
  t.is((await exchange(t, tg.port(), req("/", {}, "only.example"))).status, 200);
});

test("cluster_header naming an unknown cluster: 503, empty body, NC", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: echo.port,
    hcm: { accessLogPath: log, virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster_header: "x-cluster" } }] }] },
  });
  const r = await exchange(t, tg.port(), req("/", { "x-cluster": "nope" }));
  t.is(r.status, 503);
  t.is(r.body.length, 0);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "NC");
  t.is(e!.details, "cluster_not_found");
  t.is(tg.stat("http.ingress.no_cluster"), 1);
  // The header naming a real cluster routes there.
  const ok = await exchange(t, tg.port(), req("/", { "x-cluster": "backend" }));
  t.is(ok.status, 200);
});

test("no healthy upstream: 503 `no healthy upstream` UH (EDS-unhealthy host, panic threshold 0; empty cluster)", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [
        listener({
          listenerFilters: [proxyProtocolFilter()],
          filters: [
            hcmFilter({
              accessLogPath: log,
              virtualHosts: [
                {
                  name: "all",
                  domains: ["*"],
                  routes: [
                    { match: { prefix: "/unhealthy" }, route: { cluster: "unhealthy" } },
                    { match: { prefix: "/empty" }, route: { cluster: "empty" } },
                    { match: { prefix: "/panic" }, route: { cluster: "panic" } },
                  ],
                },
              ],
            }),
          ],
        }),
      ],
      clusters: [
        staticCluster("unhealthy", [{ port: echo.port, healthStatus: "UNHEALTHY" }], NO_PANIC),
        staticCluster("empty", []),
        // Envoy's default panic threshold (50%): with no healthy host, health is ignored and the host is used.
        staticCluster("panic", [{ port: echo.port, healthStatus: "UNHEALTHY" }]),
      ],
    }),
  );
  for (const path of ["/unhealthy", "/empty"]) {
    const r = await exchange(t, tg.port(), req(path));
    t.is(r.status, 503, path);
    t.is(r.body.toString(), "no healthy upstream", path);
    t.is(r.header("content-type"), "text/plain", path);
  }
  const entries = await readAccessLog(log, 2);
  for (const e of entries) {
    t.is(e.flags, "UH");
    t.is(e.details, "no_healthy_upstream");
  }
  t.is(tg.stat("cluster.unhealthy.upstream_cx_none_healthy"), 1);
  const panic = await exchange(t, tg.port(), req("/panic"));
  t.is(panic.status, 200);
  t.is(tg.stat("cluster.panic.lb_healthy_panic"), 1);
});

test("no healthy upstream: the only host fails its active health check", async (t) => {
  const dead = REFUSED_PORT;
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: echo.port,
    hcm: { accessLogPath: log, cluster: "checked" },
    clusters: [
      staticCluster("checked", [dead], {
        ...NO_PANIC,
        health_checks: [{ timeout: "1s", interval: "60s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }],
      }),
    ],
  });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 503);
  t.is(r.body.toString(), "no healthy upstream");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UH");
});

test("connect failure: 503 with Envoy's reset text, UF", async (t) => {
  const dead = REFUSED_PORT;
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: dead, hcm: { accessLogPath: log } });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 503);
  t.regex(
    r.body.toString(),
    /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure, transport failure reason: delayed connect error: .+$/,
  );
  t.is(r.header("content-type"), "text/plain");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.code, "503");
  t.is(e!.flags, "UF");
  t.is(e!.upstream, `127.0.0.1:${dead}`);
  t.true(tg.stat("cluster.backend.upstream_cx_connect_fail") >= 1);
  // As Envoy's router does, the 503 it answered for the failed upstream is charged to the cluster.
  t.is(tg.stat("cluster.backend.upstream_rq_503"), 1);
  t.is(tg.stat("cluster.backend.upstream_rq_5xx"), 1);
});

test("route timeout: 504 `upstream request timeout` UT", async (t) => {
  // An upstream that accepts and reads, and never answers.
  const silent = await startTcpUpstream(t, (s) => s.resume());
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: silent.port, hcm: { accessLogPath: log, routeExtra: { timeout: "0.2s" } } });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 504);
  t.is(r.body.toString(), "upstream request timeout");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UT");
  t.is(e!.details, "upstream_response_timeout");
  t.is(tg.stat("cluster.backend.upstream_rq_timeout"), 1);
  t.is(tg.stat("cluster.backend.upstream_rq_504"), 1);
  t.is(tg.stat("http.ingress.downstream_rq_5xx"), 1);
});

test("upstream closes before sending headers: 503 `connection termination` UC", async (t) => {
  const closer = await startTcpUpstream(t, (s) => {
    s.once("data", () => s.end());
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: closer.port, hcm: { accessLogPath: log } });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 503);
  t.is(r.body.toString(), `${RESET_PREFIX}reset reason: connection termination`);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UC");
  t.is(e!.details, "upstream_reset_before_response_started{connection_termination}");
});

test("a malformed upstream response: 502 `protocol error` UPE", async (t) => {
  const garbage = await startTcpUpstream(t, (s) => {
    s.once("data", () => s.end("this is not HTTP\r\n\r\n"));
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: garbage.port, hcm: { accessLogPath: log } });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 502);
  t.is(r.body.toString(), `${RESET_PREFIX}reset reason: protocol error`);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UPE");
});

test("direct_response: status and body as configured, no upstream", async (t) => {
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: await freePort(),
    hcm: {
      accessLogPath: log,
      virtualHosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            { match: { path: "/teapot" }, direct_response: { status: 418, body: { inline_string: "short and stout" } } },
            { match: { path: "/empty" }, direct_response: { status: 204 } },
            { match: { path: "/health" }, direct_response: { status: 200, body: { inline_string: "ok" } }, response_headers_to_add: [{ header: { key: "x-from", value: "route" } }] },
          ],
        },
      ],
    },
  });
  const teapot = await exchange(t, tg.port(), req("/teapot"));
  t.is(teapot.status, 418);
  t.is(teapot.body.toString(), "short and stout");
  const empty = await exchange(t, tg.port(), req("/empty"));
  t.is(empty.status, 204);
  t.is(empty.body.length, 0);
  const health = await exchange(t, tg.port(), req("/health"));
  t.is(health.status, 200);
  t.is(health.body.toString(), "ok");
  t.is(health.header("x-from"), "route");
  const entries = await readAccessLog(log, 3);
  t.deepEqual(
    entries.map((e) => [e.code, e.flags, e.details]),
    [
      ["418", "-", "direct_response"],
      ["204", "-", "direct_response"],
      ["200", "-", "direct_response"],
    ],
  );
  t.is(tg.stat("http.ingress.rq_direct_response"), 3);
});

test("a per-try timeout is retried under retry_on 5xx and counted as upstream_rq_per_try_timeout", async (t) => {
  let calls = 0;
  const slowFirst = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    calls++;
    if (calls === 1) return; // never answers: the per-try timeout fires
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("second try");
  });
  const tg = await startProxy(t, {
    backendPort: slowFirst.port,
    hcm: { routeExtra: { timeout: "5s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.2s" } } },
  });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 200);
  t.is(r.body.toString(), "second try");
  t.is(tg.stat("cluster.backend.upstream_rq_per_try_timeout"), 1);
  t.is(tg.stat("cluster.backend.upstream_rq_timeout"), 0);
  t.is(tg.stat("cluster.backend.upstream_rq_retry"), 1);
  t.is(tg.stat("cluster.backend.upstream_rq_retry_success"), 1);
});

test("retries: retry_on 5xx, num_retries 2, an upstream failing twice then answering gives 200", async (t) => {
  let calls = 0;
  const flaky = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    calls++;
    if (calls <= 2) {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end(`failure ${calls}`);
    } else {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`ok after ${calls - 1} failures`);
    }
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: flaky.port,
    hcm: { accessLogPath: log, routeExtra: { retry_policy: { retry_on: "5xx", num_retries: 2 } } },
  });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 200);
  t.is(r.body.toString(), "ok after 2 failures");
  t.is(calls, 3);
  t.is(tg.stat("cluster.backend.upstream_rq_retry"), 2);
  t.is(tg.stat("cluster.backend.upstream_rq_retry_success"), 1);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.code, "200");
  t.is(e!.flags, "-");
});

test("retries exhausted: the last upstream 5xx is passed through with URX", async (t) => {
  let calls = 0;
  const broken = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    calls++;
    res.writeHead(503, { "content-type": "text/plain" });
    res.end(`failure ${calls}`);
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: broken.port,
    hcm: { accessLogPath: log, routeExtra: { retry_policy: { retry_on: "5xx", num_retries: 2 } } },
  });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 503);
  t.is(r.body.toString(), "failure 3");
  t.is(calls, 3);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "URX");
  t.is(e!.details, "via_upstream");
});

test("retries on connect failure: retried and the latest reset reason is reported", async (t) => {
  const dead = REFUSED_PORT;
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, {
    backendPort: dead,
    hcm: { accessLogPath: log, routeExtra: { retry_policy: { retry_on: "connect-failure", num_retries: 1 } } },
  });
  const r = await exchange(t, tg.port(), req());
  t.is(r.status, 503);
  t.regex(r.body.toString(), /^upstream connect error or disconnect\/reset before headers\. retried and the latest reset reason: remote connection failure, transport failure reason: /);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UF,URX");
  t.is(tg.stat("cluster.backend.upstream_rq_retry"), 1);
});

test("a normal upstream answer is passed through with x-envoy-upstream-service-time", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const r = await exchange(t, tg.port(), req("/x?y=1"));
  t.is(r.status, 200);
  t.regex(r.header("x-envoy-upstream-service-time") ?? "", /^\d+$/);
  t.is(r.header("server"), "envoy");
  t.is(echoOf(r).url, "/x?y=1");
});

test("upstream resets mid-body: the client's response is cut short, the connection closes, and the log says UC", async (t) => {
  // Headers promise 100,000 bytes; 1,000 arrive, then the upstream resets.
  const resetter = await startTcpUpstream(t, (s) => {
    s.once("data", () => {
      s.write("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\ncontent-type: text/plain\r\n\r\n");
      s.write(Buffer.alloc(1000, 0x61), () => s.resetAndDestroy());
    });
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: resetter.port, hcm: { accessLogPath: log } });
  const { connect } = await import("node:net");
  const got = await new Promise<Buffer>((resolve) => {
    const s = connect(tg.port(), "127.0.0.1", () => s.write(req()));
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => {});
    s.on("close", () => resolve(Buffer.concat(chunks)));
  });
  const text = got.toString("latin1");
  t.regex(text, /^HTTP\/1\.1 200 /, "the headers had already been sent");
  const body = got.subarray(got.indexOf("\r\n\r\n") + 4);
  t.true(body.length >= 1000 && body.length < 100_000, `a truncated body (${body.length} bytes), then the close`);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.code, "200");
  t.is(e!.flags, "UC");
});
