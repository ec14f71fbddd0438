import test from "ava";
import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { UpstreamError } from "../proxy/upstream/errors.js";
import { clusterAdminText } from "../proxy/upstream/admin.js";
import { closedPort, clusterJson, counter, get, gauge, httpServer, lbEndpoint, makeCluster, noSignal, tcpServer } from "./upstream-fixtures.js";

async function failure(t: import("ava").ExecutionContext, p: Promise<unknown>): Promise<UpstreamError> {
  const err = await t.throwsAsync(p, { instanceOf: UpstreamError });
  return err!;
}

test("connection refused: UF, 'remote connection failure', with Envoy's transport failure reason", async (t) => {
  const port = await closedPort();
  const { cluster, stats } = await makeCluster(t, clusterJson("refused", [lbEndpoint("127.0.0.1", port)]));
  const host = cluster.chooseHost()!;
  const err = await failure(t, get(host));
  t.is(err.code, "CONNECT_FAILURE");
  t.is(err.responseFlag, "UF");
  t.is(err.envoyReason, "remote connection failure");
  t.is(err.transportFailureReason, "delayed connect error: Connection refused");
  t.is(counter(stats, "cluster.refused.upstream_cx_connect_fail"), 1);
  t.is(counter(stats, "cluster.refused.upstream_cx_total"), 1);
  t.is(counter(stats, "cluster.refused.upstream_rq_pending_failure_eject"), 1);
  t.is(gauge(stats, "cluster.refused.upstream_cx_active"), 0);
  t.is(gauge(stats, "cluster.refused.upstream_rq_pending_active"), 0);
  t.regex(clusterAdminText([cluster]), new RegExp(`^refused::127\\.0\\.0\\.1:${port}::cx_connect_fail::1$`, "m"));
});

test("connect timeout against a listener whose accept queue is full: UF, 'connection timeout'", async (t) => {
  // A listener with backlog 0 that never accepts: once one connection fills its queue, further SYNs go unanswered
  // and connect() hangs. Node always accepts, so a tiny Python listener plays that part.
  const py = spawn("python3", [
    "-c",
    "import socket,sys,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
  ]);
  t.teardown(() => py.kill());
  const [line] = (await once(py.stdout, "data")) as [Buffer];
  const port = Number(line.toString().trim());
  const filler = net.connect(port, "127.0.0.1");
  filler.on("error", () => {});
  t.teardown(() => filler.destroy());
  await once(filler, "connect");

  const { cluster, stats } = await makeCluster(t, clusterJson("slow", [lbEndpoint("127.0.0.1", port)], { connect_timeout: "0.2s" }));
  const err = await failure(t, get(cluster.chooseHost()!));
  t.is(err.code, "CONNECT_TIMEOUT");
  t.is(err.responseFlag, "UF");
  t.is(err.envoyReason, "connection timeout");
  t.is(counter(stats, "cluster.slow.upstream_cx_connect_timeout"), 1);
  t.is(counter(stats, "cluster.slow.upstream_cx_connect_fail"), 1);
});

test("a connect timeout reported by the connector fails the pending request with UF", async (t) => {
  // The same path without a real socket: the connector reports the timeout, the pool purges its pending requests.
  const { cluster, stats } = await makeCluster(t, clusterJson("fake", [lbEndpoint("127.0.0.1", 9)]), {
    connector: async () => {
      throw new UpstreamError("CONNECT_TIMEOUT");
    },
  });
  const host = cluster.chooseHost()!;
  const [a, b] = await Promise.allSettled([get(host), get(host)]);
  t.is(a.status, "rejected");
  t.is(b.status, "rejected");
  t.is((a as PromiseRejectedResult).reason.envoyReason, "connection timeout");
  t.is(counter(stats, "cluster.fake.upstream_cx_connect_timeout"), 2);
});

test("the upstream closing before response headers: UC, 'connection termination'", async (t) => {
  const { port } = await tcpServer(t, (s) => s.once("data", () => s.destroy()));
  const { cluster, stats } = await makeCluster(t, clusterJson("closer", [lbEndpoint("127.0.0.1", port)]));
  const err = await failure(t, get(cluster.chooseHost()!));
  t.is(err.code, "TERMINATION");
  t.is(err.responseFlag, "UC");
  t.is(err.envoyReason, "connection termination");
  t.is(counter(stats, "cluster.closer.upstream_rq_rx_reset"), 1);
  t.is(counter(stats, "cluster.closer.upstream_cx_destroy_with_active_rq"), 1);
  t.is(gauge(stats, "cluster.closer.upstream_rq_active"), 0);
});

test("a TCP reset from the upstream before headers is also connection termination", async (t) => {
  const { port } = await tcpServer(t, (s) => s.once("data", () => s.resetAndDestroy()));
  const { cluster } = await makeCluster(t, clusterJson("rst", [lbEndpoint("127.0.0.1", port)]));
  const err = await failure(t, get(cluster.chooseHost()!));
  t.is(err.responseFlag, "UC");
});

test("a malformed response is a protocol error (UPE)", async (t) => {
  const { port } = await tcpServer(t, (s) => s.once("data", () => s.write("SMTP ready\r\n\r\n")));
  const { cluster } = await makeCluster(t, clusterJson("garbage", [lbEndpoint("127.0.0.1", port)]));
  const err = await failure(t, get(cluster.chooseHost()!));
  t.is(err.code, "PROTOCOL_ERROR");
  t.is(err.responseFlag, "UPE");
  t.is(err.envoyReason, "protocol error");
});

test("the request timeout fires before headers: UT, upstream_rq_timeout, connection reset", async (t) => {
  const { server, port } = await httpServer(t, (req, res) => {
    if (req.url === "/warm") res.end("warm");
  });
  const { cluster, stats } = await makeCluster(t, clusterJson("to", [lbEndpoint("127.0.0.1", port)]));
  const host = cluster.chooseHost()!;
  // A first request leaves a keep-alive connection, so the timed request is on the wire when the timer fires.
  const [[conn]] = await Promise.all([once(server, "connection") as Promise<[net.Socket]>, get(host, "/warm")]);
  const closed = once(conn, "close");
  const err = await failure(t, get(host, "/hang", { timeoutMs: 100 }));
  t.is(err.code, "TIMEOUT");
  t.is(err.responseFlag, "UT");
  t.is(err.envoyReason, "upstream request timeout");
  t.is(counter(stats, "cluster.to.upstream_rq_timeout"), 1);
  t.is(counter(stats, "cluster.to.upstream_rq_tx_reset"), 1);
  t.is(host.stats.rq_timeout, 1);
  await closed; // Envoy resets the stream; on HTTP/1.1 that closes the connection
  t.is(gauge(stats, "cluster.to.upstream_rq_active"), 0);
});

test("a timeout while waiting for a connection cancels the pending request: UT", async (t) => {
  const { cluster, stats } = await makeCluster(t, clusterJson("tp", [lbEndpoint("127.0.0.1", 9)]), {
    connector: () => new Promise(() => {}), // a connect that never completes
  });
  const err = await failure(t, get(cluster.chooseHost()!, "/", { timeoutMs: 50 }));
  t.is(err.responseFlag, "UT");
  t.is(counter(stats, "cluster.tp.upstream_rq_cancelled"), 1);
  t.is(gauge(stats, "cluster.tp.upstream_rq_pending_active"), 0);
});

test("the timeout also covers the body: a stalled body is destroyed with UT", async (t) => {
  const { port } = await httpServer(t, (req, res) => {
    if (req.url === "/warm") {
      res.end("warm");
      return;
    }
    res.writeHead(200, { "content-length": "10" });
    res.write("12345");
  });
  const { cluster } = await makeCluster(t, clusterJson("tob", [lbEndpoint("127.0.0.1", port)]));
  const host = cluster.chooseHost()!;
  await get(host, "/warm");
  const res = await host.request({ method: "GET", path: "/stall", headers: [], body: null, timeoutMs: 400, signal: noSignal() });
  t.is(res.statusCode, 200);
  res.body.resume();
  const [err] = (await once(res.body, "error")) as [UpstreamError];
  t.is(err.code, "TIMEOUT");
});

test("aborting the signal resets the request: LR", async (t) => {
  const { server, port } = await httpServer(t, () => {});
  const { cluster, stats } = await makeCluster(t, clusterJson("ab", [lbEndpoint("127.0.0.1", port)]));
  const ac = new AbortController();
  const p = cluster.chooseHost()!.request({ method: "GET", path: "/", headers: [], body: null, timeoutMs: 0, signal: ac.signal });
  await once(server, "request");
  ac.abort();
  const err = await failure(t, p);
  t.is(err.code, "LOCAL_RESET");
  t.is(err.responseFlag, "LR");
  t.is(counter(stats, "cluster.ab.upstream_rq_tx_reset"), 1);
});

test("circuit breaker: max_pending_requests overflow fails with UO, 'overflow'", async (t) => {
  const held: (() => void)[] = [];
  const { server, port } = await httpServer(t, (_req, res) => held.push(() => res.end("done")));
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("cb", [lbEndpoint("127.0.0.1", port)], {
      circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] },
    }),
  );
  const host = cluster.chooseHost()!;
  const first = get(host);
  await once(server, "request");
  const second = get(host); // no free connection and none may be opened: waits as pending
  t.is(gauge(stats, "cluster.cb.upstream_rq_pending_active"), 1);
  t.is(gauge(stats, "cluster.cb.circuit_breakers.default.rq_pending_open"), 1);
  t.is(gauge(stats, "cluster.cb.circuit_breakers.default.cx_open"), 1);
  t.is(counter(stats, "cluster.cb.upstream_cx_overflow"), 1);
  const err = await failure(t, get(host));
  t.is(err.code, "OVERFLOW");
  t.is(err.responseFlag, "UO");
  t.is(err.envoyReason, "overflow");
  t.is(counter(stats, "cluster.cb.upstream_rq_pending_overflow"), 1);
  held.shift()!();
  t.is((await first).body, "done");
  await once(server, "request"); // the pending request got the freed connection
  held.shift()!();
  t.is((await second).body, "done");
  t.is(counter(stats, "cluster.cb.upstream_cx_total"), 1);
  t.is(gauge(stats, "cluster.cb.circuit_breakers.default.rq_pending_open"), 0);
});

test("circuit breaker: max_requests overflow fails with UO", async (t) => {
  const held: (() => void)[] = [];
  const { server, port } = await httpServer(t, (_req, res) => held.push(() => res.end("done")));
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("mr", [lbEndpoint("127.0.0.1", port)], { circuit_breakers: { thresholds: [{ max_requests: 1 }] } }),
  );
  const host = cluster.chooseHost()!;
  const first = get(host);
  await once(server, "request");
  t.is(gauge(stats, "cluster.mr.circuit_breakers.default.rq_open"), 1);
  const err = await failure(t, get(host));
  t.is(err.responseFlag, "UO");
  t.is(counter(stats, "cluster.mr.upstream_rq_pending_overflow"), 1);
  held.shift()!();
  await first;
});

test("circuit breaker: max_retries bounds concurrent retries", async (t) => {
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("rt", [lbEndpoint("10.0.0.1", 80)], { circuit_breakers: { thresholds: [{ max_retries: 1 }] } }),
  );
  const release = cluster.tryRetry();
  t.truthy(release);
  t.is(cluster.tryRetry(), null);
  t.is(counter(stats, "cluster.rt.upstream_rq_retry_overflow"), 1);
  t.is(gauge(stats, "cluster.rt.circuit_breakers.default.rq_retry_open"), 1);
  release!();
  t.truthy(cluster.tryRetry());
});

test("tcp_proxy connect: a socket on success, UF on refusal, UO over max_connections", async (t) => {
  const { port } = await tcpServer(t, (s) => s.pipe(s));
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("tcp", [lbEndpoint("127.0.0.1", port)], { circuit_breakers: { thresholds: [{ max_connections: 1 }] } }),
  );
  const host = cluster.chooseHost()!;
  const socket = await host.connect();
  socket.on("error", () => {});
  socket.write("ping");
  const [echo] = (await once(socket, "data")) as [Buffer];
  t.is(echo.toString(), "ping");
  t.is(gauge(stats, "cluster.tcp.upstream_cx_active"), 1);
  const over = await failure(t, host.connect());
  t.is(over.responseFlag, "UO");
  t.is(counter(stats, "cluster.tcp.upstream_cx_overflow"), 1);
  socket.destroy();
  await once(socket, "close");
  t.is(gauge(stats, "cluster.tcp.upstream_cx_active"), 0);

  const dead = await closedPort();
  const { cluster: c2 } = await makeCluster(t, clusterJson("tcp2", [lbEndpoint("127.0.0.1", dead)]));
  const refused = await failure(t, c2.chooseHost()!.connect());
  t.is(refused.responseFlag, "UF");
  t.is(refused.transportFailureReason, "delayed connect error: Connection refused");
});
