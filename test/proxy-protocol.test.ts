// PROXY protocol v1/v2 parser (wasm/assembly, through wasm/index.ts): the spec's examples, what is
// accepted and refused (every error code), LOCAL/UNKNOWN/UNSPEC semantics, TLVs, limits.
import test from "ava";
import {
  ProxyParser, ProxyProtocolError, crc32c, decodeTlvs, signaturePrefixState, wasmTrapCount,
  type ProxyErrorCode, type ProxyHeader, type ProxyParseResult,
} from "../wasm/index.js";
import { formatIp } from "../proxy/net/ip.js";
import {
  V2_SIGNATURE, concat, crc32cBitwise, encodeV1, encodeV1Unknown, encodeV2, sslValue, text,
} from "./helpers/proxy-encoder.js";

const parser = new ProxyParser();

function ok(res: ProxyParseResult): ProxyHeader {
  if (res.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(res)}`);
  return res.header;
}

function errorCode(res: ProxyParseResult): ProxyErrorCode | "incomplete" | "ok" {
  return res.status === "error" ? res.code : res.status;
}

const ip = (s: string): Uint8Array => Uint8Array.from(s.split(".").map(Number));
const V6_ALL_F = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

// ------------------------------------------------------------------------------------------------
// The spec's v1 examples (section 2.1)

test("v1: the spec's TCP/IPv4 maximum line (56 bytes)", (t) => {
  const line = text("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  t.is(line.length, 56);
  const h = ok(parser.parse(line));
  t.like(h, { version: 1, command: "PROXY", family: "TCP4", headerLength: 56 });
  t.deepEqual(h.source, { ip: ip("255.255.255.255"), port: 65535 });
  t.deepEqual(h.destination, { ip: ip("255.255.255.255"), port: 65535 });
  t.deepEqual(h.tlvs, []);
});

test("v1: the spec's TCP/IPv6 maximum line (104 bytes)", (t) => {
  const line = text(`PROXY TCP6 ${V6_ALL_F} ${V6_ALL_F} 65535 65535\r\n`);
  t.is(line.length, 104);
  const h = ok(parser.parse(line));
  t.like(h, { family: "TCP6", headerLength: 104 });
  t.deepEqual(h.source?.ip, new Uint8Array(16).fill(0xff));
  t.is(h.destination?.port, 65535);
});

test("v1: UNKNOWN short form, and the spec's worst case (107 bytes) keep the socket addresses", (t) => {
  const short = ok(parser.parse(text("PROXY UNKNOWN\r\n")));
  t.like(short, { family: "UNKNOWN", headerLength: 15, source: null, destination: null });
  const worst = text(`PROXY UNKNOWN ${V6_ALL_F} ${V6_ALL_F} 65535 65535\r\n`);
  t.is(worst.length, 107);
  t.like(ok(parser.parse(worst)), { family: "UNKNOWN", headerLength: 107, source: null });
  // "the receiver must ignore anything presented before the CRLF"
  t.like(ok(parser.parse(text("PROXY UNKNOWN garbage \x01\x7f\r more\r\n"))), { family: "UNKNOWN" });
});

test("v1: the spec's example before an HTTP request consumes only the line", (t) => {
  const line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const bytes = text(`${line}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`);
  const h = ok(parser.parse(bytes));
  t.is(h.headerLength, line.length);
  t.is(formatIp(h.source!.ip), "192.168.0.1");
  t.is(formatIp(h.destination!.ip), "192.168.0.11");
  t.is(h.source!.port, 56324);
  t.is(h.destination!.port, 443);
});

test("v1: 108 bytes including CRLF is accepted (Envoy's limit), 109 is MISSING_CRLF", (t) => {
  const pad = (n: number): Uint8Array => text(`PROXY UNKNOWN ${"x".repeat(n - 16)}\r\n`);
  t.is(pad(108).length, 108);
  t.like(ok(parser.parse(pad(108))), { headerLength: 108 });
  t.is(errorCode(parser.parse(pad(109))), "MISSING_CRLF");
  // Decided at 108 bytes without a CRLF, without waiting for more.
  t.is(errorCode(parser.parse(pad(109).subarray(0, 108))), "MISSING_CRLF");
  t.is(errorCode(parser.parse(pad(109).subarray(0, 107))), "incomplete");
});

test("v1: IPv6 in every textual form, embedded IPv4 included", (t) => {
  const cases: Array<[string, string]> = [
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:DB8::A:0:1", "2001:db8::a:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["1::2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["::1.2.3.4", "::102:304"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ];
  for (const [spelled, canonical] of cases) {
    const h = ok(parser.parse(text(`PROXY TCP6 ${spelled} ::1 1 2\r\n`)));
    t.is(formatIp(h.source!.ip), canonical, spelled);
  }
});

test("v1 and v2: IPv4-mapped IPv6 addresses come back as 4 IPv4 bytes", (t) => {
  const v1 = ok(parser.parse(text("PROXY TCP6 ::ffff:10.1.2.3 ::FFFF:0a01:0204 1000 443\r\n")));
  t.is(v1.family, "TCP6");
  t.deepEqual(v1.source!.ip, ip("10.1.2.3"));
  t.deepEqual(v1.destination!.ip, ip("10.1.2.4"));
  const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7);
  const v2 = ok(parser.parse(encodeV2({ family: "TCP6", src: mapped, dst: new Uint8Array(16).fill(1), srcPort: 1, dstPort: 2 })));
  t.deepEqual(v2.source!.ip, ip("192.0.2.7"));
  t.is(v2.destination!.ip.length, 16);
});

test("v1: refusals, each with its own code and a readable message", (t) => {
  const cases: Array<[string, ProxyErrorCode]> = [
    ["GET / HTTP/1.1\r\n", "BAD_SIGNATURE"],
    ["PROXI TCP4", "BAD_SIGNATURE"],
    ["PROXYTCP4", "BAD_SIGNATURE"],
    ["PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "BAD_FAMILY"],
    ["PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", "BAD_FAMILY"],
    ["PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n", "BAD_FAMILY"],
    ["PROXY UNKNOWNX\r\n", "BAD_FAMILY"],
    ["PROXY TCP44 1.2.3.4 1.2.3.4 1 2\r\n", "BAD_FAMILY"],
    ["PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "BAD_ADDRESS"], // family mismatch
    ["PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 ::1%eth0 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 1:::2 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 1::2::3 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 12345::1 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP6 [::1] ::1 1 2\r\n", "BAD_ADDRESS"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "BAD_PORT"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", "BAD_PORT"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 +80 2\r\n", "BAD_PORT"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "BAD_PORT"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2x\r\n", "BAD_PORT"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", "MISSING_CRLF"], // bare LF
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", "MISSING_CRLF"], // lone CR
    ["PROXY UNKNOWN\n", "MISSING_CRLF"],
    ["PROXY UNKNOWN abc\ndef\r\n", "MISSING_CRLF"],
    ["PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "BAD_V1_SYNTAX"], // two spaces
    ["PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", "BAD_V1_SYNTAX"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1  2\r\n", "BAD_V1_SYNTAX"],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", "BAD_V1_SYNTAX"], // trailing space
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", "BAD_V1_SYNTAX"], // extra field
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "BAD_V1_SYNTAX"], // missing field
    ["PROXY TCP4 1.2.3.4\r\n", "BAD_V1_SYNTAX"],
    ["PROXY TCP4\r\n", "BAD_V1_SYNTAX"],
    ["PROXY \r\n", "BAD_V1_SYNTAX"],
  ];
  for (const [line, code] of cases) {
    const res = parser.parse(text(line));
    t.is(errorCode(res), code, JSON.stringify(line));
    if (res.status === "error") t.regex(res.message, /PROXY|not a PROXY/, line);
  }
});

test("early failure: a byte that cannot start or continue a signature is refused at once", (t) => {
  t.is(errorCode(parser.parse(text("G"))), "BAD_SIGNATURE");
  t.is(errorCode(parser.parse(Uint8Array.of(0x16, 0x03, 0x01))), "BAD_SIGNATURE"); // TLS ClientHello
  t.is(errorCode(parser.parse(text("PRI * HTTP/2.0"))), "BAD_SIGNATURE"); // h2 preface: 'R' then 'I'
  t.is(errorCode(parser.parse(text("PROXY TCP4 1.2.3.4x"))), "BAD_ADDRESS");
  t.is(errorCode(parser.parse(text("PROXY TCP4 1.2.3.4 5.6.7.8 99999"))), "BAD_PORT");
  t.is(errorCode(parser.parse(Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0b))), "BAD_SIGNATURE");
  t.is(errorCode(parser.parse(concat(V2_SIGNATURE, Uint8Array.of(0x11)))), "BAD_VERSION");
  t.is(errorCode(parser.parse(concat(V2_SIGNATURE, Uint8Array.of(0x22)))), "BAD_COMMAND");
  t.is(errorCode(parser.parse(concat(V2_SIGNATURE, Uint8Array.of(0x21, 0x41)))), "BAD_FAMILY");
  t.is(errorCode(parser.parse(concat(V2_SIGNATURE, Uint8Array.of(0x21, 0x11, 0x00)))), "incomplete");
});

test("signaturePrefixState says when bytes can no longer be a PROXY header", (t) => {
  t.is(signaturePrefixState(new Uint8Array(0)), "maybe");
  t.is(signaturePrefixState(text("PRO")), "maybe");
  t.is(signaturePrefixState(text("PROXY")), "maybe");
  t.is(signaturePrefixState(text("PROXY ")), "v1");
  t.is(signaturePrefixState(text("PROXY TCP4")), "v1");
  t.is(signaturePrefixState(text("PRI * HTTP/2.0\r\n")), "none");
  t.is(signaturePrefixState(text("GET / HTTP/1.1")), "none");
  t.is(signaturePrefixState(V2_SIGNATURE.subarray(0, 11)), "maybe");
  t.is(signaturePrefixState(V2_SIGNATURE), "v2");
  t.is(signaturePrefixState(concat(V2_SIGNATURE.subarray(0, 5), text("x"))), "none");
});

// ------------------------------------------------------------------------------------------------
// v2

test("v2: TCP4 and UDP4, TCP6 and UDP6 with ports; bytes after the header are left alone", (t) => {
  const tcp4 = encodeV2({ family: "TCP4", src: ip("203.0.113.9"), dst: ip("10.0.0.1"), srcPort: 51234, dstPort: 443 });
  t.is(tcp4.length, 28);
  const h = ok(parser.parse(concat(tcp4, Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00)))); // a ClientHello follows
  t.like(h, { version: 2, command: "PROXY", family: "TCP4", headerLength: 28 });
  t.deepEqual(h.source, { ip: ip("203.0.113.9"), port: 51234 });
  t.deepEqual(h.destination, { ip: ip("10.0.0.1"), port: 443 });
  t.is(ok(parser.parse(encodeV2({ family: "UDP4", src: ip("1.1.1.1"), dst: ip("2.2.2.2") }))).family, "UDP4");
  const v6src = Uint8Array.from({ length: 16 }, (_, i) => 0x20 + i);
  const tcp6 = ok(parser.parse(encodeV2({ family: "TCP6", src: v6src, dst: new Uint8Array(16), srcPort: 1, dstPort: 65535 })));
  t.like(tcp6, { family: "TCP6", headerLength: 52 });
  t.deepEqual(tcp6.source, { ip: v6src, port: 1 });
  t.deepEqual(tcp6.destination, { ip: new Uint8Array(16), port: 65535 });
  t.is(ok(parser.parse(encodeV2({ family: "UDP6" }))).family, "UDP6");
});

test("v2: UNIX stream and datagram carry 108-byte paths, no IP endpoints", (t) => {
  const path = text("/run/haproxy.sock");
  for (const family of ["UNIX_STREAM", "UNIX_DGRAM"] as const) {
    const h = ok(parser.parse(encodeV2({ family, src: path, dst: text("/srv/app.sock") })));
    t.like(h, { family, headerLength: 16 + 216, source: null, destination: null });
    t.is(h.unixSource?.length, 108);
    t.deepEqual(h.unixSource?.subarray(0, path.length), path);
    t.is(h.unixSource?.[path.length], 0);
  }
});

test("v2: LOCAL keeps the socket addresses, consumes the whole length, and skips TLVs unchecked", (t) => {
  // Envoy's health-check header: 0d0a0d0a000d0a515549540a 20 00 0000
  const envoyLocal = concat(V2_SIGNATURE, Uint8Array.of(0x20, 0x00, 0x00, 0x00));
  t.like(ok(parser.parse(envoyLocal)), { command: "LOCAL", family: "UNSPEC", headerLength: 16, source: null, tlvs: [] });
  // "Receivers MUST always consider this field to skip the appropriate number of bytes"
  const withJunk = encodeV2({ command: 0, family: 0x11, extra: Uint8Array.of(0x01, 0xff, 0xff, 9, 9) });
  t.like(ok(parser.parse(withJunk)), { command: "LOCAL", headerLength: 21, tlvs: [] });
  // The family byte is ignored with LOCAL.
  t.like(ok(parser.parse(encodeV2({ command: 0, family: 0xff }))), { command: "LOCAL", family: "UNSPEC" });
});

test("v2: PROXY with UNSPEC is parsed (the listener filter decides), its address bytes ignored", (t) => {
  const h = ok(parser.parse(encodeV2({ family: "UNSPEC", extra: text("ignored") })));
  t.like(h, { command: "PROXY", family: "UNSPEC", headerLength: 23, source: null, destination: null, tlvs: [] });
});

test("v2: refusals of the fixed header", (t) => {
  const cases: Array<[Uint8Array, ProxyErrorCode]> = [
    [encodeV2({ family: "TCP4", version: 1 }), "BAD_VERSION"],
    [encodeV2({ family: "TCP4", version: 3 }), "BAD_VERSION"],
    [encodeV2({ family: "TCP4", command: 2 }), "BAD_COMMAND"],
    [encodeV2({ family: "TCP4", command: 0xf }), "BAD_COMMAND"],
    [encodeV2({ family: 0x41 }), "BAD_FAMILY"],
    [encodeV2({ family: 0x13 }), "BAD_FAMILY"],
    [encodeV2({ family: 0x10 }), "BAD_FAMILY"], // INET without transport
    [encodeV2({ family: 0x01 }), "BAD_FAMILY"], // transport without family
    [encodeV2({ family: "TCP4", lengthOverride: 11 }), "BAD_LENGTH"],
    [encodeV2({ family: "TCP6", src: new Uint8Array(16), dst: new Uint8Array(16), lengthOverride: 35 }), "BAD_LENGTH"],
    [encodeV2({ family: "UNIX_STREAM", lengthOverride: 215 }), "BAD_LENGTH"],
  ];
  for (const [bytes, code] of cases) t.is(errorCode(parser.parse(bytes)), code);
});

test("v2: TLVs are returned in order, unknown ones as type + bytes", (t) => {
  const tlvs = [
    { type: 0x01, value: text("h2") },
    { type: 0x02, value: text("example.com") },
    { type: 0x04, value: new Uint8Array(3) },
    { type: 0x05, value: text("id-1") },
    { type: 0x30, value: text("netns-a") },
    { type: 0xf1, value: Uint8Array.of(1, 2, 3) },
    { type: 0x99, value: new Uint8Array(0) },
  ];
  const h = ok(parser.parse(encodeV2({ family: "TCP4", src: ip("1.2.3.4"), dst: ip("5.6.7.8"), tlvs })));
  t.deepEqual(h.tlvs, tlvs);
});

test("v2: decodeTlvs reads ALPN, authority, unique id, SSL, netns and the cloud TLVs", (t) => {
  const ssl = sslValue(0x07, 0, [
    { type: 0x21, value: text("TLSv1.3") },
    { type: 0x22, value: text("client.example") },
    { type: 0x23, value: text("TLS_AES_128_GCM_SHA256") },
    { type: 0x24, value: text("RSA-SHA256") },
    { type: 0x25, value: text("RSA2048") },
  ]);
  const bytes = encodeV2({
    family: "TCP4", src: ip("1.2.3.4"), dst: ip("5.6.7.8"), crc: true,
    tlvs: [
      { type: 0x01, value: text("h2") },
      { type: 0x02, value: text("api.example.com") },
      { type: 0x05, value: Uint8Array.of(0xde, 0xad) },
      { type: 0x20, value: ssl },
      { type: 0x30, value: text("blue") },
      { type: 0xea, value: concat(Uint8Array.of(0x01), text("vpce-08d2bf15fac5001c9")) },
      { type: 0xee, value: Uint8Array.of(0x01, 0x78, 0x56, 0x34, 0x12) },
      { type: 0xe0, value: Uint8Array.of(0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02) },
    ],
  });
  const h = ok(parser.parse(bytes));
  const d = decodeTlvs(h);
  t.like(d, {
    alpn: "h2", authority: "api.example.com", netns: "blue", awsVpceId: "vpce-08d2bf15fac5001c9",
    azureLinkId: 0x12345678, gcpPscConnectionId: String(2n ** 32n + 2n),
  });
  t.deepEqual(d.uniqueId, Uint8Array.of(0xde, 0xad));
  t.deepEqual(d.ssl, {
    client: 7, verify: 0, version: "TLSv1.3", cn: "client.example", cipher: "TLS_AES_128_GCM_SHA256",
    sigAlg: "RSA-SHA256", keyAlg: "RSA2048",
  });
  t.is(d.crc32c, crc32cBitwise(concat(bytes.subarray(0, bytes.length - 4), new Uint8Array(4))));
});

test("v2: TLV refusals — truncated TLVs and sub-TLVs, bad values", (t) => {
  const base = { family: "TCP4" as const, src: ip("1.2.3.4"), dst: ip("5.6.7.8") };
  const cases: Array<[Uint8Array, ProxyErrorCode]> = [
    [encodeV2({ ...base, extra: Uint8Array.of(0x01) }), "TRUNCATED_TLV"], // type only
    [encodeV2({ ...base, extra: Uint8Array.of(0x01, 0x00) }), "TRUNCATED_TLV"], // half a length
    [encodeV2({ ...base, extra: Uint8Array.of(0x01, 0x00, 0x05, 1, 2) }), "TRUNCATED_TLV"],
    [encodeV2({ ...base, tlvs: [{ type: 0x20, value: concat(Uint8Array.of(1, 0, 0, 0, 0), Uint8Array.of(0x21, 0x00, 0x09, 0x41)) }] }), "TRUNCATED_TLV"],
    [encodeV2({ ...base, tlvs: [{ type: 0x20, value: Uint8Array.of(1, 0, 0, 0, 0, 0x21) }] }), "TRUNCATED_TLV"],
    [encodeV2({ ...base, tlvs: [{ type: 0x20, value: Uint8Array.of(1, 0, 0, 0) }] }), "BAD_TLV"],
    [encodeV2({ ...base, tlvs: [{ type: 0x05, value: new Uint8Array(129) }] }), "BAD_TLV"],
    [encodeV2({ ...base, tlvs: [{ type: 0x03, value: new Uint8Array(3) }] }), "BAD_TLV"],
    [encodeV2({ ...base, crc: true, tlvs: [{ type: 0x03, value: new Uint8Array(4) }] }), "BAD_TLV"], // two CRCs
  ];
  for (const [bytes, code] of cases) t.is(errorCode(parser.parse(bytes)), code);
  t.like(ok(parser.parse(encodeV2({ ...base, tlvs: [{ type: 0x05, value: new Uint8Array(128) }] }))), { family: "TCP4" });
  const truncated = parser.parse(encodeV2({ ...base, extra: Uint8Array.of(0x01, 0x00, 0x05, 1, 2) }));
  t.regex(truncated.status === "error" ? truncated.message : "", /TLV 0x01 at byte 28 declares 5 value bytes/);
});

test("v2: CRC32C is verified over the whole header with the checksum zeroed", (t) => {
  const base = { family: "TCP6" as const, src: new Uint8Array(16).fill(7), dst: new Uint8Array(16).fill(9), srcPort: 5, dstPort: 6 };
  for (const at of [0, 1, 2]) {
    const bytes = encodeV2({ ...base, crc: at, tlvs: [{ type: 0x01, value: text("http/1.1") }, { type: 0xe3, value: text("x") }] });
    t.like(ok(parser.parse(bytes)), { family: "TCP6" });
  }
  const wrong = encodeV2({ ...base, crc: true, crcValue: 0x12345678 });
  const res = parser.parse(wrong);
  t.is(errorCode(res), "CRC_MISMATCH");
  t.regex(res.status === "error" ? res.message : "", /0x12345678/);
  // One flipped bit anywhere else also breaks it.
  const good = encodeV2({ ...base, crc: true });
  const flipped = good.slice();
  flipped[20] = flipped[20]! ^ 0x01;
  t.is(errorCode(parser.parse(flipped)), "CRC_MISMATCH");
});

test("v2: a header of 16 + 65535 bytes parses; maxHeaderBytes refuses longer ones with TOO_LONG", (t) => {
  const big = encodeV2({ family: "TCP4", src: ip("9.9.9.9"), dst: ip("8.8.8.8"), tlvs: [{ type: 0x04, value: new Uint8Array(65535 - 12 - 3) }] });
  t.is(big.length, 16 + 65535);
  const h = ok(parser.parse(big));
  t.is(h.headerLength, 65551);
  t.is(h.tlvs[0]!.value.length, 65520);
  t.is(errorCode(parser.parse(big.subarray(0, 65550))), "incomplete");
  const many = encodeV2({ family: "TCP4", tlvs: Array.from({ length: 21841 }, () => ({ type: 0x04, value: new Uint8Array(0) })) });
  t.is(ok(parser.parse(many)).tlvs.length, 21841);

  const small = new ProxyParser({ maxHeaderBytes: 16 + 216 });
  t.like(ok(small.parse(encodeV2({ family: "UNIX_STREAM" }))), { headerLength: 232 });
  const tooLong = small.parse(big.subarray(0, 16)); // decided from the length field alone
  t.is(errorCode(tooLong), "TOO_LONG");
  t.regex(tooLong.status === "error" ? tooLong.message : "", /65551 bytes.*232/);
  t.like(ok(small.parse(text(`PROXY TCP6 ${V6_ALL_F} ${V6_ALL_F} 65535 65535\r\n`))), { family: "TCP6" }); // v1 unaffected
  t.throws(() => new ProxyParser({ maxHeaderBytes: 15 }), { instanceOf: RangeError });
  t.throws(() => new ProxyParser({ maxHeaderBytes: 65552 }), { instanceOf: RangeError });
});

test("every error code is reachable and parseOrThrow surfaces it as ProxyProtocolError", (t) => {
  const samples: Record<Exclude<ProxyErrorCode, "INTERNAL">, Uint8Array> = {
    BAD_SIGNATURE: text("HELLO"),
    BAD_VERSION: encodeV2({ family: "TCP4", version: 1 }),
    BAD_COMMAND: encodeV2({ family: "TCP4", command: 3 }),
    BAD_FAMILY: text("PROXY SCTP"),
    BAD_ADDRESS: text("PROXY TCP4 300.1.1.1 "),
    BAD_PORT: text("PROXY TCP4 1.1.1.1 2.2.2.2 65536"),
    BAD_LENGTH: encodeV2({ family: "TCP4", lengthOverride: 4 }),
    TOO_LONG: encodeV2({ family: "TCP4", lengthOverride: 65535 }),
    MISSING_CRLF: text("PROXY UNKNOWN\n"),
    BAD_V1_SYNTAX: text("PROXY TCP4 1.1.1.1  "),
    TRUNCATED_TLV: encodeV2({ family: "TCP4", extra: Uint8Array.of(0x20) }),
    CRC_MISMATCH: encodeV2({ family: "TCP4", crc: true, crcValue: 1 }),
    BAD_TLV: encodeV2({ family: "TCP4", tlvs: [{ type: 0x03, value: new Uint8Array(8) }] }),
  };
  const strict = new ProxyParser({ maxHeaderBytes: 1024 });
  for (const [code, bytes] of Object.entries(samples)) {
    const err = t.throws(() => strict.parseOrThrow(bytes), { instanceOf: ProxyProtocolError });
    t.is(err?.code, code as ProxyErrorCode);
    t.is(err?.name, "ProxyProtocolError");
    t.true((err?.message.length ?? 0) > 20);
  }
  t.is(strict.parseOrThrow(text("PROXY TCP4 1.1.1.1")), null);
  t.is(wasmTrapCount(), 0);
});

test("crc32c matches the RFC 3720 check value and an independent bitwise implementation", (t) => {
  t.is(crc32c(text("123456789")), 0xe3069283);
  t.is(crc32c(new Uint8Array(0)), 0);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 131) & 0xff); // crosses the input region size
  t.is(crc32c(big), crc32cBitwise(big));
});

test("results never alias WASM memory: a later parse does not change an earlier header", (t) => {
  const a = ok(parser.parse(encodeV2({ family: "TCP4", src: ip("1.1.1.1"), dst: ip("2.2.2.2"), tlvs: [{ type: 1, value: text("h2") }] })));
  ok(parser.parse(encodeV2({ family: "TCP4", src: ip("9.9.9.9"), dst: ip("8.8.8.8"), tlvs: [{ type: 1, value: text("xx") }] })));
  t.deepEqual(a.source!.ip, ip("1.1.1.1"));
  t.deepEqual(a.tlvs[0]!.value, text("h2"));
});

test("v1 lines from other spellings of the same addresses give the same header", (t) => {
  const a = ok(parser.parse(encodeV1({ protocol: "TCP6", src: "2001:db8::1", dst: "::1", srcPort: 0, dstPort: 80 })));
  const b = ok(parser.parse(encodeV1({ protocol: "TCP6", src: "2001:0DB8:0:0:0:0:0:1", dst: "0:0:0:0:0:0:0:1", srcPort: 0, dstPort: 80 })));
  t.deepEqual(a.source, b.source);
  t.deepEqual(a.destination, b.destination);
  t.is(a.source!.port, 0);
  t.like(ok(parser.parse(encodeV1Unknown(" 1.2.3.4"))), { family: "UNKNOWN" });
});
