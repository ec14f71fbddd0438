// Interop: curl as the client, `--haproxy-protocol` sending a PROXY v1 header before its request (what operators use
// to try a PROXY listener by hand). Without the flag, a listener that requires the header closes the connection.
// Skipped when curl is not installed, except in CI (CI=true), where a missing peer fails the test.
import test from "ava";
import { join } from "node:path";
import { hostLocalAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { needsBinary, readAccessLog, spawnTracked, startEcho, startProxy, tempDir } from "./helpers/e2e.js";
import type { EchoReply } from "../proxy/tools/echo-server.js";

const run = needsBinary("curl") ? test : test.skip;
const CLIENT_IP = hostLocalAddress();

async function curl(t: Parameters<typeof spawnTracked>[0], args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTracked(t, "curl", ["-sS", "--max-time", "10", ...args]);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

run("curl --haproxy-protocol: 200, the client reaches X-Forwarded-For and the access log", async (t) => {
  const echo = await startEcho(t);
  const log = join(tempDir(t), "access.log");
  const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: log } });
  const iface = CLIENT_IP === "127.0.0.1" ? [] : ["--interface", CLIENT_IP];
  const r = await curl(t, ["--haproxy-protocol", ...iface, "-H", "x-forwarded-for: 198.51.100.1", `http://127.0.0.1:${tg.port()}/from-curl?q=1`]);
  t.is(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as EchoReply;
  t.is(seen.url, "/from-curl?q=1");
  t.is(seen.headers["x-forwarded-for"], `198.51.100.1,${CLIENT_IP}`);
  t.regex(String(seen.headers["user-agent"]), /^curl\//);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.code, "200");
  t.is(e!.remote_ip, CLIENT_IP);
  t.is(tg.stat("proxy_proto.versions.v1.found"), 1);
});

run("curl without --haproxy-protocol: the listener closes the connection without a reply", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const r = await curl(t, [`http://127.0.0.1:${tg.port()}/`]);
  // 52: empty reply from server; 56: failure receiving (reset).
  t.true(r.code === 52 || r.code === 56, `curl exit ${String(r.code)}: ${r.stderr}`);
  t.is(tg.stat("proxy_proto.not_found_disallowed"), 1);
});

run("curl --haproxy-protocol with a POST body and keep-alive across two URLs", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const base = `http://127.0.0.1:${tg.port()}`;
  const r = await curl(t, ["--haproxy-protocol", "--data-binary", "payload=1", `${base}/a`, "--next", "--haproxy-protocol", `${base}/b`]);
  t.is(r.code, 0, r.stderr);
  const replies = r.stdout.trim().split(/\n(?=\{)/).map((s) => JSON.parse(s) as EchoReply);
  t.deepEqual(
    replies.map((x) => [x.method, x.url, x.body]),
    [
      ["POST", "/a", "payload=1"],
      ["GET", "/b", ""],
    ],
  );
});
