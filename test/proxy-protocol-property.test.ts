// Property tests of the PROXY parser against the independent encoder (test/helpers/proxy-encoder.ts):
// random valid fields round-trip; random and mutated bytes never throw, never trap, and get the same
// verdict however they are chunked (the verdict on a prefix, once reached, is the verdict for all of it).
import test from "ava";
import fc from "fast-check";
import { ProxyParser, decodeTlvs, wasmTrapCount, type ProxyParseResult } from "../wasm/index.js";
import {
  V2_SIGNATURE, concat, crc32cBitwise, encodeV1, encodeV2, ipv6TextForms, sslValue, text, v4Text, type Tlv,
} from "./helpers/proxy-encoder.js";

const parser = new ProxyParser();
const RUNS = 1000;

const isMapped = (b: Uint8Array): boolean => b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
const expectedIp = (b: Uint8Array): Uint8Array => (isMapped(b) ? b.slice(12) : b);

const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
// IPv6 addresses with zero runs and mapped addresses common enough to exercise "::" and normalisation.
const word = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const ipv6 = fc.oneof(
  fc.array(word, { minLength: 8, maxLength: 8 }).map((ws) => Uint8Array.from(ws.flatMap((w) => [w >> 8, w & 0xff]))),
  ipv4.map((v4) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4)),
);

/** Checks the incremental contract on `bytes`: prefixes are "incomplete" until a verdict, then keep it. */
function assertPrefixMonotone(bytes: Uint8Array): ProxyParseResult {
  const whole = parser.parse(bytes);
  let decided: ProxyParseResult | null = null;
  for (let k = 0; k <= bytes.length; k++) {
    const r = parser.parse(bytes.subarray(0, k));
    if (decided === null) {
      if (r.status !== "incomplete") decided = r;
    } else if (JSON.stringify(r, bytesAsArrays) !== JSON.stringify(decided, bytesAsArrays)) {
      throw new Error(`verdict changed at prefix ${k}: ${JSON.stringify(decided, bytesAsArrays)} -> ${JSON.stringify(r, bytesAsArrays)}`);
    }
  }
  if (JSON.stringify(whole, bytesAsArrays) !== JSON.stringify(decided ?? { status: "incomplete" }, bytesAsArrays)) {
    throw new Error("whole input and prefixes disagree");
  }
  return whole;
}

function bytesAsArrays(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Array.from(value) : value;
}

/** Feeds `bytes` in reads ending at `cuts` (sorted, deduplicated) then the rest. */
function feed(bytes: Uint8Array, cuts: number[]): ProxyParseResult {
  const ends = [...new Set([...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort((a, b) => a - b);
  let last: ProxyParseResult = { status: "incomplete" };
  for (const end of ends) {
    last = parser.parse(bytes.subarray(0, end));
    if (last.status !== "incomplete") break;
  }
  return last;
}

function assertSane(bytes: Uint8Array, r: ProxyParseResult): void {
  if (r.status === "error" && r.code === "INTERNAL") throw new Error("the module trapped");
  if (r.status === "ok") {
    const h = r.header;
    if (h.headerLength < 15 || h.headerLength > bytes.length) throw new Error(`bad headerLength ${h.headerLength}`);
    if (h.version === 1 && h.headerLength > 108) throw new Error("v1 line over 108 bytes accepted");
    // Nothing after the header matters.
    const alone = parser.parse(bytes.subarray(0, h.headerLength));
    if (JSON.stringify(alone, bytesAsArrays) !== JSON.stringify(r, bytesAsArrays)) throw new Error("header alone differs");
  }
}

test("v1 TCP4: random fields round-trip", (t) => {
  fc.assert(
    fc.property(ipv4, ipv4, port, port, (src, dst, sp, dp) => {
      const h = parser.parse(encodeV1({ protocol: "TCP4", src: v4Text(src), dst: v4Text(dst), srcPort: sp, dstPort: dp }));
      if (h.status !== "ok") return false;
      t.deepEqual(h.header.source, { ip: src, port: sp });
      t.deepEqual(h.header.destination, { ip: dst, port: dp });
      return h.header.family === "TCP4";
    }),
    { numRuns: RUNS },
  );
});

test("v1 TCP6: every textual form of random addresses round-trips (or exceeds 108 bytes: MISSING_CRLF)", (t) => {
  fc.assert(
    fc.property(ipv6, ipv6, fc.nat(), fc.nat(), port, port, (src, dst, i, j, sp, dp) => {
      const srcForms = ipv6TextForms(src);
      const dstForms = ipv6TextForms(dst);
      const line = encodeV1({ protocol: "TCP6", src: srcForms[i % srcForms.length]!, dst: dstForms[j % dstForms.length]!, srcPort: sp, dstPort: dp });
      const r = parser.parse(line);
      if (line.length > 108) return r.status === "error" && r.code === "MISSING_CRLF";
      if (r.status !== "ok") return false;
      t.deepEqual(r.header.source, { ip: expectedIp(src), port: sp });
      t.deepEqual(r.header.destination, { ip: expectedIp(dst), port: dp });
      return r.header.headerLength === line.length;
    }),
    { numRuns: RUNS },
  );
});

const tlvValue = fc.uint8Array({ maxLength: 40 });
const plainTlv: fc.Arbitrary<Tlv> = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((x) => x !== 0x03 && x !== 0x05 && x !== 0x20),
  value: tlvValue,
});
const uniqueIdTlv: fc.Arbitrary<Tlv> = fc.uint8Array({ maxLength: 128 }).map((value) => ({ type: 0x05, value }));
const subTlv: fc.Arbitrary<Tlv> = fc.record({ type: fc.integer({ min: 0x21, max: 0x25 }), value: tlvValue });
const sslTlv: fc.Arbitrary<Tlv> = fc
  .tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0xffffffff }), fc.array(subTlv, { maxLength: 4 }))
  .map(([client, verify, subs]) => ({ type: 0x20, value: sslValue(client, verify, subs) }));
const anyTlv = fc.oneof({ weight: 4, arbitrary: plainTlv }, { weight: 1, arbitrary: uniqueIdTlv }, { weight: 1, arbitrary: sslTlv });

const v2Header = fc.record({
  family: fc.constantFrom("TCP4", "UDP4", "TCP6", "UDP6", "UNIX_STREAM", "UNIX_DGRAM"),
  v4: fc.tuple(ipv4, ipv4),
  v6: fc.tuple(ipv6, ipv6),
  unix: fc.tuple(fc.uint8Array({ maxLength: 108 }), fc.uint8Array({ maxLength: 108 })),
  srcPort: port,
  dstPort: port,
  tlvs: fc.array(anyTlv, { maxLength: 6 }),
  crc: fc.option(fc.nat(), { nil: undefined }),
});

test("v2: random families, addresses, ports, TLVs and CRC32C round-trip", (t) => {
  fc.assert(
    fc.property(v2Header, (g) => {
      const [src, dst] = g.family.endsWith("4") ? g.v4 : g.family.endsWith("6") ? g.v6 : g.unix;
      const crcAt = g.crc === undefined ? undefined : g.crc % (g.tlvs.length + 1);
      const bytes = encodeV2({ family: g.family, src, dst, srcPort: g.srcPort, dstPort: g.dstPort, tlvs: g.tlvs, crc: crcAt ?? false });
      const r = parser.parse(bytes);
      if (r.status !== "ok") return false;
      const h = r.header;
      t.is(h.family, g.family);
      t.is(h.headerLength, bytes.length);
      if (g.family.startsWith("UNIX")) {
        const pad = (p: Uint8Array): Uint8Array => concat(p, new Uint8Array(108 - p.length));
        t.deepEqual([h.unixSource, h.unixDestination], [pad(src), pad(dst)]);
        t.is(h.source, null);
      } else {
        t.deepEqual(h.source, { ip: expectedIp(src), port: g.srcPort });
        t.deepEqual(h.destination, { ip: expectedIp(dst), port: g.dstPort });
      }
      const expectedTlvs = [...g.tlvs];
      if (crcAt !== undefined) {
        const crc = h.tlvs[crcAt]!;
        t.is(crc.type, 0x03);
        const zeroed = bytes.slice();
        const at = bytes.length - h.tlvs.slice(crcAt).reduce((n, x) => n + 3 + x.value.length, 0) + 3;
        zeroed.fill(0, at, at + 4);
        t.is(decodeTlvs(h).crc32c, crc32cBitwise(zeroed));
        expectedTlvs.splice(crcAt, 0, crc);
      }
      t.deepEqual(h.tlvs, expectedTlvs);
      return true;
    }),
    { numRuns: RUNS },
  );
});

// Inputs that reach deep into the parsers: raw bytes, bytes behind a signature or a v1 prefix, and
// valid headers with mutations (bytes replaced, removed, inserted; truncated).
const validHeaderBytes = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => encodeV1({ protocol: "TCP4", src: v4Text(s), dst: v4Text(d), srcPort: sp, dstPort: dp })),
  fc.tuple(ipv6, ipv6, fc.nat()).map(([s, d, i]) => {
    const f = ipv6TextForms(s);
    return encodeV1({ protocol: "TCP6", src: f[i % f.length]!, dst: ipv6TextForms(d)[0]!, srcPort: 1, dstPort: 2 });
  }),
  v2Header.map((g) => {
    const [src, dst] = g.family.endsWith("4") ? g.v4 : g.family.endsWith("6") ? g.v6 : g.unix;
    return encodeV2({ family: g.family, src, dst, srcPort: g.srcPort, dstPort: g.dstPort, tlvs: g.tlvs, crc: g.crc !== undefined });
  }),
);
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), byte: fc.constant(0) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.constantFrom(0x20, 0x0d, 0x0a, 0x3a, 0x2e, 0x30, 0x00, 0xff) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(), byte: fc.constant(0) }),
);
function mutate(bytes: Uint8Array, ms: Array<{ kind: string; at: number; byte: number }>): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === "set" && b.length > 0) b[at] = m.byte;
    else if (m.kind === "delete") b.splice(at, 1);
    else if (m.kind === "insert") b.splice(at, 0, m.byte);
    else if (m.kind === "truncate") b = b.slice(0, at);
  }
  return Uint8Array.from(b);
}
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300, size: "max" }),
  fc.uint8Array({ maxLength: 200, size: "max" }).map((b) => concat(V2_SIGNATURE, b)),
  fc.uint8Array({ maxLength: 120, size: "max" }).map((b) => concat(text("PROXY "), b)),
  fc.array(fc.constantFrom(...Array.from("0123456789abcdefABCDEF.: \r\n", (c) => c.charCodeAt(0))), { maxLength: 110, size: "max" })
    .map((b) => concat(text("PROXY TCP6 "), Uint8Array.from(b))),
  fc.tuple(validHeaderBytes, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutate(b, ms)),
  fc.tuple(validHeaderBytes, fc.uint8Array({ maxLength: 30 })).map(([b, tail]) => concat(b, tail)),
);

test("random and mutated bytes: never a throw or trap; verdicts are prefix-stable and chunking-independent", (t) => {
  const trapsBefore = wasmTrapCount();
  const seen = new Set<string>();
  fc.assert(
    fc.property(hostileBytes, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const whole = assertPrefixMonotone(bytes);
      assertSane(bytes, whole);
      seen.add(whole.status === "error" ? whole.code : whole.status);
      const chunked = feed(bytes, cuts);
      return JSON.stringify(chunked, bytesAsArrays) === JSON.stringify(whole, bytesAsArrays);
    }),
    { numRuns: 2000 },
  );
  t.is(wasmTrapCount(), trapsBefore);
  // The inputs must reach deep: most verdicts are seen, not only BAD_SIGNATURE.
  t.log([...seen].sort().join(" "));
  t.true(seen.has("ok") && seen.has("incomplete") && seen.size >= 12, [...seen].join(" "));
});

test("v2 headers with random length fields and TLV soup terminate with one of the three answers", (t) => {
  const small = new ProxyParser({ maxHeaderBytes: 512 });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ maxLength: 600 }),
      (verCmd, fam, len, body) => {
        const bytes = concat(V2_SIGNATURE, Uint8Array.of(verCmd, fam, len >> 8, len & 0xff), body);
        for (const p of [parser, small]) {
          const r = p.parse(bytes);
          if (r.status === "error" && r.code === "INTERNAL") return false;
          if (r.status === "ok" && r.header.headerLength !== 16 + len) return false;
          if (p === small && 16 + len > 512 && (verCmd >> 4) === 2 && r.status !== "error") return false;
        }
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  t.is(wasmTrapCount(), 0);
});
