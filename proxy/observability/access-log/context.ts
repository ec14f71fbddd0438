// What an access log line is made from. The HTTP connection manager fills one per request (when the response is
// done or the stream is reset); tcp_proxy fills one per connection (when it closes). Formatting never looks at
// sockets or streams directly: everything it may print is here.
//
// Field by field, with the command operator that prints it:
//   startTime                      %START_TIME%      epoch milliseconds when the request (TCP: the connection)
//                                                    started; a fractional part gives %6f/%9f digits (e.g.
//                                                    `performance.timeOrigin + performance.now()`), else they are 0
//   requestHeaders                 %REQ(X?Y):Z%      request headers INCLUDING the pseudo-headers :method, :path,
//                                                    :authority, :scheme (HTTP/1 too: the HCM supplies them);
//                                                    TCP: leave unset
//   responseHeaders                %RESP(X?Y):Z%     response headers as sent downstream
//   responseTrailers               %TRAILER(X?Y):Z%
//   protocol                       %PROTOCOL%        "HTTP/1.0" | "HTTP/1.1" | "HTTP/2" | "HTTP/3"; TCP: unset
//   responseCode                   %RESPONSE_CODE%   0 when no response was sent; TCP: 0
//   responseFlags                  %RESPONSE_FLAGS%  "-" when none, else Envoy's short flags comma-joined: "UF,URX"
//   responseCodeDetails            %RESPONSE_CODE_DETAILS%  e.g. "via_upstream", "rbac_access_denied_matched_policy[none]"
//   bytesReceived / bytesSent      %BYTES_RECEIVED% / %BYTES_SENT%  body bytes (TCP: bytes on the connection)
//   durationMs                     %DURATION%        start to last byte out; unset while unknown; printed truncated
//                                                    to whole milliseconds as Envoy does
//   upstreamHost                   %UPSTREAM_HOST%   "10.0.0.5:8080"
//   upstreamCluster                %UPSTREAM_CLUSTER%
//   downstreamRemoteAddress        %DOWNSTREAM_REMOTE_ADDRESS%[_WITHOUT_PORT], %DOWNSTREAM_REMOTE_PORT%: the trusted
//                                                    client address (after PROXY, and in HTTP after XFF), "ip:port",
//                                                    IPv6 in brackets: "[2001:db8::1]:443"
//   downstreamDirectRemoteAddress  %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%...: the TCP peer (the load balancer)
//   downstreamLocalAddress         %DOWNSTREAM_LOCAL_ADDRESS%...: after PROXY, the header's destination
//   routeName                      %ROUTE_NAME%
//   connectionTerminationDetails   %CONNECTION_TERMINATION_DETAILS%  e.g. "rbac_access_denied_matched_policy[none]"
//   dynamicMetadata                %DYNAMIC_METADATA(ns:key:...):Z%  namespace -> struct
//   connectionId                   %CONNECTION_ID%
// Empty strings in the optional string fields count as unset (printed `-`), as Envoy's providers do.

/** Header lookup. Names are passed lowercase (`:method`, `user-agent`); absent headers return undefined or null. */
export interface HeaderSource {
  get(name: string): string | null | undefined;
}

export interface AccessLogContext {
  startTime: number;
  requestHeaders?: HeaderSource | null;
  responseHeaders?: HeaderSource | null;
  responseTrailers?: HeaderSource | null;
  protocol?: string;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails?: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs?: number;
  upstreamHost?: string;
  upstreamCluster?: string;
  downstreamRemoteAddress: string;
  downstreamDirectRemoteAddress: string;
  downstreamLocalAddress: string;
  routeName?: string;
  connectionTerminationDetails?: string;
  dynamicMetadata?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  connectionId?: number;
}

/** A HeaderSource over a plain object keyed by lowercase names (Node's IncomingHttpHeaders shape). */
export function headersFromRecord(h: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderSource {
  return {
    get(name: string): string | undefined {
      const v = h[name];
      if (v === undefined) return undefined;
      return typeof v === "string" ? v : v.join(",");
    },
  };
}
