// The WASM CIDR set (wasm/cidr.ts): what a rule means (host bits, /0, /32, /128, mapped IPv4), what a
// lookup answers (longest prefix length), the errors a caller can see, and big sets that take the
// direct-table path, checked against the brute-force model (test/cidr-set-model.ts).
import test from "ava";
import { CidrSetError, WasmCidrSet } from "../wasm/cidr.js";
import { buildCidrMatcher, EMPTY_CIDR_MATCHER } from "../proxy/filters/common/cidr-matcher.js";
import { parseCidr, parseIp, type Cidr } from "../proxy/net/ip.js";
import { mapped, modelLongestMatch } from "./cidr-set-model.js";

const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (!c) throw new Error(`bad test CIDR ${text}`);
  return c;
};
const set = (...rules: string[]): WasmCidrSet => new WasmCidrSet(rules.map(cidr));
const ip = (text: string): Uint8Array => {
  const b = parseIp(text);
  if (!b) throw new Error(`bad test address ${text}`);
  return b;
};

test("longestMatch gives the length of the most specific range, -1 when none", (t) => {
  const s = set("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "2001:db8::/32", "2001:db8:1::/48");
  t.is(s.longestMatch(ip("10.9.9.9")), 8);
  t.is(s.longestMatch(ip("10.1.9.9")), 16);
  t.is(s.longestMatch(ip("10.1.2.9")), 24);
  t.is(s.longestMatch(ip("10.1.2.3")), 32);
  t.is(s.longestMatch(ip("11.0.0.0")), -1);
  t.is(s.longestMatch(ip("2001:db8:1::7")), 48);
  t.is(s.longestMatch(ip("2001:db8:2::7")), 32);
  t.is(s.longestMatch(ip("2001:db9::")), -1);
  t.is(s.size, 6);
});

test("host bits in a rule are ignored: 10.1.2.3/8 means 10.0.0.0/8", (t) => {
  // parseCidr clears them; a hand-made Cidr with host bits set must mean the same.
  const raw = new WasmCidrSet([
    { bytes: Uint8Array.of(10, 1, 2, 3), prefixLen: 8 },
    { bytes: ip("2001:db8:ffff:ffff::1"), prefixLen: 32 },
  ]);
  t.true(raw.contains("10.200.0.1"));
  t.true(raw.contains("10.0.0.0"));
  t.false(raw.contains("11.1.2.3"));
  t.true(raw.contains("2001:db8::"));
  t.false(raw.contains("2001:db9::"));
  t.is(raw.longestMatch(ip("10.1.2.3")), 8);
});

test("/0, /32 and /128 boundaries", (t) => {
  const s = set("0.0.0.0/0", "192.0.2.1/32", "::/0", "2001:db8::1/128");
  t.is(s.longestMatch(ip("0.0.0.0")), 0);
  t.is(s.longestMatch(ip("255.255.255.255")), 0);
  t.is(s.longestMatch(ip("192.0.2.1")), 32);
  t.is(s.longestMatch(ip("192.0.2.0")), 0);
  t.is(s.longestMatch(ip("192.0.2.2")), 0);
  t.is(s.longestMatch(ip("::")), 0);
  t.is(s.longestMatch(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 0);
  t.is(s.longestMatch(ip("2001:db8::1")), 128);
  t.is(s.longestMatch(ip("2001:db8::")), 0);
  t.is(s.longestMatch(ip("2001:db8::2")), 0);
  const only32 = set("255.255.255.255/32");
  t.true(only32.contains("255.255.255.255"));
  t.false(only32.contains("255.255.255.254"));
  const only128 = set("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
  t.true(only128.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  t.false(only128.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
});

test("IPv4 and IPv6 never match each other, and ::/0 does not hold IPv4 clients", (t) => {
  t.false(set("0.0.0.0/0").contains("::1"));
  t.false(set("::/0").contains("10.0.0.1"));
  t.false(set("::/0").contains("::ffff:10.0.0.1")); // a mapped address is an IPv4 client
  // IPv4-compatible and NAT64 addresses are genuine IPv6 addresses of other hosts.
  t.false(set("192.0.2.0/24").contains("::192.0.2.1"));
  t.false(set("192.0.2.0/24").contains("64:ff9b::192.0.2.1"));
  t.true(set("64:ff9b::/96").contains("64:ff9b::192.0.2.1"));
});

test("IPv4-mapped policy: mapped rules and mapped addresses are IPv4", (t) => {
  const s = set("::ffff:10.0.0.0/104", "::ffff:192.0.2.7"); // = 10.0.0.0/8 and 192.0.2.7/32
  t.is(s.longestMatch(ip("10.1.2.3")), 8);
  t.is(s.longestMatch(ip("192.0.2.7")), 32);
  // A 16-byte mapped query (a caller that did not normalise) is looked up as IPv4 all the same.
  t.is(s.longestMatch(mapped(Uint8Array.of(10, 1, 2, 3))), 8);
  t.true(s.containsBytes(mapped(Uint8Array.of(192, 0, 2, 7))));
  // A hand-made 16-byte mapped Cidr is folded like parseCidr folds text.
  const raw = new WasmCidrSet([{ bytes: mapped(Uint8Array.of(172, 16, 0, 0)), prefixLen: 108 }]);
  t.true(raw.contains("172.31.0.1"));
  t.false(raw.contains("172.32.0.1"));
  // A mapped prefix shorter than /96 stays IPv6 and so holds no IPv4 client.
  const short = new WasmCidrSet([{ bytes: new Uint8Array(16), prefixLen: 64 }]);
  t.true(short.contains("::1"));
  t.false(short.contains("::ffff:10.0.0.1"));
  t.false(short.contains("10.0.0.1"));
});

test("contains(text): any form parseIp accepts; unparsable text is false", (t) => {
  const s = set("0.0.0.0/0", "::/0");
  t.true(s.contains("2001:0db8:0000::1"));
  t.true(s.contains("::ffff:1.2.3.4"));
  t.false(s.contains("not-an-ip"));
  t.false(s.contains(""));
  t.false(s.contains("1.2.3.4/32"));
  t.false(s.contains("010.0.0.1"));
  t.false(s.contains("fe80::1%eth0"));
});

test("addresses of other lengths match nothing", (t) => {
  const s = set("0.0.0.0/0", "::/0");
  t.is(s.longestMatch(new Uint8Array(0)), -1);
  t.is(s.longestMatch(new Uint8Array(5)), -1);
  t.false(s.containsBytes(new Uint8Array(15)));
});

test("empty sets and duplicate rules", (t) => {
  const empty = new WasmCidrSet([]);
  t.is(empty.size, 0);
  t.false(empty.contains("0.0.0.0"));
  t.false(empty.contains("::"));
  t.false(EMPTY_CIDR_MATCHER.contains("10.0.0.1"));
  const dup = set("10.0.0.0/8", "10.0.0.0/8", "10.9.0.0/8", "10.0.0.0/16", "10.0.0.0/16");
  t.is(dup.size, 5);
  t.is(dup.longestMatch(ip("10.0.1.1")), 16);
  t.is(dup.longestMatch(ip("10.1.1.1")), 8);
});

test("buildCidrMatcher returns the WASM set", (t) => {
  const m = buildCidrMatcher([cidr("172.16.0.0/12")]);
  t.true(m instanceof WasmCidrSet);
  t.true(m.contains("172.31.255.255"));
  t.false(m.contains("172.32.0.0"));
});

test("invalid ranges are refused with BAD_CIDR", (t) => {
  const bad: Cidr[][] = [
    [{ bytes: new Uint8Array(5), prefixLen: 8 }],
    [{ bytes: new Uint8Array(4), prefixLen: 33 }],
    [{ bytes: new Uint8Array(16), prefixLen: 129 }],
    [{ bytes: new Uint8Array(4), prefixLen: -1 }],
    [{ bytes: new Uint8Array(4), prefixLen: 1.5 }],
  ];
  for (const cidrs of bad) {
    const err = t.throws(() => new WasmCidrSet(cidrs), { instanceOf: CidrSetError });
    t.is(err?.code, "BAD_CIDR");
  }
});

test("a disposed set refuses lookups with DISPOSED; dispose is idempotent", (t) => {
  const s = set("10.0.0.0/8");
  const other = set("10.0.0.0/8");
  s.dispose();
  s.dispose();
  t.is(s.memoryBytes, 0);
  const err = t.throws(() => s.contains("10.0.0.1"), { instanceOf: CidrSetError });
  t.is(err?.code, "DISPOSED");
  t.true(other.contains("10.0.0.1"));
  other.dispose();
});

// Deterministic generator (xorshift32) for the big sets below: reproducible, no fast-check shrinking needed.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

test("big sets (direct-table path, 40,000 IPv4 + 40,000 IPv6 prefixes) agree with the model", (t) => {
  const next = rng(2024);
  const cidrs: Cidr[] = [];
  for (let i = 0; i < 40_000; i++) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, next() & 0x3fffffff); // dense in 0.0.0.0/2 so prefixes nest
    cidrs.push({ bytes: b, prefixLen: 8 + (next() % 25) });
    const b6 = new Uint8Array(16);
    b6[0] = 0x20; b6[1] = 0x01;
    for (let k = 2; k < 16; k++) b6[k] = next() & (k < 6 ? 0x0f : 0xff);
    cidrs.push({ bytes: b6, prefixLen: 16 + (next() % 113) });
  }
  cidrs.push(cidr("0.0.0.0/1"), cidr("::/1"));
  const s = new WasmCidrSet(cidrs);
  // Model checks are linear in the set size: check a sample, half inside some rule, half random.
  let mismatches = 0;
  for (let k = 0; k < 300; k++) {
    const base = cidrs[next() % cidrs.length]!.bytes.slice();
    if (k & 1) for (let j = 0; j < base.length; j++) base[j] = next() & 0xff;
    else base[base.length - 1] ^= next() & 0xff;
    if (s.longestMatch(base) !== modelLongestMatch(cidrs, base)) mismatches++;
  }
  t.is(mismatches, 0);
  t.true(s.memoryBytes > 2 * 4 * (1 << 18)); // both families have their 1 MiB direct table
  s.dispose();
});
