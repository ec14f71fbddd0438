// The numbers-only PROXY path (ProxyParser.parseInto, ProxyParseOutput, toHeader) against the full one
// (parse): same verdict, same fields, same error code and message, on valid, mutated and random inputs and
// on every prefix of them; the stored header outlives the reused output; the trap path; the engine
// behaviour the binding's staleness test relies on. Also the v1 fast path, whose whole-line verdicts must
// match the careful parser's prefix verdicts.
import test from "ava";
import fc from "fast-check";
import {
  PROXY_ERROR, PROXY_FAMILIES, PROXY_FAMILY, PROXY_INCOMPLETE, PROXY_OK, ProxyParseOutput, ProxyParser,
  decodeTlvs, wasmTestHooks, wasmTrapCount, type ProxyEndpoint, type ProxyHeader, type ProxyParseResult,
} from "../wasm/index.js";
import { formatIp, formatIpv4 } from "../proxy/net/ip.js";
import {
  V2_SIGNATURE, concat, encodeV1, encodeV2, ipv6TextForms, sslValue, text, v4Text, type Tlv,
} from "./helpers/proxy-encoder.js";

const parser = new ProxyParser();
const out = new ProxyParseOutput();

const v4 = (n: number): number => n >>> 0;
const ipv4Of = (v: number): Uint8Array => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);

function endpointOf(length: number, v: number, bytes: Uint8Array, port: number): ProxyEndpoint | null {
  if (length === 4) return { ip: ipv4Of(v), port };
  if (length === 16) return { ip: bytes.slice(0, 16), port };
  return null;
}

/** What parse() would answer, rebuilt from a ProxyParseOutput (independently of the binding's code). */
function asResult(o: ProxyParseOutput): ProxyParseResult {
  if (o.status === PROXY_INCOMPLETE) return { status: "incomplete" };
  if (o.status === PROXY_ERROR) return { status: "error", code: o.errorCode, message: o.errorMessage() };
  const header: ProxyHeader = {
    version: o.version === 1 ? 1 : 2,
    command: o.commandCode === 0 ? "LOCAL" : "PROXY",
    family: PROXY_FAMILIES[o.familyCode]!,
    source: endpointOf(o.srcLength, o.srcV4, o.srcBytes, o.srcPort),
    destination: endpointOf(o.dstLength, o.dstV4, o.dstBytes, o.dstPort),
    headerLength: o.headerLength,
    tlvs: o.tlvs.map((x) => ({ type: x.type, value: x.value })),
  };
  if (o.srcLength === 108) {
    header.unixSource = o.srcBytes.slice();
    header.unixDestination = o.dstBytes.slice();
  }
  return { status: "ok", header };
}

/** A ProxyHeader as plain data (reads every getter), for comparing a stored header with parse()'s. */
function plain(h: ProxyHeader): ProxyHeader {
  const p: ProxyHeader = {
    version: h.version, command: h.command, family: h.family, source: h.source, destination: h.destination,
    headerLength: h.headerLength, tlvs: [...h.tlvs],
  };
  if (h.unixSource !== undefined) {
    p.unixSource = h.unixSource;
    p.unixDestination = h.unixDestination;
  }
  return p;
}

function agree(t: { deepEqual(a: unknown, b: unknown, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, bytes: Uint8Array): void {
  const full = parser.parse(bytes);
  const status = parser.parseInto(bytes, out);
  t.is(status, out.status);
  t.deepEqual(asResult(out), full);
  if (full.status === "ok") t.deepEqual(plain(out.toHeader()), full.header);
}

// ------------------------------------------------------------------------------------------------
// Known headers

test("parseInto: v2 TCP4 as numbers, addresses as unsigned u32 most significant byte first", (t) => {
  const bytes = encodeV2({ family: "TCP4", src: Uint8Array.of(203, 0, 113, 7), dst: Uint8Array.of(255, 255, 255, 255), srcPort: 51234, dstPort: 443 });
  t.is(parser.parseInto(concat(bytes, text("GET / HTTP/1.1\r\n")), out), PROXY_OK);
  t.like(out, {
    status: PROXY_OK, version: 2, commandCode: 1, familyCode: PROXY_FAMILY.TCP4, headerLength: 28,
    srcLength: 4, dstLength: 4, srcV4: 0xcb007107, dstV4: 0xffffffff, srcPort: 51234, dstPort: 443,
  });
  t.is(out.tlvs.length, 0);
  t.true(Object.isFrozen(out.tlvs));
  t.is(formatIpv4(out.srcV4), "203.0.113.7");
});

test("parseInto: v1 lines, IPv6 bytes in the output's arrays, IPv4-mapped addresses as IPv4 numbers", (t) => {
  t.is(parser.parseInto(text("PROXY TCP4 192.168.0.1 10.0.0.9 56324 443\r\n"), out), PROXY_OK);
  t.like(out, { version: 1, familyCode: PROXY_FAMILY.TCP4, srcV4: 0xc0a80001, dstV4: 0x0a000009, srcPort: 56324, dstPort: 443, headerLength: 43 });

  t.is(parser.parseInto(text("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n"), out), PROXY_OK);
  t.like(out, { familyCode: PROXY_FAMILY.TCP6, srcLength: 16, dstLength: 4, dstV4: 0x0a000001 });
  t.is(formatIp(out.srcBytes.subarray(0, 16)), "2001:db8::1");
});

test("parseInto: LOCAL, UNKNOWN and UNIX headers have no IP addresses", (t) => {
  t.is(parser.parseInto(concat(V2_SIGNATURE, Uint8Array.of(0x20, 0x00, 0, 0)), out), PROXY_OK);
  t.like(out, { commandCode: 0, familyCode: PROXY_FAMILY.UNSPEC, srcLength: 0, dstLength: 0, headerLength: 16 });
  t.is(parser.parseInto(text("PROXY UNKNOWN\r\n"), out), PROXY_OK);
  t.like(out, { version: 1, familyCode: PROXY_FAMILY.UNKNOWN, srcLength: 0 });
  const path = text("/run/a.sock");
  t.is(parser.parseInto(encodeV2({ family: "UNIX_STREAM", src: path, dst: path }), out), PROXY_OK);
  t.like(out, { familyCode: PROXY_FAMILY.UNIX_STREAM, srcLength: 108, dstLength: 108 });
  t.deepEqual(out.srcBytes.subarray(0, path.length), path);
});

test("parseInto: incomplete, then an error with parse()'s code and message", (t) => {
  const bytes = text("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n");
  t.is(parser.parseInto(bytes.subarray(0, 20), out), PROXY_INCOMPLETE);
  t.is(out.status, PROXY_INCOMPLETE);
  t.is(parser.parseInto(bytes, out), PROXY_ERROR);
  const full = parser.parse(bytes);
  t.like(full, { status: "error", code: "BAD_PORT" });
  t.is(out.errorCode, "BAD_PORT");
  t.is(out.errorMessage(), full.status === "error" ? full.message : "");
});

test("toHeader: a stored header keeps its values after the output is reused, and builds endpoints once", (t) => {
  const tlvs: Tlv[] = [{ type: 0xea, value: concat(Uint8Array.of(1), text("vpce-0abc")) }];
  const first = encodeV2({ family: "TCP6", src: Uint8Array.of(0x20, 1, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 7), dst: new Uint8Array(16).fill(0xfe), srcPort: 1, dstPort: 2, tlvs });
  t.is(parser.parseInto(first, out), PROXY_OK);
  const stored = out.toHeader();
  const expected = parser.parse(first);
  // Overwrite the output (and the module's memory) with another header before reading the stored one.
  t.is(parser.parseInto(text("PROXY TCP4 9.9.9.9 8.8.8.8 3 4\r\n"), out), PROXY_OK);
  t.deepEqual(plain(stored), expected.status === "ok" ? expected.header : null);
  t.is(stored.source, stored.source); // memoised: one object, as a plain header would give
  t.is(decodeTlvs(stored).awsVpceId, "vpce-0abc");
  t.throws(() => {
    parser.parseInto(text("PROXY TCP4"), out);
    out.toHeader();
  }, { message: /needs an accepted header/ });
});

test("parseInto: many and large TLVs (the output's arrays grow), read before or after toHeader", (t) => {
  const src = Uint8Array.of(192, 0, 2, 1), dst = Uint8Array.of(10, 0, 0, 1);
  const many: Tlv[] = Array.from({ length: 300 }, (_, i) => ({ type: 0xe0 + (i % 16), value: Uint8Array.from({ length: i % 7 }, (_, k) => i + k) }));
  const large: Tlv[] = [{ type: 0x04, value: new Uint8Array(60000).fill(0x5a) }, { type: 0x02, value: text("after.example") }];
  for (const tlvs of [many, large, [...many.slice(0, 3), ...large]]) {
    const bytes = encodeV2({ family: "TCP4", src, dst, srcPort: 1, dstPort: 2, tlvs });
    t.is(parser.parseInto(bytes, out), PROXY_OK);
    const stored = out.toHeader(); // before out.tlvs is read: keeps the bytes, makes the TLVs later
    agree(t, bytes); // reads out.tlvs, then toHeader shares them
    const full = parser.parse(bytes);
    t.is(out.tlvCount, tlvs.length);
    t.deepEqual(stored.tlvs, full.status === "ok" ? full.header.tlvs : []);
  }
  // And small again: nothing of the large header shows through.
  agree(t, encodeV2({ family: "TCP4", src, dst, tlvs: [{ type: 0x01, value: text("h2") }] }));
});

// ------------------------------------------------------------------------------------------------
// Properties: parseInto agrees with parse everywhere

const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const word = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const ipv6 = fc.oneof(
  fc.array(word, { minLength: 8, maxLength: 8 }).map((ws) => Uint8Array.from(ws.flatMap((w) => [w >> 8, w & 0xff]))),
  ipv4.map((a) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...a)),
);
const tlv: fc.Arbitrary<Tlv> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 255 }).filter((x) => x !== 0x03 && x !== 0x05 && x !== 0x20), value: fc.uint8Array({ maxLength: 40 }) }),
  fc.uint8Array({ maxLength: 30 }).map((value) => ({ type: 0x05, value })),
  fc.tuple(fc.nat(7), fc.array(fc.record({ type: fc.integer({ min: 0x21, max: 0x25 }), value: fc.uint8Array({ maxLength: 12 }) }), { maxLength: 3 }))
    .map(([client, subs]) => ({ type: 0x20, value: sslValue(client, 0, subs) })),
);
const valid = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => encodeV1({ protocol: "TCP4", src: v4Text(s), dst: v4Text(d), srcPort: sp, dstPort: dp })),
  fc.tuple(ipv6, ipv6, fc.nat(), port, port).map(([s, d, i, sp, dp]) => {
    const forms = ipv6TextForms(s);
    return encodeV1({ protocol: "TCP6", src: forms[i % forms.length]!, dst: ipv6TextForms(d)[0]!, srcPort: sp, dstPort: dp });
  }),
  fc.record({
    family: fc.constantFrom("TCP4", "UDP4", "TCP6", "UDP6", "UNIX_STREAM"),
    v4: fc.tuple(ipv4, ipv4), v6: fc.tuple(ipv6, ipv6), srcPort: port, dstPort: port,
    tlvs: fc.array(tlv, { maxLength: 4 }), crc: fc.boolean(),
  }).map((g) => {
    const [src, dst] = g.family.endsWith("4") ? g.v4 : g.family.endsWith("6") ? g.v6 : [text("/a"), text("/b")];
    return encodeV2({ family: g.family, src, dst, srcPort: g.srcPort, dstPort: g.dstPort, tlvs: g.tlvs, crc: g.crc });
  }),
);
const mutation = fc.record({
  kind: fc.constantFrom("set", "delete", "insert", "truncate"),
  at: fc.nat(),
  byte: fc.constantFrom(0x20, 0x0d, 0x0a, 0x3a, 0x2e, 0x30, 0x31, 0x39, 0x00, 0xff),
});
function mutate(bytes: Uint8Array, ms: Array<{ kind: string; at: number; byte: number }>): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === "set" && b.length > 0) b[at] = m.byte;
    else if (m.kind === "delete") b.splice(at, 1);
    else if (m.kind === "insert") b.splice(at, 0, m.byte);
    else b = b.slice(0, at);
  }
  return Uint8Array.from(b);
}
const inputs = fc.oneof(
  valid,
  fc.tuple(valid, fc.uint8Array({ maxLength: 40 })).map(([b, tail]) => concat(b, tail)),
  fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => mutate(b, ms)),
  fc.uint8Array({ maxLength: 120 }).map((b) => concat(text("PROXY "), b)),
  fc.uint8Array({ maxLength: 120 }).map((b) => concat(V2_SIGNATURE, b)),
);

test("parseInto agrees with parse on random valid, mutated and random inputs, and on every prefix", (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(inputs, (bytes) => {
      for (let k = 0; k <= bytes.length; k++) agree(t, bytes.subarray(0, k));
      seen.add(out.status === PROXY_ERROR ? out.errorCode : String(out.status));
    }),
    { numRuns: 400 },
  );
  t.true(seen.has(String(PROXY_OK)) && seen.size >= 6, [...seen].join(" "));
});

// The v1 fast path (one pass, whole line) must accept exactly what the careful parser would, with the same
// fields. A line that the careful parser refuses on a prefix must not become "ok" once complete.
test("v1: near-valid lines get the careful parser's verdict on every prefix and as a whole", (t) => {
  const v1Line = fc.oneof(
    fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => `PROXY TCP4 ${v4Text(s)} ${v4Text(d)} ${sp} ${dp}\r\n`),
    fc.tuple(ipv6, ipv6, fc.nat(), port, port).map(([s, d, i, sp, dp]) => {
      const f = ipv6TextForms(s);
      return `PROXY TCP6 ${f[i % f.length]!} ${ipv6TextForms(d)[0]!} ${sp} ${dp}\r\n`;
    }),
  );
  const edit = fc.record({ at: fc.nat(), with: fc.constantFrom("0", "00", "9", "256", ".", ":", " ", "", "\r", "\n", "\r\n", "a", "65536", "x") });
  fc.assert(
    fc.property(v1Line, fc.array(edit, { maxLength: 2 }), fc.uint8Array({ maxLength: 8 }), (line, edits, tail) => {
      let s = line;
      for (const e of edits) {
        const at = 6 + (e.at % Math.max(1, s.length - 6));
        s = s.slice(0, at) + e.with + s.slice(at + 1); // replaces one character ("" deletes it)
      }
      const bytes = concat(text(s), tail);
      const whole = parser.parse(bytes);
      let decided: ProxyParseResult | null = null;
      for (let k = 0; k < bytes.length; k++) {
        const r = parser.parse(bytes.subarray(0, k));
        if (decided === null && r.status !== "incomplete") decided = r;
      }
      if (decided !== null) t.deepEqual(whole, decided, JSON.stringify(s));
      if (whole.status === "ok") t.is(whole.header.headerLength <= 108, true);
      agree(t, bytes);
    }),
    { numRuns: 1500 },
  );
});

test("v1: a line whose CRLF ends exactly at byte 108 is accepted; one byte longer is MISSING_CRLF", (t) => {
  const a = "0000:0000:0000:0000:0000:ffff:255.255.255.255"; // the longest IPv6 text, 45 characters
  const exact = text(`PROXY TCP6 ${a} ${a} 1 2\r\n`);
  t.is(exact.length, 108);
  t.like(parser.parse(exact), { status: "ok", header: { headerLength: 108, family: "TCP6" } });
  agree(t, exact);
  t.like(parser.parse(text(`PROXY TCP6 ${a} ${a} 10 2\r\n`)), { status: "error", code: "MISSING_CRLF" });
  // What follows the line (the fast path reads up to a sentinel just after the bytes it may use) changes
  // nothing.
  const v1 = text("PROXY TCP4 1.2.3.4 5.6.7.8 10 20\r\n");
  const withData = concat(v1, text("GET / HTTP/1.1\r\n"), new Uint8Array(100).fill(0x41));
  t.deepEqual(parser.parse(withData), parser.parse(v1));
  t.deepEqual(parser.parse(concat(exact, Uint8Array.of(0x31))), parser.parse(exact));
});

// ------------------------------------------------------------------------------------------------
// decodeTlvs on the output, and its text decoding

test("decodeTlvs reads a ProxyParseOutput; AWS ids decode as the bytes after the subtype would alone", (t) => {
  const utf8 = new TextDecoder();
  const values = [
    concat(Uint8Array.of(1), text("vpce-08d2bf15fac5001c9")),
    concat(Uint8Array.of(1), Uint8Array.of(0xef, 0xbb, 0xbf), text("bom")), // a byte order mark after the subtype
    concat(Uint8Array.of(1), Uint8Array.of(0xc3, 0xa9, 0xff, 0x41)), // UTF-8 and an invalid byte
    Uint8Array.of(1),
  ];
  for (const value of values) {
    const bytes = encodeV2({ family: "TCP4", src: Uint8Array.of(1, 2, 3, 4), dst: Uint8Array.of(5, 6, 7, 8), tlvs: [{ type: 0xea, value }] });
    t.is(parser.parseInto(bytes, out), PROXY_OK);
    t.is(decodeTlvs(out).awsVpceId, utf8.decode(value.subarray(1)));
  }
  const gcp = encodeV2({ family: "TCP4", src: Uint8Array.of(1, 2, 3, 4), dst: Uint8Array.of(5, 6, 7, 8), tlvs: [{ type: 0xe0, value: Uint8Array.of(0xff, 0xee, 0, 0, 0, 0, 0, 1) }] });
  t.is(parser.parseInto(gcp, out), PROXY_OK);
  t.is(decodeTlvs(out).gcpPscConnectionId, (0xffee000000000001n).toString());
});

// ------------------------------------------------------------------------------------------------
// Traps and memory

test.serial("parseInto: a trap answers INTERNAL and the next call works", (t) => {
  const before = wasmTrapCount();
  wasmTestHooks.trapOnNextCall();
  t.is(parser.parseInto(text("PROXY UNKNOWN\r\n"), out), PROXY_ERROR);
  t.is(out.errorCode, "INTERNAL");
  t.regex(out.errorMessage(), /WebAssembly trap/);
  t.is(wasmTrapCount(), before + 1);
  t.is(parser.parseInto(text("PROXY TCP4 1.2.3.4 5.6.7.8 10 20\r\n"), out), PROXY_OK);
  t.is(out.srcV4, v4(0x01020304));
});

test("the binding's staleness test: views over a grown WebAssembly memory report length 0", (t) => {
  const Wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer; grow(n: number): number } } }).WebAssembly;
  const memory = new Wasm.Memory({ initial: 1 });
  const u8 = new Uint8Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer, 64, 18);
  t.is(u8.length, 65536);
  memory.grow(1);
  t.is(u8.length, 0);
  t.is(i32.length, 0);
  t.is(new Uint8Array(memory.buffer).byteLength, 131072);
});
