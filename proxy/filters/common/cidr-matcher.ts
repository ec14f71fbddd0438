// A set of CIDR ranges answering "is this address inside any of them?" (internal_address_config, trusted ranges).
// This is the plain TypeScript matcher; the WASM CIDR set will implement the same interface.
//
// Shape: ranges are grouped by prefix length; each group is a Set of the masked network address. A lookup masks the
// address once per distinct prefix length present (at most 33 for IPv4, 129 for IPv6) and probes the Set, so the
// cost does not grow with the number of ranges. IPv4 keys are uint32 numbers (no allocation per probe); IPv6 keys are
// four 32-bit words folded into a string only for the lengths present.
import { parseIp, type Cidr, type IpBytes } from "../../net/ip.js";

export interface CidrMatcher {
  /** True when the address (text, any form parseIp accepts) lies in one of the ranges. Unparsable text: false. */
  contains(ipText: string): boolean;
  /** Same, for an already parsed address (4 or 16 bytes, mapped IPv4 already normalised). */
  containsBytes(ip: IpBytes): boolean;
  /** Number of ranges the matcher was built from. */
  readonly size: number;
}

function v4Word(b: IpBytes): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function v4Mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function v6Key(b: IpBytes, len: number): string {
  let key = "";
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, len - w * 32));
    const word = ((b[4 * w] << 24) | (b[4 * w + 1] << 16) | (b[4 * w + 2] << 8) | b[4 * w + 3]) >>> 0;
    key += `${(word & v4Mask(bits)) >>> 0}.`;
  }
  return key;
}

class PrefixSetMatcher implements CidrMatcher {
  readonly size: number;
  // Parallel arrays, longest prefix first: v4Lens[i] pairs with v4Sets[i].
  private readonly v4Lens: number[] = [];
  private readonly v4Masks: number[] = [];
  private readonly v4Sets: Set<number>[] = [];
  private readonly v6Lens: number[] = [];
  private readonly v6Sets: Set<string>[] = [];

  constructor(cidrs: readonly Cidr[]) {
    this.size = cidrs.length;
    const v4 = new Map<number, Set<number>>();
    const v6 = new Map<number, Set<string>>();
    for (const c of cidrs) {
      if (c.bytes.length === 4) {
        let s = v4.get(c.prefixLen);
        if (!s) v4.set(c.prefixLen, (s = new Set()));
        s.add((v4Word(c.bytes) & v4Mask(c.prefixLen)) >>> 0);
      } else {
        let s = v6.get(c.prefixLen);
        if (!s) v6.set(c.prefixLen, (s = new Set()));
        s.add(v6Key(c.bytes, c.prefixLen));
      }
    }
    for (const len of [...v4.keys()].sort((a, b) => b - a)) {
      this.v4Lens.push(len);
      this.v4Masks.push(v4Mask(len));
      this.v4Sets.push(v4.get(len) as Set<number>);
    }
    for (const len of [...v6.keys()].sort((a, b) => b - a)) {
      this.v6Lens.push(len);
      this.v6Sets.push(v6.get(len) as Set<string>);
    }
  }

  contains(ipText: string): boolean {
    if (this.size === 0) return false;
    const ip = parseIp(ipText);
    return ip !== null && this.containsBytes(ip);
  }

  containsBytes(ip: IpBytes): boolean {
    if (ip.length === 4) {
      const w = v4Word(ip);
      for (let i = 0; i < this.v4Sets.length; i++) if (this.v4Sets[i].has((w & this.v4Masks[i]) >>> 0)) return true;
      return false;
    }
    for (let i = 0; i < this.v6Sets.length; i++) if (this.v6Sets[i].has(v6Key(ip, this.v6Lens[i]))) return true;
    return false;
  }
}

/** `new CidrMatcher(cidrs)` builds the TypeScript matcher; the type stays the interface above. */
export const CidrMatcher: new (cidrs: readonly Cidr[]) => CidrMatcher = PrefixSetMatcher;

/** Build a matcher from parsed ranges (config time). */
export function buildCidrMatcher(cidrs: readonly Cidr[]): CidrMatcher {
  return Object.freeze(new PrefixSetMatcher(cidrs));
}

/** Matches nothing: Envoy's default internal_address_config since 1.33. */
export const EMPTY_CIDR_MATCHER: CidrMatcher = buildCidrMatcher([]);
