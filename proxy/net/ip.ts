// IP addresses as bytes: 4 bytes for IPv4, 16 for IPv6, and never an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) in 16 bytes — those are normalised to their 4 IPv4 bytes everywhere (PROXY
// addresses, socket peers, CIDR rules), so that one IPv4 rule matches a client however it arrived.
// docs/addresses.md gives the reasoning and how Envoy behaves.
//
// Parsing is strict (as inet_pton): dotted quads without leading zeros; IPv6 in any RFC 4291 text form
// (one "::", 1-4 hex digits per group, either case, embedded dotted quad); no zone ids, no brackets.
// Text is produced only when asked (formatIp), in RFC 5952 form.

export type IpBytes = Uint8Array;

export interface Cidr {
  bytes: IpBytes;
  prefixLen: number;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Parses text[s, e) as a dotted quad into out[at..at+4). */
function parseV4Into(text: string, s: number, e: number, out: Uint8Array, at: number): boolean {
  let i = s;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= e || text.charCodeAt(i) !== 0x2e) return false;
      i++;
    }
    if (i >= e || !isDigit(text.charCodeAt(i))) return false;
    let v = text.charCodeAt(i) - 0x30;
    i++;
    if (v === 0) {
      if (i < e && isDigit(text.charCodeAt(i))) return false; // leading zero
    } else {
      for (let k = 0; k < 2 && i < e && isDigit(text.charCodeAt(i)); k++, i++) v = v * 10 + text.charCodeAt(i) - 0x30;
      if (v > 255 || (i < e && isDigit(text.charCodeAt(i)))) return false;
    }
    out[at + octet] = v;
  }
  return i === e;
}

/** Parses text[s, e) as IPv6 into 16 bytes, or null. */
function parseV6(text: string, s: number, e: number): Uint8Array | null {
  const groups = new Uint8Array(16);
  let i = s;
  let n = 0; // groups written
  let gap = -1; // group index of "::"
  if (i < e && text.charCodeAt(i) === 0x3a) {
    if (i + 1 >= e || text.charCodeAt(i + 1) !== 0x3a) return null;
    i += 2;
    gap = 0;
  }
  while (i < e) {
    if (n === 8) return null;
    const start = i;
    let v = 0;
    let digits = 0;
    while (i < e && digits < 5) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
    }
    if (digits === 0) return null;
    if (i < e && text.charCodeAt(i) === 0x2e) {
      if (n > 6 || !parseV4Into(text, start, e, groups, n * 2)) return null;
      n += 2;
      i = e;
      break;
    }
    if (digits > 4) return null;
    groups[n * 2] = v >> 8;
    groups[n * 2 + 1] = v & 0xff;
    n++;
    if (i === e) break;
    if (text.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < e && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return null;
      gap = n;
      i++;
    } else if (i === e) {
      return null;
    }
  }
  if (gap < 0) return n === 8 ? groups : null;
  if (n > 7) return null;
  const tail = n - gap;
  const out = new Uint8Array(16);
  out.set(groups.subarray(0, gap * 2), 0);
  out.set(groups.subarray(gap * 2, n * 2), 16 - tail * 2);
  return out;
}

function isMapped(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Parses an IPv4 or IPv6 address (strict). An IPv4-mapped IPv6 address comes back as 4 IPv4 bytes. */
export function parseIp(text: string): IpBytes | null {
  const e = text.length;
  if (e === 0 || e > 45) return null;
  if (text.indexOf(":") < 0) {
    const out = new Uint8Array(4);
    return parseV4Into(text, 0, e, out, 0) ? out : null;
  }
  const v6 = parseV6(text, 0, e);
  if (v6 === null) return null;
  return isMapped(v6) ? v6.slice(12) : v6;
}

/** 16-byte ::ffff:a.b.c.d -> its 4 IPv4 bytes; anything else unchanged (same object). */
export function normaliseIp(bytes: IpBytes): IpBytes {
  return isMapped(bytes) ? bytes.slice(12) : bytes;
}

// "0".."255" and "0."..."255.": formatting an IPv4 address (once per connection, for logs and headers)
// then costs four lookups and three concatenations instead of four number-to-string conversions. Each
// concatenation allocates a string (V8 copies short ones), and the text is most of what a parse costs:
// three of them with the dotted table, rather than seven with a separate ".".
const OCTET_TEXT: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));
const OCTET_DOT: readonly string[] = Array.from({ length: 256 }, (_, i) => `${i}.`);
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Canonical text: IPv4 dotted quad; IPv6 per RFC 5952 (lower case, longest zero run as "::"). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) {
    return OCTET_DOT[bytes[0]!]! + OCTET_DOT[bytes[1]!]! + OCTET_DOT[bytes[2]!]! + OCTET_TEXT[bytes[3]!]!;
  }
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  return formatIpv6(bytes, 0);
}

/**
 * RFC 5952 text of the 16 IPv6 bytes at bytes[at..at+16) (an IPv4-mapped one as ::ffff:a.b.c.d). The
 * offset lets a caller format from a larger reused array (ProxyParseOutput.srcBytes) without a view.
 */
export function formatIpv6(bytes: Uint8Array, at: number): string {
  if (at < 0 || at + 16 > bytes.length) throw new RangeError(`no 16-byte IPv6 address at offset ${at} of ${bytes.length} bytes`);
  let mapped = bytes[at + 10] === 0xff && bytes[at + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) if (bytes[at + i] !== 0) mapped = false;
  if (mapped) { // RFC 5952 section 5
    return "::ffff:" + OCTET_DOT[bytes[at + 12]!]! + OCTET_DOT[bytes[at + 13]!]! + OCTET_DOT[bytes[at + 14]!]! + OCTET_TEXT[bytes[at + 15]!]!;
  }
  // Longest run of two or more zero groups; the first one on a tie (RFC 5952 section 4.2).
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if ((bytes[at + 2 * i]! | bytes[at + 2 * i + 1]!) !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && (bytes[at + 2 * j]! | bytes[at + 2 * j + 1]!) === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  // Built by concatenation from byte tables: no arrays, no radix conversions.
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      text += "::";
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestAt + bestLen) text += ":";
    const hi = bytes[at + 2 * i]!, lo = bytes[at + 2 * i + 1]!;
    text += hi === 0 ? HEX[lo]! : HEX[hi]! + HEX2[lo]!;
  }
  return text;
}

/**
 * Dotted quad of an IPv4 address given as an unsigned number, most significant byte first (0xcb007107 is
 * "203.0.113.7"): the form ProxyParseOutput and the CIDR lookups use. Four table lookups, no typed array.
 */
export function formatIpv4(v: number): string {
  return OCTET_DOT[v >>> 24]! + OCTET_DOT[(v >>> 16) & 0xff]! + OCTET_DOT[(v >>> 8) & 0xff]! + OCTET_TEXT[v & 0xff]!;
}

/**
 * Node reports IPv4 peers of a dual-stack (::) listener as "::ffff:1.2.3.4": give "1.2.3.4" instead.
 * Any other text is returned unchanged. Called per connection: the common cases cost a character test.
 */
export function normaliseSocketAddress(text: string): string {
  if (text.indexOf(":") < 0) return text; // IPv4 (or not an address): nothing to do
  if (text.length > 7 && text.charCodeAt(0) === 0x3a && text.charCodeAt(1) === 0x3a && text.indexOf(".") > 0) {
    const bytes = parseIp(text);
    if (bytes !== null && bytes.length === 4) return formatIp(bytes);
    return text;
  }
  if (text.indexOf(".") > 0) {
    // Uncommon spellings such as 0:0:0:0:0:ffff:1.2.3.4.
    const bytes = parseIp(text);
    if (bytes !== null && bytes.length === 4) return formatIp(bytes);
  }
  return text;
}

function parsePrefixLen(text: string, max: number): number {
  if (text.length === 0 || text.length > 3) return -1;
  if (text.length > 1 && text.charCodeAt(0) === 0x30) return -1; // leading zero
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    v = v * 10 + c - 0x30;
  }
  return v <= max ? v : -1;
}

function clearHostBits(bytes: Uint8Array, prefixLen: number): void {
  for (let bit = prefixLen; bit < bytes.length * 8; ) {
    if (bit % 8 === 0) {
      bytes[bit >> 3] = 0;
      bit += 8;
    } else {
      bytes[bit >> 3] = bytes[bit >> 3]! & (0xff << (8 - (bit % 8)));
      bit += 8 - (bit % 8);
    }
  }
}

/**
 * "10.1.2.3/8" -> 10.0.0.0/8 (host bits cleared); a bare address -> /32 or /128. An IPv4-mapped IPv6
 * prefix of /96 or longer becomes the IPv4 prefix it covers (::ffff:10.0.0.0/104 -> 10.0.0.0/8).
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const isV6Text = addrText.indexOf(":") >= 0;
  let bytes: Uint8Array | null;
  if (isV6Text) {
    if (addrText.length === 0 || addrText.length > 45) return null;
    bytes = parseV6(addrText, 0, addrText.length);
  } else {
    bytes = parseIp(addrText);
  }
  if (bytes === null) return null;
  let prefixLen = bytes.length * 8;
  if (slash >= 0) {
    prefixLen = parsePrefixLen(text.slice(slash + 1), bytes.length * 8);
    if (prefixLen < 0) return null;
  }
  if (isMapped(bytes) && prefixLen >= 96) {
    bytes = bytes.slice(12);
    prefixLen -= 96;
  }
  clearHostBits(bytes, prefixLen);
  return { bytes, prefixLen };
}

/** isUnicastIp for an IPv4 address given as an unsigned number (most significant byte first). */
export function isUnicastIpv4(v: number): boolean {
  return v !== 0 && v !== 0xffffffff && v >>> 28 !== 0xe;
}

/**
 * Envoy's isUnicastAddress: IPv4 not 0.0.0.0, not 255.255.255.255, not multicast (224.0.0.0/4);
 * IPv6 not :: and not multicast (ff00::/8). Envoy refuses PROXY headers whose addresses fail this.
 */
export function isUnicastIp(bytes: IpBytes): boolean {
  if (bytes.length === 4) {
    const a = bytes[0]!, b = bytes[1]!, c = bytes[2]!, d = bytes[3]!;
    if ((a | b | c | d) === 0) return false;
    if ((a & b & c & d) === 0xff) return false;
    return (a & 0xf0) !== 0xe0;
  }
  if (bytes[0] === 0xff) return false;
  for (let i = 0; i < 16; i++) if (bytes[i] !== 0) return true;
  return false;
}
