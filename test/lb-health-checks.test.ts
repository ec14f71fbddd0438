// The Tollgate side of each cloud load balancer's health checks and traffic, run against the SHIPPED overlay
// bootstraps (k8s/overlays/<cloud>/tollgate.yaml): what DigitalOcean's LB, the AWS NLB and the AWS CLB send, byte for
// byte, and what Tollgate answers, counts and logs. docs/deploy-digitalocean.md and docs/deploy-aws.md (section 5,
// "Health checks") point here.
//
// Each bootstrap is staged as the pod sees it (test/k8s.test.ts does the same): the shipped allowlist.txt beside it
// in a temp dir, /etc/tollgate/ rewritten to that dir. Then only what a loopback test must change: listener and admin
// addresses to 127.0.0.1:0, the cluster's endpoint to a local echo upstream, and, where the test client plays the
// LB, 127.0.0.0/8 added to trusted_sources. In-process servers write the access log to a file (same format) instead
// of stdout; the cases that read the real stdout access log or send SIGTERM run the built binary (dist/proxy/cli.js).
import test from "ava";
import type { ExecutionContext } from "ava";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import {
  echoOf, exchange, get, openConnection, proxyV1, proxyV2, readAccessLogLines, startEcho, startTollgate, tempDir,
  withTimeout, type RawConnection, type RunningTollgate,
} from "./helpers/e2e.js";
import { encodeV2 } from "./helpers/proxy-encoder.js";
import { spawnTollgate } from "./helpers/spawn-tollgate.js";

type T = ExecutionContext<unknown>;

const k8s = fileURLToPath(new URL("../k8s/", import.meta.url));
const ALLOWLIST_PATH = "/etc/tollgate/allowlist.txt";

type Overlay = "digitalocean" | "aws-nlb" | "aws-clb";
/** Each overlay's stat_prefix on the `http` listener's proxy_protocol filter. */
const PREFIX: Record<Overlay, string> = { digitalocean: "do_lb_http", "aws-nlb": "aws_nlb_http", "aws-clb": "aws_clb_http" };

// ---- staging the shipped bootstrap ----------------------------------------------------------------------------------

interface SocketAddress { address: string; port_value: number }
interface TypedFilter { name: string; typed_config: Record<string, unknown> }
interface AccessLogEntry { name: string; typed_config: { "@type": string; path?: string; log_format: unknown } }
interface Bootstrap {
  admin: { address: { socket_address: SocketAddress } };
  static_resources: {
    listeners: {
      name: string;
      address: { socket_address: SocketAddress };
      listener_filters: TypedFilter[];
      filter_chains: { filters: { name: string; typed_config: { access_log: AccessLogEntry[] } }[] }[];
    }[];
    clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: SocketAddress } } }[] }[] } }[];
  };
}

interface StageOptions {
  /** The test client (loopback) plays the LB: add 127.0.0.0/8 to trusted_sources. */
  trustLoopback?: boolean;
  /** The migration variant: allow_requests_without_proxy_protocol: true. */
  allowWithoutProxy?: boolean;
  /** Write the access log to this dir's access.log (same format) instead of stdout. */
  accessLogToFile?: boolean;
}

const STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

/** The overlay's bootstrap staged in a temp dir with the shipped allowlist beside it; returns its path. */
function stageOverlay(t: T, overlay: Overlay, upstreamPort: number, o: StageOptions = {}): { path: string; accessLog: string } {
  const text = readFileSync(join(k8s, "overlays", overlay, "tollgate.yaml"), "utf8");
  t.true(text.includes(ALLOWLIST_PATH), `${overlay}: the bootstrap names ${ALLOWLIST_PATH}`);
  const dir = tempDir(t, "tollgate-lb-");
  writeFileSync(join(dir, "allowlist.txt"), readFileSync(join(k8s, "base", "allowlist.txt")));
  const doc = parse(text.split("/etc/tollgate/").join(`${dir}/`)) as Bootstrap;
  const accessLog = join(dir, "access.log");
  const local = (): SocketAddress => ({ address: "127.0.0.1", port_value: 0 });
  doc.admin.address.socket_address = local();
  for (const l of doc.static_resources.listeners) {
    l.address.socket_address = local();
    for (const f of l.listener_filters) {
      const pp = f.typed_config;
      if (o.trustLoopback) (pp.trusted_sources as string[]).push("127.0.0.0/8");
      if (o.allowWithoutProxy) pp.allow_requests_without_proxy_protocol = true;
    }
    for (const chain of l.filter_chains) {
      for (const f of chain.filters) {
        for (const log of f.typed_config.access_log) {
          if (!o.accessLogToFile) continue;
          if (log.typed_config["@type"] !== STDOUT_LOG) throw new Error(`${overlay}: expected a stdout access log, got ${log.typed_config["@type"]}`);
          log.name = "envoy.access_loggers.file";
          log.typed_config = { "@type": FILE_LOG, path: accessLog, log_format: log.typed_config.log_format };
        }
      }
    }
  }
  for (const c of doc.static_resources.clusters) {
    for (const e of c.load_assignment.endpoints) {
      for (const lb of e.lb_endpoints) lb.endpoint.address.socket_address = { address: "127.0.0.1", port_value: upstreamPort };
    }
  }
  const path = join(dir, "tollgate.yaml");
  writeFileSync(path, stringify(doc));
  return { path, accessLog };
}

/** An echo upstream and the overlay's bootstrap, in-process, its access log in a file. */
async function runOverlay(t: T, overlay: Overlay, o: StageOptions = {}): Promise<RunningTollgate & { accessLog: string }> {
  const echo = await startEcho(t);
  const staged = stageOverlay(t, overlay, echo.port, { accessLogToFile: true, ...o });
  return Object.assign(await startTollgate(t, { path: staged.path }), { accessLog: staged.accessLog });
}

// ---- what the wire and the stats show -------------------------------------------------------------------------------

/** A counter that must exist (created at config time): reading an unknown name would make a 0 that proves nothing. */
function counter(tg: RunningTollgate, name: string): number {
  for (const c of tg.server.stats.allCounters()) if (c.id.name === name) return c.value();
  throw new Error(`no counter named ${name}`);
}

/**
 * Every counter that says something went wrong and is not zero: the "closed quietly" cases expect none, the refusal
 * cases exactly the ones Envoy counts.
 */
function problemCounters(tg: RunningTollgate): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of tg.server.stats.allCounters()) {
    if (/error|timeout|disallowed|refused|denied|fail|reset|overflow|rate_limited|no_route|no_cluster/.test(c.id.name) && c.value() > 0) out[c.id.name] = c.value();
  }
  return out;
}

/** The v2 header an NLB health check sends: LOCAL, no addresses (`0d0a0d0a000d0a515549540a 20 00 0000`). */
const V2_LOCAL = Buffer.from("0d0a0d0a000d0a515549540a" + "20" + "00" + "0000", "hex");
/** The v2 PROXY command with AF_UNSPEC (`21 00`), which Envoy refuses. */
const V2_PROXY_UNSPEC = Buffer.from("0d0a0d0a000d0a515549540a" + "21" + "00" + "0000", "hex");
/** The v1 line DigitalOcean's LB (and a CLB) sends. */
const DO_V1 = "PROXY TCP4 203.0.113.60 10.110.0.4 51234 80\r\n";
const GET = get("/", { "user-agent": "lb-health-checks" }, "app.example.com");

/** Send `bytes`, half-close (FIN), and return everything Tollgate sent before it closed. */
async function sendThenFin(t: T, port: number, bytes: Buffer | string): Promise<{ conn: RawConnection; answered: Buffer }> {
  const conn = await openConnection(t, port);
  if (bytes.length > 0) await conn.write(bytes);
  conn.end();
  const answered = await conn.readToEnd(10_000);
  return { conn, answered };
}

// ---- 1. DigitalOcean: traffic ---------------------------------------------------------------------------------------

test("DigitalOcean: the LB's v1 line then GET / is served; the upstream's X-Forwarded-For and the stdout access log show the client", async (t) => {
  const echo = await startEcho(t);
  const tg = await spawnTollgate(t, ["-c", stageOverlay(t, "digitalocean", echo.port, { trustLoopback: true }).path]);
  const conn = await openConnection(t, tg.listeners.http!.port);
  await conn.write(DO_V1 + GET);
  const r = await conn.response();
  t.is(r.status, 200);
  const seen = echoOf(r);
  t.is(seen.headers["x-forwarded-for"], "203.0.113.60");
  t.is(seen.headers["x-envoy-external-address"], "203.0.113.60");
  const line = await tg.waitForStdout(/lb-health-checks/);
  t.regex(line, /"GET \/ HTTP\/1\.1" 200 - 0 \d+ \d+ \d+ "203\.0\.113\.60" "lb-health-checks" "[0-9a-f-]{36}" "app\.example\.com" "127\.0\.0\.1:\d+" client=203\.0\.113\.60 peer=127\.0\.0\.1$/);
});

// ---- 2, 3, 4. DigitalOcean (overridden check) and CLB: quiet checks -------------------------------------------------

for (const overlay of ["digitalocean", "aws-clb"] as const) {
  const p = PREFIX[overlay];

  test(`${overlay}: a TCP check that sends the v1 line then FIN is closed quietly: no bytes back, only found counted`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const { conn, answered } = await sendThenFin(t, tg.port("http"), DO_V1);
    t.is(answered.length, 0, answered.toString("latin1"));
    t.false(conn.errored, "closed with a FIN, not a reset");
    t.is(counter(tg, `proxy_proto.${p}.versions.v1.found`), 1);
    t.is(counter(tg, "http.ingress_http.downstream_rq_total"), 0);
    t.deepEqual(problemCounters(tg), {});
  });

  test(`${overlay}: PROXY UNKNOWN then GET is served with the socket's addresses`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const conn = await openConnection(t, tg.port("http"));
    await conn.write(`PROXY UNKNOWN\r\n${GET}`);
    const r = await conn.response();
    t.is(r.status, 200);
    // The client is the TCP peer. (X-Forwarded-For gets this host's address instead: Envoy appends its own local
    // address when the peer is loopback.)
    t.is(echoOf(r).headers["x-envoy-external-address"], "127.0.0.1");
    const [line] = await readAccessLogLines(tg.accessLog, 1);
    t.regex(line!, / client=127\.0\.0\.1 peer=127\.0\.0\.1$/);
    t.is(counter(tg, `proxy_proto.${p}.versions.v1.found`), 1);
    t.deepEqual(problemCounters(tg), {});
  });

  test(`${overlay}: a TCP check that connects and closes without a byte is closed at once, not by the listener timeout`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const { conn, answered } = await sendThenFin(t, tg.port("http"), "");
    t.is(answered.length, 0);
    t.false(conn.errored);
    // Closed because the peer closed: a close by the 5 s listener_filters_timeout would have counted this.
    t.is(preCxTimeouts(tg), 0);
    t.deepEqual(problemCounters(tg), {});
    // Envoy counts a peer that closes while the listener filters wait for bytes.
    // (The listener is bound to 127.0.0.1:0 here, which names its stats.)
    t.is(tg.stat("listener.127.0.0.1_0.downstream_listener_filter_remote_close"), 1);
  });

  test(`${overlay}: a v2 header is closed as a disallowed version`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const { answered } = await sendThenFin(t, tg.port("http"), Buffer.concat([proxyV2("203.0.113.60", "10.110.0.4", 51234, 80), Buffer.from(GET)]));
    t.is(answered.length, 0);
    t.is(counter(tg, `proxy_proto.${p}.versions.v2.found`), 1);
    t.deepEqual(problemCounters(tg), { [`proxy_proto.${p}.versions.v2.disallowed`]: 1 });
  });
}

/** downstream_pre_cx_timeout summed over the listeners (each named listener.<address>_<port>.); they must exist. */
function preCxTimeouts(tg: RunningTollgate): number {
  const found = [...tg.server.stats.allCounters()].filter((c) => c.id.name.endsWith(".downstream_pre_cx_timeout"));
  if (found.length === 0) throw new Error("no downstream_pre_cx_timeout counter");
  return found.reduce((n, c) => n + c.value(), 0);
}

// ---- 5, 6, 7, 8. AWS NLB: PROXY v2 --------------------------------------------------------------------------------

const NLB = PREFIX["aws-nlb"];

test("aws-nlb: a v1 line is closed as a disallowed version (the NLB speaks v2 only)", async (t) => {
  const tg = await runOverlay(t, "aws-nlb", { trustLoopback: true });
  const { answered } = await sendThenFin(t, tg.port("http"), DO_V1 + GET);
  t.is(answered.length, 0);
  t.is(counter(tg, `proxy_proto.${NLB}.versions.v1.found`), 1);
  t.deepEqual(problemCounters(tg), { [`proxy_proto.${NLB}.versions.v1.disallowed`]: 1 });
});

test("aws-nlb: the health check's v2 LOCAL header then FIN is accepted and closed quietly", async (t) => {
  const tg = await runOverlay(t, "aws-nlb", { trustLoopback: true });
  const { conn, answered } = await sendThenFin(t, tg.port("http"), V2_LOCAL);
  t.is(answered.length, 0, answered.toString("latin1"));
  t.false(conn.errored, "closed with a FIN, not a reset");
  t.is(counter(tg, `proxy_proto.${NLB}.versions.v2.found`), 1);
  t.is(counter(tg, "http.ingress_http.downstream_rq_total"), 0);
  t.deepEqual(problemCounters(tg), {});
});

test("aws-nlb: v2 LOCAL then GET is served with the socket's addresses", async (t) => {
  const tg = await runOverlay(t, "aws-nlb", { trustLoopback: true });
  const conn = await openConnection(t, tg.port("http"));
  await conn.write(Buffer.concat([V2_LOCAL, Buffer.from(GET)]));
  const r = await conn.response();
  t.is(r.status, 200);
  t.is(echoOf(r).headers["x-envoy-external-address"], "127.0.0.1");
  const [line] = await readAccessLogLines(tg.accessLog, 1);
  t.regex(line!, / client=127\.0\.0\.1 peer=127\.0\.0\.1 vpce=-$/);
  t.deepEqual(problemCounters(tg), {});
});

test("aws-nlb: the VPC endpoint id from TLV 0xEA is in the stdout access log's vpce= field, and '-' without the TLV", async (t) => {
  const echo = await startEcho(t);
  const tg = await spawnTollgate(t, ["-c", stageOverlay(t, "aws-nlb", echo.port, { trustLoopback: true }).path]);
  const port = tg.listeners.http!.port;
  const vpce = Buffer.concat([Buffer.of(0x01), Buffer.from("vpce-0a1b2c3d4e5f67890", "latin1")]);
  const withTlv = encodeV2({
    family: "TCP4", src: Uint8Array.of(203, 0, 113, 60), dst: Uint8Array.of(10, 0, 1, 23), srcPort: 51234, dstPort: 10000,
    tlvs: [{ type: 0xea, value: vpce }],
  });
  const a = await exchange(t, port, Buffer.concat([withTlv, Buffer.from(get("/privatelink"))]));
  t.is(a.status, 200);
  t.is(echoOf(a).headers["x-forwarded-for"], "203.0.113.60");
  const b = await exchange(t, port, Buffer.concat([proxyV2("203.0.113.61", "10.0.1.23", 51235, 10000), Buffer.from(get("/public"))]));
  t.is(b.status, 200);
  // The value is the TLV's bytes as sent, AWS's subtype byte 0x01 included (docs/deploy-aws.md).
  t.regex(await tg.waitForStdout(/GET \/privatelink /), / client=203\.0\.113\.60 peer=127\.0\.0\.1 vpce=\x01vpce-0a1b2c3d4e5f67890$/);
  t.regex(await tg.waitForStdout(/GET \/public /), / client=203\.0\.113\.61 peer=127\.0\.0\.1 vpce=-$/);
});

test("aws-nlb: a v2 PROXY command with AF_UNSPEC is refused and counted as an error, as Envoy does", async (t) => {
  const tg = await runOverlay(t, "aws-nlb", { trustLoopback: true });
  const { answered } = await sendThenFin(t, tg.port("http"), Buffer.concat([V2_PROXY_UNSPEC, Buffer.from(GET)]));
  t.is(answered.length, 0);
  // Envoy fails the header while reading it (no address length for AF_UNSPEC): error, never found.
  t.is(counter(tg, `proxy_proto.${NLB}.versions.v2.found`), 0);
  t.deepEqual(problemCounters(tg), { downstream_cx_proxy_proto_error: 1, [`proxy_proto.${NLB}.versions.v2.error`]: 1 });
});

// ---- 9. Who may send a header, and who must -------------------------------------------------------------------------

const HEADER: Record<Overlay, () => Buffer> = {
  digitalocean: () => proxyV1("203.0.113.60", "10.110.0.4", 51234, 80),
  "aws-clb": () => proxyV1("203.0.113.60", "10.0.1.23", 51234, 80),
  "aws-nlb": () => proxyV2("203.0.113.60", "10.0.1.23", 51234, 10000),
};

for (const overlay of ["digitalocean", "aws-nlb", "aws-clb"] as const) {
  const p = PREFIX[overlay];

  test(`${overlay}: a trusted peer without a header is closed (not_found_disallowed)`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const { answered } = await sendThenFin(t, tg.port("http"), GET);
    t.is(answered.length, 0);
    t.deepEqual(problemCounters(tg), { downstream_cx_proxy_proto_error: 1, [`proxy_proto.${p}.not_found_disallowed`]: 1 });
  });

  test(`${overlay}: as shipped, a peer outside trusted_sources is refused, even with a well-formed header`, async (t) => {
    const tg = await runOverlay(t, overlay);
    for (const bytes of [Buffer.from(GET), Buffer.concat([HEADER[overlay](), Buffer.from(GET)])]) {
      const { answered } = await sendThenFin(t, tg.port("http"), bytes);
      t.is(answered.length, 0);
    }
    t.is(counter(tg, `proxy_proto.${p}.untrusted_source_refused`), 2);
    t.is(counter(tg, "http.ingress_http.downstream_rq_total"), 0);
  });

  test(`${overlay}: with allow_requests_without_proxy_protocol, an untrusted peer is served plain with its socket address and cannot claim another`, async (t) => {
    const tg = await runOverlay(t, overlay, { allowWithoutProxy: true });
    const conn = await openConnection(t, tg.port("http"));
    await conn.write(GET);
    const r = await conn.response();
    t.is(r.status, 200);
    t.is(echoOf(r).headers["x-envoy-external-address"], "127.0.0.1");
    t.regex((await readAccessLogLines(tg.accessLog, 1))[0]!, / client=127\.0\.0\.1 peer=127\.0\.0\.1( vpce=-)?$/);
    // The header it sends is not parsed: it reaches the HTTP codec as data, which refuses it.
    const spoof = await exchange(t, tg.port("http"), Buffer.concat([HEADER[overlay](), Buffer.from(GET)]));
    t.is(spoof.status, 400);
    t.is(counter(tg, `proxy_proto.${p}.untrusted_source_plain`), 2);
    t.is(counter(tg, `proxy_proto.${p}.versions.${overlay === "aws-nlb" ? "v2" : "v1"}.found`), 0);
  });
}

// ---- 10. Exactly one header ----------------------------------------------------------------------------------------

for (const overlay of ["digitalocean", "aws-nlb"] as const) {
  test(`${overlay}: a second PROXY header after the first is HTTP data, answered 400`, async (t) => {
    const tg = await runOverlay(t, overlay, { trustLoopback: true });
    const second = overlay === "aws-nlb" ? proxyV2("198.51.100.7", "10.0.1.23", 40000, 10000) : proxyV1("198.51.100.7", "10.110.0.4", 40000, 80);
    const r = await exchange(t, tg.port("http"), Buffer.concat([HEADER[overlay](), second, Buffer.from(GET)]));
    t.is(r.status, 400);
    // As in Envoy, the codec error is a request (downstream_rq_4xx) that never reaches the upstream.
    t.is(counter(tg, "http.ingress_http.downstream_rq_4xx"), 1);
    t.is(counter(tg, "cluster.backend.upstream_rq_total"), 0);
  });
}

// ---- 11. The admin port: probes and drain ----------------------------------------------------------------------------

test("admin: /ready is 200 LIVE, then 503 DRAINING after SIGTERM while /server_info stays 200; a PROXY line there is HTTP", async (t) => {
  const echo = await startEcho(t);
  const tg = await spawnTollgate(t, ["-c", stageOverlay(t, "digitalocean", echo.port, { trustLoopback: true }).path, "--drain-time-s", "6"]);
  const admin = tg.admin!.port;
  const ready = await exchange(t, admin, get("/ready"));
  t.is(ready.status, 200);
  t.is(ready.body.toString(), "LIVE\n");

  // The admin listener never reads PROXY: the line is an HTTP request line with an unknown method.
  const pp = await openConnection(t, admin);
  await pp.write(DO_V1 + get("/ready"));
  const refused = await pp.response();
  t.is(refused.status, 400);
  t.is((await exchange(t, admin, get("/ready"))).status, 200, "the admin still answers");

  process.kill(tg.proc.pid!, "SIGTERM");
  await tg.waitForStderr(/"msg":"draining"/);
  const draining = await exchange(t, admin, get("/ready"));
  t.is(draining.status, 503);
  t.is(draining.body.toString(), "DRAINING\n");
  const info = await exchange(t, admin, get("/server_info"));
  t.is(info.status, 200);
  t.is((JSON.parse(info.body.toString()) as { state: string }).state, "DRAINING");
  // And the drain ends with a clean exit.
  const exited = tg.proc.exitCode !== null ? Promise.resolve([tg.proc.exitCode]) : once(tg.proc, "exit");
  const [code] = (await withTimeout(exited, 15_000, "tollgate did not exit after SIGTERM")) as [number | null];
  t.is(code, 0);
});
