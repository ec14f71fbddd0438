// Every file in examples/ validates, and runs: the real binary starts on it (ports moved to ephemeral ones, the
// upstream pointed at a local echo server) and a request through a PROXY header does what the example promises.
import test from "ava";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { startEchoServer } from "../proxy/tools/echo-server.js";
import { encodeV2, text } from "./helpers/proxy-encoder.js";
import { CLI, rawRequest, spawnTollgate, writeTemp } from "./helpers/spawn-tollgate.js";

const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const examples = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only YAML surgery

/** Bind everything to 127.0.0.1:0 and send every cluster to the echo server. */
function localise(doc: Doc, upstreamPort: number, extraTrusted?: string): Doc {
  if (doc.admin) doc.admin.address.socket_address = { address: "127.0.0.1", port_value: 0 };
  for (const l of doc.static_resources.listeners) {
    l.address.socket_address = { address: "127.0.0.1", port_value: 0 };
    for (const f of l.listener_filters ?? []) {
      if (extraTrusted && f.typed_config?.trusted_sources) f.typed_config.trusted_sources.push(extraTrusted);
    }
  }
  for (const c of doc.static_resources.clusters) {
    for (const e of c.load_assignment.endpoints) {
      for (const lb of e.lb_endpoints) lb.endpoint.address.socket_address = { address: "127.0.0.1", port_value: upstreamPort };
    }
  }
  return doc;
}

async function echo(t: import("ava").ExecutionContext): Promise<number> {
  const server = await startEchoServer(0);
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

const v1 = (src: string): string => `PROXY TCP4 ${src} 10.0.0.5 51234 80\r\n`;
const GET = "GET /spec.json HTTP/1.1\r\nHost: httpbin.example.com\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n";

for (const file of examples) {
  test(`examples/${file} passes --mode validate`, (t) => {
    const out = execFileSync(process.execPath, [CLI, "--mode", "validate", "-c", `${dir}${file}`], { encoding: "utf8" });
    t.is(out, `configuration '${dir}${file}' OK\n`);
  });
}

test("quickstart: the upstream sees the PROXY source as X-Forwarded-For and the access log shows it", async (t) => {
  const port = await echo(t);
  const doc = localise(parse(readFileSync(`${dir}quickstart.yaml`, "utf8")), port);
  const tg = await spawnTollgate(t, ["-c", writeTemp("quickstart.yaml", stringify(doc))]);
  const reply = await rawRequest(tg.listeners.ingress.port, v1("60.1.2.3") + GET);
  t.regex(reply, /^HTTP\/1\.1 200 /);
  const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4));
  t.is(body.headers["x-forwarded-for"], "60.1.2.3");
  t.is(body.headers["x-envoy-external-address"], "60.1.2.3");
  // The blog's "after" line, in Envoy's default format.
  const line = await tg.waitForStdout(/GET \/spec\.json/);
  t.regex(line, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET \/spec\.json HTTP\/1\.1" 200 - 0 \d+ \d+ \d+ "60\.1\.2\.3" "Mozilla\/5\.0" "[0-9a-f-]{36}" "httpbin\.example\.com" "127\.0\.0\.1:\d+"$/);
  // No header: the connection is closed without a reply (PROXY is required).
  t.is(await rawRequest(tg.listeners.ingress.port, GET), "");
});

test("digitalocean: v1 from a trusted VPC peer is honoured; untrusted peers and v2 headers are refused", async (t) => {
  const port = await echo(t);
  // As shipped, only RFC 1918 peers are trusted: this loopback client is not the LB and is refused.
  const shipped = localise(parse(readFileSync(`${dir}digitalocean.yaml`, "utf8")), port);
  const a = await spawnTollgate(t, ["-c", writeTemp("do.yaml", stringify(shipped))]);
  t.is(await rawRequest(a.listeners.http.port, v1("60.1.2.3") + GET), "");
  // With the LB's address (here loopback) trusted, the v1 header from the LB gives the client's address.
  const trusted = localise(parse(readFileSync(`${dir}digitalocean.yaml`, "utf8")), port, "127.0.0.0/8");
  const b = await spawnTollgate(t, ["-c", writeTemp("do.yaml", stringify(trusted))]);
  const reply = await rawRequest(b.listeners.http.port, v1("60.1.2.3") + GET);
  t.is(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).headers["x-forwarded-for"], "60.1.2.3");
  const v2 = encodeV2({ family: "TCP4", src: Uint8Array.of(60, 1, 2, 3), dst: Uint8Array.of(10, 0, 0, 5), srcPort: 1, dstPort: 80 });
  t.is(await rawRequest(b.listeners.http.port, Buffer.concat([v2, Buffer.from(GET)])), "");
});

test("aws-nlb: v2 with the VPC endpoint TLV logs the endpoint id; v2 LOCAL health checks use the socket address", async (t) => {
  const port = await echo(t);
  const doc = localise(parse(readFileSync(`${dir}aws-nlb.yaml`, "utf8")), port);
  const tg = await spawnTollgate(t, ["-c", writeTemp("nlb.yaml", stringify(doc))]);
  const vpce = Buffer.concat([Buffer.of(0x01), Buffer.from("vpce-0123456789abcdef0")]);
  const hdr = encodeV2({ family: "TCP4", src: Uint8Array.of(60, 1, 2, 3), dst: Uint8Array.of(10, 0, 0, 5), srcPort: 4242, dstPort: 80, tlvs: [{ type: 0xea, value: vpce }] });
  const reply = await rawRequest(tg.listeners.http.port, Buffer.concat([hdr, Buffer.from(GET)]));
  t.is(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).headers["x-forwarded-for"], "60.1.2.3");
  const line = await tg.waitForStdout(/vpce=/);
  t.true(line.includes('"60.1.2.3"'));
  t.true(line.endsWith("vpce-0123456789abcdef0"), line);
  // An NLB health check: v2 LOCAL, then a plain request.
  const local = encodeV2({ command: 0, family: "UNSPEC" });
  const hc = await rawRequest(tg.listeners.http.port, Buffer.concat([local, Buffer.from("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]));
  t.regex(hc, /^HTTP\/1\.1 200 /);
  // A v1 header is refused on this listener (the NLB speaks v2 only).
  t.is(await rawRequest(tg.listeners.http.port, v1("60.1.2.3") + GET), "");
  void text;
});

test("istio-envoyfilter: listener filters given by legacy name alone work, as the blog's EnvoyFilter writes them", async (t) => {
  const port = await echo(t);
  const doc = localise(parse(readFileSync(`${dir}istio-envoyfilter.yaml`, "utf8")), port);
  t.deepEqual(
    doc.static_resources.listeners[0].listener_filters,
    [{ name: "envoy.listener.proxy_protocol" }, { name: "envoy.listener.tls_inspector" }],
  );
  const tg = await spawnTollgate(t, ["-c", writeTemp("istio.yaml", stringify(doc))]);
  const reply = await rawRequest(tg.listeners.ingressgateway.port, v1("60.1.2.3") + GET);
  t.regex(reply, /^HTTP\/1\.1 200 /);
  const line = await tg.waitForStdout(/GET \/spec\.json/);
  t.true(line.includes('"60.1.2.3"'), line);
});
