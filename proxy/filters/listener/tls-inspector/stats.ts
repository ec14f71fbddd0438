// Stats of the TLS inspector, with Envoy's names (source/extensions/filters/listener/tls_inspector/tls_inspector.h),
// in the root scope as Envoy's listener-filter scope puts them, shared by every listener that uses the filter:
//   tls_inspector.client_hello_too_large   max_client_hello_size bytes read and no complete ClientHello: closed
//   tls_inspector.tls_found                a ClientHello was read; transport protocol "tls"
//   tls_inspector.tls_not_found            not a ClientHello; the connection goes on as plaintext ("raw_buffer")
//   tls_inspector.alpn_found|alpn_not_found     with tls_found: the ClientHello offered ALPN protocols, or not
//   tls_inspector.sni_found|sni_not_found       with tls_found: the ClientHello named a server, or not
//   tls_inspector.bytes_processed          histogram: bytes examined per connection when the filter decided
import type { Counter, Histogram, StatsStore } from "../../../observability/stats.js";

export class TlsInspectorStats {
  readonly clientHelloTooLarge: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly bytesProcessed: Histogram;

  constructor(stats: StatsStore) {
    const s = stats.scope("tls_inspector.");
    this.clientHelloTooLarge = s.counter("client_hello_too_large");
    this.tlsFound = s.counter("tls_found");
    this.tlsNotFound = s.counter("tls_not_found");
    this.alpnFound = s.counter("alpn_found");
    this.alpnNotFound = s.counter("alpn_not_found");
    this.sniFound = s.counter("sni_found");
    this.sniNotFound = s.counter("sni_not_found");
    this.bytesProcessed = s.histogram("bytes_processed");
  }
}
