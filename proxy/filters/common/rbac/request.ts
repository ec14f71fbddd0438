// What an RBAC decision reads: the addresses of the connection and, for HTTP, the request's headers.
//
// Which address each principal reads (DESIGN.md "The client address"; Envoy's IPMatcher types):
//   remote_ip         `remote`        HTTP: the stream's trusted client address (PROXY + XFF, derived once by the
//                                     connection manager); network filter: the connection's remote (post-PROXY)
//   direct_remote_ip  `directRemote`  the TCP peer (the load balancer when there is one)
//   source_ip         `source`        the connection's remote: honours PROXY, never XFF
//   destination_ip/_port `local`      the connection's local address (the PROXY header's destination when present)
//
// Nothing here re-derives an address: the request only carries the Endpoint objects the listener, the PROXY filter
// and the connection manager produced.
import type { DownstreamConnection, Endpoint } from "../../../listener/connection.js";
import { parseIp, type IpBytes } from "../../../net/ip.js";

/**
 * Parsed bytes of the connection's own Endpoint objects (`conn.remote`, `conn.directRemote`, `conn.local`), which every
 * request of a connection shares: an address is parsed once per connection, not per request or per principal.
 * A WeakMap keeps no connection alive. It is used only for those long-lived objects: inserting a fresh key costs
 * about a microsecond (measured), far more than parsing, so a per-request XFF-derived address is parsed into the
 * request instead (RbacRequest.ip). `null` records text that is not an IP address (it matches no CIDR, as in Envoy).
 */
const parsed = new WeakMap<Endpoint, IpBytes | null>();

export function endpointIp(e: Endpoint): IpBytes | null {
  let ip = parsed.get(e);
  if (ip === undefined) {
    ip = parseIp(e.ip);
    parsed.set(e, ip);
  }
  return ip;
}

/** Which address a CIDR rule reads. */
export type IpField = "remote" | "directRemote" | "source" | "local";

/** The HTTP request as RBAC reads it: HttpStream satisfies this shape. */
export interface RbacHttpView {
  readonly method: string;
  /** :path as received, with the query. */
  readonly path: string;
  /** :authority (HTTP/1 Host); "" when absent. */
  readonly authority: string;
  /** Request headers after the connection manager's mutation, names lower-case. */
  readonly headers: { readonly entries: ReadonlyArray<readonly [string, string]> };
}

export class RbacRequest {
  constructor(
    /** remote_ip. */
    readonly remote: Endpoint,
    /** direct_remote_ip. */
    readonly directRemote: Endpoint,
    /** source_ip (deprecated principal). */
    readonly source: Endpoint,
    /** destination_ip, destination_port, destination_port_range. */
    readonly local: Endpoint,
    /** requested_server_name: the TLS SNI, "" for plaintext. */
    readonly serverName: string,
    /** null for a network-filter (L4) decision: header matchers then see no headers and url_path never matches. */
    readonly http: RbacHttpView | null,
  ) {}

  /** remote_ip's parsed address, when it is not one of the connection's own Endpoints (XFF): parsed once, here. */
  private remoteIp: IpBytes | null | undefined = undefined;

  /** The parsed address a CIDR rule of `field` reads; null when it is not an IP address. */
  ip(field: IpField): IpBytes | null {
    switch (field) {
      case "remote":
        if (this.remote === this.source) return endpointIp(this.remote);
        if (this.remoteIp === undefined) this.remoteIp = parseIp(this.remote.ip);
        return this.remoteIp;
      case "directRemote":
        return endpointIp(this.directRemote);
      case "source":
        return endpointIp(this.source);
      case "local":
        return endpointIp(this.local);
    }
  }

  /** A network filter's view of a connection. */
  static forConnection(conn: DownstreamConnection): RbacRequest {
    return new RbacRequest(conn.remote, conn.directRemote, conn.remote, conn.local, serverNameOf(conn), null);
  }

  /** An HTTP filter's view of a request: `clientAddress` is the stream's trusted client address. */
  static forHttp(conn: DownstreamConnection, clientAddress: Endpoint, http: RbacHttpView): RbacRequest {
    return new RbacRequest(clientAddress, conn.directRemote, conn.remote, conn.local, serverNameOf(conn), http);
  }

  /**
   * A header's value as Envoy's HeaderUtility::matchHeaders sees it: the pseudo-headers from the request line, other
   * headers with all their values joined by ",", undefined when absent (or at L4, where there are no headers).
   */
  header(name: string): string | undefined {
    const h = this.http;
    if (h === null) return undefined;
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ":method":
          return h.method;
        case ":path":
          return h.path;
        case ":authority":
          return h.authority === "" ? undefined : h.authority;
        case ":scheme":
          return schemeOf(h);
      }
    }
    let out: string | undefined;
    const e = h.headers.entries;
    for (let i = 0; i < e.length; i++) if (e[i][0] === name) out = out === undefined ? e[i][1] : `${out},${e[i][1]}`;
    return out;
  }
}

/** The SNI the tls_inspector listener filter recorded; "" for plaintext (Envoy's requestedServerName()). */
function serverNameOf(conn: DownstreamConnection): string {
  return (conn as { requestedServerName?: string }).requestedServerName ?? "";
}

/**
 * :scheme as the connection manager sets it: a valid x-forwarded-proto (the HCM has already overwritten or kept it by
 * Envoy's rules), else by downstream TLS, which Tollgate does not terminate, so "http".
 */
function schemeOf(h: RbacHttpView): string {
  const e = h.headers.entries;
  for (let i = 0; i < e.length; i++) {
    if (e[i][0] === "x-forwarded-proto") {
      const v = e[i][1];
      return v === "https" || v === "http" ? v : "http";
    }
  }
  return "http";
}

/** Plain values for building a request by hand (the explain tool, tests). */
export interface RbacRequestInit {
  /** The trusted client address (remote_ip). */
  remoteIp: string;
  /** The TCP peer; defaults to remoteIp. */
  directRemoteIp?: string;
  /** The connection's remote after PROXY (source_ip); defaults to remoteIp. */
  sourceIp?: string;
  localIp?: string;
  localPort?: number;
  serverName?: string;
  http?: { method?: string; path?: string; authority?: string; headers?: ReadonlyArray<readonly [string, string]> };
}

export function rbacRequest(init: RbacRequestInit): RbacRequest {
  const remote: Endpoint = { ip: init.remoteIp, port: 0 };
  const http = init.http
    ? {
        method: init.http.method ?? "GET",
        path: init.http.path ?? "/",
        authority: init.http.authority ?? "",
        headers: { entries: (init.http.headers ?? []).map(([k, v]) => [k.toLowerCase(), v] as const) },
      }
    : null;
  return new RbacRequest(
    remote,
    init.directRemoteIp === undefined ? remote : { ip: init.directRemoteIp, port: 0 },
    init.sourceIp === undefined ? remote : { ip: init.sourceIp, port: 0 },
    { ip: init.localIp ?? "0.0.0.0", port: init.localPort ?? 0 },
    init.serverName ?? "",
    http,
  );
}
