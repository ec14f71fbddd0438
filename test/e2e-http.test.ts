// End to end: HTTP/1.1 behaviour through Tollgate — slow and half-open clients, pipelining, chunked bodies both ways,
// large bodies streamed with backpressure (checked by hash), WebSocket upgrades.
import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
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

const HDR = proxyV2("203.0.113.60", "192.0.2.1", 45000, 80);

async function proxied(t: Parameters<typeof openConnection>[0], port: number): Promise<RawConnection> {
  const c = await openConnection(t, port);
  await c.write(HDR);
  return c;
}

test("a slow client: request line, headers and body arrive a byte or a few at a time", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const c = await openConnection(t, tg.port());
  const body = "a=1&b=2&c=3";
  await c.writeByteByByte(Buffer.concat([HDR, Buffer.from(`POST /slow HTTP/1.1\r\nhost: example.com\r\ncontent-length: ${body.length}\r\n\r\n`)]));
  for (let i = 0; i < body.length; i += 3) await c.write(body.slice(i, i + 3));
  const r = await c.response();
  t.is(r.status, 200);
  const seen = echoOf(r);
  t.is(seen.body, body);
  t.is(seen.headers["x-forwarded-for"], "203.0.113.60");
});

test("a half-open client (FIN after its request) still gets the whole response, then the connection closes", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const c = await proxied(t, tg.port());
  await c.write(get("/half"));
  c.end(); // shut down our sending side only
  const r = await c.response();
  t.is(r.status, 200);
  t.is(echoOf(r).url, "/half");
  await withTimeout(c.closed, 5000, "Tollgate did not close after answering a half-closed client");
});

test("a client that closes mid-request does not disturb the next one", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const c = await proxied(t, tg.port());
  await c.write("POST /cut HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly part");
  c.end();
  await withTimeout(c.closed, 5000, "Tollgate did not close a half-closed incomplete request");
  const next = await proxied(t, tg.port());
  await next.write(get("/after"));
  t.is((await next.response()).status, 200);
});

test("pipelined requests in one write get their responses in order", async (t) => {
  // The upstream answers /first only after /second has arrived (or after a bounded wait when the proxy does not send
  // them concurrently), so responses come back from it out of order when they can.
  let releaseFirst: (() => void) | null = null;
  const secondArrived = new Promise<void>((resolve) => (releaseFirst = resolve));
  const up = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    const reply = (): void => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`answer to ${rq.url}`);
    };
    if (rq.url === "/first") {
      void Promise.race([secondArrived, new Promise((r) => setTimeout(r, 300))]).then(reply);
    } else {
      releaseFirst!();
      reply();
    }
  });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await proxied(t, tg.port());
  await c.write(get("/first") + get("/second") + get("/third"));
  const bodies = [];
  for (let i = 0; i < 3; i++) bodies.push((await c.response()).body.toString());
  t.deepEqual(bodies, ["answer to /first", "answer to /second", "answer to /third"]);
});

test("chunked request body reaches the upstream whole; a chunked response reaches the client whole", async (t) => {
  const up = await startHttpUpstream(t, (rq, res) => {
    const chunks: Buffer[] = [];
    rq.on("data", (c: Buffer) => chunks.push(c));
    rq.on("end", () => {
      const got = Buffer.concat(chunks).toString();
      res.writeHead(200, { "content-type": "text/plain", "x-request-te": String(rq.headers["transfer-encoding"]) });
      // No content-length: node sends the response chunked, one chunk per write.
      res.write("you sent: ");
      res.write(got);
      res.end(" (end)");
    });
  });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await proxied(t, tg.port());
  await c.write("POST /chunked HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
  for (const part of ["hello", ", ", "chunked", " world"]) await c.write(`${part.length.toString(16)}\r\n${part}\r\n`);
  await c.write("0\r\n\r\n");
  const r = await c.response();
  t.is(r.status, 200);
  t.is(r.header("transfer-encoding"), "chunked");
  t.is(r.header("x-request-te"), "chunked");
  t.is(r.body.toString(), "you sent: hello, chunked world (end)");
});

const MB = 1024 * 1024;

test("a 20 MB upload streams through intact (sha256 at the upstream)", async (t) => {
  const payload = randomBytes(20 * MB);
  const expected = createHash("sha256").update(payload).digest("hex");
  const up = await startHttpUpstream(t, (rq, res) => {
    const h = createHash("sha256");
    let n = 0;
    rq.on("data", (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    rq.on("end", () => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`${n} ${h.digest("hex")}`);
    });
  });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await proxied(t, tg.port());
  await c.write(`PUT /upload HTTP/1.1\r\nhost: a\r\ncontent-length: ${payload.length}\r\n\r\n`);
  await c.write(payload);
  const r = await c.response("PUT", 30_000);
  t.is(r.status, 200);
  t.is(r.body.toString(), `${payload.length} ${expected}`);
  t.is(tg.stat("http.ingress.downstream_rq_2xx"), 1);
});

test("a 64 MB download streams through intact, and a client that does not read holds the upstream back", async (t) => {
  const SIZE = 64 * MB; // more than every socket buffer on the path together can hold
  const payload = randomBytes(4 * MB);
  const expected = createHash("sha256");
  for (let i = 0; i < SIZE / payload.length; i++) expected.update(payload);
  let written = 0;
  let progress: () => void = () => {};
  const up = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(SIZE) });
    const chunk = 256 * 1024;
    const pump = (): void => {
      while (written < SIZE) {
        const slice = payload.subarray(written % payload.length, (written % payload.length) + chunk);
        written += slice.length;
        progress();
        if (!res.write(slice)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const tg = await startProxy(t, { backendPort: up.port });
  const c = await openConnection(t, tg.port());
  c.socket.pause(); // a client that reads nothing yet
  // Wait until the upstream has started writing and then stops making progress (its writes are held back), or has
  // written everything. A stall is "no progress for 300 ms": on a slow machine it may be declared early, which only
  // makes the assertion below easier to meet, never harder. Armed before the request is sent, so no write is missed.
  const stalled = new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    progress = (): void => {
      clearTimeout(timer);
      if (written >= SIZE) return resolve();
      timer = setTimeout(resolve, 300);
    };
  });
  await c.write(Buffer.concat([HDR, Buffer.from(get("/big"))]));
  await withTimeout(stalled, 30_000, "the upstream neither finished nor stalled");
  progress = () => {};
  // Without backpressure the proxy would have read all 64 MB from the upstream into memory.
  t.true(written < SIZE / 2, `the upstream could write ${written} bytes to a client that read nothing`);
  t.log(`the upstream wrote ${(written / MB).toFixed(1)} MB before it was held back`);
  c.socket.resume();
  const r = await c.response("GET", 60_000);
  t.is(r.status, 200);
  t.is(r.body.length, SIZE);
  t.is(createHash("sha256").update(r.body).digest("hex"), expected.digest("hex"));
});

// ---- WebSocket --------------------------------------------------------------------------------------------------------

/** One unfragmented WebSocket text frame (payload < 126 bytes); masked when sent by a client. */
function wsFrame(text: string, mask: boolean): Buffer {
  const payload = Buffer.from(text);
  const head = Buffer.from([0x81, (mask ? 0x80 : 0) | payload.length]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([head, key, masked]);
}

/** Parse frames from `buf`; returns the text payloads and the bytes left over. */
function wsParse(buf: Buffer): { texts: string[]; rest: Buffer } {
  const texts: string[] = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const masked = (buf[at + 1]! & 0x80) !== 0;
    const len = buf[at + 1]! & 0x7f;
    const need = 2 + (masked ? 4 : 0) + len;
    if (buf.length - at < need) break;
    let payload = buf.subarray(at + 2 + (masked ? 4 : 0), at + need);
    if (masked) {
      const key = buf.subarray(at + 2, at + 6);
      payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
    }
    texts.push(payload.toString());
    at += need;
  }
  return { texts, rest: buf.subarray(at) };
}

/** A tiny WebSocket echo server on node:http's 'upgrade': greets, then answers each text frame with "echo: <text>". */
async function startWsEcho(t: Parameters<typeof startHttpUpstream>[0]): Promise<{ port: number; upgrades: IncomingMessage[] }> {
  const upgrades: IncomingMessage[] = [];
  const up = await startHttpUpstream(t, (_rq, res) => {
    res.writeHead(426);
    res.end();
  });
  const sockets = new Set<Socket>();
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  up.server.on("upgrade", (rq: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(rq);
    sockets.add(socket);
    socket.on("error", () => {});
    const accept = createHash("sha1").update(`${String(rq.headers["sec-websocket-key"])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    socket.write(wsFrame("welcome", false));
    let buf = head;
    const onBytes = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const { texts, rest } = wsParse(buf);
      buf = rest;
      for (const text of texts) socket.write(wsFrame(`echo: ${text}`, false));
    };
    if (head.length > 0) onBytes(Buffer.alloc(0));
    socket.on("data", onBytes);
  });
  return { port: up.port, upgrades };
}

const UPGRADE_REQUEST =
  "GET /chat HTTP/1.1\r\nhost: example.com\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
  "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";

/** Read frames from a connection's pending bytes until `n` texts have arrived. */
async function readFrames(c: RawConnection, n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { texts } = wsParse(c.pending);
    if (texts.length >= n) return texts;
    if (Date.now() > deadline) throw new Error(`only ${texts.length} frames arrived`);
    await new Promise<void>((resolve) => c.socket.once("data", () => resolve()));
  }
}

test("WebSocket upgrade with upgrade_configs: 101, frames pass both ways, XFF reaches the upstream", async (t) => {
  const ws = await startWsEcho(t);
  const tg = await startProxy(t, { backendPort: ws.port, hcm: { extra: { upgrade_configs: [{ upgrade_type: "websocket" }] } } });
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1("198.51.100.70", "192.0.2.1"), Buffer.from(UPGRADE_REQUEST)]));
  const head = await c.response();
  t.is(head.status, 101);
  t.is(head.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  await c.write(wsFrame("hello", true));
  await c.write(wsFrame("second", true));
  const texts = await readFrames(c, 3);
  t.deepEqual(texts, ["welcome", "echo: hello", "echo: second"]);
  t.is(ws.upgrades.length, 1);
  t.is(ws.upgrades[0]!.headers["x-forwarded-for"], "198.51.100.70");
  t.is(ws.upgrades[0]!.url, "/chat");
  // Closing the client ends the tunnel.
  c.destroy();
});

test("WebSocket upgrade without upgrade_configs is refused with 403", async (t) => {
  const ws = await startWsEcho(t);
  const tg = await startProxy(t, { backendPort: ws.port });
  const c = await proxied(t, tg.port());
  await c.write(UPGRADE_REQUEST);
  const r = await c.response();
  t.is(r.status, 403);
  t.is(r.body.length, 0);
  t.is(ws.upgrades.length, 0);
  // node:http has let go of an upgrade socket: Tollgate itself must close it after the reply.
  await withTimeout(c.closed, 5000, "the connection stayed open after the 403");
});

test("a plain request is still served on a connection manager that allows upgrades", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { extra: { upgrade_configs: [{ upgrade_type: "websocket" }] } } });
  const c = await proxied(t, tg.port());
  await c.write(get("/plain"));
  t.is(echoOf(await c.response()).url, "/plain");
});

// ---- slow clients and Envoy's HTTP timeouts ---------------------------------------------------------------------------

test("request_headers_timeout: a client trickling headers gets 408 `request header timeout` and is closed", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { extra: { request_headers_timeout: "0.2s" } } });
  const c = await proxied(t, tg.port());
  await c.write("GET /slowloris HTTP/1.1\r\nhost: a\r\nx-one: 1\r\n"); // never finished
  const bytes = (await c.readToEnd()).toString("latin1");
  t.regex(bytes, /^HTTP\/1\.1 408 /);
  t.true(bytes.endsWith("\r\n\r\nrequest header timeout"), bytes);
});

test("request_timeout: a request body that stops arriving gets 408 `request timeout` and is closed", async (t) => {
  const up = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    rq.on("end", () => res.end("complete"));
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: up.port, hcm: { accessLogPath: log, extra: { request_timeout: "0.3s" } } });
  const c = await proxied(t, tg.port());
  await c.write("POST /stall HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc");
  const r = await c.response("POST");
  t.is(r.status, 408);
  t.is(r.body.toString(), "request timeout");
  await withTimeout(c.closed, 5000, "connection left open after request_timeout");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.details, "request_overall_timeout");
  t.is(tg.stat("http.ingress.downstream_rq_timeout"), 1);
});

test("stream_idle_timeout: a stream with no activity gets 408 `stream timeout` (SI) and the connection closes", async (t) => {
  const up = await startHttpUpstream(t, (rq, res) => {
    rq.resume();
    rq.on("end", () => res.end("complete"));
  });
  const log = `${tempDir(t)}/a.log`;
  const tg = await startProxy(t, { backendPort: up.port, hcm: { accessLogPath: log, extra: { stream_idle_timeout: "0.3s" } } });
  const c = await proxied(t, tg.port());
  await c.write("POST /idle HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc");
  const r = await c.response("POST");
  t.is(r.status, 408);
  t.is(r.body.toString(), "stream timeout");
  await withTimeout(c.closed, 5000, "connection left open after the stream idle timeout");
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "SI");
  t.is(e!.details, "stream_idle_timeout");
  t.is(tg.stat("http.ingress.downstream_rq_idle_timeout"), 1);
});

test("absolute-form request target: routed on its path, Host taken from the URL (as Envoy's allow_absolute_url)", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, {
    backendPort: echo.port,
    hcm: { virtualHosts: [{ name: "api", domains: ["api.example"], routes: [{ match: { prefix: "/v1" }, route: { cluster: "backend" } }] }] },
  });
  const c = await proxied(t, tg.port());
  await c.write("GET http://api.example/v1/items?x=1 HTTP/1.1\r\nhost: ignored.example\r\n\r\n");
  const seen = echoOf(await c.response());
  t.is(seen.url, "/v1/items?x=1");
  t.is(seen.headers.host, "api.example");
});

test("request headers Envoy sets or strips at the edge: x-request-id, x-forwarded-proto, hop-by-hop", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const c = await proxied(t, tg.port());
  await c.write(get("/", { "x-request-id": "chosen-by-client", "keep-alive": "300", "proxy-connection": "keep-alive", "x-forwarded-proto": "https" }));
  const seen = echoOf(await c.response()).headers;
  // An edge request gets a fresh UUID (preserve_external_request_id is false by default).
  t.regex(String(seen["x-request-id"]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // use_remote_address: x-forwarded-proto is overwritten from the downstream connection (plaintext here).
  t.is(seen["x-forwarded-proto"], "http");
  t.is(seen["keep-alive"], undefined);
  t.is(seen["proxy-connection"], undefined);
});
