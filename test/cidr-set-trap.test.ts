// A trap inside the CIDR instance must not take the process down or leave wrong answers behind: the lookup
// that trapped throws CidrSetError INTERNAL (its connection ends), the trap is counted, a fresh instance is
// made and every live set is rebuilt from its retained input, so later lookups answer as before.
// (Its own file: ava runs each file in a fresh process, so the trap count starts at zero here.)
import test from "ava";
import {
  CidrSetError, WasmCidrSet, cidrInstanceGeneration, cidrMemoryStats, cidrTestHooks, cidrTrapCount,
} from "../wasm/cidr.js";
import { ProxyParser, wasmTestHooks, wasmTrapCount } from "../wasm/index.js";
import { parseCidr, parseIp, type Cidr } from "../proxy/net/ip.js";
import { modelLongestMatch } from "./cidr-set-model.js";

const cidrs = (...texts: string[]): Cidr[] => texts.map((x) => parseCidr(x)!);
const ip = (text: string): Uint8Array => parseIp(text)!;

// A set big enough for the direct-table layout, so a rebuild after the trap exercises it too.
const BIG: Cidr[] = [];
for (let i = 0; i < 40_000; i++) {
  BIG.push({ bytes: Uint8Array.of(10, (i >> 8) & 0xff, i & 0xff, 0), prefixLen: 24 });
  BIG.push({ bytes: Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, i >> 8, i & 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), prefixLen: 48 });
}
BIG.push(...cidrs("10.200.7.7/32", "2001:db8:1234::1/128"));

const QUERIES = ["10.0.1.5", "10.200.7.7", "10.200.7.8", "11.0.0.0", "2001:db8:0:5::1", "2001:db8:1234::1", "2001:db9::1", "::ffff:10.0.9.9"].map(ip);

test.serial("a trap during a lookup throws INTERNAL once, is counted, and every set answers as before", (t) => {
  const small = new WasmCidrSet(cidrs("192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0"));
  const big = new WasmCidrSet(BIG);
  const gone = new WasmCidrSet(cidrs("198.51.100.0/24"));
  gone.dispose();
  const answers = (s: WasmCidrSet): number[] => QUERIES.map((q) => s.longestMatch(q));
  const smallBefore = answers(small);
  const bigBefore = answers(big);
  t.deepEqual(bigBefore, QUERIES.map((q) => modelLongestMatch(BIG, q)));
  const sets = cidrMemoryStats().liveSets;
  t.is(cidrTrapCount(), 0);
  const generation = cidrInstanceGeneration();

  cidrTestHooks.trapOnNextLookup();
  const err = t.throws(() => small.contains("192.0.2.1"), { instanceOf: CidrSetError });
  t.is(err?.code, "INTERNAL");
  t.is(cidrTrapCount(), 1);
  t.is(cidrInstanceGeneration(), generation + 1);

  // Rebuilt in the new instance: same answers, same number of sets; the disposed one stays disposed.
  t.deepEqual(answers(small), smallBefore);
  t.deepEqual(answers(big), bigBefore);
  t.is(cidrMemoryStats().liveSets, sets);
  t.like(t.throws(() => gone.contains("198.51.100.1")), { code: "DISPOSED" });

  // An IPv6 lookup that traps is survived the same way, and sets built afterwards work.
  cidrTestHooks.trapOnNextLookup();
  t.like(t.throws(() => big.longestMatch(ip("2001:db8::1"))), { code: "INTERNAL" });
  t.is(cidrTrapCount(), 2);
  t.deepEqual(answers(big), bigBefore);
  const later = new WasmCidrSet(cidrs("203.0.113.0/24"));
  t.true(later.contains("203.0.113.9"));
  for (const s of [small, big, later]) s.dispose();
});

test.serial("the PROXY parser and the CIDR sets trap and recover independently", (t) => {
  const s = new WasmCidrSet(cidrs("10.0.0.0/8"));
  const cidrTraps = cidrTrapCount();
  const parser = new ProxyParser();
  wasmTestHooks.trapOnNextCall();
  t.like(parser.parse(new TextEncoder().encode("PROXY UNKNOWN\r\n")), { status: "error", code: "INTERNAL" });
  t.is(wasmTrapCount(), 1);
  t.is(cidrTrapCount(), cidrTraps); // the sets' instance was not touched...
  t.true(s.contains("10.1.2.3")); // ...and still answers
  s.dispose();
});
