// A client address as a per-client bucket key: four u32 words holding the 16 bytes of the address, an IPv4
// address in its IPv4-mapped form (::ffff:a.b.c.d), after masking to the configured prefix lengths. An IPv6
// client is usually one /64 (a subscriber's LAN), so keying on the full 128 bits would let one attacker
// mint endless identities; grouping by ipv6_prefix_len closes that.
//
// The address arrives as text (the trusted client address the connection manager derived, or the
// connection's remote address after the PROXY header): that is the one value every consumer reads
// (DESIGN.md, "The client address"). The words are written into a reusable Uint32Array, and the last text
// seen is remembered, because the requests of one connection repeat the same address string.
import { formatIp, formatIpv4, parseIp } from "../../../net/ip.js";

export interface PrefixLengths {
  /** 1..32 */
  readonly ipv4: number;
  /** 1..128 */
  readonly ipv6: number;
}

function maskWord(bits: number): number {
  // The top `bits` (0..32) bits set.
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Strict dotted quad (no leading zeros) to a u32, or -1. Kept here because it runs per request. */
function parseV4(text: string): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

/** Turns address text into a masked key. One per limiter (it owns the output words). */
export class ClientKeyer {
  /** The key of the last successful keyOf() call. */
  readonly words = new Uint32Array(4);
  private readonly v4Mask: number;
  private readonly v6Masks: Uint32Array;
  private lastText = "";
  private lastOk = false;

  constructor(readonly prefixes: PrefixLengths) {
    this.v4Mask = maskWord(prefixes.ipv4);
    this.v6Masks = new Uint32Array([0, 1, 2, 3].map((i) => maskWord(prefixes.ipv6 - 32 * i)));
  }

  /** Fills `words` for the address; false when the text is not an IP address (no per-client bucket then). */
  keyOf(text: string): boolean {
    if (text === this.lastText) return this.lastOk;
    this.lastText = text;
    const w = this.words;
    const v4 = text.indexOf(":") < 0 ? parseV4(text) : -1;
    if (v4 >= 0) {
      w[0] = 0;
      w[1] = 0;
      w[2] = 0xffff;
      w[3] = (v4 & this.v4Mask) >>> 0;
      return (this.lastOk = true);
    }
    const bytes = parseIp(text);
    if (bytes === null) return (this.lastOk = false);
    if (bytes.length === 4) {
      // An IPv4-mapped IPv6 text: the same client as its dotted quad.
      w[0] = 0;
      w[1] = 0;
      w[2] = 0xffff;
      w[3] = (((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) & this.v4Mask) >>> 0;
      return (this.lastOk = true);
    }
    const m = this.v6Masks;
    for (let i = 0; i < 4; i++) {
      const o = i * 4;
      w[i] = (((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) & m[i]) >>> 0;
    }
    return (this.lastOk = true);
  }

  /**
   * The key as the client group it stands for (the explain tool): `203.0.113.0/24` for an IPv4 key,
   * `2001:db8:1:2::/64` for an IPv6 one, with the prefix lengths the keyer masked to.
   */
  static keyAddress(w: Uint32Array, prefixes: PrefixLengths): string {
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
      return `${formatIpv4(w[3])}/${prefixes.ipv4}`;
    }
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 4; i++) {
      bytes[4 * i] = w[i] >>> 24;
      bytes[4 * i + 1] = (w[i] >>> 16) & 0xff;
      bytes[4 * i + 2] = (w[i] >>> 8) & 0xff;
      bytes[4 * i + 3] = w[i] & 0xff;
    }
    return `${formatIp(bytes)}/${prefixes.ipv6}`;
  }

  /** The key as text, for maps that key by string (per-connection buckets, the benchmark's baseline). */
  static keyText(w: Uint32Array): string {
    return `${w[0]}:${w[1]}:${w[2]}:${w[3]}`;
  }
}
