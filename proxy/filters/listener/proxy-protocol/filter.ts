// envoy.filters.listener.proxy_protocol — per-connection logic.
//
// The listener hands us every byte read so far. The WASM parser answers incomplete / error / ok; we never consume
// more than the header, so what follows (HTTP, a TLS ClientHello, an HTTP/2 preface) reaches the next layer intact.
// Behaviour follows Envoy (envoy.md §2): errors close the connection silently and count a stat; v2 LOCAL and
// v1 UNKNOWN keep the socket's addresses; PROXY with UNSPEC or UNIX addresses is an error; addresses must be unicast.
import { ProxyParser, signaturePrefixState, type ProxyHeader } from "../../../../wasm/index.js";
import { formatIp } from "../../../net/ip.js";
import { buildCidrMatcher, type CidrMatcher } from "../../common/cidr-matcher.js";
import type { DownstreamConnection } from "../../../listener/connection.js";
import type { ListenerFilter, ListenerFilterVerdict } from "../../types.js";
import type { ProxyProtocolConfig } from "./config.js";
import type { ProxyProtocolStats, VersionStats } from "./stats.js";

const NEED_MORE: ListenerFilterVerdict = { status: "need_more" };
const PLAIN: ListenerFilterVerdict = { status: "continue", consumed: 0 };

/** One parser per process is enough: parsing is synchronous and the parser keeps no state between calls. */
let sharedParser: ProxyParser | null = null;
function parser(): ProxyParser {
  return (sharedParser ??= new ProxyParser());
}

function isUnicast(ip: Uint8Array): boolean {
  if (ip.length === 4) {
    if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] === 0) return false; // INADDR_ANY
    if (ip[0] === 255 && ip[1] === 255 && ip[2] === 255 && ip[3] === 255) return false; // broadcast
    return (ip[0] & 0xf0) !== 0xe0; // 224.0.0.0/4 multicast
  }
  if (ip[0] === 0xff) return false; // ff00::/8 multicast
  for (let i = 0; i < 16; i++) if (ip[i] !== 0) return true;
  return false; // ::
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
    const result = parser().parse(bytes);
    if (result.status === "incomplete") return NEED_MORE;
    if (result.status === "error") return this.fail(conn, version, `proxy_protocol: ${result.code}: ${result.message}`);

    const header = result.header;
    version.found.inc();
    if ((header.version === 1 && !cfg.allowV1) || (header.version === 2 && !cfg.allowV2)) {
      version.disallowed.inc();
      conn.terminationDetails = `proxy_protocol: version ${header.version} is disallowed`;
      return { status: "close", reason: conn.terminationDetails };
    }
    const applied = this.apply(conn, header);
    if (applied !== null) return this.fail(conn, version, applied);
    return { status: "continue", consumed: header.headerLength };
  }

  /** Replace the connection's addresses and record TLVs. Returns an error text, or null. */
  private apply(conn: DownstreamConnection, header: ProxyHeader): string | null {
    conn.proxyHeader = header;
    if (header.command === "LOCAL" || header.family === "UNKNOWN") return null; // keep the socket's addresses
    if (header.family !== "TCP4" && header.family !== "TCP6" && header.family !== "UDP4" && header.family !== "UDP6") {
      return `proxy_protocol: address family ${header.family} is not supported with the PROXY command`;
    }
    const src = header.source;
    const dst = header.destination;
    if (!src || !dst) return "proxy_protocol: header has no addresses";
    if (!isUnicast(src.ip) || !isUnicast(dst.ip)) return "proxy_protocol: addresses must be unicast";
    conn.remote = { ip: formatIp(src.ip), port: src.port };
    conn.local = { ip: formatIp(dst.ip), port: dst.port };

    const cfg = this.config;
    if (header.tlvs.length > 0) {
      if (cfg.rules.length > 0) {
        for (const tlv of header.tlvs) {
          for (const rule of cfg.rules) {
            if (rule.tlvType === tlv.type) conn.setMetadata(rule.namespace, rule.key, tlvValue(tlv.value, rule.valueFormat));
          }
        }
      }
      const pt = cfg.passThroughTlvs;
      if (pt === "all") conn.passThroughTlvs = header.tlvs;
      else if (pt) conn.passThroughTlvs = header.tlvs.filter((t) => pt.has(t.type));
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
