// The inputs of `tollgate explain` and `GET /rbac/explain`: a hypothetical request, described by the addresses the
// proxy would see (the TCP peer, the PROXY header's source and destination) and the request line and headers. Both
// front ends turn their text (CLI flags, an admin query string) into one validated ExplainInput here.
import { formatIp, parseIp } from "../net/ip.js";

export type ExplainInputErrorCode = "MISSING_PEER" | "BAD_ADDRESS" | "BAD_METHOD" | "BAD_PATH" | "BAD_HOST" | "BAD_HEADER" | "BAD_LISTENER";

/** A value the explain tool cannot use; the CLI prints usage and exits 2, the admin endpoint answers 400. */
export class ExplainInputError extends Error {
  override readonly name = "ExplainInputError";
  constructor(
    readonly code: ExplainInputErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AddressPort {
  /** Canonical text (IPv4-mapped IPv6 normalised to IPv4, as the proxy does for socket peers). */
  readonly ip: string;
  /** 0 when not given. */
  readonly port: number;
}

export interface ExplainInput {
  /** The TCP peer: the load balancer (or the client itself when nothing is in front). */
  readonly peer: AddressPort;
  /** The PROXY header's source (the client as the LB saw it); null: the LB sends no header. */
  readonly proxySource: AddressPort | null;
  /** The PROXY header's destination; null: the listener's address. */
  readonly proxyDestination: AddressPort | null;
  /** The request's X-Forwarded-For, as the client (or a CDN) sent it; undefined: none. */
  readonly xff: string | undefined;
  readonly method: string;
  /** :path with the query, origin-form. */
  readonly path: string;
  /** The Host header. */
  readonly host: string;
  /** Other request headers, names lower-case, in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The listener by name; null: the first one in the configuration. */
  readonly listener: string | null;
}

/** The text form both front ends produce. */
export interface ExplainParams {
  peer?: string;
  proxySrc?: string;
  proxyDst?: string;
  xff?: string;
  path?: string;
  host?: string;
  method?: string;
  /** `name:value` each. */
  headers?: readonly string[];
  listener?: string;
}

export const DEFAULT_HOST = "localhost";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 field-value: visible characters, spaces and tabs; no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, `::ffff:1.2.3.4` (read as 1.2.3.4). */
export function parseAddressPort(text: string, what: string): AddressPort {
  const bad = (why: string): ExplainInputError => new ExplainInputError("BAD_ADDRESS", `${what}: ${why}: ${JSON.stringify(text)}`);
  let host = text.trim();
  let port = 0;
  let portText: string | null = null;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) throw bad("missing ']'");
    const rest = host.slice(close + 1);
    host = host.slice(1, close);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw bad("expected ':PORT' after ']'");
      portText = rest.slice(1);
    }
  } else {
    const colon = host.indexOf(":");
    // One colon: IPv4 with a port. More: a bare IPv6 address (write [addr]:port to give one a port).
    if (colon >= 0 && colon === host.lastIndexOf(":")) {
      portText = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
  }
  if (portText !== null) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad("the port must be 0 to 65535");
    port = Number(portText);
  }
  const ip = parseIp(host);
  if (ip === null) throw bad("not an IP address");
  return { ip: formatIp(ip), port };
}

function header(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new ExplainInputError("BAD_HEADER", `a header is NAME:VALUE, got ${JSON.stringify(text)}`);
  const name = text.slice(0, colon).trim().toLowerCase();
  const value = text.slice(colon + 1).trim();
  if (!TOKEN.test(name)) throw new ExplainInputError("BAD_HEADER", `invalid header name ${JSON.stringify(name)}`);
  if (!FIELD_VALUE.test(value)) throw new ExplainInputError("BAD_HEADER", `invalid value for header ${name}`);
  if (name === "host") throw new ExplainInputError("BAD_HEADER", "give the Host header with --host (admin: host=)");
  return [name, value];
}

export function parseExplainParams(p: ExplainParams): ExplainInput {
  if (p.peer === undefined || p.peer === "") throw new ExplainInputError("MISSING_PEER", "the peer address is required (--peer, admin: peer=)");
  const method = p.method ?? "GET";
  if (!TOKEN.test(method)) throw new ExplainInputError("BAD_METHOD", `invalid method ${JSON.stringify(method)}`);
  if (method === "CONNECT") throw new ExplainInputError("BAD_METHOD", "CONNECT requests have no path to route; explain GET, POST, ... requests");
  const path = p.path ?? "/";
  if (!path.startsWith("/") || /[\s\0]/.test(path)) {
    throw new ExplainInputError("BAD_PATH", `the path must be origin-form (start with '/', no spaces), got ${JSON.stringify(path)}`);
  }
  const host = p.host ?? DEFAULT_HOST;
  if (host === "" || !FIELD_VALUE.test(host) || /\s/.test(host)) throw new ExplainInputError("BAD_HOST", `invalid host ${JSON.stringify(host)}`);
  if (p.xff !== undefined && !FIELD_VALUE.test(p.xff)) throw new ExplainInputError("BAD_HEADER", "invalid X-Forwarded-For value");
  return {
    peer: parseAddressPort(p.peer, "peer"),
    proxySource: p.proxySrc === undefined || p.proxySrc === "" ? null : parseAddressPort(p.proxySrc, "proxy source"),
    proxyDestination: p.proxyDst === undefined || p.proxyDst === "" ? null : parseAddressPort(p.proxyDst, "proxy destination"),
    xff: p.xff,
    method,
    path,
    host,
    headers: (p.headers ?? []).map(header),
    listener: p.listener === undefined || p.listener === "" ? null : p.listener,
  };
}

/**
 * The admin endpoint's query: peer, proxy_src, proxy_dst, xff, path, host, method, listener, and `header=name:value`
 * (several headers separated by newlines, `%0A`, since an admin query keeps the first value of a repeated key).
 */
export function explainParamsFromQuery(q: ReadonlyMap<string, string>): ExplainParams {
  const get = (k: string): string | undefined => q.get(k);
  const h = get("header");
  return {
    peer: get("peer"),
    proxySrc: get("proxy_src"),
    proxyDst: get("proxy_dst"),
    xff: get("xff"),
    path: get("path"),
    host: get("host"),
    method: get("method"),
    headers: h === undefined || h === "" ? [] : h.split("\n").filter((l) => l !== ""),
    listener: get("listener"),
  };
}
