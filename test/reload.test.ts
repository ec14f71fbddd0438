// Hot reload is a swap: a good configuration change takes effect for new connections without a restart and
// without closing the listener; a bad one is refused with its path, counted, and changes nothing.
import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { TollgateServer } from "../proxy/server.js";
import { bootstrapYaml, directResponseHost, hcmFilter, listener } from "./helpers/e2e.js";

/** A one-listener bootstrap answering `body`; `unknownField` adds a field Tollgate must refuse. */
function bootstrap(body: string, unknownField?: string): string {
  const doc = parse(bootstrapYaml({ listeners: [listener({ name: "web", filters: [hcmFilter({ virtualHosts: [directResponseHost(body)] })] })] }));
  if (unknownField) doc.static_resources[unknownField] = true;
  return stringify(doc);
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

async function until(pred: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("editing the config file reloads it; the listener keeps its port; a bad edit changes nothing", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-reload-"));
  const file = join(dir, "tollgate.yaml");
  writeFileSync(file, bootstrap("one"));
  const server = new TollgateServer({ source: { path: file }, drainTimeS: 1, argv: [] });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.boundAddresses.get("web")!.port;
  t.is(await get(port), "one");

  writeFileSync(file, bootstrap("two"));
  await until(async () => (await get(port)) === "two");
  t.is(server.boundAddresses.get("web")!.port, port, "same socket: port 0 was not re-bound");
  t.is(server.stats.counter("tollgate.reload.success").value(), 1);

  // An unknown field: refused with its path, counted, and the running configuration keeps answering.
  writeFileSync(file, bootstrap("three", "bogus_field"));
  await until(() => server.stats.counter("tollgate.reload.failure").value() === 1);
  t.is(await get(port), "two");
  t.is(server.stats.counter("tollgate.reload.success").value(), 1);
});

test("reload() swaps in the new configuration and reports success; a reload that cannot load reports failure", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-reload-"));
  const file = join(dir, "tollgate.yaml");
  writeFileSync(file, bootstrap("old"));
  const server = new TollgateServer({ source: { path: file }, drainTimeS: 2, argv: [], watchConfig: false });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.boundAddresses.get("web")!.port;
  writeFileSync(file, bootstrap("new"));
  t.true(await server.reload());
  t.is(await get(port), "new");
  t.false(await new TollgateServer({ source: { path: join(dir, "missing.yaml") }, drainTimeS: 1, argv: [] }).reload());
});

test("50 reloads under a keep-alive load loop: zero failed requests; then a bad reload changes nothing", async (t) => {
  const { Agent } = await import("node:http");
  const dir = mkdtempSync(join(tmpdir(), "tollgate-reload-"));
  const file = join(dir, "tollgate.yaml");
  writeFileSync(file, bootstrap("v0"));
  const server = new TollgateServer({ source: { path: file }, drainTimeS: 5, argv: [], watchConfig: false });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.boundAddresses.get("web")!.port;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const get = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end();
    });
  let failures = 0;
  const errors: string[] = [];
  let ok = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 20_000 && !stop; i++) {
      try {
        await get();
        ok++;
      } catch (err) {
        failures++;
        errors.push((err as Error).message);
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  for (let i = 1; i <= 50; i++) {
    writeFileSync(file, bootstrap(`v${i}`));
    t.true(await server.reload(), `reload ${i}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  t.is(await get(), "v50");
  writeFileSync(file, bootstrap("bad", "nonsense"));
  t.false(await server.reload());
  t.is(await get(), "v50");
  stop = true;
  await Promise.all(workers);
  t.is(failures, 0, errors.slice(0, 5).join("; "));
  t.true(ok > 50);
  t.is(server.stats.counter("tollgate.reload.success").value(), 50);
  t.is(server.stats.counter("tollgate.reload.failure").value(), 1);
});

test("a reload that changes a kept listener's per_connection_buffer_limit_bytes is refused with its path", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-reload-"));
  const file = join(dir, "tollgate.yaml");
  const withLimit = (n: number): string => {
    const doc = parse(bootstrap("same"));
    doc.static_resources.listeners[0].per_connection_buffer_limit_bytes = n;
    return stringify(doc);
  };
  writeFileSync(file, withLimit(65536));
  const server = new TollgateServer({ source: { path: file }, drainTimeS: 1, argv: [], watchConfig: false });
  await server.start();
  t.teardown(() => server.stop());
  writeFileSync(file, withLimit(32768));
  t.false(await server.reload());
  t.is(server.stats.counter("tollgate.reload.failure").value(), 1);
  t.is(await get(server.boundAddresses.get("web")!.port), "same");
});
