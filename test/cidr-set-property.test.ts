// Property tests: the WASM CIDR set answers exactly what a brute-force linear scan answers
// (test/cidr-set-model.ts), for random rule lists (IPv4 and IPv6, nested, duplicated, host bits set,
// IPv4-mapped rules) and queries aimed at rule boundaries, in both the plain trie and the direct-table
// layouts.
import test from "ava";
import fc from "fast-check";
import { WasmCidrSet } from "../wasm/cidr.js";
import { formatIp, type Cidr } from "../proxy/net/ip.js";
import { mapped, modelLongestMatch } from "./cidr-set-model.js";

// Lengths at and around the stride boundaries (multiples of 6, the direct table's 18, the 64-bit halves)
// are where the trie's arithmetic could slip; they are drawn more often than the others.
const v4Len = fc.oneof(
  fc.integer({ min: 0, max: 32 }),
  fc.constantFrom(0, 1, 5, 6, 7, 11, 12, 13, 17, 18, 19, 23, 24, 25, 29, 30, 31, 32),
);
const v6Len = fc.oneof(
  fc.integer({ min: 0, max: 128 }),
  fc.constantFrom(0, 1, 6, 7, 17, 18, 19, 24, 32, 48, 60, 63, 64, 65, 66, 72, 96, 120, 126, 127, 128),
);

// Addresses from a small universe (a few first bytes, bytes biased to 0x00/0xff) so that rules nest,
// collide and share paths; host bits are left as drawn.
const byte = fc.oneof(fc.constantFrom(0x00, 0xff, 0x80, 0x0a), fc.integer({ min: 0, max: 255 }));
const v4Bytes = fc.tuple(fc.constantFrom(10, 192, 0, 255), byte, byte, byte).map((b) => Uint8Array.from(b));
const v6Bytes = fc
  .tuple(fc.constantFrom(0x20, 0xfd, 0x00, 0xff), fc.array(byte, { minLength: 15, maxLength: 15 }))
  .map(([first, rest]) => Uint8Array.from([first, ...rest]));

const v4Rule = fc.record({ bytes: v4Bytes, prefixLen: v4Len });
const v6Rule = fc.record({ bytes: v6Bytes, prefixLen: v6Len });
// A 16-byte IPv4-mapped rule of /96 or longer is an IPv4 rule (docs/addresses.md).
const mappedRule = fc.record({ bytes: v4Bytes.map(mapped), prefixLen: fc.integer({ min: 96, max: 128 }) });
const rule: fc.Arbitrary<Cidr> = fc.oneof(
  { arbitrary: v4Rule, weight: 5 },
  { arbitrary: v6Rule, weight: 4 },
  { arbitrary: mappedRule, weight: 1 },
);

/** Queries: a rule's address with a few bits flipped near its prefix length, or any address. */
function queriesFor(rules: readonly Cidr[]): fc.Arbitrary<Uint8Array[]> {
  const near =
    rules.length === 0
      ? v4Bytes
      : fc
          .tuple(fc.integer({ min: 0, max: rules.length - 1 }), fc.integer({ min: -3, max: 3 }), fc.boolean())
          .map(([i, delta, flip]) => {
            const r = rules[i]!;
            const q = r.bytes.slice();
            const bits = q.length * 8;
            const at = Math.min(bits - 1, Math.max(0, r.prefixLen + delta));
            if (flip) q[at >> 3] = q[at >> 3]! ^ (0x80 >> (at & 7));
            return q;
          });
  const any = fc.oneof(v4Bytes, v6Bytes, v4Bytes.map(mapped));
  return fc.array(fc.oneof(near, any), { minLength: 1, maxLength: 40, size: "max" });
}

// size "max": fast-check's default size would keep arrays to a few elements whatever maxLength says.
const rulesAndQueries = (minRules: number, maxRules: number) =>
  fc.array(rule, { minLength: minRules, maxLength: maxRules, size: "max" }).chain((rules) => queriesFor(rules).map((queries) => ({ rules, queries })));

function agrees(set: WasmCidrSet, rules: readonly Cidr[], queries: readonly Uint8Array[]): boolean {
  for (const q of queries) {
    const want = modelLongestMatch(rules, q);
    if (set.longestMatch(q) !== want) return false;
    // The text entry point agrees too (formatIp writes a mapped address as ::ffff:a.b.c.d).
    if (set.contains(formatIp(q)) !== want >= 0) return false;
  }
  return true;
}

test("small sets agree with the brute-force model", (t) => {
  fc.assert(
    fc.property(rulesAndQueries(0, 24), ({ rules, queries }) => {
      const set = new WasmCidrSet(rules);
      try {
        return agrees(set, rules, queries);
      } finally {
        set.dispose();
      }
    }),
    { numRuns: 600 },
  );
  t.pass();
});

test("larger sets (up to 2,000 rules) agree with the brute-force model", (t) => {
  fc.assert(
    fc.property(rulesAndQueries(200, 2000), ({ rules, queries }) => {
      const set = new WasmCidrSet(rules);
      try {
        return agrees(set, rules, queries);
      } finally {
        set.dispose();
      }
    }),
    { numRuns: 60 },
  );
  t.pass();
});

// Filler rules in ranges the universe above never draws from (100.64.0.0/10, 3fff::/16) push both
// families past a direct-table threshold (1,024 prefixes: a 2^12 table; 32,768: a 2^18 table), so the
// random rules are resolved through the table and the nodes hanging off it.
function filler(perFamily: number): Cidr[] {
  const out: Cidr[] = [];
  for (let i = 0; i < perFamily; i++) {
    out.push({ bytes: Uint8Array.of(100, 64 | ((i >> 16) & 0x3f), (i >> 8) & 0xff, i & 0xff), prefixLen: 32 });
    const b6 = new Uint8Array(16);
    b6[0] = 0x3f; b6[1] = 0xff; b6[2] = i >> 8; b6[3] = i & 0xff;
    out.push({ bytes: b6, prefixLen: 48 });
  }
  return out;
}

for (const [label, perFamily, runs] of [["2^12", 1_500, 40], ["2^18", 33_000, 12]] as const) {
  const FILLER = filler(perFamily);
  test(`sets with a ${label} direct table agree with the brute-force model`, (t) => {
    fc.assert(
      fc.property(rulesAndQueries(0, 300), ({ rules, queries }) => {
        const set = new WasmCidrSet([...rules, ...FILLER]);
        try {
          // The filler cannot match the queries, so the model only needs the random rules...
          if (!agrees(set, rules, queries)) return false;
          // ...and the filler itself is found.
          return set.longestMatch(Uint8Array.of(100, 64, 1, 2)) === 32 && set.longestMatch(FILLER[1]!.bytes) === 48;
        } finally {
          set.dispose();
        }
      }),
      { numRuns: runs },
    );
    t.pass();
  });
}
