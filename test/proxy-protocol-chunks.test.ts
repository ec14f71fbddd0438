// Incremental parsing: a header that arrives in any number of reads, split anywhere, gives the same
// answer as when it arrives at once; every proper prefix of a valid header is "incomplete" (the parser
// never needs a byte beyond the header), and the full header is enough.
import test from "ava";
import { ProxyParser, wasmTrapCount, type ProxyParseResult } from "../wasm/index.js";
import { concat, encodeV1, encodeV1Unknown, encodeV2, sslValue, text } from "./helpers/proxy-encoder.js";

const parser = new ProxyParser();
const V6_ALL_F = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
const ip = (s: string): Uint8Array => Uint8Array.from(s.split(".").map(Number));

/** Reads of the given sizes arrive one after the other; the parser sees everything received so far. */
function feed(bytes: Uint8Array, readEnds: number[]): ProxyParseResult {
  let last: ProxyParseResult = { status: "incomplete" };
  for (const end of readEnds) {
    last = parser.parse(bytes.subarray(0, end));
    if (last.status !== "incomplete") return last;
  }
  return last;
}

const validHeaders: Array<[string, Uint8Array]> = [
  ["v1 TCP4 max", text("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n")],
  ["v1 TCP6 max", text(`PROXY TCP6 ${V6_ALL_F} ${V6_ALL_F} 65535 65535\r\n`)],
  ["v1 TCP6 mapped", encodeV1({ protocol: "TCP6", src: "::ffff:192.0.2.1", dst: "2001:db8::5", srcPort: 0, dstPort: 8443 })],
  ["v1 UNKNOWN short", encodeV1Unknown()],
  ["v1 UNKNOWN worst case", text(`PROXY UNKNOWN ${V6_ALL_F} ${V6_ALL_F} 65535 65535\r\n`)],
  ["v1 spec example", text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")],
  ["v2 LOCAL", encodeV2({ command: 0, family: "UNSPEC" })],
  ["v2 LOCAL with junk", encodeV2({ command: 0, family: 0x21, extra: text("skipped") })],
  ["v2 TCP4", encodeV2({ family: "TCP4", src: ip("203.0.113.1"), dst: ip("10.0.0.2"), srcPort: 4000, dstPort: 443 })],
  ["v2 UDP6", encodeV2({ family: "UDP6", src: new Uint8Array(16).fill(0x20), dst: new Uint8Array(16).fill(0x30), srcPort: 53, dstPort: 53 })],
  ["v2 UNIX", encodeV2({ family: "UNIX_STREAM", src: text("/a"), dst: text("/b") })],
  ["v2 UNSPEC", encodeV2({ family: "UNSPEC", extra: text("xyz") })],
  ["v2 TLVs + CRC", encodeV2({
    family: "TCP4", src: ip("1.2.3.4"), dst: ip("5.6.7.8"), srcPort: 1, dstPort: 2, crc: 1,
    tlvs: [
      { type: 0x01, value: text("h2") },
      { type: 0x20, value: sslValue(1, 0, [{ type: 0x21, value: text("TLSv1.2") }, { type: 0x22, value: text("cn") }]) },
      { type: 0xea, value: concat(Uint8Array.of(1), text("vpce-0123")) },
    ],
  })],
];

const trailers = [new Uint8Array(0), text("GET / HTTP/1.1\r\n\r\n"), Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0x05), text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")];

test("every proper prefix of a valid header is incomplete; the header alone is enough", (t) => {
  for (const [name, header] of validHeaders) {
    for (let k = 0; k < header.length; k++) {
      t.is(parser.parse(header.subarray(0, k)).status, "incomplete", `${name}: prefix ${k}`);
    }
    const whole = parser.parse(header);
    t.is(whole.status, "ok", name);
    if (whole.status === "ok") t.is(whole.header.headerLength, header.length, name);
  }
});

test("split into two reads at every byte boundary: same header, trailing bytes untouched", (t) => {
  for (const [name, header] of validHeaders) {
    for (const trailer of trailers) {
      const bytes = concat(header, trailer);
      const once = parser.parse(bytes);
      t.is(once.status, "ok", name);
      for (let cut = 1; cut < bytes.length; cut++) {
        t.deepEqual(feed(bytes, [cut, bytes.length]), once, `${name}: cut at ${cut}`);
      }
    }
  }
});

test("one byte at a time: same header as all at once", (t) => {
  for (const [name, header] of validHeaders) {
    const bytes = concat(header, text("after"));
    const ends = Array.from({ length: bytes.length }, (_, i) => i + 1);
    t.deepEqual(feed(bytes, ends), parser.parse(bytes), name);
  }
});

test("invalid headers give the same error however they are split", (t) => {
  const invalid = [
    text("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n"),
    text("PROXY TCP6 1::2::3 ::1 1 2\r\n"),
    text(`PROXY UNKNOWN ${"x".repeat(120)}\r\n`),
    encodeV2({ family: "TCP4", crc: true, crcValue: 7 }),
    encodeV2({ family: "TCP4", extra: Uint8Array.of(1, 0, 9) }),
    encodeV2({ family: 0x51 }),
  ];
  for (const bytes of invalid) {
    const once = parser.parse(bytes);
    t.is(once.status, "error");
    for (let cut = 1; cut < bytes.length; cut++) t.deepEqual(feed(bytes, [cut, bytes.length]), once);
    const ends = Array.from({ length: bytes.length }, (_, i) => i + 1);
    t.deepEqual(feed(bytes, ends), once);
  }
  t.is(wasmTrapCount(), 0);
});

test("trailing application data of any size does not change the answer", (t) => {
  const small = new ProxyParser({ maxHeaderBytes: 16 + 216 });
  for (const [name, header] of validHeaders) {
    const alone = parser.parse(header);
    for (const size of [1, 100, 5000, 70_000]) {
      const bytes = concat(header, new Uint8Array(size).fill(0x41));
      t.deepEqual(parser.parse(bytes), alone, `${name} + ${size}`);
      if (header.length <= 232) t.deepEqual(small.parse(bytes), alone, `${name} + ${size}, small limit`);
    }
  }
  // Also while the header itself is still incomplete or wrong.
  const v2 = validHeaders.find(([n]) => n === "v2 TLVs + CRC")![1];
  t.is(parser.parse(concat(v2.subarray(0, 20))).status, "incomplete");
  const tooLong = concat(v2.subarray(0, 14), Uint8Array.of(0xff, 0xff), new Uint8Array(70_000));
  t.like(small.parse(tooLong), { status: "error", code: "TOO_LONG" });
  t.like(parser.parse(tooLong), { status: "ok", header: { headerLength: 65551 } }); // NOOP-free zeros: TLVs of type 0, length 0
});
