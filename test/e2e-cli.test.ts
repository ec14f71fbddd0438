// End to end: the `tollgate` binary (dist/proxy/cli.js, built by `npm run build`). Every configuration error names the
// field's path and fails the process; a good file prints Envoy's `configuration '<file>' OK`; bad flags print the usage;
// --config-yaml merges over -c; and `serve` runs a bootstrap and logs requests in Envoy's default format on stdout.
import test from "ava";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { bootstrapYaml, echoOf, exchange, get, hcmFilter, listener, proxyProtocolFilter, proxyV1, startEcho, staticCluster, tempDir, type Json } from "./helpers/e2e.js";
import { spawnTollgate } from "./helpers/spawn-tollgate.js";

const CLI = fileURLToPath(new URL("../dist/proxy/cli.js", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000, env: { ...process.env, TOLLGATE_LOG_LEVEL: "error" } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A valid bootstrap: a PROXY listener routing to cluster `backend`. */
function goodDoc(): Record<string, Json> {
  return parse(
    bootstrapYaml({
      listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter()] })],
      clusters: [staticCluster("backend", [8080])],
    }),
  ) as Record<string, Json>;
}

type Doc = { static_resources: { listeners: Array<Record<string, any>>; clusters: Array<Record<string, any>> } }; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only YAML surgery

function variant(mutate: (d: Doc) => void): string {
  const d = goodDoc() as unknown as Doc;
  mutate(d);
  return stringify(d);
}

const badConfigs: Array<{ name: string; yaml: string; path: string; message: RegExp }> = [
  {
    name: "unknown field",
    yaml: variant((d) => (d.static_resources.listeners[0]!.bogus_field = 1)),
    path: "static_resources.listeners[0].bogus_field",
    message: /bogus_field/,
  },
  {
    name: "unknown @type",
    yaml: variant((d) => (d.static_resources.listeners[0]!.listener_filters[0].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.listener.nope.v3.Nope")),
    path: "static_resources.listeners[0].listener_filters[0]",
    message: /envoy\.extensions\.filters\.listener\.nope\.v3\.Nope/,
  },
  {
    name: "unknown cluster in a route",
    yaml: variant((d) => (d.static_resources.clusters[0]!.name = "other")),
    path: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config",
    message: /unknown cluster 'backend'/,
  },
  {
    name: "duplicate listener name",
    yaml: variant((d) => {
      const second = structuredClone(d.static_resources.listeners[0]!);
      second.address.socket_address.address = "127.0.0.2";
      d.static_resources.listeners.push(second);
    }),
    path: "static_resources.listeners[1].name",
    message: /duplicate listener name 'ingress'/,
  },
  {
    name: "bad duration",
    yaml: variant((d) => (d.static_resources.listeners[0]!.listener_filters_timeout = "5 seconds")),
    path: "static_resources.listeners[0].listener_filters_timeout",
    message: /listener_filters_timeout/,
  },
  {
    name: "disallowed_versions both",
    yaml: variant((d) => (d.static_resources.listeners[0]!.listener_filters[0].typed_config.disallowed_versions = ["V1", "V2"])),
    path: "static_resources.listeners[0].listener_filters[0].typed_config.disallowed_versions",
    message: /disallowed_versions/,
  },
];

for (const bad of badConfigs) {
  test(`--mode validate refuses a config with ${bad.name}, naming the field path`, async (t) => {
    const file = join(tempDir(t), "bad.yaml");
    writeFileSync(file, bad.yaml);
    const r = await run(["--mode", "validate", "-c", file]);
    t.not(r.code, 0);
    t.true(r.stderr.includes(bad.path), `stderr should name ${bad.path}:\n${r.stderr}`);
    t.regex(r.stderr, bad.message);
    t.false(r.stdout.includes("OK"));
  });
}

test("--mode validate accepts a good config with Envoy's message", async (t) => {
  const file = join(tempDir(t), "good.yaml");
  writeFileSync(file, stringify(goodDoc()));
  const r = await run(["--mode", "validate", "-c", file]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `configuration '${file}' OK\n`);
});

test("an unknown flag prints the usage and fails", async (t) => {
  const r = await run(["--no-such-flag", "-c", "x.yaml"]);
  t.not(r.code, 0);
  t.regex(r.stderr, /no-such-flag/);
  t.regex(r.stderr, /Usage:/);
  const m = await run(["--mode", "frobnicate", "-c", "x.yaml"]);
  t.not(m.code, 0);
  t.regex(m.stderr, /Usage:/);
});

test("--config-yaml is merged over -c (repeated fields appended, fields of messages merged)", async (t) => {
  const dir = tempDir(t);
  // The file routes to `backend` but does not define it: invalid on its own.
  const file = join(dir, "base.yaml");
  writeFileSync(file, variant((d) => (d.static_resources.clusters = [])));
  const alone = await run(["--mode", "validate", "-c", file]);
  t.not(alone.code, 0);
  t.regex(alone.stderr, /unknown cluster 'backend'/);
  // The overlay supplies the cluster: the merged bootstrap is valid.
  const overlay = stringify({ static_resources: { clusters: [staticCluster("backend", [8080])] } });
  const merged = await run(["--mode", "validate", "-c", file, "--config-yaml", overlay]);
  t.is(merged.code, 0, merged.stderr);
  t.regex(merged.stdout, /OK/);
  // An overlay can also break a good file: its error is reported with the merged path.
  const good = join(dir, "good.yaml");
  writeFileSync(good, stringify(goodDoc()));
  const breaking = await run(["--mode", "validate", "-c", good, "--config-yaml", stringify({ static_resources: { clusters: [{ name: "backend" }] } })]);
  t.not(breaking.code, 0);
  t.regex(breaking.stderr, /static_resources\.clusters\[1\]/);
});

test("serve: the binary proxies a PROXY-protocol request and logs it in Envoy's default format on stdout", async (t) => {
  const echo = await startEcho(t);
  const file = join(tempDir(t), "serve.yaml");
  writeFileSync(
    file,
    bootstrapYaml({
      admin: true,
      listeners: [
        listener({
          listenerFilters: [proxyProtocolFilter()],
          filters: [
            hcmFilter({
              extra: {
                access_log: [
                  { name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" } },
                ],
              },
            }),
          ],
        }),
      ],
      clusters: [staticCluster("backend", [echo.port])],
    }),
  );
  const tg = await spawnTollgate(t, ["-c", file, "--drain-time-s", "0"]);
  const port = tg.listeners.ingress!.port;
  const r = await exchange(t, port, Buffer.concat([proxyV1("203.0.113.200", "192.0.2.1"), Buffer.from(get("/served", { "user-agent": "e2e" }))]));
  t.is(r.status, 200);
  t.is(echoOf(r).headers["x-forwarded-for"], "203.0.113.200");
  const line = await tg.waitForStdout(/"GET \/served HTTP\/1\.1"/);
  t.regex(
    line,
    new RegExp(
      String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /served HTTP/1\.1" 200 - 0 \d+ \d+ \d+ "203\.0\.113\.200" "e2e" "[0-9a-f-]{36}" "example\.com" "127\.0\.0\.1:${echo.port}"$`,
    ),
  );
  // SIGTERM drains (0 s here) and exits cleanly.
  const exited = new Promise<number | null>((resolve) => tg.proc.once("exit", (code) => resolve(code)));
  process.kill(tg.proc.pid!, "SIGTERM");
  t.is(await exited, 0);
});
