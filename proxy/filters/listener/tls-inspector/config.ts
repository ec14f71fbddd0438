// envoy.filters.listener.tls_inspector — configuration, validated once at load.
// Envoy's TlsInspector message. Accepted by name alone (`- name: envoy.listener.tls_inspector`, as Istio
// EnvoyFilters write it) with Envoy's defaults.
import { ConfigError } from "../../../config/errors.js";
import { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import type { BuildContext, ListenerFilter, ListenerFilterConfig } from "../../types.js";
import { TLS_MAX_CLIENT_HELLO } from "./client-hello.js";
import { TlsInspectorFilter } from "./filter.js";
import { TlsInspectorStats } from "./stats.js";

/** Envoy's proto bounds: max_client_hello_size in (255, 16384], initial_read_buffer_size in (255, 65537). */
const MIN_SIZE = 256;
const MAX_INITIAL_READ_BUFFER = 65536;

export interface TlsInspectorConfig extends ListenerFilterConfig {
  /** Bytes read at most before a ClientHello must be complete (else client_hello_too_large and close). */
  readonly maxClientHelloSize: number;
  /**
   * Envoy's first peek size (capped at maxClientHelloSize). Tollgate's listener hands the filter every byte it has,
   * so this changes no outcome; it is kept for config_dump fidelity.
   */
  readonly initialReadBufferSize: number;
  /** true: bytes that are not a ClientHello close the connection; false (default): they go on as plaintext. */
  readonly closeConnectionOnClientHelloParsingErrors: boolean;
}

/** google.protobuf.BoolValue: `true` or `{value: true}`; absent is false. */
function boolValue(r: ConfigReader, key: string): boolean {
  const v = r.raw(key);
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const wrapper = new ConfigReader(v, r.at(key));
    const b = wrapper.bool("value", false);
    wrapper.done();
    return b;
  }
  throw new ConfigError(r.at(key), `expected true or false, got ${JSON.stringify(v)}`);
}

function refuseFingerprinting(r: ConfigReader, key: string, what: string): void {
  if (boolValue(r, key)) {
    throw new ConfigError(
      r.at(key),
      `${what} fingerprinting is not supported by Tollgate (it inspects the ClientHello for SNI and ALPN only); remove the field or set it to false`,
    );
  }
}

function parseTlsInspector(r: ConfigReader): TlsInspectorConfig {
  refuseFingerprinting(r, "enable_ja3_fingerprinting", "JA3");
  refuseFingerprinting(r, "enable_ja4_fingerprinting", "JA4");
  const maxClientHelloSize = r.int("max_client_hello_size", { default: TLS_MAX_CLIENT_HELLO, min: MIN_SIZE, max: TLS_MAX_CLIENT_HELLO });
  const initial = r.int("initial_read_buffer_size", { min: MIN_SIZE, max: MAX_INITIAL_READ_BUFFER }) ?? maxClientHelloSize;
  const closeConnectionOnClientHelloParsingErrors = r.bool("close_connection_on_client_hello_parsing_errors", false);
  const config: TlsInspectorConfig = {
    maxClientHelloSize,
    initialReadBufferSize: Math.min(initial, maxClientHelloSize),
    closeConnectionOnClientHelloParsingErrors,
    build(ctx: BuildContext): ListenerFilter {
      return new TlsInspectorFilter(config, new TlsInspectorStats(ctx.stats));
    },
  };
  return Object.freeze(config);
}

registerExtension<TlsInspectorConfig>({
  category: "listener_filter",
  typeUrls: ["envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"],
  names: ["envoy.filters.listener.tls_inspector", "envoy.listener.tls_inspector"],
  nameOnlyDefaults: true,
  parse: parseTlsInspector,
});
