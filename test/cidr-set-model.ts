// The brute-force model of a CIDR set that the WASM set is checked against: a linear scan comparing the
// first prefixLen bits, written bit by bit so that it shares nothing with the trie's arithmetic.
// IPv4-mapped rules (16 bytes, ::ffff:0:0/96 or longer) and queries are folded to IPv4 first, as
// docs/addresses.md says; host bits in a rule are ignored because only the first prefixLen bits are compared.
import { normaliseIp, type Cidr } from "../proxy/net/ip.js";

function isMapped(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function normaliseRule(c: Cidr): Cidr {
  return isMapped(c.bytes) && c.prefixLen >= 96 ? { bytes: c.bytes.slice(12), prefixLen: c.prefixLen - 96 } : c;
}

const bit = (b: Uint8Array, i: number): number => (b[i >> 3]! >> (7 - (i & 7))) & 1;

/** The longest prefix length among `cidrs` containing `ip`, or -1. */
export function modelLongestMatch(cidrs: readonly Cidr[], ip: Uint8Array): number {
  const a = normaliseIp(ip);
  let best = -1;
  for (const raw of cidrs) {
    const c = normaliseRule(raw);
    if (c.bytes.length !== a.length || c.prefixLen <= best) continue;
    let i = 0;
    while (i < c.prefixLen && bit(c.bytes, i) === bit(a, i)) i++;
    if (i === c.prefixLen) best = c.prefixLen;
  }
  return best;
}

/** ::ffff:a.b.c.d as 16 bytes. */
export function mapped(v4: Uint8Array): Uint8Array {
  return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4);
}
