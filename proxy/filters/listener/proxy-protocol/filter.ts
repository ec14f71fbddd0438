// envoy.filters.listener.proxy_protocol — per-connection logic.
//
// The listener hands us every byte read so far. The WASM parser answers incomplete / error / ok; we never consume
// more than the header, so what follows (HTTP, a TLS ClientHello, an HTTP/2 preface) reaches the next layer intact.
// Behaviour follows Envoy (envoy.md §2): errors close the connection silently and count a stat; v2 LOCAL and
// v1 UNKNOWN keep the socket's addresses; PROXY with UNSPEC or UNIX addresses is an error; addresses must be unicast.
import {
  PROXY_COMMAND_LOCAL, PROXY_ERROR, PROXY_FAMILIES, PROXY_FAMILY, PROXY_INCOMPLETE, ProxyParseOutput, ProxyParser,
  signaturePrefixState,
} from "../../../../wasm/index.js";
import { formatIpv4, formatIpv6, isUnicastIp, isUnicastIpv4 } from "../../../net/ip.js";
import { buildCidrMatcher, type CidrMatcher } from "../../common/cidr-matcher.js";
import type { DownstreamConnection } from "../../../listener/connection.js";
import type { ListenerFilter, ListenerFilterVerdict } from "../../types.js";
import type { ProxyProtocolConfig } from "./config.js";
import type { ProxyProtocolStats, VersionStats } from "./stats.js";

const NEED_MORE: ListenerFilterVerdict = { status: "need_more" };
const PLAIN: ListenerFilterVerdict = { status: "continue", consumed: 0 };

/**
 * One parser and one output per process are enough: parsing is synchronous, the parser keeps no state
 * between calls, and each onData reads the output before it returns. parseInto answers in numbers (IPv4
 * addresses as u32, formatted straight to text), so an accepted header without TLVs allocates only the
 * stored header and the two address strings.
 */
let sharedParser: ProxyParser | null = null;
function parser(): ProxyParser {
  return (sharedParser ??= new ProxyParser());
}
const parsed = new ProxyParseOutput();

/** Envoy's unicast test on one side of the header (4 or 16 bytes, as the family guarantees). */
function isUnicastSide(length: number, v4: number, bytes: Uint8Array): boolean {
  return length === 4 ? isUnicastIpv4(v4) : isUnicastIp(bytes.subarray(0, 16));
}

function sideText(length: number, v4: number, bytes: Uint8Array): string {
  return length === 4 ? formatIpv4(v4) : formatIpv6(bytes, 0);
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

function tlvValue(value: Uint8Array, format: "RAW_STRING" | "HEX_STRING"): string {
  if (format === "HEX_STRING") return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
  // Envoy replaces bytes that are not valid UTF-8 with '!'.
  return utf8.decode(value).replace(/\uFFFD/g, "!");
}

export class ProxyProtocolFilter implements ListenerFilter {
  private readonly trusted: CidrMatcher | null;

  constructor(
    private readonly config: ProxyProtocolConfig,
    private readonly stats: ProxyProtocolStats,
  ) {
    this.trusted = config.trustedSources ? buildCidrMatcher(config.trustedSources) : null;
  }

  onData(conn: DownstreamConnection, bytes: Buffer): ListenerFilterVerdict {
    const cfg = this.config;
    if (this.trusted && !this.trusted.contains(conn.directRemote.ip)) {
      // A header from a peer we do not trust would let it choose its own client address.
      if (cfg.allowRequestsWithoutProxyProtocol) {
        this.stats.untrustedPlain.inc();
        return PLAIN;
      }
      this.stats.untrustedRefused.inc();
      return this.fail(conn, null, `proxy_protocol: peer ${conn.directRemote.ip} is not in trusted_sources`);
    }

    const sig = signaturePrefixState(bytes);
    if (cfg.allowRequestsWithoutProxyProtocol) {
      // Bytes that cannot start an allowed header pass through untouched; a prefix of a signature waits.
      const v1 = cfg.allowV1 && (sig === "v1" || sig === "maybe");
      const v2 = cfg.allowV2 && (sig === "v2" || sig === "maybe");
      if (!v1 && !v2) {
        this.stats.notFoundAllowed.inc();
        return PLAIN;
      }
      if (sig === "maybe") return NEED_MORE;
    }
    if (sig === "none") {
      this.stats.notFoundDisallowed.inc();
      return this.fail(conn, null, "proxy_protocol: no PROXY header (not_found_disallowed)");
    }
    if (sig === "maybe") return NEED_MORE;

    const version = sig === "v1" ? this.stats.v1 : this.stats.v2;
    const status = parser().parseInto(bytes, parsed);
    if (status === PROXY_INCOMPLETE) return NEED_MORE;
    if (status === PROXY_ERROR) return this.fail(conn, version, `proxy_protocol: ${parsed.errorCode}: ${parsed.errorMessage()}`);

    // `found` as Envoy counts it: a header that was used (Done) or refused for its version (Denied: found and
    // disallowed); one that fails the checks in apply (PROXY with AF_UNSPEC or UNIX, a non-unicast address) is an
    // error only, never found.
    if ((parsed.version === 1 && !cfg.allowV1) || (parsed.version === 2 && !cfg.allowV2)) {
      version.found.inc();
      version.disallowed.inc();
      conn.terminationDetails = `proxy_protocol: version ${parsed.version} is disallowed`;
      return { status: "close", reason: conn.terminationDetails };
    }
    const applied = this.apply(conn, parsed);
    if (applied !== null) return this.fail(conn, version, applied);
    version.found.inc();
    return { status: "continue", consumed: parsed.headerLength };
  }

  /** Replace the connection's addresses and record TLVs. Returns an error text, or null. */
  private apply(conn: DownstreamConnection, h: ProxyParseOutput): string | null {
    const cfg = this.config;
    const pt = cfg.passThroughTlvs;
    // Reading h.tlvs makes the TLV objects: only when a rule or pass-through looks at them, and before
    // toHeader, which then shares them instead of keeping the bytes.
    const tlvs = h.tlvCount > 0 && (cfg.rules.length > 0 || pt !== null) ? h.tlvs : null;
    conn.proxyHeader = h.toHeader();
    const family = h.familyCode;
    if (h.commandCode === PROXY_COMMAND_LOCAL || family === PROXY_FAMILY.UNKNOWN) return null; // keep the socket's addresses
    if (family !== PROXY_FAMILY.TCP4 && family !== PROXY_FAMILY.TCP6 && family !== PROXY_FAMILY.UDP4 && family !== PROXY_FAMILY.UDP6) {
      return `proxy_protocol: address family ${PROXY_FAMILIES[family]} is not supported with the PROXY command`;
    }
    // An IP family has both addresses, each 4 bytes (IPv4 or IPv4-mapped) or 16.
    if (h.srcLength === 0 || h.dstLength === 0) return "proxy_protocol: header has no addresses";
    if (!isUnicastSide(h.srcLength, h.srcV4, h.srcBytes) || !isUnicastSide(h.dstLength, h.dstV4, h.dstBytes)) {
      return "proxy_protocol: addresses must be unicast";
    }
    conn.remote = { ip: sideText(h.srcLength, h.srcV4, h.srcBytes), port: h.srcPort };
    conn.local = { ip: sideText(h.dstLength, h.dstV4, h.dstBytes), port: h.dstPort };

    if (tlvs !== null) {
      if (cfg.rules.length > 0) {
        for (const tlv of tlvs) {
          for (const rule of cfg.rules) {
            if (rule.tlvType === tlv.type) conn.setMetadata(rule.namespace, rule.key, tlvValue(tlv.value, rule.valueFormat));
          }
        }
      }
      if (pt === "all") conn.passThroughTlvs = tlvs;
      else if (pt) conn.passThroughTlvs = tlvs.filter((t) => pt.has(t.type));
    }
    return null;
  }

  private fail(conn: DownstreamConnection, version: VersionStats | null, why: string): ListenerFilterVerdict {
    this.stats.legacyError.inc();
    version?.error.inc();
    conn.terminationDetails = why;
    return { status: "close", reason: why };
  }
}
