// envoy.filters.http.local_ratelimit — per-request logic, following Envoy's Filter::decodeHeaders:
//   1. the config: the route's typed_per_filter_config of this filter when there is one (its own buckets and
//      stats), else the filter's; a route that disables the filter skips it;
//   2. filter_enabled (0% unless set: the filter is inert) -> count `enabled`;
//   3. descriptors (only when descriptors are configured): the filter's own rate_limits, else the route's
//      rate_limits of the filter's stage plus the virtual host's per vh_rate_limits;
//   4. take tokens (common/ratelimit/limiter.ts): allowed -> `ok`; else `rate_limited`, then
//      filter_enforced decides: not enforced -> request_headers_to_add_when_not_enforced and forward;
//      enforced -> `enforced` and the local reply: status (429), body `local_rate_limited`,
//      response_headers_to_add, response flag RL, details `local_rate_limited`.
// With enable_x_ratelimit_headers, x-ratelimit-limit / -remaining / -reset go on the response, forwarded or local.
//
// The client address is the one the connection manager derived (stream.clientAddress); nothing here derives it.
import type { DownstreamConnection } from "../../../listener/connection.js";
import { rateLimitClock, type Clock } from "../../common/ratelimit/clock.js";
import type { RequestDescriptor } from "../../common/ratelimit/descriptors.js";
import { LocalRateLimiter, type LimitDecision } from "../../common/ratelimit/limiter.js";
import { populateDescriptors, type RateLimitRequest } from "../../common/ratelimit/rate-limit-actions.js";
import { sample } from "../../common/ratelimit/runtime-fraction.js";
import { applyHeaderMutation } from "../../network/http-connection-manager/header-mutations.js";
import type { Route } from "../../network/http-connection-manager/route-config.js";
import { perFilterKey } from "../../network/http-connection-manager/route-config.js";
import type { HttpStream } from "../../network/http-connection-manager/stream.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterStatus } from "../../types.js";
import { FILTER_NAME, isLocalRateLimitConfig, type HttpLocalRateLimitConfig } from "./config.js";
import { HttpLocalRateLimitStats } from "./stats.js";

export const LIMITED_BODY = "local_rate_limited";
export const LIMITED_DETAILS = "local_rate_limited";

const NO_DESCRIPTORS: readonly RequestDescriptor[] = Object.freeze([]);

/** A config with its live state: stats and buckets (process-wide, or per connection). */
class ConfigRuntime {
  readonly stats: HttpLocalRateLimitStats;
  private readonly shared: LocalRateLimiter | null;
  private readonly perConnection: WeakMap<DownstreamConnection, LocalRateLimiter> | null;

  constructor(
    readonly config: HttpLocalRateLimitConfig,
    ctx: HttpFilterBuildContext,
    private readonly clock: Clock,
  ) {
    this.stats = new HttpLocalRateLimitStats(ctx.stats, config.statPrefix);
    if (config.perConnection) {
      // Envoy keeps these in the connection's filter state; a WeakMap lets them go with the connection.
      this.shared = null;
      this.perConnection = new WeakMap();
    } else {
      this.shared = new LocalRateLimiter(config.limiter, { clock, clientTables: true, traps: this.stats.wasmTrap });
      this.perConnection = null;
    }
  }

  limiterFor(conn: DownstreamConnection): LocalRateLimiter {
    if (this.shared !== null) return this.shared;
    const map = this.perConnection!;
    let l = map.get(conn);
    if (l === undefined) {
      // A connection carries one client: its per-client descriptors need no table, a small LRU does.
      l = new LocalRateLimiter(this.config.limiter, { clock: this.clock, clientTables: false });
      map.set(conn, l);
    }
    return l;
  }

  /** The process-wide limiter (null for per-connection configs). */
  get sharedLimiter(): LocalRateLimiter | null {
    return this.shared;
  }
}

/** Rate-limit actions read the stream through this view: headers with HTTP/1's pseudo-headers, the client, the cluster. */
class StreamView implements RateLimitRequest {
  constructor(private readonly s: HttpStream) {}

  get clientIp(): string {
    return this.s.clientAddress.ip;
  }

  get cluster(): string | null {
    const action = this.s.route?.action;
    if (action === undefined || action.kind !== "route") return null;
    const c = action.cluster;
    return c.kind === "cluster" ? c.name : (this.header(c.header) ?? null);
  }

  private pseudo(name: string): string | undefined {
    if (name === ":path") return this.s.path;
    if (name === ":authority") return this.s.authority || undefined;
    if (name === ":method") return this.s.method;
    if (name === ":scheme") return "http";
    return undefined;
  }

  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58 /* : */) return this.pseudo(name);
    return this.s.headers.get(name);
  }

  headerJoined(name: string): string | undefined {
    if (name.charCodeAt(0) === 58 /* : */) return this.pseudo(name);
    const h = this.s.headers.entries;
    let out: string | undefined;
    for (let i = 0; i < h.length; i++) if (h[i][0] === name) out = out === undefined ? h[i][1] : `${out},${h[i][1]}`;
    return out;
  }
}

function xRateLimitHeaders(d: LimitDecision): Array<[string, string]> {
  return [
    ["x-ratelimit-limit", String(d.limit)],
    ["x-ratelimit-remaining", String(d.remaining)],
    ["x-ratelimit-reset", String(d.resetSeconds)],
  ];
}

export class LocalRateLimitFilter implements HttpFilter {
  private readonly main: ConfigRuntime;
  private readonly routeRuntimes = new Map<HttpLocalRateLimitConfig, ConfigRuntime>();
  private readonly name: string;
  /** Envoy's fallback key when no per-route entry is keyed by the configured name. */
  private readonly canonicalName: string;
  private readonly clock: Clock;

  constructor(
    config: HttpLocalRateLimitConfig,
    ctx: HttpFilterBuildContext,
  ) {
    this.clock = rateLimitClock();
    this.main = new ConfigRuntime(config, ctx, this.clock);
    this.name = ctx.filterName || FILTER_NAME;
    this.canonicalName = ctx.canonicalName || FILTER_NAME;
    // Per-route configurations get their own buckets (Envoy: "When using per route configuration, the bucket
    // becomes unique to that route"), built here at load so the request path only looks them up.
    for (const vh of ctx.routeTable?.virtualHosts ?? []) {
      for (const route of vh.routes) {
        const local = route.perFilterConfig(perFilterKey(route, this.name, this.canonicalName));
        if (isLocalRateLimitConfig(local) && !this.routeRuntimes.has(local)) {
          this.routeRuntimes.set(local, new ConfigRuntime(local, ctx, this.clock));
        }
      }
    }
  }

  /** The filter-level runtime (tests reach the limiter's per-client tables through it). */
  get runtime(): { readonly config: HttpLocalRateLimitConfig; readonly sharedLimiter: LocalRateLimiter | null } {
    return this.main;
  }

  /** The config and buckets decodeHeaders uses on `route` (null: disabled there). Public for the explain tool. */
  runtimeFor(route: Route | null): ConfigRuntime | null {
    if (route === null) return this.main;
    const key = perFilterKey(route, this.name, this.canonicalName);
    if (route.filterDisabled(key)) return null;
    const local = route.perFilterConfig(key);
    if (!isLocalRateLimitConfig(local)) return this.main;
    return this.routeRuntimes.get(local) ?? this.main;
  }

  /** The request's descriptors under `cfg`. Public for the explain tool (computing them has no side effect). */
  descriptors(cfg: HttpLocalRateLimitConfig, stream: HttpStream): readonly RequestDescriptor[] {
    if (!cfg.hasDescriptors) return NO_DESCRIPTORS;
    const out: RequestDescriptor[] = [];
    const view = new StreamView(stream);
    if (cfg.rateLimits !== null) {
      populateDescriptors(cfg.rateLimits, cfg.stage, view, out);
      return out;
    }
    const route = stream.route;
    // Envoy reads rate limits from the route entry: direct responses and unmatched requests have none.
    if (route === null || route.action.kind !== "route") return out;
    const own = route.action.rateLimits;
    populateDescriptors(own, cfg.stage, view, out);
    const vh = route.action.includeVhRateLimits ? "INCLUDE" : cfg.vhRateLimits;
    if (vh === "INCLUDE" || (vh === "OVERRIDE" && own.length === 0)) {
      populateDescriptors(route.virtualHostRateLimits, cfg.stage, view, out);
    }
    return out;
  }

  decodeHeaders(stream: HttpStream): HttpFilterStatus {
    const rt = this.runtimeFor(stream.route);
    if (rt === null) return "continue";
    const cfg = rt.config;
    if (!sample(cfg.filterEnabled)) return "continue";
    const st = rt.stats;
    st.enabled.inc();
    const d = rt.limiterFor(stream.conn).requestAllowed(this.descriptors(cfg, stream));
    const xrl = cfg.xRateLimitHeaders && d.hasBucket ? xRateLimitHeaders(d) : null;
    if (d.allowed) {
      st.ok.inc();
      if (xrl !== null) stream.addResponseHeaders(xrl);
      return "continue";
    }
    st.rateLimited.inc();
    if (!sample(cfg.filterEnforced)) {
      applyHeaderMutation(stream.headers.entries, cfg.requestHeadersWhenNotEnforced);
      if (xrl !== null) stream.addResponseHeaders(xrl);
      return "continue";
    }
    st.enforced.inc();
    const headers: Array<[string, string]> = [];
    applyHeaderMutation(headers, cfg.responseHeaders);
    if (xrl !== null) for (const h of xrl) headers.push(h);
    stream.sendLocalReply(cfg.status, LIMITED_BODY, { flag: "RL", details: LIMITED_DETAILS, headers });
    return "stop";
  }
}
