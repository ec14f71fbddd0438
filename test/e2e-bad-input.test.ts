// End to end: what a hostile or broken client sends. Malformed HTTP gets Envoy's 400, oversized or too many headers 431,
// each on a closed connection; and no byte sequence after (or instead of) a PROXY header takes the process down.
import test from "ava";
import fc from "fast-check";
import {
  echoOf,
  get,
  openConnection,
  proxyV1,
  proxyV2,
  readAccessLog,
  startEcho,
  startHttpUpstream,
  startProxy,
  tempDir,
  withTimeout,
  type RawConnection,
} from "./helpers/e2e.js";

const HDR = proxyV2("203.0.113.66", "192.0.2.1");

async function send(t: Parameters<typeof openConnection>[0], port: number, bytes: Buffer | string): Promise<RawConnection> {
  const c = await openConnection(t, port);
  await c.write(Buffer.concat([HDR, Buffer.from(bytes)]));
  return c;
}

test("malformed HTTP: 400 `Bad Request`, the connection is closed, the access log says DPE", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: log } });
  for (const bad of [
    "GET / HTTP/1.1\r\nthis line has no colon\r\n\r\n",
    "GET / HTTP/9.9\r\nhost: a\r\n\r\n",
    "G\x00T / HTTP/1.1\r\nhost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
    "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
  ]) {
    const c = await send(t, tg.port(), bad);
    const r = await c.response();
    t.is(r.status, 400, JSON.stringify(bad));
    t.is(r.header("connection"), "close");
    t.is(r.body.toString(), "Bad Request");
    await withTimeout(c.closed, 5000, `connection not closed after ${JSON.stringify(bad)}`);
  }
  t.true(tg.stat("http.ingress.downstream_cx_protocol_error") >= 5);
  // Like Envoy, a request the codec refused is still a request: counted and logged with DownstreamProtocolError.
  const entries = await readAccessLog(log, 5);
  for (const e of entries) {
    t.is(e.code, "400");
    t.is(e.flags, "DPE");
    t.regex(e.details, /^http1\./);
  }
  t.is(entries[0]!.method, "-");
  t.is(tg.stat("http.ingress.downstream_rq_4xx"), 5);
});

test("a request head over max_request_headers_kb (60 KiB): 431 and close", async (t) => {
  // An upstream that takes big heads itself (node's default limit is 16 KiB).
  const up = await startHttpUpstream(t, (rq, res) => res.end(`got ${String(rq.headers["x-big"]).length}`), { maxHeaderSize: 128 * 1024 });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await send(t, tg.port(), get("/", { "x-big": "a".repeat(70 * 1024) }));
  const r = await c.response();
  t.is(r.status, 431);
  t.is(r.body.toString(), "Request Header Fields Too Large");
  await withTimeout(c.closed, 5000, "connection not closed after 431");
  // Just under the limit is fine.
  const ok = await send(t, tg.port(), get("/", { "x-big": "a".repeat(50 * 1024) }));
  const r2 = await ok.response();
  t.is(r2.status, 200);
  t.is(r2.body.toString(), `got ${50 * 1024}`);
});

test("more headers than max_headers_count (100): 431 and close", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: log } });
  const many: Record<string, string> = {};
  for (let i = 0; i < 110; i++) many[`x-h${i}`] = String(i);
  const c = await send(t, tg.port(), get("/", many));
  const r = await c.response();
  t.is(r.status, 431);
  await withTimeout(c.closed, 5000, "connection not closed after too many headers");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.details, "http1.too_many_headers");
  // 99 headers plus host: within the limit.
  const fewer: Record<string, string> = {};
  for (let i = 0; i < 99; i++) fewer[`x-h${i}`] = String(i);
  const ok = await send(t, tg.port(), get("/", fewer));
  t.is((await ok.response()).status, 200);
});

test("nothing a client sends crashes the process: 300 connections of random bytes, then a normal request", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, {
    backendPort: echo.port,
    listenerExtra: { listener_filters_timeout: "1s" },
    hcm: { extra: { upgrade_configs: [{ upgrade_type: "websocket" }] } },
  });
  const validRequest = Buffer.from(get("/ok", { "content-length": "3" }) + "abc");
  const payload = fc.oneof(
    // Pure noise after a valid header.
    fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => Buffer.concat([HDR, Buffer.from(b)])),
    // A valid request with random bytes spliced in.
    fc
      .tuple(fc.nat(validRequest.length), fc.uint8Array({ minLength: 1, maxLength: 40 }))
      .map(([at, b]) => Buffer.concat([HDR, validRequest.subarray(0, at), Buffer.from(b), validRequest.subarray(at)])),
    // HTTP-looking garbage: request lines and headers built from the characters parsers trip on.
    fc
      .array(fc.constantFrom("GET ", "POST ", "/", " HTTP/1.1", "\r\n", ":", "host", "content-length: ", "transfer-encoding: chunked", "-1", "0", "ff", "\n", " ", "\t", "upgrade: websocket", "connection: upgrade", "\x00", "\xff"), { maxLength: 60 })
      .map((parts) => Buffer.concat([HDR, Buffer.from(parts.join(""), "latin1")])),
    // Noise instead of a PROXY header, or a v1 header with noise in it.
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.concat([Buffer.from("PROXY TCP4 "), Buffer.from(b), Buffer.from("\r\n")])),
  );
  const samples = fc.sample(payload, { numRuns: 300, seed: 20261126 });
  const BATCH = 25;
  for (let i = 0; i < samples.length; i += BATCH) {
    await Promise.all(
      samples.slice(i, i + BATCH).map(async (bytes) => {
        const c = await openConnection(t, tg.port());
        c.socket.on("error", () => {});
        await c.write(bytes).catch(() => {});
        // Finish our side: Tollgate answers or closes; either way the connection must end (bounded wait).
        c.end();
        await withTimeout(c.closed, 10_000, `connection left open after ${JSON.stringify(bytes.toString("latin1").slice(0, 80))}`);
        const answer = c.pending.toString("latin1");
        if (answer.length > 0) t.regex(answer, /^HTTP\/1\.1 \d{3} /);
      }),
    );
  }
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1("198.51.100.99", "192.0.2.1"), Buffer.from(get("/after-the-storm"))]));
  const r = await c.response();
  t.is(r.status, 200);
  t.is(echoOf(r).headers["x-forwarded-for"], "198.51.100.99");
  t.is(tg.server.stats.gauge("listener.127.0.0.1_0.downstream_cx_active").value(), 1);
});

test("a malformed chunked body after the request went upstream: 400 to the client, the upstream request is reset", async (t) => {
  let gotFirstChunk: () => void = () => {};
  const firstChunk = new Promise<void>((r) => (gotFirstChunk = r));
  let upstreamAborted: () => void = () => {};
  const aborted = new Promise<void>((r) => (upstreamAborted = r));
  const up = await startHttpUpstream(t, (rq, res) => {
    rq.on("data", () => gotFirstChunk());
    rq.on("end", () => res.end("complete"));
    rq.on("aborted", () => upstreamAborted());
    rq.on("error", () => upstreamAborted());
  });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await send(t, tg.port(), "POST /chunks HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
  await withTimeout(firstChunk, 5000, "the first chunk did not reach the upstream");
  await c.write("not-hex\r\n");
  const r = await c.response("POST");
  t.is(r.status, 400);
  t.is(r.body.toString(), "Bad Request");
  await withTimeout(c.closed, 5000, "connection left open after the codec error");
  // Well before the route's 15 s timeout: the upstream exchange is reset, not left waiting for the rest of the body.
  await withTimeout(aborted, 5000, "the upstream request was not reset");
  t.is(tg.stat("cluster.backend.upstream_rq_tx_reset"), 1);
});

test("request targets and versions Envoy's codec refuses: invalid URL 400, HTTP/1.0 426, missing Host 400, CONNECT 404", async (t) => {
  const echo = await startEcho(t);
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: log } });
  const cases: Array<{ raw: string; status: number; body: string; details: string; closes: boolean }> = [
    { raw: "GET not-a-path HTTP/1.1\r\nhost: a\r\n\r\n", status: 400, body: "Bad Request", details: "http1.invalid_url", closes: true },
    { raw: "GET / HTTP/1.0\r\nhost: a\r\n\r\n", status: 426, body: "Upgrade Required", details: "low_version", closes: true },
    // A missing Host is the connection manager's refusal, not the codec's: the connection stays usable.
    { raw: "GET / HTTP/1.1\r\n\r\n", status: 400, body: "", details: "missing_host_header", closes: false },
    { raw: "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n", status: 404, body: "", details: "route_not_found", closes: true },
  ];
  let lines = 0;
  for (const k of cases) {
    const c = await send(t, tg.port(), k.raw);
    const r = await c.response();
    t.is(r.status, k.status, k.raw);
    t.is(r.body.toString(), k.body, k.raw);
    if (k.closes) await withTimeout(c.closed, 5000, `connection left open after ${JSON.stringify(k.raw)}`);
    else {
      await c.write(get("/still-open"));
      t.is(echoOf(await c.response()).url, "/still-open");
    }
    const first = lines;
    lines += k.closes ? 1 : 2;
    const entries = await readAccessLog(log, lines);
    t.is(entries[first]!.details, k.details, k.raw);
    c.destroy();
  }
});
