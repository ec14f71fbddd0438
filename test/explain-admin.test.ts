// GET /rbac/explain on a running TollgateServer: the same JSON as the CLI, bound to the configuration running now
// (a reload changes it), and — the point of the tool — the decision it explains is the one a real request gets.
import test, { type ExecutionContext } from "ava";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { FakeClock, useRateLimitClock } from "../proxy/filters/common/ratelimit/clock.js";
import { TollgateServer } from "../proxy/server.js";
import { runExplain, type ExplainReport } from "../proxy/tools/explain.js";
import { get, openConnection, proxyV2, startEcho } from "./helpers/e2e.js";
import { doConfig, type DoOptions } from "./explain-fixtures.js";

// Every limiter built in this file (test files run in their own process) reads this clock: no refill between
// requests, so the rate-limit case is exact.
const clock = new FakeClock(1000);
useRateLimitClock(clock);

function tempFile(t: { teardown(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-explain-admin-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "bootstrap.yaml");
  writeFileSync(path, text);
  return path;
}

async function startServer(t: { teardown(fn: () => Promise<void> | void): void }, path: string): Promise<TollgateServer> {
  const server = new TollgateServer({ source: { path }, drainTimeS: 0, argv: [], watchConfig: false });
  t.teardown(() => server.stop());
  await server.start();
  return server;
}

async function adminExplain(server: TollgateServer, query: Record<string, string>): Promise<{ status: number; body: string }> {
  const a = server.adminAddress!;
  // %20 for spaces: an admin query keeps '+' as it is (Envoy's parseAndDecodeQueryString), so URLSearchParams's '+' would not do.
  const qs = Object.entries(query).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const res = await fetch(`http://127.0.0.1:${a.port}/rbac/explain?${qs}`);
  return { status: res.status, body: await res.text() };
}

async function cliJson(configPath: string, argv: string[]): Promise<unknown> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  const code = await runExplain(["-c", configPath, ...argv, "--format", "json"], { stdout, stderr });
  if (code !== 0) throw new Error(`explain exited ${code}`);
  return JSON.parse(out);
}

test("the admin endpoint returns the CLI's JSON, refuses bad input with 400, and follows a reload", async (t) => {
  const path = tempFile(t, doConfig({ admin: true }));
  const server = await startServer(t, path);
  const query = { peer: "10.0.0.5", proxy_src: "203.0.113.7", xff: "192.0.2.1", path: "/cart", host: "shop.example.com", header: "x-a:1\nx-b:2" };
  const r = await adminExplain(server, query);
  t.is(r.status, 200);
  const fromAdmin = JSON.parse(r.body) as ExplainReport;
  const fromCli = await cliJson(path, ["--peer", "10.0.0.5", "--proxy-src", "203.0.113.7", "--xff", "192.0.2.1", "--path", "/cart", "--host", "shop.example.com", "--header", "x-a:1", "--header", "x-b:2"]);
  t.deepEqual(fromAdmin, fromCli);
  t.is(fromAdmin.decision.outcome, "forwarded");

  const bad = await adminExplain(server, { proxy_src: "203.0.113.7" });
  t.is(bad.status, 400);
  t.regex(bad.body, /the peer address is required/);
  t.is((await adminExplain(server, { peer: "10.0.0.5", listener: "nope" })).status, 400);
  const help = await (await fetch(`http://127.0.0.1:${server.adminAddress!.port}/help`)).text();
  t.regex(help, /\/rbac\/explain: explain what the running configuration would do/);

  // A reload that drops 203.0.113.0/24 from the allowlist: the endpoint explains the new configuration.
  writeFileSync(
    path,
    doConfig({ admin: true, policies: { office: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: "198.51.100.0", prefix_len: 24 } }] } } }),
  );
  t.true(await server.reload());
  const after = JSON.parse((await adminExplain(server, query)).body) as ExplainReport;
  t.like(after.decision, { outcome: "denied", status: 403, details: "rbac_access_denied_matched_policy[none]" });
});

interface Case {
  label: string;
  /** PROXY source; null: no header. */
  src: string | null;
  xff?: string;
  /** What explain must say. */
  outcome: ExplainReport["decision"]["outcome"];
}

/** What a real request gets: its status, or "closed" when the connection ends without a response. */
async function realOutcome(t: ExecutionContext, port: number, c: Case): Promise<number | "closed"> {
  const conn = await openConnection(t, port);
  const head = c.src === null ? Buffer.alloc(0) : proxyV2(c.src, "127.0.0.1", 40000, 443);
  await conn.write(Buffer.concat([head, Buffer.from(get("/", c.xff ? { "x-forwarded-for": c.xff } : {}, "shop.example.com"))]));
  try {
    return (await conn.response()).status;
  } catch (err) {
    // Closed without a byte of response (what a closed connection looks like to the client); anything else is a failure.
    if (conn.pending.length === 0) return "closed";
    throw err;
  } finally {
    conn.destroy();
  }
}

const EXPECTED_STATUS: Record<ExplainReport["decision"]["outcome"], number | "closed" | null> = {
  forwarded: 200, // the echo upstream answers 200
  denied: 403,
  rate_limited: 429,
  closed: "closed",
  local_reply: null, // the decision's own status
};

for (const [title, opts, cases] of [
  [
    "hops 0",
    { hops: 0 },
    [
      { label: "allowlisted client", src: "203.0.113.7", outcome: "forwarded" },
      { label: "client outside the list", src: "198.51.100.9", outcome: "denied" },
      { label: "outside, claiming an allowlisted address in XFF", src: "198.51.100.9", xff: "203.0.113.7", outcome: "denied" },
      { label: "no PROXY header where one is required", src: null, outcome: "closed" },
      { label: "allowlisted, 1st request of 2", src: "203.0.113.20", outcome: "forwarded" },
      { label: "allowlisted, 2nd request of 2", src: "203.0.113.20", outcome: "forwarded" },
      { label: "allowlisted, over the per-client limit", src: "203.0.113.20", outcome: "rate_limited" },
    ],
  ],
  [
    "hops 1 (a CDN in front)",
    { hops: 1 },
    [
      { label: "CDN edge, allowlisted client in XFF", src: "192.0.2.200", xff: "198.51.100.250, 203.0.113.9", outcome: "forwarded" },
      { label: "CDN edge, other client in XFF", src: "192.0.2.200", xff: "203.0.113.9, 198.51.100.250", outcome: "denied" },
      { label: "allowlisted edge, no XFF", src: "203.0.113.30", outcome: "forwarded" },
    ],
  ],
  ["a peer outside trusted_sources", { trusted: ["10.0.0.0/8"] }, [{ label: "loopback peer, not trusted", src: "203.0.113.7", outcome: "closed" }]],
] as Array<[string, DoOptions, Case[]]>) {
  test(`consistency (${title}): the explained decision is what a real request through the server gets`, async (t) => {
    const echo = await startEcho(t);
    const path = tempFile(
      t,
      doConfig({ trusted: ["127.0.0.0/8", "10.0.0.0/8"], ...opts, admin: true, backendPort: echo.port, clientBucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: "3600s" } }),
    );
    const server = await startServer(t, path);
    const port = server.boundAddresses.get("ingress")!.port;
    for (const c of cases) {
      const query: Record<string, string> = { peer: "127.0.0.1", host: "shop.example.com" };
      if (c.src !== null) query.proxy_src = c.src;
      if (c.xff !== undefined) query.xff = c.xff;
      const explained = JSON.parse((await adminExplain(server, query)).body) as ExplainReport;
      t.is(explained.decision.outcome, c.outcome, `${c.label}: ${explained.decision.summary}`);
      const expected = EXPECTED_STATUS[explained.decision.outcome] ?? explained.decision.status;
      const real = await realOutcome(t, port, c);
      t.is<number | "closed" | null, number | "closed" | null>(real, expected, `${c.label}: explained ${explained.decision.outcome} (${explained.decision.summary})`);
    }
  });
}
