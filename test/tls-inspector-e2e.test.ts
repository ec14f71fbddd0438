// End to end: the Istio-style listener_filters pair written by name only (`envoy.listener.proxy_protocol`,
// `envoy.listener.tls_inspector`) in front of tcp_proxy. A TLS client behind a PROXY header completes its handshake
// with the upstream through Tollgate (the inspector consumed nothing), and the inspector's stats count what it saw;
// plaintext through the same filters reaches its upstream unchanged.
import test from "ava";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { bootstrapYaml, listener, proxyV1, proxyV2, staticCluster, startTcpUpstream, startTollgate, tcpProxyFilter } from "./helpers/e2e.js";
import { selfSignedCert } from "./tls-inspector-fixtures.js";

const ISTIO_LISTENER_FILTERS = [{ name: "envoy.listener.proxy_protocol" }, { name: "envoy.listener.tls_inspector" }];

interface SeenByUpstream {
  servername: string | false | null;
  alpn: string | false | null;
}

/** A TLS upstream answering `pong:<data>`; resolves each handshake's SNI and ALPN as the upstream saw them. */
async function startTlsUpstream(t: import("ava").ExecutionContext): Promise<{ port: number; seen: Promise<SeenByUpstream> }> {
  const { key, cert } = selfSignedCert(t);
  const sockets = new Set<TLSSocket>();
  let resolveSeen!: (s: SeenByUpstream) => void;
  const seen = new Promise<SeenByUpstream>((r) => (resolveSeen = r));
  const server = createTlsServer({ key, cert, ALPNProtocols: ["h2", "http/1.1"] }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    resolveSeen({ servername: s.servername, alpn: s.alpnProtocol });
    s.on("data", (d: Buffer) => s.write(`pong:${d.toString()}`));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, seen };
}

function track<S extends Socket>(t: import("ava").ExecutionContext, s: S): S {
  s.on("error", () => {});
  t.teardown(() => void s.destroy());
  return s;
}

/** Bound on waiting for the peer, so a lost byte fails the test instead of hanging it (not a timing assertion). */
const WAIT_MS = 10_000;

function within<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms: bytes sent before the upstream connected were lost?`)), WAIT_MS);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

function firstData(s: Socket): Promise<string> {
  return within(
    "data",
    new Promise((resolve, reject) => {
      s.once("data", (d: Buffer) => resolve(d.toString()));
      s.once("error", reject);
      s.once("close", () => reject(new Error("closed before any data")));
    }),
  );
}

test("TLS behind a PROXY header passes through tcp_proxy; tls_inspector counts TLS, SNI and ALPN", async (t) => {
  const upstream = await startTlsUpstream(t);
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [listener({ listenerFilters: ISTIO_LISTENER_FILTERS, filters: [tcpProxyFilter("tls_backend")] })],
      clusters: [staticCluster("tls_backend", [upstream.port])],
    }),
  );

  const raw = track(t, connect({ host: "127.0.0.1", port: tg.port() }));
  await new Promise<void>((resolve) => raw.once("connect", resolve));
  raw.write(proxyV2("203.0.113.50", "198.51.100.1", 50000, 443));
  const client = track(t, tlsConnect({ socket: raw, servername: "secure.example.com", ALPNProtocols: ["h2"], rejectUnauthorized: false }));
  await within(
    "TLS handshake",
    new Promise<void>((resolve, reject) => {
      client.once("secureConnect", resolve);
      client.once("error", reject);
    }),
  );
  t.is(client.alpnProtocol, "h2");
  client.write("ping");
  t.is(await firstData(client), "pong:ping");
  t.deepEqual(await upstream.seen, { servername: "secure.example.com", alpn: "h2" });

  t.is(tg.stat("tls_inspector.tls_found"), 1);
  t.is(tg.stat("tls_inspector.sni_found"), 1);
  t.is(tg.stat("tls_inspector.alpn_found"), 1);
  t.is(tg.stat("tls_inspector.tls_not_found"), 0);
  t.is(tg.stat("proxy_proto.versions.v2.found"), 1);
});

test("plaintext behind a PROXY header passes through the same filters as raw_buffer (tls_not_found)", async (t) => {
  const echo = await startTcpUpstream(t, (s) => s.on("data", (d: Buffer) => s.write(`echo:${d.toString()}`)));
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [listener({ listenerFilters: ISTIO_LISTENER_FILTERS, filters: [tcpProxyFilter("plain_backend")] })],
      clusters: [staticCluster("plain_backend", [echo.port])],
    }),
  );
  const raw = track(t, connect({ host: "127.0.0.1", port: tg.port() }));
  await new Promise<void>((resolve) => raw.once("connect", resolve));
  raw.write(Buffer.concat([proxyV1("203.0.113.51", "198.51.100.1", 50001, 80), Buffer.from("hello plain")]));
  t.is(await firstData(raw), "echo:hello plain");
  t.is(tg.stat("tls_inspector.tls_not_found"), 1);
  t.is(tg.stat("tls_inspector.tls_found"), 0);
  t.is(tg.stat("proxy_proto.versions.v1.found"), 1);
});
