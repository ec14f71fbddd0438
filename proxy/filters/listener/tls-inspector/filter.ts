// envoy.filters.listener.tls_inspector — per-connection logic.
//
// Inspection only: Tollgate does not terminate TLS. The filter reads the ClientHello (client-hello.ts), records the
// transport protocol ("tls"), the SNI and the ALPN list on the connection, and never consumes a byte: the ClientHello
// goes on to the network filters untouched (tcp_proxy passes TLS through). Outcomes follow Envoy's getParserState:
//   ClientHello            tls_found, sni_found|sni_not_found, alpn_found|alpn_not_found; continue
//   not a ClientHello      default: tls_not_found, continue as plaintext ("raw_buffer");
//                          close_connection_on_client_hello_parsing_errors: close (client_hello_too_large if
//                          max_client_hello_size bytes had been read)
//   incomplete after max_client_hello_size bytes   client_hello_too_large; close (whatever the option says)
// Failures also set dynamic metadata `envoy.filters.listener.tls_inspector: {failure_reason: ...}` as Envoy does.
import type { DownstreamConnection } from "../../../listener/connection.js";
import type { ListenerFilter, ListenerFilterVerdict } from "../../types.js";
import { ClientHelloScanner } from "./client-hello.js";
import type { TlsInspectorConfig } from "./config.js";
import type { TlsInspectorStats } from "./stats.js";

const NEED_MORE: ListenerFilterVerdict = { status: "need_more" };
const CONTINUE: ListenerFilterVerdict = { status: "continue", consumed: 0 };

export const METADATA_NAMESPACE = "envoy.filters.listener.tls_inspector";
const FAILURE_REASON = "failure_reason";
const CLIENT_HELLO_TOO_LARGE = "ClientHelloTooLarge";
const CLIENT_HELLO_NOT_DETECTED = "ClientHelloNotDetected";

export class TlsInspectorFilter implements ListenerFilter {
  /**
   * The scan in progress for connections that answered need_more. The listener calls again with a longer prefix of
   * the same bytes, so the scanner resumes at the next record instead of re-reading a trickled ClientHello from the
   * start each time. Weak: a connection that closes or times out mid-scan takes its entry with it.
   */
  private readonly scans = new WeakMap<DownstreamConnection, ClientHelloScanner>();

  constructor(
    private readonly config: TlsInspectorConfig,
    private readonly stats: TlsInspectorStats,
  ) {}

  onData(conn: DownstreamConnection, bytes: Buffer): ListenerFilterVerdict {
    const known = this.scans.get(conn);
    const scanner = known ?? new ClientHelloScanner(this.config.maxClientHelloSize);
    const r = scanner.feed(bytes);
    if (r.status === "need_more") {
      if (!known) this.scans.set(conn, scanner);
      return NEED_MORE;
    }
    if (known) this.scans.delete(conn);
    const st = this.stats;
    st.bytesProcessed.record(r.bytesProcessed);

    if (r.status === "tls") {
      const hello = r.hello;
      if (hello.serverName !== "") {
        st.sniFound.inc();
        conn.requestedServerName = hello.serverName;
      } else {
        st.sniNotFound.inc();
      }
      st.tlsFound.inc();
      if (hello.alpn.length > 0) {
        st.alpnFound.inc();
        conn.applicationProtocols = hello.alpn;
      } else {
        st.alpnNotFound.inc();
      }
      conn.transportProtocol = "tls";
      return CONTINUE;
    }

    if (r.status === "too_large") {
      st.clientHelloTooLarge.inc();
      conn.setMetadata(METADATA_NAMESPACE, FAILURE_REASON, CLIENT_HELLO_TOO_LARGE);
      conn.terminationDetails = `tls_inspector: no complete ClientHello within ${this.config.maxClientHelloSize} bytes`;
      return { status: "close", reason: conn.terminationDetails };
    }

    // Not a ClientHello.
    if (this.config.closeConnectionOnClientHelloParsingErrors) {
      if (bytes.length >= this.config.maxClientHelloSize) {
        st.clientHelloTooLarge.inc();
        conn.setMetadata(METADATA_NAMESPACE, FAILURE_REASON, CLIENT_HELLO_TOO_LARGE);
      }
      conn.terminationDetails = `tls_inspector: not a TLS ClientHello (${r.reason})`;
      return { status: "close", reason: conn.terminationDetails };
    }
    st.tlsNotFound.inc();
    conn.setMetadata(METADATA_NAMESPACE, FAILURE_REASON, CLIENT_HELLO_NOT_DETECTED);
    return CONTINUE;
  }
}
