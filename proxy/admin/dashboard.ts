// The admin home page: a live dashboard (`/`) and the JSON it polls every second (`/dashboard/data`).
//
// The page is one self-contained HTML document (dashboard-page.ts): inline CSS and JS, charts drawn as inline SVG,
// nothing fetched but `dashboard/data` from the same origin. Its Content-Security-Policy says so to the browser:
// `default-src 'none'`, the one inline script allowed by its SHA-256, `connect-src 'self'`.
//
// The data is read-only: the activity recorder's snapshot (observability/activity.ts), the clusters' host health, the
// server state, and hints an operator should see first, such as "every request comes from one private address",
// which is what a load balancer without PROXY protocol looks like.
import type { ActivitySnapshot, TopEntry } from "../observability/activity.js";
import { parseIp } from "../net/ip.js";
import { DASHBOARD_HTML, DASHBOARD_SCRIPT_SHA256 } from "./dashboard-page.js";
import type { Query } from "./query.js";
import { HTML, JSON_TYPE, text, type AdminResponse } from "./response.js";
import type { AdminDeps, DashboardCluster } from "./types.js";

export const DASHBOARD_CSP =
  `default-src 'none'; script-src 'sha256-${DASHBOARD_SCRIPT_SHA256}'; style-src 'unsafe-inline'; img-src data:; ` +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": DASHBOARD_CSP,
  "referrer-policy": "no-referrer",
});

/** Hosts listed per cluster; the counts always cover all of them. */
const MAX_HOSTS_LISTED = 50;

export interface ClusterHealth {
  name: string;
  total: number;
  healthy: number;
  degraded: number;
  unhealthy: number;
  /** Excluded from load balancing (counted here, not in healthy/degraded/unhealthy). */
  excluded: number;
  /** Hosts that are not plainly healthy first, then the others; at most MAX_HOSTS_LISTED. */
  hosts: Array<{ address: string; health: string; flags: string }>;
}

export interface DashboardHint {
  level: "warn" | "info";
  text: string;
}

export interface DashboardData {
  server: { version: string; state: string; uptimeSeconds: number; connections: number | null };
  /** null when the server has no activity recorder. */
  activity: ActivitySnapshot | null;
  upstreams: ClusterHealth[];
  hints: DashboardHint[];
}

export function dashboardPage(): AdminResponse {
  return { status: 200, contentType: HTML, body: DASHBOARD_HTML, headers: PAGE_HEADERS };
}

export function clusterHealth(clusters: Iterable<DashboardCluster>): ClusterHealth[] {
  const out: ClusterHealth[] = [];
  for (const c of clusters) {
    const h: ClusterHealth = { name: c.name, total: c.hosts.length, healthy: 0, degraded: 0, unhealthy: 0, excluded: 0, hosts: [] };
    const troubled: ClusterHealth["hosts"] = [];
    const fine: ClusterHealth["hosts"] = [];
    for (const host of c.hosts) {
      const health = host.excluded() ? "excluded" : host.health();
      h[health]++;
      (health === "healthy" ? fine : troubled).push({ address: host.addressString, health, flags: host.healthFlagsString() });
    }
    h.hosts = [...troubled, ...fine].slice(0, MAX_HOSTS_LISTED);
    out.push(h);
  }
  return out;
}

/** Loopback, RFC 1918, CGNAT (100.64/10), link-local, ULA (fc00::/7): what a load balancer or node address looks like. */
export function isInternalAddress(ip: string): boolean {
  const b = parseIp(ip);
  if (b === null) return false;
  if (b.length === 4) {
    const [a, x] = [b[0]!, b[1]!];
    return a === 10 || a === 127 || (a === 172 && (x & 0xf0) === 16) || (a === 192 && x === 168) || (a === 100 && (x & 0xc0) === 64) || (a === 169 && x === 254);
  }
  if ((b[0]! & 0xfe) === 0xfc) return true;
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return true;
  for (let i = 0; i < 15; i++) if (b[i] !== 0) return false;
  return b[15] === 1;
}

/** Requests in the last minute before a lopsided client mix is worth a hint. */
const HINT_MIN_REQUESTS = 20;
const HINT_SHARE = 0.9;

export function dashboardHints(a: ActivitySnapshot | null, upstreams: readonly ClusterHealth[]): DashboardHint[] {
  const hints: DashboardHint[] = [];
  if (a !== null) {
    const total = a.totals.lastMinute.requests;
    const top: TopEntry | undefined = [...a.topClients].sort((x, y) => y.lastMinute - x.lastMinute)[0];
    if (top !== undefined && total >= HINT_MIN_REQUESTS && top.lastMinute / total >= HINT_SHARE && isInternalAddress(top.key)) {
      const pct = Math.min(100, Math.round((100 * top.lastMinute) / total));
      hints.push({
        level: "warn",
        text:
          `${pct}% of the last minute's requests came from ${top.key}, an internal address. If that is your load ` +
          "balancer or a node, the real client addresses are being lost: enable PROXY protocol on the load balancer " +
          "and the proxy_protocol listener filter (docs/proxy-protocol.md), or set xff_num_trusted_hops if it adds " +
          "X-Forwarded-For. Allowlists and rate limits see the same address as this page.",
      });
    }
  }
  for (const u of upstreams) {
    if (u.total > 0 && u.healthy + u.degraded === 0) {
      hints.push({ level: "warn", text: `Cluster ${u.name}: no healthy host (${u.total} host${u.total === 1 ? "" : "s"}).` });
    } else if (u.total === 0) {
      hints.push({ level: "info", text: `Cluster ${u.name} has no hosts.` });
    }
  }
  return hints;
}

function gaugeValue(deps: AdminDeps, name: string): number | null {
  // Read without creating: a GET must not add stats to the store.
  for (const g of deps.stats.allGauges()) if (g.id.name === name) return g.value();
  return null;
}

export function dashboardData(deps: AdminDeps, query: Query): AdminResponse {
  let top = 10;
  const q = query.get("top");
  if (q !== undefined) {
    top = Number(q);
    if (!Number.isInteger(top) || top < 1 || top > 100) return text("usage: /dashboard/data?top=<1..100>\n", 400);
  }
  const info = deps.serverInfo();
  const now = (deps.now ?? Date.now)();
  const activity = deps.activity ? deps.activity.snapshot({ top }) : null;
  const upstreams = deps.upstreamClusters ? clusterHealth(deps.upstreamClusters()) : [];
  const data: DashboardData = {
    server: {
      version: info.version,
      state: deps.getState(),
      uptimeSeconds: Math.max(0, Math.floor((now - info.startTimeCurrentEpochMs) / 1000)),
      connections: gaugeValue(deps, "server.total_connections"),
    },
    activity,
    upstreams,
    hints: dashboardHints(activity, upstreams),
  };
  // Compact: polled every second by every open dashboard.
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(data) };
}
