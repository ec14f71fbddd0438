// `tollgate explain` as an operator runs it: text for a human, --format json for a script, usage and exit 2 for a
// mistake in the flags, exit 1 for a configuration that does not load.
import test from "ava";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { setLogLevel } from "../proxy/observability/logger.js";
import { runExplain, type ExplainReport } from "../proxy/tools/explain.js";
import { doConfig } from "./explain-fixtures.js";

setLogLevel("error");

const root = fileURLToPath(new URL("..", import.meta.url));

function configFile(t: { teardown(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-explain-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "bootstrap.yaml");
  writeFileSync(path, text);
  return path;
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const code = await runExplain(argv, { stdout, stderr });
  return { code, out, err };
}

test("text: the seven steps in order, then the decision", async (t) => {
  const cfg = configFile(t, doConfig());
  const r = await run(["-c", cfg, "--peer", "10.0.0.5", "--proxy-src", "198.51.100.9", "--path", "/cart", "--host", "shop.example.com"]);
  t.is(r.code, 0, r.err);
  const heads = ["1. Listener and filter chain", "2. Direct peer", "3. PROXY protocol", "4. Trusted client address", "5. Route", "6. RBAC", "7. Local rate limits", "Decision:"];
  let at = -1;
  for (const h of heads) {
    const i = r.out.indexOf(h);
    t.true(i > at, `${h} comes after the previous step`);
    at = i;
  }
  t.regex(r.out, /Request: GET \/cart \(host shop\.example\.com\) from peer 10\.0\.0\.5:0, PROXY source 198\.51\.100\.9:0/);
  t.regex(r.out, /Decision: DENIED: 403 RBAC: access denied; details rbac_access_denied_matched_policy\[none\]/);
});

test("--format json parses and carries the same decision", async (t) => {
  const cfg = configFile(t, doConfig({ hops: 1 }));
  const r = await run(["-c", cfg, "--peer", "10.0.0.5", "--proxy-src", "192.0.2.200", "--xff", "203.0.113.9", "--header", "x-request-id:abc", "--format", "json"]);
  t.is(r.code, 0, r.err);
  const report = JSON.parse(r.out) as ExplainReport;
  t.is(report.http?.client_address.trusted_address, "203.0.113.9");
  t.deepEqual(report.input.headers, [["x-request-id", "abc"]]);
  t.like(report.decision, { outcome: "forwarded" });
});

test("bad flags print usage and exit 2; a configuration that does not load exits 1", async (t) => {
  const cfg = configFile(t, doConfig());
  const cases: Array<[string[], RegExp]> = [
    [["-c", cfg, "--peer", "10.0.0.5", "--bogus"], /Unknown option '--bogus'/],
    [["-c", cfg], /the peer address is required/],
    [["--peer", "10.0.0.5"], /a configuration is required/],
    [["-c", cfg, "--peer", "10.0.0.5", "--format", "yaml"], /--format must be text or json/],
    [["-c", cfg, "--peer", "not-an-ip"], /peer: not an IP address/],
    [["-c", cfg, "--peer", "10.0.0.5:99999"], /the port must be 0 to 65535/],
    [["-c", cfg, "--peer", "10.0.0.5", "--path", "cart"], /origin-form/],
    [["-c", cfg, "--peer", "10.0.0.5", "--header", "no-colon"], /NAME:VALUE/],
    [["-c", cfg, "--peer", "10.0.0.5", "--listener", "other"], /no listener named "other" \(listeners: ingress\)/],
    [["-c", cfg, "--peer", "10.0.0.5", "stray"], /Unexpected argument 'stray'/],
  ];
  for (const [argv, why] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, argv.join(" "));
    t.regex(r.err, why, argv.join(" "));
    t.regex(r.err, /Usage: tollgate explain -c FILE --peer ADDR/, argv.join(" "));
    t.is(r.out, "");
  }
  const broken = configFile(t, "static_resources: { listeners: [{ name: x, nonsense: 1 }] }\n");
  const r = await run(["-c", broken, "--peer", "10.0.0.5"]);
  t.is(r.code, 1);
  t.regex(r.err, /does not load/);
  const help = await run(["--help"]);
  t.is(help.code, 0);
  t.regex(help.out, /Usage: tollgate explain/);
});

test("the tollgate binary dispatches `explain`", async (t) => {
  const cfg = configFile(t, doConfig());
  const child = spawn(process.execPath, ["--import", "tsx", "proxy/cli.ts", "explain", "-c", cfg, "--peer", "10.0.0.5", "--proxy-src", "203.0.113.7", "--format", "json"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TOLLGATE_LOG_LEVEL: "error" },
  });
  t.teardown(() => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const [code] = (await once(child, "exit")) as [number];
  t.is(code, 0, err);
  const report = JSON.parse(out) as ExplainReport;
  t.is(report.http?.filters.find((f) => f.kind === "rbac")?.kind, "rbac");
  t.like(report.decision, { outcome: "forwarded" });
});
