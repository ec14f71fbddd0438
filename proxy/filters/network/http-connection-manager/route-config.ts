// Envoy's RouteConfiguration (route_config inline in the HTTP connection manager), parsed strictly into a frozen
// route table with its lookup structures built here, at config time: an exact-domain Map and wildcard maps grouped by
// length (longest first), so that route-match.ts only looks things up per request.
import { Buffer } from "node:buffer";
import { ConfigError } from "../../../config/errors.js";
import { ConfigReader } from "../../../config/reader.js";
import { readRateLimitPolicies, type RateLimitPolicyEntry } from "../../common/ratelimit/rate-limit-actions.js";
import { readHeaderMutation, type HeaderMutation } from "./header-mutations.js";
import { captureGroupCount, compileGlobal, translateSubstitution } from "./re2.js";
import { asciiLower, readRegexMatcher, readStringMatcher, type StringMatcher } from "./string-matcher.js";

// ---- types ------------------------------------------------------------------------------------------------------

export type PathMatch =
  | { readonly kind: "prefix"; readonly value: string }
  | { readonly kind: "path"; readonly value: string }
  | { readonly kind: "safe_regex"; readonly regex: RegExp }
  | { readonly kind: "path_separated_prefix"; readonly value: string };

export type HeaderMatchSpec =
  | { readonly kind: "string"; readonly matcher: StringMatcher }
  /** Deprecated exact_match: an empty value matches any value (Envoy's HeaderData behaviour). */
  | { readonly kind: "exact_legacy"; readonly value: string }
  | { readonly kind: "present"; readonly present: boolean }
  | { readonly kind: "range"; readonly start: bigint; readonly end: bigint };

export interface HeaderMatcher {
  /** Lower-case; `host` is mapped to `:authority` as in Envoy's header map. */
  readonly name: string;
  readonly spec: HeaderMatchSpec;
  readonly invert: boolean;
  readonly treatMissingAsEmpty: boolean;
}

export interface QueryParameterMatcher {
  readonly name: string;
  /** null: presence check (present_match true or no matcher). */
  readonly matcher: StringMatcher | null;
  /** present_match when set: matches iff presence equals this. */
  readonly present: boolean | null;
}

export interface RouteMatch {
  readonly path: PathMatch;
  /** match.case_sensitive (default true); prefix/path values are stored lower-cased when false. Ignored for regex. */
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
  /** match.grpc: only requests with a gRPC content-type. */
  readonly grpc: boolean;
}

export const RETRY_ON = ["5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream", "retriable-status-codes"] as const;
export type RetryOn = (typeof RETRY_ON)[number];

export interface RetryPolicy {
  readonly retryOn: ReadonlySet<RetryOn>;
  /** num_retries (default 1). */
  readonly numRetries: number;
  /** per_try_timeout in ms; null when unset (the route timeout bounds each try). */
  readonly perTryTimeoutMs: number | null;
  readonly retriableStatusCodes: readonly number[];
  /** retry_back_off: base 25 ms and max 10x base by default. */
  readonly backOffBaseMs: number;
  readonly backOffMaxMs: number;
}

export type ClusterSpecifier = { readonly kind: "cluster"; readonly name: string } | { readonly kind: "cluster_header"; readonly header: string };

export interface ForwardAction {
  readonly kind: "route";
  readonly cluster: ClusterSpecifier;
  /** cluster_not_found_response_code: 503 (default), 404 or 500. */
  readonly clusterNotFoundStatus: 503 | 404 | 500;
  readonly prefixRewrite: string | null;
  readonly regexRewrite: { readonly regex: RegExp; readonly substitution: string } | null;
  readonly hostRewriteLiteral: string | null;
  /** Route timeout in ms (default 15000); 0 means none. */
  readonly timeoutMs: number;
  /** idle_timeout in ms; null when unset (the connection manager's stream_idle_timeout applies); 0 disables. */
  readonly idleTimeoutMs: number | null;
  /** The route's retry policy, else the virtual host's (a route policy replaces, never merges). */
  readonly retryPolicy: RetryPolicy | null;
  /** RouteAction.rate_limits (read by the local rate-limit filter). */
  readonly rateLimits: readonly RateLimitPolicyEntry[];
  /** RouteAction.include_vh_rate_limits (deprecated in Envoy, still honoured). */
  readonly includeVhRateLimits: boolean;
}

export interface DirectResponseAction {
  readonly kind: "direct_response";
  readonly status: number;
  /** null when no body is configured. */
  readonly body: Buffer | null;
}

export type RouteActionSpec = ForwardAction | DirectResponseAction;

/** typed_per_filter_config entry: the resolved config, or disabled (FilterConfig{disabled: true}). */
export interface PerFilterEntry {
  readonly config: unknown;
  readonly disabled: boolean;
  readonly optional: boolean;
}

export interface Route {
  /** Route.name ("" when unnamed). */
  readonly name: string;
  readonly virtualHostName: string;
  readonly match: RouteMatch;
  readonly action: RouteActionSpec;
  readonly requestHeaders: HeaderMutation | null;
  readonly responseHeaders: HeaderMutation | null;
  readonly perFilterConfigs: ReadonlyMap<string, PerFilterEntry>;
  /** VirtualHost.rate_limits of the route's virtual host (the local rate-limit filter's vh_rate_limits). */
  readonly virtualHostRateLimits: readonly RateLimitPolicyEntry[];
  /** Most specific typed_per_filter_config for a filter: route, else virtual host, else route configuration. */
  perFilterConfig(filterName: string): unknown;
  /** True when the most specific entry for the filter disables it. */
  filterDisabled(filterName: string): boolean;
  /** Whether any level (route, virtual host, route configuration) has an entry under this name. */
  hasPerFilterEntry(filterName: string): boolean;
}

/**
 * The key a filter's per-route entries are found under, as Envoy looks them up: the filter's configured name; when
 * nothing is keyed by it, the filter's canonical name (e.g. `envoy.filters.http.rbac`), for backwards compatibility.
 */
export function perFilterKey(route: Route, name: string, canonicalName: string): string {
  return canonicalName === name || route.hasPerFilterEntry(name) ? name : canonicalName;
}

export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  readonly retryPolicy: RetryPolicy | null;
  readonly requestHeaders: HeaderMutation | null;
  readonly responseHeaders: HeaderMutation | null;
  readonly perFilterConfigs: ReadonlyMap<string, PerFilterEntry>;
  readonly rateLimits: readonly RateLimitPolicyEntry[];
}

export interface WildcardGroup {
  /** Length of the domain without its `*`. */
  readonly length: number;
  /** Lower-case domain without the `*` -> virtual host. */
  readonly hosts: ReadonlyMap<string, VirtualHost>;
}

export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  readonly exactHosts: ReadonlyMap<string, VirtualHost>;
  /** `*.foo.com`, `*-bar.foo.com`: longest first. */
  readonly suffixWildcards: readonly WildcardGroup[];
  /** `foo.*`: longest first. */
  readonly prefixWildcards: readonly WildcardGroup[];
  readonly defaultHost: VirtualHost | null;
  readonly internalOnlyHeaders: ReadonlySet<string>;
  readonly requestHeaders: HeaderMutation | null;
  readonly responseHeaders: HeaderMutation | null;
  /** most_specific_header_mutations_wins: apply global, then vhost, then route (route wins) instead of the reverse. */
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly ignorePortInHostMatching: boolean;
  readonly ignorePathParametersInPathMatching: boolean;
  /** validate_clusters as configured (undefined when unset: Envoy then validates an inline route_config). */
  readonly validateClusters: boolean | undefined;
  /** Every cluster named by `cluster` (for the caller's validate_clusters check against the cluster manager). */
  readonly referencedClusters: readonly string[];
  readonly perFilterConfigs: ReadonlyMap<string, PerFilterEntry>;
}

/** Resolves one typed_per_filter_config value (an Any; the reader still holds `@type`) for the named filter. */
export type PerFilterConfigResolver = (filterName: string, any: ConfigReader) => unknown;

export interface RouteConfigOptions {
  /** Needed when any typed_per_filter_config is present (the caller resolves via the registry's http_filter_per_route). */
  resolvePerFilterConfig?: PerFilterConfigResolver;
  /** RouteConfiguration.max_direct_response_body_size_bytes default. */
  defaultMaxDirectResponseBodyBytes?: number;
}

// ---- helpers ----------------------------------------------------------------------------------------------------

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const BAD_VALUE = /[\0\r\n]/;
const FILTER_CONFIG_TYPE = "envoy.config.route.v3.FilterConfig";
const EMPTY_PER_FILTER: ReadonlyMap<string, PerFilterEntry> = new Map();

function headerValue(r: ConfigReader, key: string): string | undefined {
  const v = r.str(key);
  if (v !== undefined && BAD_VALUE.test(v)) throw new ConfigError(r.at(key), "must not contain NUL, CR or LF");
  return v;
}

function headerName(v: string, path: string): string {
  if (!HEADER_NAME.test(v)) throw new ConfigError(path, `invalid header name ${JSON.stringify(v)}`);
  return v.toLowerCase();
}

function refuse(r: ConfigReader, keys: readonly string[], why: string): void {
  for (const k of keys) if (r.has(k)) throw new ConfigError(r.at(k), why);
}

function readPerFilterConfigs(r: ConfigReader, opts: RouteConfigOptions): ReadonlyMap<string, PerFilterEntry> {
  const raw = r.raw("typed_per_filter_config");
  if (raw === undefined) return EMPTY_PER_FILTER;
  const base = r.at("typed_per_filter_config");
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(base, "expected a map of filter name to typed config");
  const out = new Map<string, PerFilterEntry>();
  for (const [filterName, value] of Object.entries(raw)) {
    const path = `${base}.${filterName}`;
    const type = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>)["@type"] : undefined;
    if (typeof type !== "string" || type === "") throw new ConfigError(`${path}.@type`, "is required (typed_per_filter_config values are Any messages)");
    const resolve = opts.resolvePerFilterConfig;
    if (!resolve) throw new ConfigError(path, "typed_per_filter_config needs a per-route config resolver (internal error)");
    if (type.slice(type.lastIndexOf("/") + 1) === FILTER_CONFIG_TYPE) {
      // envoy.config.route.v3.FilterConfig {config, is_optional, disabled}
      const fc = new ConfigReader(value, path);
      fc.accept("@type");
      const disabled = fc.bool("disabled", false);
      const optional = fc.bool("is_optional", false);
      const inner = fc.obj("config");
      fc.done();
      let config: unknown = null;
      if (inner) {
        config = resolve(filterName, inner);
        inner.done();
      } else if (!disabled) {
        throw new ConfigError(fc.at("config"), "is required unless disabled is true");
      }
      out.set(filterName, Object.freeze({ config, disabled, optional }));
    } else {
      const any = new ConfigReader(value, path);
      const config = resolve(filterName, any);
      any.done();
      out.set(filterName, Object.freeze({ config, disabled: false, optional: false }));
    }
  }
  return out;
}

function readRetryPolicy(r: ConfigReader): RetryPolicy {
  const retryOn = new Set<RetryOn>();
  const on = r.str("retry_on") ?? "";
  for (const part of on.split(",")) {
    const t = part.trim();
    if (t === "") continue;
    if (!(RETRY_ON as readonly string[]).includes(t)) {
      throw new ConfigError(r.at("retry_on"), `retry condition ${JSON.stringify(t)} is not supported; supported: ${RETRY_ON.join(", ")}`);
    }
    retryOn.add(t as RetryOn);
  }
  const numRetries = r.int("num_retries", { default: 1, min: 0, max: 0xffffffff });
  const perTry = r.duration("per_try_timeout");
  const retriableStatusCodes = r.list("retriable_status_codes").map((v, i) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new ConfigError(`${r.at("retriable_status_codes")}[${i}]`, "expected an unsigned integer");
    }
    return v;
  });
  let baseMs = 25;
  let maxMs = 250;
  const bo = r.obj("retry_back_off");
  if (bo) {
    baseMs = bo.duration("base_interval", { required: true });
    if (baseMs <= 0) throw new ConfigError(bo.at("base_interval"), "must be greater than zero");
    maxMs = bo.duration("max_interval", { default: baseMs * 10 });
    if (maxMs <= 0) throw new ConfigError(bo.at("max_interval"), "must be greater than zero");
    if (maxMs < baseMs) throw new ConfigError(bo.at("max_interval"), "max_interval must be greater than or equal to the base_interval");
    bo.done();
  }
  refuse(
    r,
    [
      "per_try_idle_timeout",
      "retry_priority",
      "retry_host_predicate",
      "retry_options_predicates",
      "host_selection_retry_max_attempts",
      "rate_limited_retry_back_off",
      "retriable_headers",
      "retriable_request_headers",
    ],
    "is not supported by Tollgate's retry policy",
  );
  r.done();
  return Object.freeze({
    retryOn,
    numRetries,
    perTryTimeoutMs: perTry ?? null,
    retriableStatusCodes: Object.freeze(retriableStatusCodes),
    backOffBaseMs: baseMs,
    backOffMaxMs: maxMs,
  });
}

/** config.route.v3.HeaderMatcher (also used by rate-limit header_value_match actions). */
export function readHeaderMatcher(r: ConfigReader): HeaderMatcher {
  let name = headerName(r.str("name", { required: true }), r.at("name"));
  if (name === "host") name = ":authority";
  const kind = r.oneof(
    ["string_match", "present_match", "range_match", "exact_match", "safe_regex_match", "prefix_match", "suffix_match", "contains_match"] as const,
  );
  if (r.has("regex_match")) throw new ConfigError(r.at("regex_match"), "was removed from Envoy's API; use string_match.safe_regex");
  let spec: HeaderMatchSpec;
  switch (kind) {
    case "string_match":
      spec = { kind: "string", matcher: readStringMatcher(r.obj("string_match", { required: true })) };
      break;
    case "present_match":
      spec = { kind: "present", present: r.bool("present_match", true) };
      break;
    case "range_match": {
      const rr = r.obj("range_match", { required: true });
      const start = BigInt(rr.int("start", { default: 0 }));
      const end = BigInt(rr.int("end", { default: 0 }));
      rr.done();
      spec = { kind: "range", start, end };
      break;
    }
    // Deprecated (still in the v3 API): mapped as Envoy maps them.
    case "exact_match":
      spec = { kind: "exact_legacy", value: r.str("exact_match") ?? "" };
      break;
    case "safe_regex_match":
      spec = { kind: "string", matcher: { kind: "safe_regex", value: "", ignoreCase: false, regex: readRegexMatcher(r.obj("safe_regex_match", { required: true })) } };
      break;
    case "prefix_match":
    case "suffix_match":
    case "contains_match": {
      const text = r.str(kind, { required: true });
      spec = { kind: "string", matcher: { kind: kind.replace("_match", "") as "prefix" | "suffix" | "contains", value: text, ignoreCase: false, regex: null } };
      break;
    }
    default:
      // No specifier: Envoy treats the matcher as present_match: true.
      spec = { kind: "present", present: true };
  }
  const invert = r.bool("invert_match", false);
  const treatMissingAsEmpty = r.bool("treat_missing_header_as_empty", false);
  r.done();
  return Object.freeze({ name, spec: Object.freeze(spec), invert, treatMissingAsEmpty });
}

function readQueryParameterMatcher(r: ConfigReader): QueryParameterMatcher {
  const name = r.str("name", { required: true });
  if (name.length > 1024) throw new ConfigError(r.at("name"), "must be at most 1024 characters");
  const kind = r.oneof(["string_match", "present_match"] as const);
  let matcher: StringMatcher | null = null;
  let present: boolean | null = null;
  if (kind === "string_match") matcher = readStringMatcher(r.obj("string_match", { required: true }));
  else if (kind === "present_match") present = r.bool("present_match", false);
  refuse(r, ["value", "regex"], "was removed from Envoy's API; use string_match");
  r.done();
  return Object.freeze({ name, matcher, present });
}

const PATH_SPECIFIERS = ["prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher", "path_match_policy"] as const;

function readRouteMatch(r: ConfigReader): RouteMatch {
  const kind = r.oneof(PATH_SPECIFIERS, { required: true, name: "path_specifier" });
  if (r.has("regex")) throw new ConfigError(r.at("regex"), "was removed from Envoy's API; use safe_regex");
  const caseSensitive = r.bool("case_sensitive", true);
  let path: PathMatch;
  switch (kind) {
    case "prefix":
    case "path": {
      const v = r.str(kind) ?? "";
      path = { kind, value: caseSensitive ? v : asciiLower(v) };
      break;
    }
    case "safe_regex":
      path = { kind, regex: readRegexMatcher(r.obj("safe_regex", { required: true })) };
      break;
    case "path_separated_prefix": {
      const v = r.str(kind, { required: true });
      if (!/^[^?#]+[^?#/]$/.test(v) || !v.startsWith("/")) {
        throw new ConfigError(r.at(kind), "must start with /, must not end with /, and must not contain ? or #");
      }
      path = { kind, value: caseSensitive ? v : asciiLower(v) };
      break;
    }
    default:
      throw new ConfigError(r.at(kind as string), "is not supported by Tollgate");
  }
  const headers = r.objList("headers").map(readHeaderMatcher);
  const queryParameters = r.objList("query_parameters").map(readQueryParameterMatcher);
  let grpc = false;
  const g = r.obj("grpc");
  if (g) {
    g.done();
    grpc = true;
  }
  refuse(r, ["runtime_fraction", "tls_context", "dynamic_metadata", "filter_state", "cookies"], "is not supported by Tollgate's route matching");
  r.done();
  return Object.freeze({ path: Object.freeze(path), caseSensitive, headers: Object.freeze(headers), queryParameters: Object.freeze(queryParameters), grpc });
}

const CLUSTER_NOT_FOUND = ["SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR"] as const;

function readRouteAction(r: ConfigReader, vhostRetry: RetryPolicy | null, clusters: Set<string>): ForwardAction {
  const which = r.oneof(
    ["cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin", "inline_cluster_specifier_plugin"] as const,
    { required: true, name: "cluster_specifier" },
  );
  let cluster: ClusterSpecifier;
  if (which === "cluster") {
    const name = r.str("cluster", { required: true });
    clusters.add(name);
    cluster = { kind: "cluster", name };
  } else if (which === "cluster_header") {
    cluster = { kind: "cluster_header", header: headerName(r.str("cluster_header", { required: true }), r.at("cluster_header")) };
  } else {
    throw new ConfigError(r.at(which as string), "is not supported by Tollgate yet; use cluster or cluster_header");
  }
  const nf = r.enum("cluster_not_found_response_code", CLUSTER_NOT_FOUND, "SERVICE_UNAVAILABLE");
  const clusterNotFoundStatus = nf === "NOT_FOUND" ? 404 : nf === "INTERNAL_SERVER_ERROR" ? 500 : 503;

  const prefixRewrite = headerValue(r, "prefix_rewrite") ?? null;
  let regexRewrite: ForwardAction["regexRewrite"] = null;
  const rr = r.obj("regex_rewrite");
  if (rr) {
    const pat = rr.obj("pattern", { required: true });
    const g = pat.obj("google_re2");
    if (g) {
      if (g.has("max_program_size")) throw new ConfigError(g.at("max_program_size"), "is not supported");
      g.done();
    }
    const regex = compileGlobal(pat.str("regex", { required: true }), pat.at("regex"));
    pat.done();
    const sub = rr.str("substitution") ?? "";
    const substitution = translateSubstitution(sub, captureGroupCount(regex), rr.at("substitution"));
    rr.done();
    regexRewrite = Object.freeze({ regex, substitution });
  }
  if (prefixRewrite !== null && regexRewrite !== null) {
    throw new ConfigError(r.path, "Cannot specify both prefix_rewrite and regex_rewrite");
  }

  const hostKind = r.oneof(["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header", "host_rewrite_path_regex"] as const);
  let hostRewriteLiteral: string | null = null;
  if (hostKind === "host_rewrite_literal") hostRewriteLiteral = headerValue(r, "host_rewrite_literal") ?? null;
  else if (hostKind === "auto_host_rewrite") {
    if (r.bool("auto_host_rewrite", false)) throw new ConfigError(r.at("auto_host_rewrite"), "is not supported by Tollgate yet; use host_rewrite_literal");
  } else if (hostKind !== undefined) throw new ConfigError(r.at(hostKind), "is not supported by Tollgate yet; use host_rewrite_literal");

  const timeoutMs = r.duration("timeout", { default: 15000 });
  const idle = r.duration("idle_timeout");
  const rp = r.obj("retry_policy");
  const retryPolicy = rp ? readRetryPolicy(rp) : vhostRetry;
  const rateLimits = readRateLimitPolicies(r.objList("rate_limits"), readHeaderMatcher);
  const includeVhRateLimits = r.bool("include_vh_rate_limits", false);
  refuse(
    r,
    [
      "metadata_match",
      "path_rewrite_policy",
      "append_x_forwarded_host",
      "early_data_policy",
      "retry_policy_typed_config",
      "request_mirror_policies",
      "priority",
      "hash_policy",
      "cors",
      "max_grpc_timeout",
      "grpc_timeout_offset",
      "upgrade_configs",
      "internal_redirect_policy",
      "internal_redirect_action",
      "max_internal_redirects",
      "hedge_policy",
      "max_stream_duration",
    ],
    "is not supported by Tollgate's router yet",
  );
  r.done();
  return Object.freeze({
    kind: "route",
    cluster: Object.freeze(cluster),
    clusterNotFoundStatus,
    prefixRewrite,
    regexRewrite,
    hostRewriteLiteral,
    timeoutMs,
    idleTimeoutMs: idle ?? null,
    retryPolicy,
    rateLimits,
    includeVhRateLimits,
  });
}

function readDirectResponse(r: ConfigReader, maxBody: number): DirectResponseAction {
  const status = r.int("status", { required: true, min: 200, max: 599 });
  let body: Buffer | null = null;
  const b = r.obj("body");
  if (b) {
    const kind = b.oneof(["inline_string", "inline_bytes", "filename", "environment_variable"] as const);
    if (kind === "inline_string") body = Buffer.from(b.str("inline_string") ?? "", "utf8");
    else if (kind === "inline_bytes") {
      const b64 = b.str("inline_bytes") ?? "";
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new ConfigError(b.at("inline_bytes"), "expected base64 bytes");
      body = Buffer.from(b64, "base64");
    } else if (kind !== undefined) throw new ConfigError(b.at(kind), "is not supported by Tollgate yet; use inline_string");
    b.done();
    if (body !== null && body.length > maxBody) {
      throw new ConfigError(b.path, `response body size is ${body.length} bytes; maximum is ${maxBody}`);
    }
  }
  if (r.has("body_format")) throw new ConfigError(r.at("body_format"), "is not supported by Tollgate yet");
  r.done();
  return Object.freeze({ kind: "direct_response", status, body });
}

// Route objects carry their lookup chain so filters ask one object (stream.ts's StreamRoute).
function makeRoute(
  fields: Omit<Route, "perFilterConfig" | "filterDisabled" | "hasPerFilterEntry">,
  vhostConfigs: ReadonlyMap<string, PerFilterEntry>,
  globalConfigs: ReadonlyMap<string, PerFilterEntry>,
): Route {
  const find = (n: string): PerFilterEntry | undefined => fields.perFilterConfigs.get(n) ?? vhostConfigs.get(n) ?? globalConfigs.get(n);
  return Object.freeze({
    ...fields,
    perFilterConfig: (n: string) => {
      const e = find(n);
      return e === undefined || e.disabled ? undefined : e.config;
    },
    filterDisabled: (n: string) => find(n)?.disabled === true,
    hasPerFilterEntry: (n: string) => find(n) !== undefined,
  });
}

function readRoute(
  r: ConfigReader,
  vhostName: string,
  vhostRetry: RetryPolicy | null,
  vhostConfigs: ReadonlyMap<string, PerFilterEntry>,
  globalConfigs: ReadonlyMap<string, PerFilterEntry>,
  clusters: Set<string>,
  opts: RouteConfigOptions,
  maxBody: number,
  vhostRateLimits: readonly RateLimitPolicyEntry[],
): Route {
  const name = r.str("name") ?? "";
  const match = readRouteMatch(r.obj("match", { required: true }));
  const which = r.oneof(["route", "redirect", "direct_response", "filter_action", "non_forwarding_action"] as const, {
    required: true,
    name: "action",
  });
  let action: RouteActionSpec;
  if (which === "route") action = readRouteAction(r.obj("route", { required: true }), vhostRetry, clusters);
  else if (which === "direct_response") action = readDirectResponse(r.obj("direct_response", { required: true }), maxBody);
  else if (which === "redirect") throw new ConfigError(r.at("redirect"), "redirect routes are not supported by Tollgate yet");
  else throw new ConfigError(r.at(which as string), "is not supported by Tollgate");
  const requestHeaders = readHeaderMutation(r, "request");
  const responseHeaders = readHeaderMutation(r, "response");
  const perFilterConfigs = readPerFilterConfigs(r, opts);
  refuse(r, ["metadata", "decorator", "tracing", "per_request_buffer_limit_bytes", "request_body_buffer_limit", "stat_prefix"], "is not supported by Tollgate yet");
  r.done();
  return makeRoute(
    { name, virtualHostName: vhostName, match, action, requestHeaders, responseHeaders, perFilterConfigs, virtualHostRateLimits: vhostRateLimits },
    vhostConfigs,
    globalConfigs,
  );
}

function readVirtualHost(
  r: ConfigReader,
  globalConfigs: ReadonlyMap<string, PerFilterEntry>,
  clusters: Set<string>,
  opts: RouteConfigOptions,
  maxBody: number,
): VirtualHost {
  const name = r.str("name", { required: true });
  const domains = r.strList("domains", { minItems: 1 }).map((d, i) => {
    if (d === "" || BAD_VALUE.test(d)) throw new ConfigError(`${r.at("domains")}[${i}]`, "must be a non-empty header value");
    return d;
  });
  const rp = r.obj("retry_policy");
  const retryPolicy = rp ? readRetryPolicy(rp) : null;
  const requestHeaders = readHeaderMutation(r, "request");
  const responseHeaders = readHeaderMutation(r, "response");
  const perFilterConfigs = readPerFilterConfigs(r, opts);
  const tls = r.enum("require_tls", ["NONE", "EXTERNAL_ONLY", "ALL"] as const, "NONE");
  if (tls !== "NONE") throw new ConfigError(r.at("require_tls"), "is not supported by Tollgate yet (it answers with redirects)");
  const rateLimits = readRateLimitPolicies(r.objList("rate_limits"), readHeaderMatcher);
  const routes = r.objList("routes").map((rr) => readRoute(rr, name, retryPolicy, perFilterConfigs, globalConfigs, clusters, opts, maxBody, rateLimits));
  refuse(
    r,
    [
      "matcher",
      "virtual_clusters",
      "cors",
      "include_request_attempt_count",
      "include_attempt_count_in_response",
      "retry_policy_typed_config",
      "hedge_policy",
      "include_is_timeout_retry_header",
      "per_request_buffer_limit_bytes",
      "request_body_buffer_limit",
      "request_mirror_policies",
      "metadata",
    ],
    "is not supported by Tollgate yet",
  );
  r.done();
  return Object.freeze({
    name,
    domains: Object.freeze(domains),
    routes: Object.freeze(routes),
    retryPolicy,
    requestHeaders,
    responseHeaders,
    perFilterConfigs,
    rateLimits,
  });
}

function groups(m: Map<number, Map<string, VirtualHost>>): readonly WildcardGroup[] {
  return Object.freeze(
    [...m.entries()].sort((a, b) => b[0] - a[0]).map(([length, hosts]) => Object.freeze({ length, hosts })),
  );
}

/** Parse a RouteConfiguration. `r` is the route_config object; its `done()` is called here. */
export function parseRouteConfiguration(r: ConfigReader, opts: RouteConfigOptions = {}): RouteTable {
  const name = r.str("name") ?? "";
  const maxBody = r.int("max_direct_response_body_size_bytes", { default: opts.defaultMaxDirectResponseBodyBytes ?? 4096, min: 0, max: 0xffffffff });
  const perFilterConfigs = readPerFilterConfigs(r, opts);
  const clusters = new Set<string>();
  const vhReaders = r.objList("virtual_hosts");
  const virtualHosts = vhReaders.map((v) => readVirtualHost(v, perFilterConfigs, clusters, opts, maxBody));

  // Domain tables, as RouteMatcher's constructor builds them: lower-cased, unique across all virtual hosts.
  const exactHosts = new Map<string, VirtualHost>();
  const suffix = new Map<number, Map<string, VirtualHost>>();
  const prefix = new Map<number, Map<string, VirtualHost>>();
  let defaultHost: VirtualHost | null = null;
  virtualHosts.forEach((vh, vi) => {
    vh.domains.forEach((raw, di) => {
      const path = `${vhReaders[vi].at("domains")}[${di}]`;
      const domain = asciiLower(raw);
      let dup = false;
      if (domain === "*") {
        if (defaultHost !== null) throw new ConfigError(path, `Only a single wildcard domain is permitted in route ${name}`);
        defaultHost = vh;
      } else if (domain.startsWith("*")) {
        let m = suffix.get(domain.length - 1);
        if (!m) suffix.set(domain.length - 1, (m = new Map()));
        dup = m.has(domain.slice(1));
        m.set(domain.slice(1), vh);
      } else if (domain.endsWith("*")) {
        let m = prefix.get(domain.length - 1);
        if (!m) prefix.set(domain.length - 1, (m = new Map()));
        dup = m.has(domain.slice(0, -1));
        m.set(domain.slice(0, -1), vh);
      } else {
        dup = exactHosts.has(domain);
        exactHosts.set(domain, vh);
      }
      if (dup) throw new ConfigError(path, `Only unique values for domains are permitted. Duplicate entry of domain ${domain} in route ${name}`);
    });
  });

  const internalOnlyHeaders = new Set(r.strList("internal_only_headers").map((h, i) => headerName(h, `${r.at("internal_only_headers")}[${i}]`)));
  const requestHeaders = readHeaderMutation(r, "request");
  const responseHeaders = readHeaderMutation(r, "response");
  const mostSpecificHeaderMutationsWins = r.bool("most_specific_header_mutations_wins", false);
  const ignorePortInHostMatching = r.bool("ignore_port_in_host_matching", false);
  const ignorePathParametersInPathMatching = r.bool("ignore_path_parameters_in_path_matching", false);
  const vc = r.raw("validate_clusters");
  if (vc !== undefined && typeof vc !== "boolean") throw new ConfigError(r.at("validate_clusters"), "expected true or false");
  const validateClusters = vc;
  refuse(r, ["vhds", "cluster_specifier_plugins", "request_mirror_policies", "metadata"], "is not supported by Tollgate yet");
  r.done();

  return Object.freeze({
    name,
    virtualHosts: Object.freeze(virtualHosts),
    exactHosts,
    suffixWildcards: groups(suffix),
    prefixWildcards: groups(prefix),
    defaultHost,
    internalOnlyHeaders,
    requestHeaders,
    responseHeaders,
    mostSpecificHeaderMutationsWins,
    ignorePortInHostMatching,
    ignorePathParametersInPathMatching,
    validateClusters,
    referencedClusters: Object.freeze([...clusters]),
    perFilterConfigs,
  });
}
