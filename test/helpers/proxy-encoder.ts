// An independent PROXY protocol encoder for tests, written from the spec (haproxy doc/proxy-protocol.txt)
// without sharing code with the parser (wasm/assembly) or proxy/net/ip.ts: a bug in one is not
// reproduced in the other. It can also build deliberately wrong headers (raw bytes, lengths, CRCs).

export const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** CRC32C, bit by bit (no table), reflected polynomial 0x82F63B78, as RFC 4960 appendix B. */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------------------------------------------
// v1

export interface V1Line {
  protocol: string; // "TCP4" | "TCP6" (or anything, to build wrong lines)
  src: string;
  dst: string;
  srcPort: number | string;
  dstPort: number | string;
}

export function encodeV1(line: V1Line): Uint8Array {
  return ascii(`PROXY ${line.protocol} ${line.src} ${line.dst} ${line.srcPort} ${line.dstPort}\r\n`);
}

export function encodeV1Unknown(rest = ""): Uint8Array {
  return ascii(`PROXY UNKNOWN${rest}\r\n`);
}

export function v4Text(b: Uint8Array): string {
  return Array.from(b).join(".");
}

/**
 * Valid RFC 4291 spellings of a 16-byte IPv6 address: full and zero-padded, unpadded, "::" over every
 * zero run of one or more groups (any position, not only the longest), upper case, and the last 32
 * bits as an embedded dotted quad. All of them denote `b`.
 */
export function ipv6TextForms(b: Uint8Array): string[] {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b[i]! * 256 + b[i + 1]!);
  const forms = new Set<string>();
  const spell = (ws: number[], pad: boolean): string[] => ws.map((w) => (pad ? w.toString(16).padStart(4, "0") : w.toString(16)));
  const compressions = (ws: number[], tailText: string | null): void => {
    const n = ws.length;
    const suffix = (parts: string[]): string[] => (tailText === null ? parts : [...parts, tailText]);
    forms.add(suffix(spell(ws, false)).join(":"));
    forms.add(suffix(spell(ws, true)).join(":"));
    for (let i = 0; i < n; i++) {
      if (ws[i] !== 0) continue;
      for (let j = i + 1; j <= n && ws[j - 1] === 0; j++) {
        const left = spell(ws.slice(0, i), false).join(":");
        const rightParts = suffix(spell(ws.slice(j), false));
        const right = rightParts.join(":");
        if (tailText !== null && j === n) forms.add(`${left}::${tailText}`);
        else forms.add(`${left}::${right}`);
      }
    }
  };
  compressions(words, null);
  const quad = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  compressions(words.slice(0, 6), quad);
  const all = [...forms];
  for (const f of all) forms.add(f.toUpperCase());
  return [...forms];
}

// ------------------------------------------------------------------------------------------------
// v2

export interface Tlv {
  type: number;
  value: Uint8Array;
}

export function tlvBytes(t: Tlv): Uint8Array {
  return concat(Uint8Array.of(t.type, t.value.length >> 8, t.value.length & 0xff), t.value);
}

/** pp2_tlv_ssl: client byte, verify (u32 big-endian), then sub-TLVs. */
export function sslValue(client: number, verify: number, subs: Tlv[]): Uint8Array {
  const head = Uint8Array.of(client, (verify >>> 24) & 0xff, (verify >>> 16) & 0xff, (verify >>> 8) & 0xff, verify & 0xff);
  return concat(head, ...subs.map(tlvBytes));
}

export const FAMILY_BYTES: Record<string, number> = {
  UNSPEC: 0x00, TCP4: 0x11, UDP4: 0x12, TCP6: 0x21, UDP6: 0x22, UNIX_STREAM: 0x31, UNIX_DGRAM: 0x32,
};

export interface V2Header {
  command?: number; // 0 LOCAL, 1 PROXY (default)
  version?: number; // default 2
  family: keyof typeof FAMILY_BYTES | number; // a name or a raw 14th byte
  src?: Uint8Array; // 4, 16 or 108 bytes depending on the family
  dst?: Uint8Array;
  srcPort?: number;
  dstPort?: number;
  tlvs?: Tlv[];
  /** Insert a CRC32C TLV at this index of `tlvs` (or at the end with true) and fill it correctly. */
  crc?: boolean | number;
  /** Value the CRC32C TLV carries instead of the right one. */
  crcValue?: number;
  /** Raw bytes appended after the address block and TLVs, counted in the length. */
  extra?: Uint8Array;
  /** Write this in the length field instead of the real length. */
  lengthOverride?: number;
}

function addressBlock(h: V2Header): Uint8Array {
  const famByte = typeof h.family === "number" ? h.family : FAMILY_BYTES[h.family]!;
  const af = famByte >> 4;
  const port = (p: number | undefined): Uint8Array => Uint8Array.of(((p ?? 0) >> 8) & 0xff, (p ?? 0) & 0xff);
  if (h.command === 0 && h.src === undefined) return new Uint8Array(0);
  if (af === 1) return concat(h.src ?? new Uint8Array(4), h.dst ?? new Uint8Array(4), port(h.srcPort), port(h.dstPort));
  if (af === 2) return concat(h.src ?? new Uint8Array(16), h.dst ?? new Uint8Array(16), port(h.srcPort), port(h.dstPort));
  if (af === 3) {
    const pad = (p: Uint8Array | undefined): Uint8Array => {
      const out = new Uint8Array(108);
      if (p) out.set(p.subarray(0, 108));
      return out;
    };
    return concat(pad(h.src), pad(h.dst));
  }
  return concat(h.src ?? new Uint8Array(0), h.dst ?? new Uint8Array(0));
}

export function encodeV2(h: V2Header): Uint8Array {
  const famByte = typeof h.family === "number" ? h.family : FAMILY_BYTES[h.family]!;
  const tlvs = [...(h.tlvs ?? [])];
  let crcIndex = -1;
  if (h.crc !== undefined && h.crc !== false) {
    crcIndex = h.crc === true ? tlvs.length : h.crc;
    tlvs.splice(crcIndex, 0, { type: 0x03, value: new Uint8Array(4) });
  }
  const addr = addressBlock(h);
  const tlvParts = tlvs.map(tlvBytes);
  const body = concat(addr, ...tlvParts, h.extra ?? new Uint8Array(0));
  const length = h.lengthOverride ?? body.length;
  const head = concat(
    V2_SIGNATURE,
    Uint8Array.of((((h.version ?? 2) & 0xf) << 4) | ((h.command ?? 1) & 0xf), famByte, (length >> 8) & 0xff, length & 0xff),
  );
  const out = concat(head, body);
  if (crcIndex >= 0) {
    let at = 16 + addr.length;
    for (let i = 0; i < crcIndex; i++) at += tlvParts[i]!.length;
    const valueAt = at + 3;
    const crc = h.crcValue ?? crc32cBitwise(out); // the field is still zero here
    out[valueAt] = (crc >>> 24) & 0xff;
    out[valueAt + 1] = (crc >>> 16) & 0xff;
    out[valueAt + 2] = (crc >>> 8) & 0xff;
    out[valueAt + 3] = crc & 0xff;
  }
  return out;
}

export const text = ascii;
