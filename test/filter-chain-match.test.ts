// Envoy's filter-chain selection: each criterion in Envoy's order narrows the candidates to the most specific
// match, chains that do not name the criterion being the fallback.
import test from "ava";
import { ConfigReader } from "../proxy/config/reader.js";
import "../proxy/config/extensions.js";
import { parseListener } from "../proxy/listener/config.js";
import { checkDistinctMatches, compileChainMatch, selectFilterChain } from "../proxy/listener/filter-chain-match.js";
import type { DownstreamConnection } from "../proxy/listener/connection.js";

type Match = Record<string, unknown>;
let n = 0;
function chain(name: string | undefined, match?: Match): Record<string, unknown> {
  return {
    ...(name ? { name } : {}),
    ...(match ? { filter_chain_match: match } : {}),
    filters: [
      {
        name: "envoy.filters.network.tcp_proxy",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: `s${n++}`, cluster: "c" },
      },
    ],
  };
}

function listener(chains: Record<string, unknown>[]): ReturnType<typeof parseListener> {
  const doc = { name: "l", address: { socket_address: { address: "0.0.0.0", port_value: 443 } }, filter_chains: chains };
  return parseListener(new ConfigReader(doc, "static_resources.listeners[0]"));
}

function conn(p: Partial<{ sni: string; transport: string; alpn: string[]; src: string; direct: string; local: string; port: number }>): DownstreamConnection {
  return {
    requestedServerName: p.sni ?? "",
    transportProtocol: p.transport ?? "raw_buffer",
    applicationProtocols: p.alpn ?? [],
    remote: { ip: p.src ?? "203.0.113.9", port: 5555 },
    directRemote: { ip: p.direct ?? "10.0.0.2", port: 40000 },
    local: { ip: p.local ?? "10.0.0.5", port: p.port ?? 443 },
  } as unknown as DownstreamConnection;
}

const pick = (l: ReturnType<typeof parseListener>, c: DownstreamConnection): string | undefined =>
  selectFilterChain(
    l.filterChains.map((fc) => ({ name: fc.name, match: compileChainMatch(fc.match) })),
    c,
  )?.name;

test("server_names: exact beats the longest wildcard, which beats a shorter one; no SNI falls back", (t) => {
  const l = listener([
    chain("exact", { server_names: ["api.example.com"] }),
    chain("deep", { server_names: ["*.a.example.com"] }),
    chain("wild", { server_names: ["*.example.com"] }),
    chain("fallback"),
  ]);
  t.is(pick(l, conn({ sni: "api.example.com", transport: "tls" })), "exact");
  t.is(pick(l, conn({ sni: "x.a.example.com", transport: "tls" })), "deep");
  t.is(pick(l, conn({ sni: "www.example.com", transport: "tls" })), "wild");
  t.is(pick(l, conn({ sni: "example.com", transport: "tls" })), "fallback", "a wildcard never matches the bare domain");
  t.is(pick(l, conn({})), "fallback");
});

test("transport_protocol and application_protocols split TLS from plaintext and h2 from http/1.1", (t) => {
  const l = listener([
    chain("tls-h2", { transport_protocol: "tls", application_protocols: ["h2"] }),
    chain("tls", { transport_protocol: "tls" }),
    chain("plain", { transport_protocol: "raw_buffer" }),
  ]);
  t.is(pick(l, conn({ transport: "tls", alpn: ["h2", "http/1.1"] })), "tls-h2");
  t.is(pick(l, conn({ transport: "tls", alpn: ["http/1.1"] })), "tls");
  t.is(pick(l, conn({})), "plain");
});

test("source_prefix_ranges use the PROXY client address; direct_source_prefix_ranges the load balancer", (t) => {
  const l = listener([
    chain("office", { source_prefix_ranges: [{ address_prefix: "198.51.100.0", prefix_len: 24 }] }),
    chain("via-lb", { direct_source_prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }] }),
    chain("rest"),
  ]);
  // Envoy checks the direct source before the source: a connection through the LB takes "via-lb".
  t.is(pick(l, conn({ src: "198.51.100.7", direct: "10.0.0.2" })), "via-lb");
  t.is(pick(l, conn({ src: "198.51.100.7", direct: "192.0.2.1" })), "office");
  t.is(pick(l, conn({ src: "203.0.113.1", direct: "192.0.2.1" })), "rest");
});

test("destination_port is matched first; a chain naming another port never matches", (t) => {
  const l = listener([chain("p80", { destination_port: 80 })]);
  t.is(pick(l, conn({ port: 80 })), "p80");
  t.is(pick(l, conn({ port: 443 })), undefined);
});

test("bad server names and duplicate matches are refused with their path", (t) => {
  for (const bad of ["*", "foo*.example.com", "*.*.example.com"]) {
    const err = t.throws(() => listener([chain(undefined, { server_names: [bad] })]));
    t.is((err as { path?: string }).path, "static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[0]");
  }
  const l = listener([chain(undefined, { server_names: ["a.example.com"] }), chain(undefined, { server_names: ["a.example.com"] })]);
  const err = t.throws(() => checkDistinctMatches(l.filterChains, "static_resources.listeners[0].filter_chains"));
  t.regex(err!.message, /filter_chains\[1\]\.filter_chain_match: multiple filter chains with the same matching rules/);
});
