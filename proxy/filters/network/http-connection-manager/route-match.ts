// Per-request route selection over a RouteTable built by route-config.ts (Envoy's RouteMatcher::findVirtualHost and
// VirtualHostImpl::getRouteFromEntries). Only lookups happen here: a Map probe for the exact domain, one probe per
// wildcard length, then the first route whose matchers all pass.
import { applyHeaderMutation } from "./header-mutations.js";
import type { HeaderList } from "./header-list.js";
import type { HeaderEntries } from "./request-headers.js";
import type { HeaderMatcher, QueryParameterMatcher, Route, RouteMatch, RouteTable, VirtualHost } from "./route-config.js";
import { asciiLower, matchString } from "./string-matcher.js";

export interface RouteSelection {
  readonly vhost: VirtualHost;
  readonly route: Route;
}

/** Pseudo-header values a header matcher may name that the header list does not carry (HTTP/1). */
export interface RequestPseudo {
  readonly method?: string;
  readonly scheme?: string;
}

/** Envoy's HeaderUtility::getPortStart: the `:` before a port, not inside an IPv6 literal; -1 when none. */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return -1;
  const bracket = host.lastIndexOf("]");
  return bracket < 0 || bracket < colon ? colon : -1;
}

/**
 * HCM strip_matching_host_port / strip_any_host_port (HeaderUtility::stripPortFromHost): the authority without its
 * port when the port parses and (for "matching") equals the listener port; otherwise unchanged.
 */
export function stripHostPort(authority: string, mode: "none" | "matching" | "any", listenerPort: number): string {
  if (mode === "none") return authority;
  const p = portStart(authority);
  if (p < 0) return authority;
  const portText = authority.slice(p + 1);
  if (!/^\d{1,10}$/.test(portText) || Number(portText) > 0xffffffff) return authority;
  if (mode === "matching" && Number(portText) !== listenerPort) return authority;
  return authority.slice(0, p);
}

/** HCM strip_trailing_host_dot (HeaderUtility::stripTrailingHostDot): "foo.com." and "foo.com.:80" lose the dot. */
export function stripTrailingHostDot(authority: string): string {
  const dot = authority.lastIndexOf(".");
  if (dot < 0) return authority;
  if (dot === authority.length - 1) return authority.slice(0, -1);
  if (authority[dot + 1] === ":") return authority.slice(0, dot) + authority.slice(dot + 1);
  return authority;
}

/**
 * The connection manager's host normalisation before routing (ConnectionManagerUtility::maybeNormalizeHost):
 * strip_trailing_host_dot, then strip_matching_host_port / strip_any_host_port, applied to the Host header itself so
 * that routing, the filters, the upstream request and the access log all see the normalised value. A CONNECT keeps
 * its port (HeaderUtility::stripPortFromHost leaves CONNECT alone). `listenerPort`: the connection's local port.
 */
export function normalizeHost(
  headers: HeaderList,
  cfg: { readonly stripPort: "none" | "matching" | "any"; readonly stripTrailingHostDot: boolean },
  listenerPort: number,
  method: string,
): void {
  if (cfg.stripPort === "none" && !cfg.stripTrailingHostDot) return;
  const host = headers.get("host");
  if (host === undefined) return;
  let h = cfg.stripTrailingHostDot ? stripTrailingHostDot(host) : host;
  if (method !== "CONNECT") h = stripHostPort(h, cfg.stripPort, listenerPort);
  if (h !== host) headers.set("host", h);
}

/** The virtual host for an :authority (exact > longest suffix wildcard > longest prefix wildcard > `*`). */
export function findVirtualHost(table: RouteTable, authority: string): VirtualHost | null {
  if (table.exactHosts.size === 0 && table.suffixWildcards.length === 0 && table.prefixWildcards.length === 0) {
    return table.defaultHost;
  }
  let hostText = authority;
  if (table.ignorePortInHostMatching) {
    const p = portStart(hostText);
    if (p >= 0) hostText = hostText.slice(0, p);
  }
  const host = asciiLower(hostText);
  const exact = table.exactHosts.get(host);
  if (exact !== undefined) return exact;
  // A wildcard never matches an empty remainder: `*.foo.com` does not match `.foo.com` (length must be < host's).
  for (const g of table.suffixWildcards) {
    if (g.length >= host.length) continue;
    const vh = g.hosts.get(host.slice(host.length - g.length));
    if (vh !== undefined) return vh;
  }
  for (const g of table.prefixWildcards) {
    if (g.length >= host.length) continue;
    const vh = g.hosts.get(host.slice(0, g.length));
    if (vh !== undefined) return vh;
  }
  return table.defaultHost;
}

/** Envoy's PathUtil::removeQueryAndFragment. */
export function removeQueryAndFragment(path: string): string {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return path.slice(0, i);
  }
  return path;
}

/** Per-request matching state: computed lazily once, shared by all routes of the virtual host. */
class MatchInput {
  private lowerPath: string | undefined;
  private query: Map<string, string> | undefined;

  constructor(
    readonly authority: string,
    readonly fullPath: string,
    readonly path: string, // without query, fragment (and path parameters when configured)
    readonly headers: HeaderEntries,
    readonly pseudo: RequestPseudo | undefined,
  ) {}

  lower(): string {
    return (this.lowerPath ??= asciiLower(this.path));
  }

  /** First value of each query parameter, undecoded (Envoy's QueryParamsMulti::parseQueryString + getFirstValue). */
  queryParams(): Map<string, string> {
    if (this.query !== undefined) return this.query;
    const q = new Map<string, string>();
    const start = this.fullPath.indexOf("?");
    if (start >= 0) {
      const hash = this.fullPath.indexOf("#", start);
      const text = this.fullPath.slice(start + 1, hash < 0 ? undefined : hash);
      for (const part of text.split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        const name = eq < 0 ? part : part.slice(0, eq);
        if (!q.has(name)) q.set(name, eq < 0 ? "" : part.slice(eq + 1));
      }
    }
    return (this.query = q);
  }

  /** All values of a header joined with "," (HeaderUtility::getAllOfHeaderAsString), undefined when absent. */
  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ":authority") return this.authority;
      if (name === ":path") return this.fullPath;
      if (name === ":method" && this.pseudo?.method !== undefined) return this.pseudo.method;
      if (name === ":scheme" && this.pseudo?.scheme !== undefined) return this.pseudo.scheme;
    }
    let out: string | undefined;
    const h = this.headers;
    for (let i = 0; i < h.length; i++) if (h[i][0] === name) out = out === undefined ? h[i][1] : `${out},${h[i][1]}`;
    return out;
  }
}

// absl::SimpleAtoi<int64_t>: optional surrounding whitespace, optional sign, decimal digits, within int64.
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
function parseInt64(s: string): bigint | null {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)[ \t\n\v\f\r]*$/.exec(s);
  if (!m) return null;
  const v = BigInt(m[1]);
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

/** HeaderUtility::matchHeaders for one matcher. */
export function matchHeader(m: HeaderMatcher, value: string | undefined): boolean {
  if (value === undefined && !m.treatMissingAsEmpty) {
    // A missing header matches only present_match: false (or present_match: true inverted).
    return m.spec.kind === "present" && (m.invert ? m.spec.present : !m.spec.present);
  }
  const v = value ?? "";
  let match: boolean;
  switch (m.spec.kind) {
    case "string":
      match = matchString(m.spec.matcher, v);
      break;
    case "exact_legacy":
      match = m.spec.value === "" || v === m.spec.value;
      break;
    case "present":
      match = m.spec.present;
      break;
    case "range": {
      const n = parseInt64(v);
      match = n !== null && n >= m.spec.start && n < m.spec.end;
      break;
    }
  }
  return match !== m.invert;
}

function matchQuery(m: QueryParameterMatcher, params: Map<string, string>): boolean {
  const v = params.get(m.name);
  if (m.present !== null) return (v !== undefined) === m.present;
  if (v === undefined) return false;
  return m.matcher === null || matchString(m.matcher, v);
}

// Grpc::Common::isGrpcRequestHeaders: content-type application/grpc, optionally followed by "+..." or ";...".
function isGrpc(input: MatchInput): boolean {
  const ct = input.header("content-type");
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  const next = ct.charCodeAt(16);
  return ct.length === 16 || next === 43 /* + */ || next === 59 /* ; */;
}

function matchPath(m: RouteMatch, input: MatchInput): boolean {
  const p = m.path;
  switch (p.kind) {
    case "prefix":
      return (m.caseSensitive ? input.path : input.lower()).startsWith(p.value);
    case "path":
      return (m.caseSensitive ? input.path : input.lower()) === p.value;
    case "safe_regex":
      return p.regex.test(input.path);
    case "path_separated_prefix": {
      const path = m.caseSensitive ? input.path : input.lower();
      return path.startsWith(p.value) && (path.length === p.value.length || path.charCodeAt(p.value.length) === 47 /* / */);
    }
  }
}

function routeMatches(route: Route, input: MatchInput): boolean {
  const m = route.match;
  if (!matchPath(m, input)) return false;
  if (m.grpc && !isGrpc(input)) return false;
  for (const h of m.headers) if (!matchHeader(h, input.header(h.name))) return false;
  if (m.queryParameters.length > 0) {
    const params = input.queryParams();
    for (const q of m.queryParameters) if (!matchQuery(q, params)) return false;
  }
  return true;
}

/** The first route of the virtual host that matches, or null. */
export function findRoute(
  table: RouteTable,
  vhost: VirtualHost,
  authority: string,
  fullPath: string,
  headers: HeaderEntries,
  pseudo?: RequestPseudo,
): Route | null {
  let path = removeQueryAndFragment(fullPath);
  if (table.ignorePathParametersInPathMatching) {
    const semi = path.indexOf(";");
    if (semi >= 0) path = path.slice(0, semi);
  }
  const input = new MatchInput(authority, fullPath, path, headers, pseudo);
  for (const r of vhost.routes) if (routeMatches(r, input)) return r;
  return null;
}

/**
 * Select the virtual host by :authority and the first matching route by :path (query and fragment are not part of
 * path matching), headers and query parameters. null: no virtual host, or no route in it (Envoy's 404 NR).
 */
export function selectRoute(
  table: RouteTable,
  authority: string,
  path: string,
  headers: HeaderEntries,
  pseudo?: RequestPseudo,
): RouteSelection | null {
  const vhost = findVirtualHost(table, authority);
  if (vhost === null) return null;
  const route = findRoute(table, vhost, authority, path, headers, pseudo);
  return route === null ? null : { vhost, route };
}

/**
 * The :path after the route's prefix_rewrite or regex_rewrite (Envoy's currentUrlPathAfterRewriteWithMatchedPath),
 * or null when the route rewrites nothing. The caller keeps the original in x-envoy-original-path unless the router
 * suppresses Envoy headers.
 */
export function rewritePath(route: Route, fullPath: string): string | null {
  const a = route.action;
  if (a.kind !== "route") return null;
  if (a.prefixRewrite !== null) {
    const p = route.match.path;
    // The matched part: the prefix for prefix matches, otherwise the whole path without its query.
    const matchedLength = p.kind === "prefix" || p.kind === "path_separated_prefix" ? p.value.length : removeQueryAndFragment(fullPath).length;
    return a.prefixRewrite + fullPath.slice(matchedLength);
  }
  if (a.regexRewrite !== null) {
    const just = removeQueryAndFragment(fullPath);
    a.regexRewrite.regex.lastIndex = 0;
    return just.replace(a.regexRewrite.regex, a.regexRewrite.substitution) + fullPath.slice(just.length);
  }
  return null;
}

/**
 * Apply request_headers_to_add/_to_remove of the selected route, its virtual host and the route configuration
 * (RouteEntryImplBase::finalizeRequestHeaders): route, then virtual host, then global, so the least specific level
 * applies last; reversed when most_specific_header_mutations_wins.
 */
export function applyRequestHeaderMutations(table: RouteTable, sel: RouteSelection, headers: HeaderEntries): void {
  applyLevels(table, sel.route.requestHeaders, sel.vhost.requestHeaders, table.requestHeaders, headers);
}

/** The response-side counterpart (finalizeResponseHeaders), same order rules. */
export function applyResponseHeaderMutations(table: RouteTable, sel: RouteSelection, headers: HeaderEntries): void {
  applyLevels(table, sel.route.responseHeaders, sel.vhost.responseHeaders, table.responseHeaders, headers);
}

function applyLevels(
  table: RouteTable,
  route: RouteTable["requestHeaders"],
  vhost: RouteTable["requestHeaders"],
  global: RouteTable["requestHeaders"],
  headers: HeaderEntries,
): void {
  if (table.mostSpecificHeaderMutationsWins) {
    applyHeaderMutation(headers, global);
    applyHeaderMutation(headers, vhost);
    applyHeaderMutation(headers, route);
  } else {
    applyHeaderMutation(headers, route);
    applyHeaderMutation(headers, vhost);
    applyHeaderMutation(headers, global);
  }
}
