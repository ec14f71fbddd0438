// envoy.filters.http.local_ratelimit — configuration, validated once at load.
//
// envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit as Envoy reads it, registered as an HTTP
// filter and as a per-route config (typed_per_filter_config, where token_bucket is required and the route gets
// its own buckets). tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit is the same message plus
// Tollgate's per-client table fields: max_clients, ipv4_prefix_len, ipv6_prefix_len.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import { MAX_CLIENTS } from "../../../../wasm/buckets.js";
import { readDescriptors } from "../../common/ratelimit/descriptors.js";
import type { LimiterConfig } from "../../common/ratelimit/limiter.js";
import { readBoolValue, readRateLimitPolicies, type RateLimitPolicyEntry } from "../../common/ratelimit/rate-limit-actions.js";
import { NEVER, readRuntimeFractionalPercent, type FractionalPercent } from "../../common/ratelimit/runtime-fraction.js";
import { readTokenBucket } from "../../common/ratelimit/token-bucket.js";
import type { HeaderMutation } from "../../network/http-connection-manager/header-mutations.js";
import { readHeaderMatcher } from "../../network/http-connection-manager/route-config.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterConfig } from "../../types.js";
import { LocalRateLimitFilter } from "./filter.js";
import { readHeaderOptions } from "./header-options.js";

export const FILTER_NAME = "envoy.filters.http.local_ratelimit";
export const ENVOY_TYPE = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
export const TOLLGATE_TYPE = "tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit";

/** Clients per per-client table when max_clients is not set. */
export const DEFAULT_MAX_CLIENTS = 1_000_000;

export type VhRateLimits = "OVERRIDE" | "INCLUDE" | "IGNORE";

const kLocalRateLimit = Symbol("tollgate.http.local_ratelimit");

export interface HttpLocalRateLimitConfig extends HttpFilterConfig {
  readonly [kLocalRateLimit]: true;
  readonly statPrefix: string;
  /** The local reply's status (status.code; below 400 means 429, as in Envoy). */
  readonly status: number;
  readonly limiter: LimiterConfig;
  readonly filterEnabled: FractionalPercent;
  readonly filterEnforced: FractionalPercent;
  readonly requestHeadersWhenNotEnforced: HeaderMutation | null;
  readonly responseHeaders: HeaderMutation | null;
  readonly stage: number;
  readonly perConnection: boolean;
  /** enable_x_ratelimit_headers: DRAFT_VERSION_03. */
  readonly xRateLimitHeaders: boolean;
  readonly vhRateLimits: VhRateLimits;
  /** The filter's own rate_limits; null: the route's (and virtual host's) are used. */
  readonly rateLimits: readonly RateLimitPolicyEntry[] | null;
  /** Descriptors are computed only when some are configured (Envoy's hasDescriptors()). */
  readonly hasDescriptors: boolean;
  /** Parsed from typed_per_filter_config. */
  readonly perRoute: boolean;
}

export function isLocalRateLimitConfig(v: unknown): v is HttpLocalRateLimitConfig {
  return typeof v === "object" && v !== null && (v as { [kLocalRateLimit]?: true })[kLocalRateLimit] === true;
}

// envoy.type.v3.StatusCode: the names proto3 JSON may use for status.code.
const STATUS_NAMES: Readonly<Record<string, number>> = {
  Continue: 100, OK: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203, NoContent: 204,
  ResetContent: 205, PartialContent: 206, MultiStatus: 207, AlreadyReported: 208, IMUsed: 226,
  MultipleChoices: 300, MovedPermanently: 301, Found: 302, SeeOther: 303, NotModified: 304, UseProxy: 305,
  TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400, Unauthorized: 401, PaymentRequired: 402,
  Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406, ProxyAuthenticationRequired: 407,
  RequestTimeout: 408, Conflict: 409, Gone: 410, LengthRequired: 411, PreconditionFailed: 412,
  PayloadTooLarge: 413, URITooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416,
  ExpectationFailed: 417, MisdirectedRequest: 421, UnprocessableEntity: 422, Locked: 423,
  FailedDependency: 424, UpgradeRequired: 426, PreconditionRequired: 428, TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431, InternalServerError: 500, NotImplemented: 501, BadGateway: 502,
  ServiceUnavailable: 503, GatewayTimeout: 504, HTTPVersionNotSupported: 505, VariantAlsoNegotiates: 506,
  InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511,
};
const STATUS_CODES = new Set(Object.values(STATUS_NAMES));

function readStatus(r: ConfigReader): number {
  const s = r.obj("status");
  if (!s) return 429;
  const raw = s.raw("code");
  let code: number | undefined;
  if (typeof raw === "number" && STATUS_CODES.has(raw)) code = raw;
  else if (typeof raw === "string") code = STATUS_NAMES[raw] ?? (/^\d+$/.test(raw) && STATUS_CODES.has(Number(raw)) ? Number(raw) : undefined);
  if (code === undefined) throw new ConfigError(s.at("code"), `expected an HTTP status code defined by envoy.type.v3.StatusCode (e.g. 429 or "TooManyRequests"), got ${JSON.stringify(raw ?? null)}`);
  s.done();
  // FilterConfig::toErrorCode: anything below 400 answers 429.
  return code < 400 ? 429 : code;
}

interface ParseOptions {
  readonly perRoute: boolean;
  readonly tollgate: boolean;
}

function parseLocalRateLimit(r: ConfigReader, opts: ParseOptions): HttpLocalRateLimitConfig {
  const statPrefix = r.str("stat_prefix", { required: true });
  const status = readStatus(r);
  const tb = r.obj("token_bucket");
  const defaultBucket = tb ? readTokenBucket(tb) : null;
  if (opts.perRoute && defaultBucket === null) {
    throw new ConfigError(r.at("token_bucket"), "local rate limit token bucket must be set for per filter configs");
  }
  const fe = r.obj("filter_enabled");
  const filterEnabled = fe ? readRuntimeFractionalPercent(fe) : NEVER;
  const ff = r.obj("filter_enforced");
  const filterEnforced = ff ? readRuntimeFractionalPercent(ff) : NEVER;
  const requestHeadersWhenNotEnforced = readHeaderOptions(r, "request_headers_to_add_when_not_enforced");
  const responseHeaders = readHeaderOptions(r, "response_headers_to_add");
  const descriptors = readDescriptors(r.objList("descriptors"));
  const stage = r.int("stage", { default: 0, min: 0, max: 10 });
  const perConnection = r.bool("local_rate_limit_per_downstream_connection", false);
  if (r.has("local_cluster_rate_limit")) {
    throw new ConfigError(
      r.at("local_cluster_rate_limit"),
      "is not supported by Tollgate: it has no local cluster membership to share a bucket by; give each replica its share (max_tokens / replicas), or use a shared store for a cluster-wide limit",
    );
  }
  const xRateLimitHeaders = r.enum("enable_x_ratelimit_headers", ["OFF", "DRAFT_VERSION_03"] as const, "OFF") === "DRAFT_VERSION_03";
  const vhRateLimits = r.enum("vh_rate_limits", ["OVERRIDE", "INCLUDE", "IGNORE"] as const, "OVERRIDE");
  const alwaysConsumeDefault = readBoolValue(r, "always_consume_default_token_bucket", true);
  // Only gRPC local replies differ (RESOURCE_EXHAUSTED instead of UNAVAILABLE); gRPC needs HTTP/2, which
  // Tollgate's downstream codec does not speak, so the option can never change a reply. Accepted as such.
  r.bool("rate_limited_as_resource_exhausted", false);
  const rateLimits = r.has("rate_limits") ? readRateLimitPolicies(r.objList("rate_limits"), readHeaderMatcher) : null;
  const maxDynamicDescriptors = r.int("max_dynamic_descriptors", { default: 20, min: 1, max: 0xffffffff });
  let maxClients = DEFAULT_MAX_CLIENTS;
  let ipv4 = 32;
  let ipv6 = 128;
  if (opts.tollgate) {
    maxClients = r.int("max_clients", { default: DEFAULT_MAX_CLIENTS, min: 1, max: MAX_CLIENTS });
    ipv4 = r.int("ipv4_prefix_len", { default: 32, min: 1, max: 32 });
    ipv6 = r.int("ipv6_prefix_len", { default: 64, min: 1, max: 128 });
  }
  r.done();
  const limiter: LimiterConfig = Object.freeze({
    defaultBucket,
    descriptors: Object.freeze(descriptors),
    alwaysConsumeDefault,
    maxDynamicDescriptors,
    maxClients,
    prefixes: Object.freeze({ ipv4, ipv6 }),
  });
  const config: HttpLocalRateLimitConfig = {
    [kLocalRateLimit]: true,
    terminal: false,
    statPrefix,
    status,
    limiter,
    filterEnabled,
    filterEnforced,
    requestHeadersWhenNotEnforced,
    responseHeaders,
    stage,
    perConnection,
    xRateLimitHeaders,
    vhRateLimits,
    rateLimits,
    hasDescriptors: descriptors.length > 0,
    perRoute: opts.perRoute,
    acceptsPerRouteConfig: isLocalRateLimitConfig,
    build(ctx: HttpFilterBuildContext): HttpFilter {
      return new LocalRateLimitFilter(config, ctx);
    },
  };
  return Object.freeze(config);
}

registerExtension<HttpLocalRateLimitConfig>({
  category: "http_filter",
  typeUrls: [ENVOY_TYPE],
  names: [FILTER_NAME],
  parse: (r) => parseLocalRateLimit(r, { perRoute: false, tollgate: false }),
});

registerExtension<HttpLocalRateLimitConfig>({
  category: "http_filter_per_route",
  typeUrls: [ENVOY_TYPE],
  names: [FILTER_NAME],
  parse: (r) => parseLocalRateLimit(r, { perRoute: true, tollgate: false }),
});

registerExtension<HttpLocalRateLimitConfig>({
  category: "http_filter",
  typeUrls: [TOLLGATE_TYPE],
  names: ["tollgate.filters.http.local_ratelimit"],
  parse: (r) => parseLocalRateLimit(r, { perRoute: false, tollgate: true }),
});

registerExtension<HttpLocalRateLimitConfig>({
  category: "http_filter_per_route",
  typeUrls: [TOLLGATE_TYPE],
  names: ["tollgate.filters.http.local_ratelimit"],
  parse: (r) => parseLocalRateLimit(r, { perRoute: true, tollgate: true }),
});
