// Interop: HAProxy as the cloud L4 load balancer in front of Tollgate (`server ... send-proxy` / `send-proxy-v2`, mode
// tcp), as a DigitalOcean or AWS NLB would sit. The client's address and port must survive the hop: the access log
// shows the client as the remote address and HAProxy as the direct peer; the upstream sees the client in XFF.
// Skipped when haproxy is not installed, except in CI (CI=true), where a missing peer fails the test.
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostLocalAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import {
  echoOf,
  freePort,
  get,
  needsBinary,
  openConnection,
  readAccessLog,
  spawnTracked,
  startEcho,
  startProxy,
  tempDir,
  waitForPort,
} from "./helpers/e2e.js";

const run = needsBinary("haproxy") ? test : test.skip;

/** The client binds this source address when the machine has a non-loopback IPv4 (so it differs from HAProxy's). */
const CLIENT_IP = hostLocalAddress();

async function startHaproxy(t: Parameters<typeof tempDir>[0], serverPort: number, sendProxy: "send-proxy" | "send-proxy-v2"): Promise<number> {
  const dir = tempDir(t, "tollgate-haproxy-");
  const port = await freePort();
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    [
      "global",
      "  maxconn 256",
      `  pidfile ${join(dir, "haproxy.pid")}`,
      "defaults",
      "  mode tcp",
      "  timeout connect 2s",
      "  timeout client 20s",
      "  timeout server 20s",
      "frontend lb",
      `  bind 127.0.0.1:${port}`,
      "  default_backend tollgate",
      "backend tollgate",
      `  server tg 127.0.0.1:${serverPort} ${sendProxy}`,
      "",
    ].join("\n"),
  );
  const p = spawnTracked(t, "haproxy", ["-f", cfg, "-db"]);
  try {
    await waitForPort(port, "127.0.0.1", 10_000, p.exited);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nhaproxy stderr:\n${p.stderr()}`);
  }
  return port;
}

for (const mode of ["send-proxy", "send-proxy-v2"] as const) {
  run(`HAProxy ${mode} in front: the client address and port reach the access log and X-Forwarded-For`, async (t) => {
    const echo = await startEcho(t);
    const log = join(tempDir(t), "access.log");
    const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: log } });
    const lb = await startHaproxy(t, tg.port(), mode);
    const c = await openConnection(t, lb, "127.0.0.1", CLIENT_IP === "127.0.0.1" ? undefined : CLIENT_IP);
    const clientPort = c.socket.localPort!;
    await c.write(get(`/via-${mode}`, { "x-forwarded-for": "198.51.100.1" }));
    const r = await c.response();
    t.is(r.status, 200);
    const seen = echoOf(r);
    t.is(seen.url, `/via-${mode}`);
    // Envoy appends the (PROXY-restored) peer; a loopback peer is replaced by the host's address, which is the address
    // the client bound anyway.
    t.is(seen.headers["x-forwarded-for"], `198.51.100.1,${CLIENT_IP}`);
    // A second request on the same client connection keeps the address (HAProxy sends the header once).
    await c.write(get("/again"));
    t.is(echoOf(await c.response()).headers["x-forwarded-for"], CLIENT_IP);
    const entries = await readAccessLog(log, 2);
    for (const e of entries) {
      // The remote address is the client's own socket address; the direct peer is HAProxy on loopback.
      t.is(e.remote, `${CLIENT_IP}:${clientPort}`);
      t.is(e.direct, "127.0.0.1");
    }
    t.true(tg.stat(mode === "send-proxy" ? "proxy_proto.versions.v1.found" : "proxy_proto.versions.v2.found") >= 1);
    t.is(tg.stat("downstream_cx_proxy_proto_error"), 0);
  });
}

run("HAProxy send-proxy-v2: a large upload and many sequential requests pass through the LB hop intact", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const lb = await startHaproxy(t, tg.port(), "send-proxy-v2");
  const c = await openConnection(t, lb);
  const body = "x".repeat(256 * 1024);
  await c.write(`POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  const r = await c.response("POST");
  t.is(echoOf(r).body.length, body.length);
  for (let i = 0; i < 20; i++) {
    await c.write(get(`/n/${i}`));
    t.is(echoOf(await c.response()).url, `/n/${i}`);
  }
});
