// When a CIDR lookup traps inside WebAssembly (wasm/cidr.ts restarts the module and rebuilds the sets), the RBAC
// filters fail closed for that one connection and the process and the next decisions carry on. Each test arms the
// trap and triggers it without yielding, so no other lookup can take it.
import test, { type ExecutionContext } from "ava";
import { Socket } from "node:net";
import type { IncomingMessage } from "node:http";
import { cidrTestHooks, cidrTrapCount } from "../wasm/cidr.js";
import { ConfigReader } from "../proxy/config/reader.js";
import { resolveTypedConfig } from "../proxy/config/registry.js";
import "../proxy/config/extensions.js";
import { DownstreamConnection } from "../proxy/listener/connection.js";
import type { HttpRbacConfig } from "../proxy/filters/http/rbac/config.js";
import type { NetworkRbacConfig } from "../proxy/filters/network/rbac/config.js";
import { StatsStore } from "../proxy/observability/stats.js";
import { setLogLevel } from "../proxy/observability/logger.js";
import type { HttpFilterBuildContext } from "../proxy/filters/types.js";
import type { HttpStream, LocalReplyOptions } from "../proxy/filters/network/http-connection-manager/stream.js";

setLogLevel("off"); // the filters log the failure at error level; the assertions below check what it did

const rules = { policies: { office: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } }] } } };

function connection(t: ExecutionContext, ip: string): { conn: DownstreamConnection; socket: Socket } {
  const socket = new Socket();
  t.teardown(() => {
    socket.destroy();
  });
  const conn = new DownstreamConnection(socket);
  conn.remote = { ip, port: 1 };
  return { conn, socket };
}

test("network filter: a trapped lookup closes that connection with rbac_evaluation_failed; the next is decided", (t) => {
  const cfg = resolveTypedConfig<NetworkRbacConfig>(
    "network_filter",
    "rbac",
    new ConfigReader({ "@type": "envoy.extensions.filters.network.rbac.v3.RBAC", stat_prefix: "tcp", rules }, "typed_config"),
  ).config;
  const store = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const filter = cfg.build({ stats: store, clusters: null as never, listenerStatPrefix: "listener.test." });
  const traps = cidrTrapCount();
  const a = connection(t, "203.0.113.9");
  cidrTestHooks.trapOnNextLookup();
  t.false(filter.onNewConnection(a.conn, a.socket));
  t.is(cidrTrapCount(), traps + 1);
  t.is(a.conn.terminationDetails, "rbac_evaluation_failed");
  t.true(a.socket.destroyed);
  const b = connection(t, "203.0.113.9");
  t.true(filter.onNewConnection(b.conn, b.socket));
  t.is(store.counter("tcp.rbac.allowed").value(), 1);
});

test("HTTP filter: a trapped lookup ends the request's connection without an answer; the next request is decided", (t) => {
  const cfg = resolveTypedConfig<HttpRbacConfig>(
    "http_filter",
    "envoy.filters.http.rbac",
    new ConfigReader({ "@type": "envoy.extensions.filters.http.rbac.v3.RBAC", rules }, "typed_config"),
  ).config;
  const store = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const ctx: HttpFilterBuildContext = { stats: store, clusters: null as never, listenerStatPrefix: "listener.test.", hcmStatPrefix: "http.ingress." };
  const filter = cfg.build(ctx);
  const stream = (ip: string) => {
    const { conn, socket } = connection(t, ip);
    const replies: Array<[number, string, LocalReplyOptions]> = [];
    const s = {
      conn,
      req: { socket } as unknown as IncomingMessage,
      method: "GET",
      path: "/",
      authority: "example.com",
      headers: { entries: [] as Array<[string, string]> },
      clientAddress: conn.remote,
      route: null,
      responseCodeDetails: undefined as string | undefined,
      setMetadata() {},
      sendLocalReply(status: number, body: string, opts: LocalReplyOptions) {
        replies.push([status, body, opts]);
      },
    };
    return { s, socket, replies, http: s as unknown as HttpStream };
  };
  const a = stream("203.0.113.9");
  cidrTestHooks.trapOnNextLookup();
  t.is(filter.decodeHeaders(a.http), "stop");
  t.true(a.socket.destroyed);
  t.is(a.s.responseCodeDetails, "rbac_evaluation_failed");
  t.deepEqual(a.replies, []);
  const b = stream("198.51.100.7");
  t.is(filter.decodeHeaders(b.http), "stop");
  t.deepEqual(b.replies, [[403, "RBAC: access denied", { details: "rbac_access_denied_matched_policy[none]" }]]);
  const c = stream("203.0.113.10");
  t.is(filter.decodeHeaders(c.http), "continue");
  t.is(store.counter("http.ingress.rbac.allowed").value(), 1);
  t.is(store.counter("http.ingress.rbac.denied").value(), 1);
});
