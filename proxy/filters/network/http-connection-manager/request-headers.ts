// Request-header mutation of Envoy's connection manager (ConnectionManagerUtility::mutateRequestHeaders, plus the
// HTTP/1 codec's Connection-header sanitising that runs just before it), over the request's header list.
//
// Hot path. Shape: one pass reads what is needed (a Map lookup per header name classifies it), decisions are made
// from the already derived client address, then one compacting pass removes and rewrites in place, and the few
// added headers are pushed at the end. No per-header allocation; the result is one small object.
import type { ClientAddressResult } from "./client-address.js";
import type { RequestHeadersConfig } from "./headers-config.js";

/** [lower-case name, value] pairs in wire order; duplicates kept (HeaderList.entries). */
export type HeaderEntries = Array<[string, string]>;

export interface DownstreamInfo {
  /** The downstream connection is TLS. */
  readonly tls: boolean;
  /** Listener (local) port, for x-forwarded-port. */
  readonly localPort: number;
  /** mTLS: the client presented a certificate (FORWARD_ONLY keeps x-forwarded-client-cert only then). */
  readonly peerCertificatePresented?: boolean;
  /** RouteConfiguration.internal_only_headers, stripped from external requests. */
  readonly internalOnlyHeaders?: ReadonlySet<string>;
  /** Upgrade types the connection manager accepts (lower-case, from upgrade_configs); absent means none. */
  readonly allowedUpgrades?: ReadonlySet<string>;
}

export interface LocalReject {
  readonly status: number;
  /** %RESPONSE_CODE_DETAILS% */
  readonly details: string;
}

export interface RequestHeadersResult {
  /** Set when Envoy would answer locally instead of proxying (invalid Connection nominations, refused upgrade). */
  readonly reject: LocalReject | null;
  /** The request's scheme: a valid x-forwarded-proto, else by downstream TLS (Envoy's :scheme rule). */
  readonly scheme: string;
  /** The x-request-id sent upstream (undefined when generate_request_id is false and none came in). */
  readonly requestId: string | undefined;
  /** The x-request-id to put on the response, or null (always_set_request_id_in_response or x-envoy-force-trace). */
  readonly responseRequestId: string | null;
  /** Lower-cased Upgrade token when this is an upgrade request (Connection: upgrade + Upgrade), else null. */
  readonly upgrade: string | null;
}

// Header classes. Plain numbers rather than an enum so the table is a Map<string, number> read once per header.
const OTHER = 0;
const CONNECTION = 1;
const UPGRADE = 2;
const TE = 3;
const DROP = 4; // keep-alive, proxy-connection, transfer-encoding, x-envoy-internal: always removed
const XFF = 5;
const XFP = 6;
const XFPORT = 7;
const REQUEST_ID = 8;
const FORCE_TRACE = 9;
const EXTERNAL_ADDRESS = 10;
const REFERER = 11;
const XFCC = 12;
const VIA = 13;
const STRIP_EXTERNAL = 14; // removed from any non-internal request
const STRIP_EDGE = 15; // removed from edge requests only

const CLASSES: ReadonlyMap<string, number> = new Map<string, number>([
  ["connection", CONNECTION],
  ["upgrade", UPGRADE],
  ["te", TE],
  ["keep-alive", DROP],
  ["proxy-connection", DROP],
  ["transfer-encoding", DROP],
  ["x-envoy-internal", DROP],
  ["x-forwarded-for", XFF],
  ["x-forwarded-proto", XFP],
  ["x-forwarded-port", XFPORT],
  ["x-request-id", REQUEST_ID],
  ["x-envoy-force-trace", FORCE_TRACE],
  ["x-envoy-external-address", EXTERNAL_ADDRESS],
  ["referer", REFERER],
  ["x-forwarded-client-cert", XFCC],
  ["via", VIA],
  // ConnectionManagerUtility::cleanInternalHeaders, all non-internal requests:
  ["x-envoy-retriable-status-codes", STRIP_EXTERNAL],
  ["x-envoy-retriable-header-names", STRIP_EXTERNAL],
  ["x-envoy-retry-on", STRIP_EXTERNAL],
  ["x-envoy-retry-grpc-on", STRIP_EXTERNAL],
  ["x-envoy-max-retries", STRIP_EXTERNAL],
  ["x-envoy-upstream-alt-stat-name", STRIP_EXTERNAL],
  ["x-envoy-upstream-rq-timeout-ms", STRIP_EXTERNAL],
  ["x-envoy-upstream-rq-per-try-timeout-ms", STRIP_EXTERNAL],
  ["x-envoy-upstream-rq-timeout-alt-response", STRIP_EXTERNAL],
  ["x-envoy-expected-rq-timeout-ms", STRIP_EXTERNAL],
  ["x-envoy-ip-tags", STRIP_EXTERNAL],
  ["x-envoy-original-url", STRIP_EXTERNAL],
  ["x-envoy-hedge-on-per-try-timeout", STRIP_EXTERNAL],
  // ... and additionally from edge requests:
  ["x-envoy-decorator-operation", STRIP_EDGE],
  ["x-envoy-downstream-service-cluster", STRIP_EDGE],
  ["x-envoy-downstream-service-node", STRIP_EDGE],
  ["x-envoy-original-path", STRIP_EDGE],
]);

/** The headers Tollgate removes from external (and edge) requests, for docs and the explain tool. */
export const STRIPPED_FROM_EXTERNAL: readonly string[] = Object.freeze(
  [...CLASSES].filter(([, c]) => c === STRIP_EXTERNAL || c === FORCE_TRACE).map(([n]) => n),
);
export const STRIPPED_FROM_EDGE: readonly string[] = Object.freeze([...CLASSES].filter(([, c]) => c === STRIP_EDGE).map(([n]) => n));

// Envoy's limits in Utility::sanitizeConnectionHeader.
const MAX_NOMINATED = 10;
const MAX_TE_LENGTH = 256;
const CONNECTION_REJECTED: LocalReject = Object.freeze({ status: 400, details: "http1.connection_header_rejected" });
const UPGRADE_FAILED: LocalReject = Object.freeze({ status: 403, details: "upgrade_failed" });

function join(prev: string | undefined, v: string): string {
  return prev === undefined ? v : `${prev},${v}`;
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** Whether a comma-separated header value holds `token` (ASCII case-insensitive, whitespace-trimmed). */
function hasToken(value: string, token: string): boolean {
  for (const part of value.split(",")) if (trimOws(part).toLowerCase() === token) return true;
  return false;
}

// RFC 3986 URI-reference characters; Envoy drops a Referer that is not a valid URL (or relative reference), has a
// fragment or userinfo, or occurs more than once.
const URI_CHARS = /^[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]*$/;
function refererValid(v: string): boolean {
  if (v === "" || !URI_CHARS.test(v) || /%(?![0-9A-Fa-f]{2})/.test(v) || v.includes("#")) return false;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?]*)/.exec(v);
  return !(m && m[1].includes("@"));
}

/** What the read pass collects. One object per request. */
interface Seen {
  connection: string | undefined;
  upgradeValue: string | undefined;
  te: string | undefined;
  xfp: string | undefined;
  hasXfPort: boolean;
  requestId: string | undefined;
  forceTrace: boolean;
  referers: number;
  refererValue: string;
  via: string | undefined;
}

/**
 * Read pass. `skip` (rare: names nominated in Connection, internal_only_headers) holds headers Envoy removes before
 * the step that would read them.
 */
function read(headers: HeaderEntries, skip: ((name: string) => boolean) | null, s: Seen): void {
  for (let i = 0; i < headers.length; i++) {
    const e = headers[i];
    const cls = CLASSES.get(e[0]) ?? OTHER;
    if (cls === OTHER || (skip !== null && cls !== CONNECTION && cls !== UPGRADE && cls !== TE && skip(e[0]))) continue;
    switch (cls) {
      case CONNECTION:
        s.connection = join(s.connection, e[1]);
        break;
      case UPGRADE:
        if (s.upgradeValue === undefined) s.upgradeValue = e[1];
        break;
      case TE:
        s.te = join(s.te, e[1]);
        break;
      case XFP:
        s.xfp = join(s.xfp, e[1]);
        break;
      case XFPORT:
        s.hasXfPort = true;
        break;
      case REQUEST_ID:
        s.requestId = join(s.requestId, e[1]);
        break;
      case FORCE_TRACE:
        s.forceTrace = true;
        break;
      case REFERER:
        s.referers++;
        s.refererValue = e[1];
        break;
      case VIA:
        s.via = s.via === undefined ? e[1] : `${s.via}, ${e[1]}`;
        break;
    }
  }
}

function freshSeen(): Seen {
  return {
    connection: undefined,
    upgradeValue: undefined,
    te: undefined,
    xfp: undefined,
    hasXfPort: false,
    requestId: undefined,
    forceTrace: false,
    referers: 0,
    refererValue: "",
    via: undefined,
  };
}

/**
 * Mutate `headers` in place as Envoy does before the filter chain runs, given the client address already derived
 * from the same request (deriveClientAddress with the joined x-forwarded-for value).
 */
export function mutateRequestHeaders(
  cfg: RequestHeadersConfig,
  headers: HeaderEntries,
  client: ClientAddressResult,
  down: DownstreamInfo,
): RequestHeadersResult {
  const internal = client.internal;
  const edge = client.edge;
  const internalOnly = !internal && down.internalOnlyHeaders !== undefined && down.internalOnlyHeaders.size > 0 ? down.internalOnlyHeaders : null;

  // ---- pass 1: read ----
  let s = freshSeen();
  read(headers, internalOnly === null ? null : (n) => internalOnly.has(n), s);
  const { connection, upgradeValue } = s;
  let te = s.te;

  // Utility::isUpgrade: an Upgrade header and an "upgrade" token in Connection.
  const isUpgrade = upgradeValue !== undefined && connection !== undefined && hasToken(connection, "upgrade");
  const upgrade = isUpgrade ? (upgradeValue as string).toLowerCase() : null;
  let reject: LocalReject | null = null;

  // ---- the HTTP/1 codec's Connection sanitising (Utility::sanitizeConnectionHeader), non-upgrade requests ----
  let nominated: string[] | null = null;
  let teOut: string | null | undefined; // undefined: untouched; null: remove; string: new value
  if (!isUpgrade && connection !== undefined) {
    const tokens = connection.split(",").map(trimOws).filter((t) => t !== "");
    if (tokens.length >= MAX_NOMINATED) reject = CONNECTION_REJECTED;
    for (const token of tokens) {
      if (reject) break;
      const name = token.toLowerCase();
      if (name === "close" || name === "http2-settings" || name === "keep-alive" || name === "upgrade" || name === "connection") continue;
      if (name === "x-forwarded-for" || name === "x-forwarded-host" || name === "x-forwarded-proto" || name.startsWith(":")) {
        reject = CONNECTION_REJECTED;
        break;
      }
      if (name === "te" && te !== undefined) {
        if (te.length >= MAX_TE_LENGTH) {
          reject = CONNECTION_REJECTED;
          break;
        }
        if (hasToken(te, "trailers")) {
          teOut = "trailers";
          continue;
        }
      }
      (nominated ??= []).push(name);
    }
    if (nominated !== null) {
      // The codec removed these before the connection manager looked: read again without them.
      const gone = nominated;
      s = freshSeen();
      read(headers, (n) => gone.includes(n) || (internalOnly !== null && internalOnly.has(n)), s);
      if (gone.includes("te")) te = undefined;
    }
  }
  if (!isUpgrade && te !== undefined && teOut === undefined) {
    // ConnectionManagerUtility::sanitizeTEHeader: keep only "trailers", else drop TE.
    teOut = hasToken(te, "trailers") ? "trailers" : null;
  }
  if (nominated?.includes("te")) teOut = null;
  if (isUpgrade && (down.allowedUpgrades === undefined || !down.allowedUpgrades.has(upgrade as string))) {
    // Envoy: no upgrade filter chain for this type => 403, details upgrade_failed.
    reject ??= UPGRADE_FAILED;
  }

  // ---- decisions ----
  const x = cfg.xff;
  const protoFromTls = down.tls ? "https" : "http";
  // x-forwarded-proto / -port: overwritten when the prior hop is not trusted (use_remote_address, N = 0), else set
  // only when absent.
  const overwriteForwarded = x.useRemoteAddress && x.xffNumTrustedHops === 0;
  let xfpOut: string | undefined = overwriteForwarded || s.xfp === undefined ? protoFromTls : undefined;
  if (cfg.schemeToOverwrite !== null) xfpOut = cfg.schemeToOverwrite;
  const finalXfp = xfpOut ?? (s.xfp as string);
  const xfPortOut = cfg.appendXForwardedPort && (overwriteForwarded || !s.hasXfPort) ? String(down.localPort) : undefined;
  const dropReferer = s.referers > 1 || (s.referers === 1 && !refererValid(s.refererValue));
  const xffOut = client.xffHeaderOut;
  const keepXfcc =
    cfg.forwardClientCert === "ALWAYS_FORWARD_ONLY" || (cfg.forwardClientCert === "FORWARD_ONLY" && down.peerCertificatePresented === true);
  const requestId = s.requestId;
  let ridOut: string | undefined;
  if (cfg.generateRequestId && (requestId === undefined || requestId === "" || (edge && !cfg.preserveExternalRequestId))) {
    ridOut = cfg.newRequestId();
  }

  // ---- pass 2: remove and rewrite in place ----
  let w = 0;
  let xffWritten = false;
  for (let i = 0; i < headers.length; i++) {
    const e = headers[i];
    const cls = CLASSES.get(e[0]) ?? OTHER;
    let keep = true;
    if (nominated !== null && cls !== TE && nominated.includes(e[0])) keep = false;
    else {
      switch (cls) {
        case CONNECTION:
        case UPGRADE:
          keep = isUpgrade;
          break;
        case TE:
          if (teOut === null) keep = false;
          else if (teOut !== undefined) e[1] = teOut;
          break;
        case DROP:
          keep = false;
          break;
        case XFF:
          if (xffOut !== null) {
            // Repeated lines were joined into xffOut; the first line carries it.
            keep = !xffWritten;
            if (keep) e[1] = xffOut;
            xffWritten = true;
          }
          break;
        case XFP:
          if (xfpOut !== undefined) keep = false;
          break;
        case XFPORT:
          if (xfPortOut !== undefined) keep = false;
          break;
        case REQUEST_ID:
          if (ridOut !== undefined) keep = false;
          break;
        case FORCE_TRACE:
          keep = internal;
          break;
        case EXTERNAL_ADDRESS:
          keep = !(edge && client.trustedAddress !== null);
          break;
        case REFERER:
          keep = !dropReferer;
          break;
        case XFCC:
          keep = keepXfcc;
          break;
        case STRIP_EXTERNAL:
          keep = internal;
          break;
        case STRIP_EDGE:
          keep = !edge;
          break;
      }
      // cleanInternalHeaders also removes the route table's internal_only_headers.
      if (keep && internalOnly !== null && internalOnly.has(e[0])) keep = false;
    }
    if (keep) headers[w++] = e;
  }
  headers.length = w;

  // ---- additions (in Envoy's order; XFF/XFP/port are set before cleanInternalHeaders, so it removes them too) ----
  if (xffOut !== null && !xffWritten && !internalOnly?.has("x-forwarded-for")) headers.push(["x-forwarded-for", xffOut]);
  if (xfpOut !== undefined && !internalOnly?.has("x-forwarded-proto")) headers.push(["x-forwarded-proto", xfpOut]);
  if (xfPortOut !== undefined && !internalOnly?.has("x-forwarded-port")) headers.push(["x-forwarded-port", xfPortOut]);
  if (internal) headers.push(["x-envoy-internal", "true"]);
  if (cfg.via !== "") {
    // Utility::appendVia: ", "-joined onto the existing value.
    const v = s.via === undefined || s.via === "" ? cfg.via : `${s.via}, ${cfg.via}`;
    let w2 = 0;
    for (let i = 0; i < headers.length; i++) if (headers[i][0] !== "via") headers[w2++] = headers[i];
    headers.length = w2;
    headers.push(["via", v]);
  }
  if (edge && client.trustedAddress !== null) headers.push(["x-envoy-external-address", client.trustedAddress]);
  if (ridOut !== undefined) headers.push(["x-request-id", ridOut]);

  const finalRequestId = ridOut ?? (requestId === "" ? undefined : requestId);
  const echo = cfg.alwaysSetRequestIdInResponse || (s.forceTrace && internal);
  return {
    reject,
    scheme: finalXfp === "http" || finalXfp === "https" ? finalXfp : protoFromTls,
    requestId: finalRequestId,
    responseRequestId: echo && finalRequestId !== undefined ? finalRequestId : null,
    upgrade,
  };
}
