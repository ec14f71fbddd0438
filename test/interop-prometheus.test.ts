// A real Prometheus server scrapes Tollgate's admin /stats/prometheus and a counter comes back from its query API
// with Envoy's name and labels: what a dashboard built for Envoy will ask for.
import test from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TollgateServer } from "../proxy/server.js";
import { bootstrapYaml, directResponseHost, freePort, hcmFilter, listener, needsBinary } from "./helpers/e2e.js";

const yaml = bootstrapYaml({
  admin: true,
  listeners: [listener({ name: "web", filters: [hcmFilter({ virtualHosts: [directResponseHost("")] })] })],
});

(needsBinary("prometheus") ? test : test.skip)("Prometheus scrapes Tollgate and queries envoy_http_downstream_rq_xx back", async (t) => {
  const server = new TollgateServer({ source: { yaml }, drainTimeS: 1, argv: [] });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.boundAddresses.get("web")!.port;
  for (let i = 0; i < 7; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.arrayBuffer();
  }
  const dir = mkdtempSync(join(tmpdir(), "tollgate-prom-"));
  const admin = server.adminAddress!;
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
- job_name: tollgate
  metrics_path: /stats/prometheus
  static_configs: [{ targets: ["127.0.0.1:${admin.port}"] }]
`,
  );
  const promPort = await freePort();
  const prom = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: "ignore" },
  );
  t.teardown(() => {
    if (prom.exitCode === null && prom.pid) process.kill(prom.pid, "SIGKILL");
  });
  const query = encodeURIComponent('envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="ingress",envoy_response_code_class="2"}');
  const deadline = Date.now() + 20_000;
  let value: number | null = null;
  let health = "";
  while (Date.now() < deadline && value === null) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ health: string; lastError: string }> } };
      health = targets.data.activeTargets.map((x) => `${x.health} ${x.lastError}`).join("; ");
      const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${query}`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
      if (r.data.result.length > 0) value = Number(r.data.result[0].value[1]);
    } catch {
      // Prometheus is still starting.
    }
  }
  t.is(value, 7, `scrape target: ${health}`);
  t.is(health.split(" ")[0], "up");
});
