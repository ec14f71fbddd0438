// The network RBAC filter: end to end in front of tcp_proxy behind a PROXY-protocol listener (a denied client is
// closed before the upstream sees a byte, and the stats count it), and on its own with a fake clock for delay_deny,
// the termination details and the shadow metadata.
import test from "ava";
import { Socket } from "node:net";
import { ConfigReader } from "../proxy/config/reader.js";
import { resolveTypedConfig } from "../proxy/config/registry.js";
import "../proxy/config/extensions.js";
import { DownstreamConnection } from "../proxy/listener/connection.js";
import type { NetworkRbacConfig } from "../proxy/filters/network/rbac/config.js";
import { NetworkRbacFilter, type DenyTimers } from "../proxy/filters/network/rbac/filter.js";
import { NetworkRbacStats } from "../proxy/filters/network/rbac/stats.js";
import { StatsStore } from "../proxy/observability/stats.js";
import {
  bootstrapYaml,
  listener,
  openConnection,
  proxyProtocolFilter,
  proxyV1,
  staticCluster,
  startTcpUpstream,
  startTollgate,
  tcpProxyFilter,
  withTimeout,
  type Json,
  type RawConnection,
} from "./helpers/e2e.js";

const T_NET_RBAC = "envoy.extensions.filters.network.rbac.v3.RBAC";
const cidr = (ip: string, len = 32): Json => ({ address_prefix: ip, prefix_len: len });
const office = { permissions: [{ any: true }], principals: [{ remote_ip: cidr("203.0.113.0", 24) }] };

/** Resolve once `n` bytes have arrived on the connection (the echo upstream's answer), bounded. */
function bytesFrom(c: RawConnection, n: number): Promise<void> {
  const arrived = new Promise<void>((resolve) => {
    const check = (): void => {
      if (c.pending.length >= n) {
        c.socket.off("data", onData);
        resolve();
      }
    };
    // RawConnection's own listener runs first (it was added first), so `pending` already holds the chunk.
    const onData = (): void => check();
    c.socket.on("data", onData);
    check();
  });
  return withTimeout(arrived, 5000, `${n} bytes did not arrive`);
}

async function startTcp(t: Parameters<typeof startTollgate>[0], rbac: Record<string, Json>) {
  const received: Buffer[] = [];
  let upstreamConnections = 0;
  const up = await startTcpUpstream(t, (s) => {
    upstreamConnections++;
    s.on("data", (c: Buffer) => {
      received.push(c);
      s.write(c);
    });
  });
  const yaml = bootstrapYaml({
    listeners: [
      listener({
        listenerFilters: [proxyProtocolFilter()],
        filters: [{ name: "envoy.filters.network.rbac", typed_config: { "@type": `type.googleapis.com/${T_NET_RBAC}`, ...rbac } }, tcpProxyFilter("backend")],
      }),
    ],
    clusters: [staticCluster("backend", [up.port])],
  });
  const tg = await startTollgate(t, yaml);
  return { tg, received, upstreamConnections: () => upstreamConnections };
}

test("an allowed client is proxied; a denied one is closed before the upstream sees it, and both are counted", async (t) => {
  const { tg, received, upstreamConnections } = await startTcp(t, { stat_prefix: "tcp", rules: { policies: { office } } });

  const ok = await openConnection(t, tg.port());
  await ok.write(Buffer.concat([proxyV1("203.0.113.9", "192.0.2.1"), Buffer.from("hello")]));
  await bytesFrom(ok, 5);
  t.is(ok.pending.toString(), "hello");
  ok.destroy();

  const denied = await openConnection(t, tg.port());
  await denied.write(Buffer.concat([proxyV1("198.51.100.7", "192.0.2.1"), Buffer.from("let me in")]));
  const bytes = await denied.readToEnd();
  t.is(bytes.length, 0);
  t.is(upstreamConnections(), 1);
  t.is(Buffer.concat(received).toString(), "hello");
  t.is(tg.stat("tcp.rbac.allowed"), 1);
  t.is(tg.stat("tcp.rbac.denied"), 1);
});

test("delay_deny holds a denied connection, then closes it without reaching the upstream", async (t) => {
  const { tg, upstreamConnections } = await startTcp(t, { stat_prefix: "tcp.", delay_deny: "0.05s", rules: { action: "DENY", policies: { office } } });
  const denied = await openConnection(t, tg.port());
  await denied.write(Buffer.concat([proxyV1("203.0.113.9", "192.0.2.1"), Buffer.from("retry")]));
  await withTimeout(denied.closed, 5000, "the delayed denial did not close the connection");
  t.is(denied.pending.length, 0);
  t.is(upstreamConnections(), 0);
  t.is(tg.stat("tcp.rbac.denied"), 1); // `tcp.` and `tcp` name the same stats
});

test("shadow rules at L4 count shadow_* under the shadow prefix and never close", async (t) => {
  const { tg } = await startTcp(t, {
    stat_prefix: "tcp",
    shadow_rules: { action: "DENY", policies: { office } },
    shadow_rules_stat_prefix: "trial",
  });
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1("203.0.113.9", "192.0.2.1"), Buffer.from("x")]));
  await bytesFrom(c, 1);
  t.is(c.pending.toString(), "x");
  c.destroy();
  t.is(tg.stat("tcp.rbac.trial.shadow_denied"), 1);
  t.is(tg.stat("tcp.rbac.denied"), 0);
});

// ---- the filter on its own ----------------------------------------------------------------------------------------

function networkConfig(rbac: Record<string, Json>): NetworkRbacConfig {
  const r = new ConfigReader({ "@type": T_NET_RBAC, ...rbac }, "typed_config");
  return resolveTypedConfig<NetworkRbacConfig>("network_filter", "rbac", r).config;
}

/** A connection as the PROXY filter leaves it: remote = the header's source, directRemote = the LB. */
function connection(t: Parameters<typeof startTollgate>[0], remoteIp: string): { conn: DownstreamConnection; socket: Socket } {
  const socket = new Socket();
  t.teardown(() => {
    socket.destroy();
  });
  const conn = new DownstreamConnection(socket);
  conn.remote = { ip: remoteIp, port: 40000 };
  conn.local = { ip: "192.0.2.1", port: 443 };
  return { conn, socket };
}

class FakeTimers implements DenyTimers {
  pending: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  setTimeout(fn: () => void, ms: number): unknown {
    const h = { fn, ms, cleared: false };
    this.pending.push(h);
    return h;
  }
  clearTimeout(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
}

test("a denial records the policy in %CONNECTION_TERMINATION_DETAILS% and closes at once", (t) => {
  const cfg = networkConfig({ stat_prefix: "tcp", rules: { action: "DENY", policies: { "blocked office": office } } });
  const store = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  const filter = new NetworkRbacFilter(cfg, new NetworkRbacStats(store, cfg));
  const denied = connection(t, "203.0.113.9");
  t.false(filter.onNewConnection(denied.conn, denied.socket));
  t.is(denied.conn.terminationDetails, "rbac_access_denied_matched_policy[blocked_office]");
  t.true(denied.socket.destroyed);
  const allowed = connection(t, "198.51.100.7");
  t.true(filter.onNewConnection(allowed.conn, allowed.socket));
  t.is(allowed.conn.terminationDetails, undefined);
  t.false(allowed.socket.destroyed);
  t.is(store.counter("tcp.rbac.denied").value(), 1);
  t.is(store.counter("tcp.rbac.allowed").value(), 1);

  const none = networkConfig({ stat_prefix: "tcp", rules: { policies: { office } } });
  const f2 = new NetworkRbacFilter(none, new NetworkRbacStats(store, none));
  const c = connection(t, "198.51.100.7");
  t.false(f2.onNewConnection(c.conn, c.socket));
  t.is(c.conn.terminationDetails, "rbac_access_denied_matched_policy[none]");
});

test("delay_deny: reading stops, the close waits for the timer, and a peer that leaves first cancels it", async (t) => {
  const cfg = networkConfig({ stat_prefix: "tcp", delay_deny: "2s", rules: { policies: {} } });
  const timers = new FakeTimers();
  const filter = new NetworkRbacFilter(cfg, new NetworkRbacStats(new StatsStore({ processMetrics: false, flushIntervalMs: 0 }), cfg), timers);
  const a = connection(t, "198.51.100.7");
  a.socket.resume(); // what the listener does before the filter chain starts
  t.false(filter.onNewConnection(a.conn, a.socket));
  t.false(a.socket.destroyed);
  t.true(a.socket.isPaused());
  t.is(timers.pending.length, 1);
  t.is(timers.pending[0]!.ms, 2000);
  timers.pending[0]!.fn();
  t.true(a.socket.destroyed);

  const b = connection(t, "198.51.100.8");
  t.false(filter.onNewConnection(b.conn, b.socket));
  const closed = new Promise<void>((resolve) => b.socket.once("close", () => resolve()));
  b.socket.destroy();
  await closed;
  t.true(timers.pending[1]!.cleared);
});

test("L4 shadow results go to the connection's envoy.filters.network.rbac metadata; LOG sets access_log_hint", (t) => {
  const cfg = networkConfig({
    stat_prefix: "tcp",
    shadow_rules: { action: "DENY", policies: { office } },
    shadow_rules_stat_prefix: "trial_",
    rules: { action: "LOG", policies: { office } },
  });
  const filter = new NetworkRbacFilter(cfg, new NetworkRbacStats(new StatsStore({ processMetrics: false, flushIntervalMs: 0 }), cfg));
  const a = connection(t, "203.0.113.9");
  t.true(filter.onNewConnection(a.conn, a.socket));
  t.deepEqual(a.conn.dynamicMetadata.get("envoy.filters.network.rbac"), { trial_shadow_effective_policy_id: "office", trial_shadow_engine_result: "denied" });
  t.deepEqual(a.conn.dynamicMetadata.get("envoy.common"), { access_log_hint: true });
  const b = connection(t, "198.51.100.7");
  t.true(filter.onNewConnection(b.conn, b.socket));
  t.deepEqual(b.conn.dynamicMetadata.get("envoy.filters.network.rbac"), { trial_shadow_engine_result: "allowed" });
  t.deepEqual(b.conn.dynamicMetadata.get("envoy.common"), { access_log_hint: false });
});

test("at L4 remote_ip is the PROXY source and direct_remote_ip the TCP peer", (t) => {
  const cfg = networkConfig({
    stat_prefix: "tcp",
    rules: { policies: { lb: { permissions: [{ any: true }], principals: [{ and_ids: { ids: [{ remote_ip: cidr("203.0.113.9") }, { direct_remote_ip: cidr("10.0.0.5") }] } }] } } },
  });
  const filter = new NetworkRbacFilter(cfg, new NetworkRbacStats(new StatsStore({ processMetrics: false, flushIntervalMs: 0 }), cfg));
  const socket = new Socket();
  t.teardown(() => {
    socket.destroy();
  });
  // The TCP peer is fixed at accept time; a fake one stands in for the LB here.
  Object.defineProperty(socket, "remoteAddress", { value: "10.0.0.5" });
  const conn = new DownstreamConnection(socket);
  conn.remote = { ip: "203.0.113.9", port: 1 };
  t.true(filter.onNewConnection(conn, socket));
  conn.remote = { ip: "203.0.113.10", port: 1 };
  t.false(filter.onNewConnection(conn, socket));
});
