// Shared helpers for the upstream / cluster tests: loopback servers that close themselves on teardown, cluster
// config builders, a seeded random source, and small request helpers.
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import type { ExecutionContext } from "ava";
import { StatsStore } from "../proxy/observability/stats.js";
import { parseClusterJson, type ClusterConfig } from "../proxy/upstream/config.js";
import { Cluster, type ClusterOptions } from "../proxy/upstream/cluster.js";
import type { Host } from "../proxy/upstream/host.js";

export function newStats(): StatsStore {
  return new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
}

/** An HTTP server on 127.0.0.1 (or ::1), port 0, closed (with its connections) at teardown. */
export async function httpServer(
  t: ExecutionContext,
  handler: http.RequestListener,
  host = "127.0.0.1",
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  server.listen(0, host);
  await once(server, "listening");
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A raw TCP server on 127.0.0.1, port 0, closed (with its sockets) at teardown. */
export async function tcpServer(t: ExecutionContext, onSocket: (s: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
/**
 * A port on 127.0.0.1 where a connect is refused. Not one that was free a moment ago (another test file running in
 * parallel may be given it): port 1 (tcpmux) needs root to bind and no test binds it.
 */
export async function closedPort(): Promise<number> {
  return 1;
}

export function lbEndpoint(address: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

/** A Cluster message with the given lb_endpoints and extra top-level fields. */
export function clusterJson(name: string, lbEndpoints: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] }, ...extra };
}

export function parse(json: Record<string, unknown>): ClusterConfig {
  return parseClusterJson(json, "static_resources.clusters[0]");
}

/** Build a cluster, initialise it, and close it at teardown. */
export async function makeCluster(
  t: ExecutionContext,
  json: Record<string, unknown>,
  opts: ClusterOptions & { stats?: StatsStore; init?: boolean } = {},
): Promise<{ cluster: Cluster; stats: StatsStore }> {
  const stats = opts.stats ?? newStats();
  const cluster = new Cluster(parse(json), stats, opts);
  t.teardown(() => cluster.close());
  if (opts.init !== false) await cluster.initialize();
  return { cluster, stats };
}

/** mulberry32: a small deterministic PRNG in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function noSignal(): AbortSignal {
  return new AbortController().signal;
}

/** GET through a host; resolves with status and the body as text. */
export async function get(host: Host, path = "/", extra: { timeoutMs?: number; headers?: [string, string][] } = {}): Promise<{ status: number; body: string; headers: [string, string][] }> {
  const res = await host.request({
    method: "GET",
    path,
    headers: extra.headers ?? [["host", "test"]],
    body: null,
    timeoutMs: extra.timeoutMs ?? 5000,
    signal: noSignal(),
  });
  let body = "";
  res.body.setEncoding("utf8");
  for await (const chunk of res.body) body += chunk;
  return { status: res.statusCode, body, headers: res.headers };
}

/** Resolve when `predicate()` holds, re-checking on every `event` of `emitter`. */
export async function until(emitter: NodeJS.EventEmitter, event: string, predicate: () => boolean): Promise<void> {
  while (!predicate()) await once(emitter, event);
}

export function counter(stats: StatsStore, name: string): number {
  return stats.counter(name).value();
}

export function gauge(stats: StatsStore, name: string): number {
  return stats.gauge(name).value();
}
