// Rolling an ingress without failed requests: HAProxy stands in for the cloud LB (PROXY v2 to the targets, health
// checks on the admin /ready), two Tollgate processes serve behind it, a bounded load loop runs through HAProxy,
// and one Tollgate is sent SIGTERM. /ready turns 503 at once, the LB moves traffic to the other instance during the
// grace period, in-flight requests finish, the process exits 0 — and not one request fails.
import test from "ava";
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { bootstrapYaml, directResponseHost, freePort, hcmFilter, listener, needsBinary, proxyProtocolFilter } from "./helpers/e2e.js";
import { spawnTollgate, writeTemp } from "./helpers/spawn-tollgate.js";

function bootstrap(name: string, port: number, adminPort: number): string {
  const l = listener({ name: "web", listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter({ virtualHosts: [directResponseHost(name)] })] }) as { address: unknown };
  l.address = { socket_address: { address: "127.0.0.1", port_value: port } };
  const doc = parse(bootstrapYaml({ listeners: [l as never] }));
  doc.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  return stringify(doc);
}

(needsBinary("haproxy") ? test : test.skip)("SIGTERM drains one instance behind a load balancer with zero failed requests", async (t) => {
  const [pa, aa, pb, ab, lb] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const a = await spawnTollgate(t, ["-c", writeTemp("a.yaml", bootstrap("a", pa, aa)), "--drain-time-s", "4"]);
  await spawnTollgate(t, ["-c", writeTemp("b.yaml", bootstrap("b", pb, ab)), "--drain-time-s", "4"]);
  const dir = mkdtempSync(join(tmpdir(), "tollgate-haproxy-"));
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    `global
  maxconn 256
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
  retries 3
  option redispatch
frontend fe
  bind 127.0.0.1:${lb}
  default_backend be
backend be
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
  server a 127.0.0.1:${pa} send-proxy-v2 check port ${aa} inter 100ms fall 1 rise 1
  server b 127.0.0.1:${pb} send-proxy-v2 check port ${ab} inter 100ms fall 1 rise 1
`,
  );
  const hap = spawn("haproxy", ["-f", cfg, "-db"], { stdio: "ignore" });
  t.teardown(() => {
    if (hap.exitCode === null && hap.pid) process.kill(hap.pid, "SIGKILL");
  });

  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const get = (): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: lb, path: "/", agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  // Wait until the LB sees both instances up.
  const served = new Set<string>();
  for (let i = 0; i < 200 && served.size < 2; i++) {
    try {
      const r = await get();
      if (r.status === 200) served.add(r.body);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.deepEqual([...served].sort(), ["a", "b"]);

  let failures = 0;
  const failureSamples: string[] = [];
  const byInstance: Record<string, number> = { a: 0, b: 0 };
  let aExited: number | null = null;
  const aDone = new Promise<void>((resolve) => a.proc.once("exit", (code) => ((aExited = code ?? -1), resolve())));
  let stop = false;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 5000 && !stop; i++) {
      try {
        const r = await get();
        if (r.status !== 200) {
          failures++;
          failureSamples.push(`status ${r.status}`);
        } else byInstance[r.body]++;
      } catch (err) {
        failures++;
        failureSamples.push((err as Error).message);
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  await new Promise((r) => setTimeout(r, 300));
  process.kill(a.proc.pid!, "SIGTERM");
  const bound = setTimeout(() => (stop = true), 20_000);
  await aDone;
  await new Promise((r) => setTimeout(r, 300)); // keep the load on b after a is gone
  stop = true;
  clearTimeout(bound);
  await Promise.all(workers);
  t.is(aExited, 0, "the drained instance exits cleanly");
  t.is(failures, 0, failureSamples.slice(0, 5).join("; "));
  t.true(byInstance.a > 0 && byInstance.b > 0, JSON.stringify(byInstance));
});
