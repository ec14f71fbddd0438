// The admin listener: plain HTTP (node:http; never PROXY protocol, never TLS), Envoy's endpoints and replies.
//
// Dispatch as Envoy's AdminImpl::makeRequest: the path before `?` must equal an endpoint exactly (`/stats/` is not
// `/stats`); an endpoint that changes state answers only POST: any other method gets 405 and
// `Method GET not allowed, POST required.` with nothing changed; an unknown path gets 404 with
// `invalid path. admin commands are:` and the list of endpoints. Every response carries
// `cache-control: no-cache, max-age=0` and `x-content-type-options: nosniff`, as Envoy's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AccessLogContext, HeaderSource } from "../observability/access-log/context.js";
import { reopenAccessLogs } from "../observability/access-log/sinks.js";
import { componentLogger } from "../observability/logger.js";
import { dashboardData, dashboardPage } from "./dashboard.js";
import { handleLogging } from "./logging-handler.js";
import { parseQuery, type Query } from "./query.js";
import { json, text, TEXT, type AdminResponse } from "./response.js";
import { handlePrometheusStats, handleStats } from "./stats-handler.js";
import { ExplainInputError, explainParamsFromQuery, parseExplainParams } from "../tools/explain-input.js";
import type { AdminDeps } from "./types.js";

const log = componentLogger("admin");

interface Param {
  id: string;
  help: string;
  choices?: readonly string[];
}

interface Endpoint {
  path: string;
  help: string;
  /** Changes server state: POST only. */
  mutates: boolean;
  params?: readonly Param[];
  handle(deps: AdminDeps, query: Query): AdminResponse | Promise<AdminResponse>;
}

const OK = (): AdminResponse => text("OK\n");

function uptime(fromMs: number, nowMs: number): string {
  return `${Math.max(0, Math.floor((nowMs - fromMs) / 1000))}s`;
}

function formatHostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    path: "/",
    help: "Admin home page: the live dashboard (HTML; the endpoint list is at /help)",
    mutates: false,
    handle: () => dashboardPage(),
  },
  {
    path: "/dashboard/data",
    help: "the dashboard's data as JSON: requests per second by status class, top client addresses, RBAC denials, rate limiting, upstream health",
    mutates: false,
    params: [{ id: "top", help: "Entries per top list (1..100, default 10)" }],
    handle: (deps, query) => dashboardData(deps, query),
  },
  {
    path: "/help",
    help: "print out list of admin commands",
    mutates: false,
    handle: () => text(helpText()),
  },
  {
    path: "/ready",
    help: "print server state, return 200 if LIVE, otherwise return 503",
    mutates: false,
    handle: (deps) => {
      const state = deps.getState();
      return text(`${state}\n`, state === "LIVE" ? 200 : 503);
    },
  },
  {
    path: "/server_info",
    help: "print server version/status information",
    mutates: false,
    handle: (deps) => {
      const info = deps.serverInfo();
      const now = (deps.now ?? Date.now)();
      return json({
        version: info.version,
        state: deps.getState(),
        hot_restart_version: info.hotRestartVersion ?? "disabled",
        command_line_options: info.commandLineOptions,
        node: info.node,
        uptime_current_epoch: uptime(info.startTimeCurrentEpochMs, now),
        uptime_all_epochs: uptime(info.startTimeFirstEpochMs, now),
      });
    },
  },
  {
    path: "/stats",
    help: "print server stats",
    mutates: false,
    params: [
      { id: "usedonly", help: "Only include stats that have been written by system since restart" },
      { id: "filter", help: "Regular expression (JavaScript syntax, partial match) for filtering stats" },
      { id: "format", help: "Format to use", choices: ["text", "json", "prometheus"] },
      { id: "type", help: "Stat types to include.", choices: ["All", "Counters", "Histograms", "Gauges", "TextReadouts"] },
      { id: "histogram_buckets", help: "Histogram bucket display mode", choices: ["cumulative", "disjoint", "none"] },
    ],
    handle: (deps, query) => handleStats(deps.stats, query),
  },
  {
    path: "/stats/prometheus",
    help: "print server stats in prometheus format",
    mutates: false,
    params: [
      { id: "usedonly", help: "Only include stats that have been written by system since restart" },
      { id: "text_readouts", help: "Render text_readouts as new gaugues with value 0 (Tollgate has none)" },
      { id: "filter", help: "Regular expression (JavaScript syntax, partial match) for filtering stats" },
    ],
    handle: (deps, query) => handlePrometheusStats(deps.stats, query),
  },
  {
    path: "/config_dump",
    help: "dump current Envoy configs (experimental)",
    mutates: false,
    params: [{ id: "include_eds", help: "Dump currently loaded configuration including EDS (Tollgate has no EDS)" }],
    handle: (deps, query) => {
      for (const p of ["resource", "mask", "name_regex"]) {
        if (query.has(p)) return text(`Tollgate does not support /config_dump?${p}= yet: dump everything\n`, 400);
      }
      return json(deps.configDump());
    },
  },
  {
    path: "/clusters",
    help: "upstream cluster status",
    mutates: false,
    params: [{ id: "format", help: "File format to use", choices: ["text", "json"] }],
    handle: (deps, query) => {
      const format = query.get("format") ?? "text";
      if (format !== "text" && format !== "json") return text("usage: /clusters?format=(text|json)\n", 400);
      const out = deps.clusters(format);
      if (typeof out !== "string") return json(out);
      return format === "json" ? { status: 200, contentType: "application/json", body: out } : text(out);
    },
  },
  {
    path: "/listeners",
    help: "print listener info",
    mutates: false,
    params: [{ id: "format", help: "File format to use", choices: ["text", "json"] }],
    handle: (deps, query) => {
      const format = query.get("format") ?? "text";
      const listeners = deps.listeners();
      if (format === "json") {
        return json({
          listener_statuses: listeners.map((l) => ({
            name: l.name,
            local_address: { socket_address: { address: l.address, port_value: l.port } },
          })),
        });
      }
      if (format !== "text") return text("usage: /listeners?format=(text|json)\n", 400);
      return text(listeners.map((l) => `${l.name}::${formatHostPort(l.address, l.port)}\n`).join(""));
    },
  },
  {
    path: "/rbac/explain",
    help: "explain what the running configuration would do with one request: PROXY header, trusted client address, route, RBAC policies, rate-limit buckets (JSON; docs/explain.md)",
    mutates: false,
    params: [
      { id: "peer", help: "The TCP peer (the load balancer): ip or ip:port (required)" },
      { id: "proxy_src", help: "The PROXY header's source address; omit when the LB sends none" },
      { id: "proxy_dst", help: "The PROXY header's destination address (default: the listener's)" },
      { id: "xff", help: "The request's X-Forwarded-For" },
      { id: "path", help: "The request path (default /)" },
      { id: "host", help: "The Host header (default localhost)" },
      { id: "method", help: "The request method (default GET)" },
      { id: "header", help: "Other headers, name:value, several separated by newlines (%0A)" },
      { id: "listener", help: "The listener's name (default: the first)" },
    ],
    handle: (deps, query) => {
      if (!deps.explain) return text("explain is not available\n", 503);
      try {
        return json(deps.explain(parseExplainParams(explainParamsFromQuery(query))));
      } catch (err) {
        if (err instanceof ExplainInputError) return text(`${err.message}\n`, 400);
        throw err;
      }
    },
  },
  {
    path: "/healthcheck/fail",
    help: "cause the server to fail health checks",
    mutates: true,
    handle: (deps) => {
      deps.onHealthcheckFail();
      return OK();
    },
  },
  {
    path: "/healthcheck/ok",
    help: "cause the server to pass health checks",
    mutates: true,
    handle: (deps) => {
      deps.onHealthcheckOk();
      return OK();
    },
  },
  {
    path: "/drain_listeners",
    help: "drain listeners",
    mutates: true,
    params: [
      { id: "graceful", help: "When draining listeners, enter a graceful drain period prior to closing listeners." },
      { id: "skip_exit", help: "When draining listeners, do not exit after the drain period. This must be used with graceful" },
      { id: "inboundonly", help: "Drains all inbound listeners." },
    ],
    handle: (deps, query) => {
      const opts = { graceful: query.has("graceful"), inboundOnly: query.has("inboundonly"), skipExit: query.has("skip_exit") };
      if (opts.skipExit && !opts.graceful) return text("skip_exit requires graceful\n", 400);
      deps.onDrainListeners(opts);
      return OK();
    },
  },
  {
    path: "/quitquitquit",
    help: "exit the server",
    mutates: true,
    handle: (deps) => ({ ...OK(), after: () => deps.onQuit() }),
  },
  {
    path: "/logging",
    help: "query/change logging levels",
    mutates: true,
    params: [
      { id: "paths", help: "Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>." },
      { id: "level", help: "desired logging level", choices: ["", "trace", "debug", "info", "warning", "error", "critical", "off"] },
    ],
    handle: (_deps, query) => handleLogging(query),
  },
  {
    path: "/reopen_logs",
    help: "reopen access logs",
    mutates: true,
    handle: (deps) => {
      reopenAccessLogs();
      deps.onReopenLogs?.();
      return OK();
    },
  },
  {
    path: "/reset_counters",
    help: "reset all counters to zero",
    mutates: true,
    handle: (deps) => {
      deps.stats.resetCounters();
      return OK();
    },
  },
];

const BY_PATH = new Map(ENDPOINTS.map((e) => [e.path, e]));

/** Envoy's help text: endpoints sorted by path, `(POST)` on the mutating ones, their parameters indented. */
export function helpText(): string {
  let s = "admin commands are:\n";
  for (const e of [...ENDPOINTS].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    s += `  ${e.path}${e.mutates ? " (POST)" : ""}: ${e.help}\n`;
    for (const p of e.params ?? []) {
      s += `      ${p.id}: ${p.help}`;
      if (p.choices) s += `; One of (${p.choices.join(", ")})`;
      s += "\n";
    }
  }
  return s;
}

/** Answer one admin request (no I/O: the HTTP server below writes the result). */
export async function handleAdminRequest(deps: AdminDeps, method: string, pathAndQuery: string): Promise<AdminResponse> {
  const { path, query } = parseQuery(pathAndQuery);
  const endpoint = BY_PATH.get(path);
  if (endpoint === undefined) return text(`invalid path. ${helpText()}`, 404);
  if (endpoint.mutates && method !== "POST") {
    log.error({ path, method }, `admin path "${path}" mutates state, method=${method} rather than POST`);
    return text(`Method ${method} not allowed, POST required.`, 405);
  }
  try {
    return await endpoint.handle(deps, query);
  } catch (err) {
    log.error({ err, path }, "admin handler failed");
    return text(`internal error: ${(err as Error).message}\n`, 500);
  }
}

export interface AdminServer {
  /** The bound address and port (a requested port 0 is replaced by the one chosen). */
  readonly address: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

function socketAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return "";
  const a = address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
  return port === undefined ? a : formatHostPort(a, port);
}

function requestHeaderSource(req: IncomingMessage): HeaderSource {
  return {
    get(name: string): string | undefined {
      switch (name) {
        case ":method":
          return req.method;
        case ":path":
          return req.url;
        case ":authority":
          return req.headers.host;
        case ":scheme":
          return "http";
      }
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(",") : v;
    },
  };
}

function logRequest(deps: AdminDeps, req: IncomingMessage, res: AdminResponse, startTime: number, bytesSent: number): void {
  const loggers = deps.accessLogs;
  if (!loggers || loggers.length === 0) return;
  const sock = req.socket;
  const ctx: AccessLogContext = {
    startTime,
    requestHeaders: requestHeaderSource(req),
    responseHeaders: { get: (name) => (name === "content-type" ? res.contentType : undefined) },
    protocol: `HTTP/${req.httpVersion}`,
    responseCode: res.status,
    responseFlags: "-",
    bytesReceived: 0,
    bytesSent,
    durationMs: Date.now() - startTime,
    downstreamRemoteAddress: socketAddress(sock.remoteAddress, sock.remotePort),
    downstreamDirectRemoteAddress: socketAddress(sock.remoteAddress, sock.remotePort),
    downstreamLocalAddress: socketAddress(sock.localAddress, sock.localPort),
  };
  for (const l of loggers) l.log(ctx);
}

/** Start the admin listener on `listen` (port 0 = any free port). */
export async function createAdminServer(deps: AdminDeps, listen: { address: string; port: number }): Promise<AdminServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const startTime = Date.now();
    req.resume(); // admin requests carry no body we use; drain whatever comes
    void handleAdminRequest(deps, req.method ?? "GET", req.url ?? "/").then((r) => {
      const body = Buffer.from(r.body, "utf8");
      res.writeHead(r.status, {
        ...r.headers,
        "content-type": r.contentType,
        "content-length": body.length,
        "cache-control": "no-cache, max-age=0",
        "x-content-type-options": "nosniff",
      });
      res.end(body, () => {
        logRequest(deps, req, r, startTime, req.method === "HEAD" ? 0 : body.length);
        if (r.after) {
          try {
            r.after();
          } catch (err) {
            log.error({ err }, "admin post-response action failed");
          }
        }
      });
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: ${TEXT}\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err }, "admin listener error"));
  const bound = server.address() as AddressInfo;
  log.info({ address: formatHostPort(bound.address, bound.port) }, "admin address");
  return {
    address: bound.address,
    port: bound.port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
