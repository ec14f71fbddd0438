// The explain tool at the HTTP level: what the connection manager and its HTTP filters would do with one request,
// computed by their own code (connection-manager.ts's prepareRequest: the client address with explain=true, the
// header mutation, route selection; each filter's settings and descriptors, RbacEngine.explain(), the rate
// limiter's peek()) and never by running them: no stat moves, no token is taken, nothing is sent.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { DownstreamConnection, Endpoint } from "../listener/connection.js";
import { formatEndpoint } from "../listener/connection.js";
import { LocalRateLimiter } from "../filters/common/ratelimit/limiter.js";
import { rateLimitClock } from "../filters/common/ratelimit/clock.js";
import { RbacRequest } from "../filters/common/rbac/request.js";
import type { HttpLocalRateLimitConfig } from "../filters/http/local-ratelimit/config.js";
import { LIMITED_DETAILS, LocalRateLimitFilter } from "../filters/http/local-ratelimit/filter.js";
import type { HttpRbacConfig } from "../filters/http/rbac/config.js";
import { DENIED_BODY, DENIED_STATUS, HttpRbacFilter } from "../filters/http/rbac/filter.js";
import { prepareRequest, type ConnectionManager } from "../filters/network/http-connection-manager/connection-manager.js";
import { HeaderList } from "../filters/network/http-connection-manager/header-list.js";
import type { Route, RouteMatch, RouteTable } from "../filters/network/http-connection-manager/route-config.js";
import { findVirtualHost } from "../filters/network/http-connection-manager/route-match.js";
import type { HttpStream, LocalReplyOptions } from "../filters/network/http-connection-manager/stream.js";
import type { ClusterManager } from "../upstream/cluster-manager.js";
import type { ExplainInput } from "./explain-input.js";
import {
  bucketReports, engineReport, fractionText, rbacAddresses, type Decision, type HttpFilterStep, type HttpRateLimitReport, type HttpStep,
  type RbacFilterReport, type RouteReport,
} from "./explain-report.js";

/** Thrown if a filter tries to answer or write through the explain tool's stream: explain never sends anything. */
export class ExplainOnlyError extends Error {
  readonly code = "EXPLAIN_ONLY";
  constructor(what: string) {
    super(`the explain tool's request has no ${what}: nothing is sent`);
  }
}

/** The request as the HTTP filters read it. Reading is all they may do: every way to answer throws. */
class ExplainStream implements HttpStream {
  readonly startTime = Date.now();
  readonly protocol = "HTTP/1.1";
  responseFlags: string[] = [];
  responseCodeDetails: string | undefined = undefined;
  upstreamHost: string | undefined = undefined;
  upstreamCluster: string | undefined = undefined;
  bytesSent = 0;
  bytesReceivedSource: { bytes: number } | null = null;
  upgradeHead: Buffer | undefined = undefined;
  tunnel: { status: number; bytesReceived: number; bytesSent: number } | null = null;

  constructor(
    readonly conn: DownstreamConnection,
    readonly method: string,
    readonly path: string,
    readonly authority: string,
    readonly headers: HeaderList,
    readonly clientAddress: Endpoint,
    readonly route: Route | null,
  ) {}

  get req(): IncomingMessage {
    throw new ExplainOnlyError("socket (req)");
  }
  get res(): ServerResponse {
    throw new ExplainOnlyError("response (res)");
  }
  finish(): void {}
  writeResponseHead(): void {
    throw new ExplainOnlyError("response head");
  }
  addResponseHeaders(): void {
    throw new ExplainOnlyError("response headers");
  }
  setMetadata(): void {
    throw new ExplainOnlyError("dynamic metadata");
  }
  sendLocalReply(_status: number, _body: string, _opts: LocalReplyOptions): void {
    throw new ExplainOnlyError("local reply");
  }
}


function matchText(m: RouteMatch): string {
  const p = m.path;
  let s: string;
  switch (p.kind) {
    case "prefix":
      s = `prefix ${JSON.stringify(p.value)}`;
      break;
    case "path":
      s = `path ${JSON.stringify(p.value)}`;
      break;
    case "safe_regex":
      s = `safe_regex ${JSON.stringify(p.regex.source)}`;
      break;
    case "path_separated_prefix":
      s = `path_separated_prefix ${JSON.stringify(p.value)}`;
      break;
  }
  if (!m.caseSensitive && p.kind !== "safe_regex") s += " (case-insensitive)";
  if (m.headers.length > 0) s += `, headers: ${m.headers.map((h) => h.name).join(", ")}`;
  if (m.queryParameters.length > 0) s += `, query parameters: ${m.queryParameters.map((q) => q.name).join(", ")}`;
  if (m.grpc) s += ", gRPC only";
  return s;
}

function actionText(r: Route): string {
  const a = r.action;
  if (a.kind === "direct_response") return `direct_response ${a.status}`;
  let s = a.cluster.kind === "cluster" ? `cluster ${a.cluster.name}` : `the cluster named by header ${a.cluster.header}`;
  if (a.prefixRewrite !== null) s += `, prefix_rewrite ${JSON.stringify(a.prefixRewrite)}`;
  if (a.regexRewrite !== null) s += ", regex_rewrite";
  if (a.hostRewriteLiteral !== null) s += `, host_rewrite_literal ${a.hostRewriteLiteral}`;
  return s;
}

function routeReport(table: RouteTable, authority: string, method: string, path: string, route: Route | null, rejected: boolean): RouteReport {
  if (rejected) return { virtual_host: null, domains: [], route: null, match: null, action: null, explanation: "not routed: the request is refused before routing" };
  const vh = findVirtualHost(table, authority);
  if (vh === null) {
    return { virtual_host: null, domains: [], route: null, match: null, action: null, explanation: `no virtual host matches host ${JSON.stringify(authority)}` };
  }
  if (route === null) {
    return {
      virtual_host: vh.name,
      domains: vh.domains,
      route: null,
      match: null,
      action: null,
      explanation: `no route of virtual host ${JSON.stringify(vh.name)} matches ${method} ${path}`,
    };
  }
  const index = vh.routes.indexOf(route);
  return {
    virtual_host: vh.name,
    domains: vh.domains,
    route: route.name,
    match: matchText(route.match),
    action: actionText(route),
    explanation: `virtual host ${JSON.stringify(vh.name)}, routes[${index}]${route.name ? ` (${JSON.stringify(route.name)})` : ""}: the first route that matches`,
  };
}

function rbacStep(f: HttpRbacFilter, own: HttpRbacConfig, stream: ExplainStream): RbacFilterReport {
  const s = f.settingsFor(stream);
  const req = RbacRequest.forHttp(stream.conn, stream.clientAddress, stream);
  const shadow = s?.shadowRules ? engineReport(s.shadowRules, req) : null;
  const rules = s?.rules ? engineReport(s.rules, req) : null;
  return {
    level: "http",
    settings: s === null ? "disabled" : s === own.settings ? "filter" : "route",
    addresses: rbacAddresses(req),
    shadow_rules: shadow,
    rules,
    allowed: rules === null ? true : rules.allowed,
    details: rules?.details ?? null,
  };
}

function descriptorSource(cfg: HttpLocalRateLimitConfig, route: Route | null): string {
  if (!cfg.hasDescriptors) return "no descriptors configured: only token_bucket applies";
  if (cfg.rateLimits !== null) return `the filter's own rate_limits of stage ${cfg.stage}`;
  if (route === null) return "the route's rate_limits: no route matched, so none";
  if (route.action.kind !== "route") return "the route's rate_limits: a direct-response route has none";
  const vh = route.action.includeVhRateLimits
    ? "the virtual host's are added (include_vh_rate_limits)"
    : {
        INCLUDE: "the virtual host's are added (vh_rate_limits INCLUDE)",
        OVERRIDE: "the virtual host's apply when the route has none (vh_rate_limits OVERRIDE)",
        IGNORE: "the virtual host's are ignored (vh_rate_limits IGNORE)",
      }[cfg.vhRateLimits];
  return `the route's rate_limits of stage ${cfg.stage}; ${vh}`;
}

function rateLimitStep(f: LocalRateLimitFilter, own: HttpLocalRateLimitConfig, stream: ExplainStream): HttpRateLimitReport {
  const rt = f.runtimeFor(stream.route);
  if (rt === null) {
    return {
      stat_prefix: own.statPrefix,
      settings: "disabled",
      filter_enabled: fractionText(own.filterEnabled),
      filter_enforced: fractionText(own.filterEnforced),
      descriptor_source: "the route disables the filter",
      descriptors: [],
      unmatched_descriptors: [],
      buckets_scope: own.perConnection ? "per_connection" : "shared",
      buckets: [],
      allowed: true,
      outcome: "disabled",
      status: own.status,
    };
  }
  const cfg = rt.config;
  const descriptors = f.descriptors(cfg, stream);
  // A per-connection limiter belongs to a connection; the one a new connection would get starts full.
  const limiter = rt.sharedLimiter ?? new LocalRateLimiter(cfg.limiter, { clock: rateLimitClock(), clientTables: false });
  const peek = limiter.peek(descriptors);
  const outcome: HttpRateLimitReport["outcome"] =
    cfg.filterEnabled.numerator === 0 ? "inert" : peek.allowed ? "allowed" : cfg.filterEnforced.numerator === 0 ? "limited_not_enforced" : "rate_limited";
  return {
    stat_prefix: cfg.statPrefix,
    settings: cfg === own ? "filter" : "route",
    filter_enabled: fractionText(cfg.filterEnabled),
    filter_enforced: fractionText(cfg.filterEnforced),
    descriptor_source: descriptorSource(cfg, stream.route),
    descriptors: descriptors.map((d) => d.map((e) => `${e.key}=${e.value}`).join(", ")),
    unmatched_descriptors: peek.unmatched,
    buckets_scope: cfg.perConnection ? "per_connection" : "shared",
    buckets: bucketReports(peek),
    allowed: peek.allowed,
    outcome,
    status: cfg.status,
  };
}

function routerOutcome(route: Route | null, headers: HeaderList, clusters: ClusterManager): { text: string; decision: Decision } {
  const by = "envoy.filters.http.router";
  if (route === null) {
    return {
      text: "no route: 404 (NR, route_not_found)",
      decision: { outcome: "local_reply", status: 404, details: "route_not_found", by, summary: "404 Not Found: no route matches (response flag NR)" },
    };
  }
  const a = route.action;
  if (a.kind === "direct_response") {
    return {
      text: `direct response ${a.status}`,
      decision: { outcome: "local_reply", status: a.status, details: "direct_response", by, summary: `${a.status} from the route's direct_response` },
    };
  }
  const name = a.cluster.kind === "cluster" ? a.cluster.name : (headers.get(a.cluster.header) ?? "");
  if (clusters.get(name) === undefined) {
    return {
      text: `cluster ${JSON.stringify(name)} does not exist: ${a.clusterNotFoundStatus} (NC, cluster_not_found)`,
      decision: { outcome: "local_reply", status: a.clusterNotFoundStatus, details: "cluster_not_found", by, summary: `${a.clusterNotFoundStatus}: unknown cluster ${JSON.stringify(name)} (response flag NC)` },
    };
  }
  return {
    text: `forwarded to cluster ${name}`,
    decision: { outcome: "forwarded", status: null, details: null, by, summary: `forwarded to cluster ${name}: the upstream answers` },
  };
}

/**
 * The HTTP half of an explanation. `reached` is false when something before the connection manager already decided
 * (the steps are still computed, and marked not reached). Returns the step and the decision it comes to.
 */
export function explainHttp(
  hcm: ConnectionManager,
  conn: DownstreamConnection,
  input: ExplainInput,
  clusters: ClusterManager,
  reached: boolean,
): { step: HttpStep; decision: Decision } {
  const cfg = hcm.config;
  const entries: Array<[string, string]> = [["host", input.host]];
  for (const [k, v] of input.headers) entries.push([k, v]);
  if (input.xff !== undefined) entries.push(["x-forwarded-for", input.xff]);
  const headers = new HeaderList(entries);
  const { method, path } = input;

  const rh = cfg.requestHeaders;
  const xffIn = headers.getJoined("x-forwarded-for"); // as received, before the mutation appends to it
  // The connection manager's own request preparation (connection-manager.ts prepareRequest), with the steps.
  const { reject, client, clientAddress, authority, route } = prepareRequest(cfg, conn, headers, method, path, null, true);
  const stream = new ExplainStream(conn, method, path, authority, headers, clientAddress, route);

  const hcmBy = `envoy.filters.network.http_connection_manager (${cfg.statPrefix})`;
  let decision: Decision | null =
    reject === null ? null : { outcome: "local_reply", status: reject.status, details: reject.details, by: hcmBy, summary: `${reject.status}: the request is refused (${reject.details})` };

  const filters: HttpFilterStep[] = [];
  cfg.httpFilters.forEach((ext, index) => {
    const built = hcm.filters[index];
    const filterReached = reached && decision === null;
    if (built instanceof HttpRbacFilter) {
      const rbac = rbacStep(built, ext.config as HttpRbacConfig, stream);
      filters.push({ name: ext.name, kind: "rbac", index, reached: filterReached, rbac });
      if (filterReached && !rbac.allowed) {
        decision = {
          outcome: "denied",
          status: DENIED_STATUS,
          details: rbac.details,
          by: `${ext.name} (http_filters[${index}])`,
          summary: `${DENIED_STATUS} ${DENIED_BODY}`,
        };
      }
    } else if (built instanceof LocalRateLimitFilter) {
      const ratelimit = rateLimitStep(built, ext.config as HttpLocalRateLimitConfig, stream);
      filters.push({ name: ext.name, kind: "local_ratelimit", index, reached: filterReached, ratelimit });
      if (filterReached && ratelimit.outcome === "rate_limited") {
        decision = {
          outcome: "rate_limited",
          status: ratelimit.status,
          details: LIMITED_DETAILS,
          by: `${ext.name} (http_filters[${index}])`,
          summary: `${ratelimit.status} local_rate_limited (response flag RL)`,
        };
      }
    } else if (ext.config.terminal) {
      const r = routerOutcome(route, headers, clusters);
      filters.push({ name: ext.name, kind: "router", index, reached: filterReached, outcome: r.text });
      if (filterReached) decision = r.decision;
    } else {
      filters.push({ name: ext.name, kind: "other", index, reached: filterReached });
    }
  });

  const step: HttpStep = {
    stat_prefix: cfg.statPrefix,
    reached,
    client_address: {
      connection_remote: formatEndpoint(conn.remote),
      use_remote_address: rh.xff.useRemoteAddress,
      xff_num_trusted_hops: rh.xff.xffNumTrustedHops,
      skip_xff_append: rh.xff.skipXffAppend,
      x_forwarded_for: xffIn ?? null,
      trusted_address: client.trustedAddress,
      from_xff: client.trustedFromXff,
      internal: client.internal,
      edge: client.edge,
      x_forwarded_for_upstream: client.xffHeaderOut,
      steps: client.hopsExplained,
      stream_remote: formatEndpoint(clientAddress),
    },
    rejected: reject,
    route: routeReport(cfg.routeTable, authority, method, path, route, reject !== null),
    filters,
  };
  const final: Decision = decision ?? { outcome: "forwarded", status: null, details: null, by: hcmBy, summary: "no HTTP filter answers" };
  return { step, decision: final };
}
