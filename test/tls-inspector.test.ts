// envoy.filters.listener.tls_inspector: configuration (by name only, as Istio writes it; Envoy's bounds; JA3/JA4
// refused) and the filter's verdicts, connection fields, metadata and stats, driven the way the listener drives it.
import test from "ava";
import { Socket } from "node:net";
import { ConfigError } from "../proxy/config/errors.js";
import { ConfigReader } from "../proxy/config/reader.js";
import { resolveExtension } from "../proxy/config/registry.js";
import "../proxy/config/extensions.js";
import type { TlsInspectorConfig } from "../proxy/filters/listener/tls-inspector/config.js";
import { METADATA_NAMESPACE } from "../proxy/filters/listener/tls-inspector/filter.js";
import type { BuildContext, ListenerFilter, ListenerFilterVerdict } from "../proxy/filters/types.js";
import { DownstreamConnection } from "../proxy/listener/connection.js";
import { StatsStore } from "../proxy/observability/stats.js";
import { captureClientHello, clientHello, latin1, paddingExt, sniExt } from "./tls-inspector-fixtures.js";

const TYPE_URL = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

function resolve(entry: Record<string, unknown>): TlsInspectorConfig {
  return resolveExtension<TlsInspectorConfig>("listener_filter", new ConfigReader(entry, "x")).config;
}

function typed(fields: Record<string, unknown>): TlsInspectorConfig {
  return resolve({ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": TYPE_URL, ...fields } });
}

function configError(t: import("ava").ExecutionContext, fn: () => unknown): ConfigError {
  const e = t.throws(fn, { instanceOf: ConfigError });
  return e as ConfigError;
}

// ---- configuration ---------------------------------------------------------------------------------------------------

test("by name only (current and legacy name) the filter is accepted with Envoy's defaults", (t) => {
  for (const name of ["envoy.listener.tls_inspector", "envoy.filters.listener.tls_inspector"]) {
    const r = resolveExtension<TlsInspectorConfig>("listener_filter", new ConfigReader({ name }, "x"));
    t.is(r.typeUrl, "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector");
    t.like(r.config, { maxClientHelloSize: 16384, initialReadBufferSize: 16384, closeConnectionOnClientHelloParsingErrors: false });
  }
});

test("the Istio listener_filters pair, by name only, both resolve", (t) => {
  const names = ["envoy.listener.proxy_protocol", "envoy.listener.tls_inspector"];
  const resolved = names.map((name, i) => resolveExtension("listener_filter", new ConfigReader({ name }, `listener_filters[${i}]`)));
  t.deepEqual(
    resolved.map((r) => r.typeUrl),
    ["envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"],
  );
});

test("typed_config fields: sizes within Envoy's bounds, the close option, wrapper forms", (t) => {
  t.like(typed({ max_client_hello_size: 4096, initial_read_buffer_size: 1024, close_connection_on_client_hello_parsing_errors: true }), {
    maxClientHelloSize: 4096,
    initialReadBufferSize: 1024,
    closeConnectionOnClientHelloParsingErrors: true,
  });
  // initial_read_buffer_size is capped at max_client_hello_size, as Envoy does.
  t.like(typed({ max_client_hello_size: { value: 512 }, initial_read_buffer_size: 65536 }), { maxClientHelloSize: 512, initialReadBufferSize: 512 });
  t.like(typed({ max_client_hello_size: 256 }), { maxClientHelloSize: 256 });
  t.like(typed({ enable_ja3_fingerprinting: false, enable_ja4_fingerprinting: { value: false } }), { maxClientHelloSize: 16384 });
});

test("out-of-bounds sizes are refused with their path", (t) => {
  t.is(configError(t, () => typed({ max_client_hello_size: 16385 })).path, "x.typed_config.max_client_hello_size");
  t.is(configError(t, () => typed({ max_client_hello_size: 255 })).path, "x.typed_config.max_client_hello_size");
  t.is(configError(t, () => typed({ initial_read_buffer_size: 65537 })).path, "x.typed_config.initial_read_buffer_size");
  t.is(configError(t, () => typed({ initial_read_buffer_size: 255 })).path, "x.typed_config.initial_read_buffer_size");
});

test("JA3 and JA4 fingerprinting are refused as not supported, naming the field", (t) => {
  for (const [field, label] of [
    ["enable_ja3_fingerprinting", "JA3"],
    ["enable_ja4_fingerprinting", "JA4"],
  ] as const) {
    for (const value of [true, { value: true }]) {
      const e = configError(t, () => typed({ [field]: value }));
      t.is(e.path, `x.typed_config.${field}`);
      t.regex(e.message, new RegExp(`${label} fingerprinting is not supported`));
    }
  }
});

test("unknown fields and wrong types are refused", (t) => {
  t.is(configError(t, () => typed({ enable_sni: true })).path, "x.typed_config.enable_sni");
  t.is(configError(t, () => typed({ close_connection_on_client_hello_parsing_errors: "yes" })).path, "x.typed_config.close_connection_on_client_hello_parsing_errors");
  t.is(configError(t, () => typed({ enable_ja3_fingerprinting: { value: true, extra: 1 } })).path, "x.typed_config.enable_ja3_fingerprinting.extra");
});

// ---- the filter ----------------------------------------------------------------------------------------------------

interface Harness {
  filter: ListenerFilter;
  stats: StatsStore;
  count(name: string): number;
}

function harness(config: TlsInspectorConfig = resolve({ name: "envoy.listener.tls_inspector" })): Harness {
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const ctx = { stats, listenerStatPrefix: "listener.test." } as unknown as BuildContext;
  return { filter: config.build(ctx), stats, count: (n) => stats.counter(`tls_inspector.${n}`).value() };
}

function connection(): DownstreamConnection {
  return new DownstreamConnection(new Socket());
}

/** Feed chunks the way the listener does: each call gets every byte received so far, until a verdict. */
function drive(h: Harness, conn: DownstreamConnection, chunks: Uint8Array[]): { verdict: ListenerFilterVerdict; calls: number } {
  let pending = Buffer.alloc(0);
  let calls = 0;
  for (const c of chunks) {
    pending = Buffer.concat([pending, c]);
    calls++;
    const v = h.filter.onData(conn, pending);
    if (v.status !== "need_more") return { verdict: v, calls };
  }
  return { verdict: { status: "need_more" }, calls };
}

const STAT_NAMES = ["client_hello_too_large", "tls_found", "tls_not_found", "alpn_found", "alpn_not_found", "sni_found", "sni_not_found"];

function counts(h: Harness): Record<string, number> {
  return Object.fromEntries(STAT_NAMES.map((n) => [n, h.count(n)]));
}

test("a ClientHello: continue without consuming, SNI/ALPN/transport on the connection, Envoy's stats", async (t) => {
  const hello = await captureClientHello({ servername: "api.example.com", ALPNProtocols: ["h2", "http/1.1"] });
  const h = harness();
  const conn = connection();
  t.is(conn.transportProtocol, "raw_buffer");
  t.deepEqual(drive(h, conn, [hello]).verdict, { status: "continue", consumed: 0 });
  t.is(conn.transportProtocol, "tls");
  t.is(conn.requestedServerName, "api.example.com");
  t.deepEqual(conn.applicationProtocols, ["h2", "http/1.1"]);
  t.false(conn.dynamicMetadata.has(METADATA_NAMESPACE));
  t.deepEqual(counts(h), { client_hello_too_large: 0, tls_found: 1, tls_not_found: 0, alpn_found: 1, alpn_not_found: 0, sni_found: 1, sni_not_found: 0 });
});

test("a ClientHello without SNI or ALPN counts sni_not_found and alpn_not_found", (t) => {
  const h = harness();
  const conn = connection();
  t.deepEqual(drive(h, conn, [clientHello({ extensions: null })]).verdict, { status: "continue", consumed: 0 });
  t.is(conn.transportProtocol, "tls");
  t.is(conn.requestedServerName, "");
  t.deepEqual(conn.applicationProtocols, []);
  t.like(counts(h), { tls_found: 1, sni_not_found: 1, alpn_not_found: 1, sni_found: 0, alpn_found: 0 });
});

test("a ClientHello delivered in small pieces: need_more until the last piece, then the same result", async (t) => {
  const hello = await captureClientHello({ servername: "pieces.example.com", ALPNProtocols: ["h2"] });
  const h = harness();
  const conn = connection();
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < hello.length; at += 7) chunks.push(hello.subarray(at, at + 7));
  const { verdict, calls } = drive(h, conn, chunks);
  t.deepEqual(verdict, { status: "continue", consumed: 0 });
  t.is(calls, chunks.length);
  t.is(conn.requestedServerName, "pieces.example.com");
  t.is(h.count("tls_found"), 1);
});

test("plain HTTP: tls_not_found on the first byte, continue as raw_buffer, failure reason recorded", (t) => {
  const h = harness();
  const conn = connection();
  t.deepEqual(drive(h, conn, [latin1("G"), latin1("ET / HTTP/1.1\r\n\r\n")]), { verdict: { status: "continue", consumed: 0 }, calls: 1 });
  t.is(conn.transportProtocol, "raw_buffer");
  t.is(conn.requestedServerName, "");
  t.deepEqual(conn.dynamicMetadata.get(METADATA_NAMESPACE), { failure_reason: "ClientHelloNotDetected" });
  t.deepEqual(counts(h), { client_hello_too_large: 0, tls_found: 0, tls_not_found: 1, alpn_found: 0, alpn_not_found: 0, sni_found: 0, sni_not_found: 0 });
});

test("close_connection_on_client_hello_parsing_errors: plaintext is closed and not counted as tls_not_found", (t) => {
  const h = harness(typed({ close_connection_on_client_hello_parsing_errors: true }));
  const conn = connection();
  const { verdict } = drive(h, conn, [latin1("GET / HTTP/1.1\r\n\r\n")]);
  t.is(verdict.status, "close");
  t.regex(conn.terminationDetails ?? "", /not a TLS ClientHello/);
  t.deepEqual(counts(h), { client_hello_too_large: 0, tls_found: 0, tls_not_found: 0, alpn_found: 0, alpn_not_found: 0, sni_found: 0, sni_not_found: 0 });
  // A real ClientHello still passes.
  const ok = connection();
  t.deepEqual(drive(h, ok, [clientHello()]).verdict, { status: "continue", consumed: 0 });
  t.is(ok.requestedServerName, "example.com");
});

test("close on parsing errors after max_client_hello_size bytes also counts client_hello_too_large", (t) => {
  const h = harness(typed({ close_connection_on_client_hello_parsing_errors: true, max_client_hello_size: 256 }));
  const conn = connection();
  t.is(drive(h, conn, [latin1("x".repeat(300))]).verdict.status, "close");
  t.is(h.count("client_hello_too_large"), 1);
  t.deepEqual(conn.dynamicMetadata.get(METADATA_NAMESPACE), { failure_reason: "ClientHelloTooLarge" });
});

test("a ClientHello larger than max_client_hello_size closes the connection even when plaintext is allowed", (t) => {
  const h = harness(typed({ max_client_hello_size: 1024 }));
  const conn = connection();
  const big = clientHello({ extensions: [sniExt("big.example"), paddingExt(2000)] });
  const chunks = [big.subarray(0, 600), big.subarray(600, 1100), big.subarray(1100)];
  const { verdict, calls } = drive(h, conn, chunks);
  t.is(verdict.status, "close");
  t.is(calls, 2); // decided once 1024 bytes were there, without waiting for the rest
  t.is(conn.transportProtocol, "raw_buffer");
  t.deepEqual(conn.dynamicMetadata.get(METADATA_NAMESPACE), { failure_reason: "ClientHelloTooLarge" });
  t.like(counts(h), { client_hello_too_large: 1, tls_found: 0, tls_not_found: 0 });
});

test("connections are independent: an unfinished scan does not leak into the next connection", (t) => {
  const h = harness();
  const hello = clientHello({ extensions: [sniExt("one.example")] });
  const a = connection();
  t.is(h.filter.onData(a, Buffer.from(hello.subarray(0, 20))).status, "need_more");
  const b = connection();
  t.deepEqual(h.filter.onData(b, Buffer.from("GET /")), { status: "continue", consumed: 0 });
  t.deepEqual(h.filter.onData(a, Buffer.from(hello)), { status: "continue", consumed: 0 });
  t.is(a.requestedServerName, "one.example");
  t.is(b.transportProtocol, "raw_buffer");
});
