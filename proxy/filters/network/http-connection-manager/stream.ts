// One HTTP request/response exchange as the filters see it: the mutated request headers, the trusted client
// address derived once by the connection manager, the chosen route, and what the access log needs afterwards.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { DownstreamConnection, Endpoint } from "../../../listener/connection.js";
import type { HeaderList } from "./header-list.js";
import type { Route } from "./route-config.js";

export interface LocalReplyOptions {
  /** Envoy response flag, e.g. "NR", "UH", "UF", "RL". */
  flag?: string;
  /** %RESPONSE_CODE_DETAILS%, e.g. "route_not_found". */
  details: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  /** Apply the route's response_headers_to_add/remove (Envoy does for direct responses only). */
  routeHeaders?: boolean;
}

export interface HttpStream {
  readonly conn: DownstreamConnection;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startTime: number;
  readonly method: string;
  /** :path as received (with the query). */
  readonly path: string;
  readonly authority: string;
  readonly protocol: string;
  readonly headers: HeaderList;
  /**
   * The trusted client address (DESIGN.md "The client address"): the PROXY-restored peer, or the address taken from
   * X-Forwarded-For per use_remote_address / xff_num_trusted_hops. Port 0 when it came from XFF.
   * RBAC remote_ip, the rate-limit remote_address and %DOWNSTREAM_REMOTE_ADDRESS% all read this one value.
   */
  readonly clientAddress: Endpoint;
  /** The route chosen for this request (null: no virtual host or route matched). */
  readonly route: Route | null;
  responseFlags: string[];
  responseCodeDetails: string | undefined;
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  /** Body bytes sent downstream so far (%BYTES_SENT%). */
  bytesSent: number;
  /** Where %BYTES_RECEIVED% is read from when the request has a body. */
  bytesReceivedSource: { bytes: number } | null;
  /** Set for an Upgrade request (WebSocket) that the connection manager allows: the bytes after its headers. */
  upgradeHead: Buffer | undefined;
  /** Set by the router when an upgrade was tunnelled: what the access log reports for it. */
  tunnel: { status: number; bytesReceived: number; bytesSent: number } | null;
  /** Report the end of the exchange (idempotent); tunnels call it when both sides have closed. */
  finish(): void;
  /** Write the response status and headers, adding the route's response header mutations, server, x-request-id. */
  writeResponseHead(status: number, headers: Array<[string, string]>): void;
  /**
   * Add headers to the response this stream sends, whether it comes from the upstream or is a local reply
   * (what an Envoy filter does in encodeHeaders, e.g. x-ratelimit-*).
   */
  addResponseHeaders(headers: ReadonlyArray<readonly [string, string]>): void;
  /** Dynamic metadata of this stream (filters add to it; the connection's is read too). */
  setMetadata(namespace: string, key: string, value: unknown): void;
  sendLocalReply(status: number, body: string, opts: LocalReplyOptions): void;
}
