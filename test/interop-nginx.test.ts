// Interop: nginx as Tollgate's upstream, answering with the X-Forwarded-For it received (`return 200
// "$http_x_forwarded_for"`), and the full edge chain client → HAProxy (send-proxy-v2) → Tollgate → nginx.
// Skipped when a peer binary is missing, except in CI (CI=true), where a missing peer fails the test.
import test from "ava";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostLocalAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { freePort, get, needsBinary, openConnection, proxyV1, proxyV2, spawnTracked, startProxy, tempDir, waitForPort } from "./helpers/e2e.js";

const run = needsBinary("nginx") ? test : test.skip;
const runChain = needsBinary("nginx") && needsBinary("haproxy") ? test : test.skip;

async function startNginx(t: Parameters<typeof tempDir>[0]): Promise<number> {
  const dir = tempDir(t, "tollgate-nginx-");
  const port = await freePort();
  for (const d of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, d));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log stderr;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "client_body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type text/plain;
      add_header x-seen-external "$http_x_envoy_external_address" always;
      return 200 "$http_x_forwarded_for";
    }
  }
}
`,
  );
  // -e stderr: nginx opens its default error log before it reads the configuration.
  const p = spawnTracked(t, "nginx", ["-p", dir, "-e", "stderr", "-c", conf]);
  try {
    await waitForPort(port, "127.0.0.1", 10_000, p.exited);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nnginx stderr:\n${p.stderr()}`);
  }
  return port;
}

run("nginx upstream: receives the PROXY client as X-Forwarded-For (v1 and v2), keep-alive to nginx reused", async (t) => {
  const nginx = await startNginx(t);
  const tg = await startProxy(t, { backendPort: nginx });
  for (const [header, ip] of [
    [proxyV1("203.0.113.21", "192.0.2.1"), "203.0.113.21"],
    [proxyV2("2001:db8::21", "2001:db8::1"), "2001:db8::21"],
  ] as const) {
    const c = await openConnection(t, tg.port());
    await c.write(Buffer.concat([header, Buffer.from(get("/xff", { "x-forwarded-for": "198.51.100.7" }))]));
    const r = await c.response();
    t.is(r.status, 200);
    t.is(r.body.toString(), `198.51.100.7,${ip}`);
    t.is(r.header("x-seen-external"), ip);
    t.is(r.header("server"), "envoy", "Tollgate overwrites the upstream's server header, as Envoy");
    c.destroy();
  }
  t.is(tg.stat("cluster.backend.upstream_rq_2xx"), 2);
  t.is(tg.stat("cluster.backend.upstream_cx_total"), 1, "the second request reused the pooled connection to nginx");
});

runChain("client → HAProxy send-proxy-v2 → Tollgate → nginx: nginx sees the client address", async (t) => {
  const nginx = await startNginx(t);
  const tg = await startProxy(t, { backendPort: nginx });
  const dir = tempDir(t, "tollgate-haproxy-");
  const lb = await freePort();
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    `global\n  maxconn 64\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n` +
      `frontend lb\n  bind 127.0.0.1:${lb}\n  default_backend tg\nbackend tg\n  server tg 127.0.0.1:${tg.port()} send-proxy-v2\n`,
  );
  const hp = spawnTracked(t, "haproxy", ["-f", cfg, "-db"]);
  await waitForPort(lb, "127.0.0.1", 10_000, hp.exited);
  const clientIp = hostLocalAddress();
  const c = await openConnection(t, lb, "127.0.0.1", clientIp === "127.0.0.1" ? undefined : clientIp);
  await c.write(get("/chain"));
  const r = await c.response();
  t.is(r.status, 200);
  t.is(r.body.toString(), clientIp);
});
