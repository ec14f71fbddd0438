import test from "ava";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { Readable } from "node:stream";
import { setImmediate as tick } from "node:timers/promises";
import { UpstreamError } from "../proxy/upstream/errors.js";
import { clusterJson, counter, get, httpServer, lbEndpoint, makeCluster, noSignal, tcpServer } from "./upstream-fixtures.js";

const MiB = 1024 * 1024;

/** A body of `total` bytes made on demand in 64 KiB chunks; `produced` counts what has been handed out. */
function generated(total: number): Readable & { produced: number } {
  let produced = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const r = new Readable({
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, total - produced);
      produced += n;
      (r as Readable & { produced: number }).produced = produced;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  }) as Readable & { produced: number };
  r.produced = 0;
  return r;
}

test("a large response streams with backpressure: the body buffer stays near its high-water mark", async (t) => {
  const total = 32 * MiB;
  const block = Buffer.alloc(256 * 1024, 0x61);
  const { port } = await httpServer(t, async (_req, res) => {
    res.writeHead(200, { "content-length": String(total) });
    for (let sent = 0; sent < total; sent += block.length) {
      if (!res.write(block)) await once(res, "drain");
    }
    res.end();
  });
  const limit = 64 * 1024;
  const { cluster } = await makeCluster(t, clusterJson("big", [lbEndpoint("127.0.0.1", port)], { per_connection_buffer_limit_bytes: limit }));
  const res = await cluster.chooseHost()!.request({ method: "GET", path: "/", headers: [], body: null, timeoutMs: 0, signal: noSignal() });
  t.is(res.body.readableHighWaterMark, limit);
  let received = 0;
  let maxBuffered = 0;
  // A slow reader: one chunk per turn of the event loop, while the loopback upstream could send far faster.
  for (;;) {
    maxBuffered = Math.max(maxBuffered, res.body.readableLength);
    const chunk = res.body.read() as Buffer | null;
    if (chunk) {
      received += chunk.length;
      await tick();
      continue;
    }
    if (res.body.readableEnded) break;
    await Promise.race([once(res.body, "readable"), once(res.body, "end")]);
    if (res.body.readableEnded && res.body.readableLength === 0) break;
  }
  t.is(received, total);
  // Without backpressure the buffer would grow by every socket read not yet consumed (megabytes here).
  t.true(maxBuffered <= limit + 256 * 1024, `body buffered up to ${maxBuffered} bytes`);
});

test("a large request body streams with backpressure and arrives intact", async (t) => {
  const total = 48 * MiB;
  const body = generated(total);
  let received = 0;
  let maxAhead = 0;
  const { port } = await httpServer(t, async (req, res) => {
    const hash = createHash("sha256");
    // A slow upstream: one chunk per turn of the event loop.
    for await (const chunk of req) {
      received += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
      maxAhead = Math.max(maxAhead, body.produced - received);
      await tick();
    }
    res.end(hash.digest("hex"));
  });
  const { cluster } = await makeCluster(t, clusterJson("up", [lbEndpoint("127.0.0.1", port)]));
  const res = await cluster.chooseHost()!.request({
    method: "POST",
    path: "/upload",
    headers: [["host", "x"], ["content-length", String(total)]],
    body,
    timeoutMs: 0,
    signal: noSignal(),
  });
  let digest = "";
  for await (const c of res.body) digest += c;
  const expected = createHash("sha256");
  const block = Buffer.alloc(64 * 1024, 0x5a);
  for (let i = 0; i < total / block.length; i++) expected.update(block);
  t.is(digest, expected.digest("hex"));
  t.is(received, total);
  // The producer may only run ahead by the buffers in between (stream high-water marks and the kernel's socket
  // buffers), never by the whole body.
  t.true(maxAhead < 24 * MiB, `producer ran ${maxAhead} bytes ahead of the upstream`);
});

test("keep-alive connections are reused; 'Connection: close' from the upstream retires one cleanly", async (t) => {
  let n = 0;
  const { port } = await httpServer(t, (_req, res) => {
    n++;
    if (n === 2) res.setHeader("connection", "close");
    res.end(String(n));
  });
  const { cluster, stats } = await makeCluster(t, clusterJson("ka", [lbEndpoint("127.0.0.1", port)]));
  const host = cluster.chooseHost()!;
  t.is((await get(host)).body, "1");
  t.is((await get(host)).body, "2");
  t.is(counter(stats, "cluster.ka.upstream_cx_total"), 1);
  t.is((await get(host)).body, "3");
  t.is((await get(host)).body, "4");
  t.is(counter(stats, "cluster.ka.upstream_cx_total"), 2);
  t.is(counter(stats, "cluster.ka.upstream_rq_total"), 4);
});

test("destroying the response body resets the upstream request", async (t) => {
  const { server, port } = await httpServer(t, (_req, res) => {
    res.writeHead(200);
    res.write("partial");
  });
  const { cluster, stats } = await makeCluster(t, clusterJson("rs", [lbEndpoint("127.0.0.1", port)]));
  const upstreamClosed = once(server, "request").then(([req]) => once((req as import("node:http").IncomingMessage).socket, "close"));
  const res = await cluster.chooseHost()!.request({ method: "GET", path: "/", headers: [], body: null, timeoutMs: 0, signal: noSignal() });
  res.body.destroy();
  await once(res.body, "close");
  await upstreamClosed;
  t.is(counter(stats, "cluster.rs.upstream_rq_tx_reset"), 1);
  t.is(stats.gauge("cluster.rs.upstream_rq_active").value(), 0);
});

test("an upstream failure mid-upload does not destroy the downstream body stream", async (t) => {
  const { port } = await tcpServer(t, (s) => s.once("data", () => s.destroy()));
  const { cluster } = await makeCluster(t, clusterJson("keep", [lbEndpoint("127.0.0.1", port)]));
  const body = generated(16 * MiB);
  const err = await t.throwsAsync(
    cluster.chooseHost()!.request({ method: "POST", path: "/", headers: [["content-length", String(16 * MiB)]], body, timeoutMs: 0, signal: noSignal() }),
    { instanceOf: UpstreamError },
  );
  t.is(err!.responseFlag, "UC");
  t.false(body.destroyed);
  body.destroy();
});

test("close() lets the request in flight finish, then closes its connection and refuses new requests", async (t) => {
  let release: (() => void) | null = null;
  const { server, port } = await httpServer(t, (_req, res) => {
    release = () => res.end("last");
  });
  const { cluster, stats } = await makeCluster(t, clusterJson("drain", [lbEndpoint("127.0.0.1", port)]));
  const host = cluster.chooseHost()!;
  const inflight = get(host);
  await once(server, "request");
  const closing = cluster.close();
  const refused = await t.throwsAsync(get(host), { instanceOf: UpstreamError });
  t.is(refused!.code, "LOCAL_RESET");
  release!();
  t.is((await inflight).body, "last");
  await closing;
  t.is(stats.gauge("cluster.drain.upstream_cx_active").value(), 0);
});
