// The HttpConnectionManager fields that govern the client address and request-header mutation, read from the HCM's
// own ConfigReader (the connection manager's config.ts calls readRequestHeadersConfig before its `done()`), and turned
// into one frozen object that request-headers.ts and client-address.ts consult per request.
import { randomUUID } from "node:crypto";
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { parseCidrRange } from "../../common/cidr-config.js";
import { buildCidrMatcher, EMPTY_CIDR_MATCHER } from "../../common/cidr-matcher.js";
import { hostLocalAddress, type XffConfig } from "./client-address.js";

export type ForwardClientCert = "SANITIZE" | "FORWARD_ONLY" | "ALWAYS_FORWARD_ONLY";
export type StripPortMode = "none" | "matching" | "any";

export interface RequestHeadersConfig {
  readonly xff: XffConfig;
  /** Appended to X-Forwarded-For instead of a loopback peer (Envoy's local_info address). */
  readonly localIp: string;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly alwaysSetRequestIdInResponse: boolean;
  /** HCM `via`; "" when unset. */
  readonly via: string;
  readonly appendXForwardedPort: boolean;
  readonly forwardClientCert: ForwardClientCert;
  /** scheme_header_transformation.scheme_to_overwrite, or null. */
  readonly schemeToOverwrite: "http" | "https" | null;
  readonly stripPort: StripPortMode;
  readonly stripTrailingHostDot: boolean;
  /** Makes a new x-request-id (crypto.randomUUID, a UUIDv4). Replaceable for tests. */
  readonly newRequestId: () => string;
}

const FCC = ["SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"] as const;

/** Every HCM field this reader consumes (the HCM's config.ts must not read them again). */
export const REQUEST_HEADER_FIELDS: readonly string[] = Object.freeze([
  "use_remote_address",
  "xff_num_trusted_hops",
  "skip_xff_append",
  "internal_address_config",
  "original_ip_detection_extensions",
  "generate_request_id",
  "preserve_external_request_id",
  "always_set_request_id_in_response",
  "request_id_extension",
  "via",
  "append_x_forwarded_port",
  "forward_client_cert_details",
  "set_current_client_cert_details",
  "scheme_header_transformation",
  "strip_matching_host_port",
  "strip_any_host_port",
  "strip_trailing_host_dot",
  "add_user_agent",
]);

function headerValueOk(v: string): boolean {
  return !/[\0\r\n]/.test(v);
}

export interface RequestHeadersOptions {
  /** Override the local address appended for loopback peers (default: hostLocalAddress()). */
  localIp?: string;
  newRequestId?: () => string;
}

export function readRequestHeadersConfig(r: ConfigReader, opts: RequestHeadersOptions = {}): RequestHeadersConfig {
  const useRemoteAddress = r.bool("use_remote_address", false);
  const xffNumTrustedHops = r.int("xff_num_trusted_hops", { default: 0, min: 0, max: 0xffffffff });
  const skipXffAppend = r.bool("skip_xff_append", false);

  if (r.list("original_ip_detection_extensions").length > 0) {
    throw new ConfigError(r.at("original_ip_detection_extensions"), "original IP detection extensions are not supported yet; use use_remote_address and xff_num_trusted_hops");
  }

  let internalAddresses = EMPTY_CIDR_MATCHER;
  let internalUnixSockets = false;
  const iac = r.obj("internal_address_config");
  if (iac) {
    internalUnixSockets = iac.bool("unix_sockets", false);
    internalAddresses = buildCidrMatcher(iac.objList("cidr_ranges").map(parseCidrRange));
    iac.done();
  }

  const generateRequestId = r.bool("generate_request_id", true);
  const preserveExternalRequestId = r.bool("preserve_external_request_id", false);
  const alwaysSetRequestIdInResponse = r.bool("always_set_request_id_in_response", false);
  const rid = r.obj("request_id_extension");
  if (rid) throw new ConfigError(rid.path, "request ID extensions are not supported; Tollgate generates UUIDv4 x-request-id values");

  const via = r.str("via") ?? "";
  if (!headerValueOk(via)) throw new ConfigError(r.at("via"), "must be a valid header value (no NUL, CR or LF)");
  const appendXForwardedPort = r.bool("append_x_forwarded_port", false);

  const fcc = r.enum("forward_client_cert_details", FCC, "SANITIZE");
  if (fcc === "APPEND_FORWARD" || fcc === "SANITIZE_SET") {
    throw new ConfigError(r.at("forward_client_cert_details"), `${fcc} is not supported (Tollgate does not produce client certificate details)`);
  }
  const sccd = r.obj("set_current_client_cert_details");
  if (sccd) throw new ConfigError(sccd.path, "is not supported (Tollgate does not produce client certificate details)");

  let schemeToOverwrite: "http" | "https" | null = null;
  const sht = r.obj("scheme_header_transformation");
  if (sht) {
    const s = sht.str("scheme_to_overwrite");
    if (s !== undefined) {
      if (s !== "http" && s !== "https") throw new ConfigError(sht.at("scheme_to_overwrite"), `must be "http" or "https", got ${JSON.stringify(s)}`);
      schemeToOverwrite = s;
    }
    if (sht.bool("match_upstream", false)) throw new ConfigError(sht.at("match_upstream"), "is not supported");
    sht.done();
  }

  const stripMatching = r.bool("strip_matching_host_port", false);
  const stripAny = r.bool("strip_any_host_port", false);
  if (stripMatching && stripAny) {
    throw new ConfigError(r.path, "only one of strip_matching_host_port or strip_any_host_port can be set");
  }
  const stripTrailingHostDot = r.bool("strip_trailing_host_dot", false);

  if (r.bool("add_user_agent", false)) {
    throw new ConfigError(r.at("add_user_agent"), "is not supported (it needs Envoy's --service-cluster)");
  }

  return Object.freeze({
    xff: Object.freeze({ useRemoteAddress, xffNumTrustedHops, skipXffAppend, internalAddresses, internalUnixSockets }),
    localIp: opts.localIp ?? hostLocalAddress(),
    generateRequestId,
    preserveExternalRequestId,
    alwaysSetRequestIdInResponse,
    via,
    appendXForwardedPort,
    forwardClientCert: fcc,
    schemeToOverwrite,
    stripPort: stripAny ? "any" : stripMatching ? "matching" : "none",
    stripTrailingHostDot,
    newRequestId: opts.newRequestId ?? randomUUID,
  });
}
