import test from "ava";
import { BadPacketError, looksLikeIpPacket, tcpPayload } from "../proxy/tools/decode-packet.js";

const V2_SIG = "0d0a0d0a000d0a515549540a";
const PROXY_V2_TCP4 = `${V2_SIG}2111000ccb007107 0a000009 c822 2710`.replace(/ /g, "");

// IPv4 (20 bytes) + TCP with timestamps (32 bytes) + payload, as tcpdump -X prints it.
function ipv4Packet(payloadHex: string, opts: { protocol?: number; flagsFrag?: number; padding?: string } = {}): Uint8Array {
  const payload = Buffer.from(payloadHex, "hex");
  const tcp = Buffer.from("855c27105410c2cc1ecf28bb8018004000000000" + "0101080a66e858d9698a81d1", "hex");
  const total = 20 + tcp.length + payload.length;
  const ip = Buffer.from([0x45, 0, total >> 8, total & 0xff, 0, 0, (opts.flagsFrag ?? 0x4000) >> 8, (opts.flagsFrag ?? 0x4000) & 0xff, 64, opts.protocol ?? 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
  return Uint8Array.from(Buffer.concat([ip, tcp, payload, Buffer.from(opts.padding ?? "", "hex")]));
}

function ipv6Packet(payloadHex: string, extension?: Buffer): Uint8Array {
  const payload = Buffer.from(payloadHex, "hex");
  const tcp = Buffer.from("855c27105410c2cc1ecf28bb5018004000000000", "hex"); // data offset 5 (20 bytes)
  const ext = extension ?? Buffer.alloc(0);
  const len = ext.length + tcp.length + payload.length;
  const header = Buffer.alloc(40);
  header[0] = 0x60;
  header.writeUInt16BE(len, 4);
  header[6] = extension ? 0 : 6; // hop-by-hop first when there is an extension header
  header[7] = 64;
  header[23] = 1;
  header[39] = 1;
  return Uint8Array.from(Buffer.concat([header, ext, tcp, payload]));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("PROXY headers are never mistaken for IP packets, IP packets are recognised", (t) => {
  t.false(looksLikeIpPacket(Buffer.from(PROXY_V2_TCP4, "hex")));
  t.false(looksLikeIpPacket(Buffer.from("PROXY TCP4 ", "latin1")));
  t.false(looksLikeIpPacket(new Uint8Array(0)));
  // Client data sent without a PROXY header can start with nibble 4 ("GET " is 0x47...): not a packet.
  t.false(looksLikeIpPacket(Buffer.from("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "latin1")));
  t.false(looksLikeIpPacket(Buffer.from("OPTIONS * HTTP/1.1\r\n\r\n", "latin1")));
  t.false(looksLikeIpPacket(ipv4Packet(PROXY_V2_TCP4).subarray(0, 40))); // cut short: not a whole packet
  t.true(looksLikeIpPacket(ipv4Packet(PROXY_V2_TCP4)));
  t.true(looksLikeIpPacket(ipv6Packet(PROXY_V2_TCP4)));
});

test("the TCP payload of an IPv4 packet is the PROXY header, link-layer padding dropped", (t) => {
  t.is(hex(tcpPayload(ipv4Packet(PROXY_V2_TCP4))), PROXY_V2_TCP4);
  t.is(hex(tcpPayload(ipv4Packet("50524f5859", { padding: "000000" }))), "50524f5859");
});

test("the TCP payload of an IPv6 packet, across a hop-by-hop extension header", (t) => {
  t.is(hex(tcpPayload(ipv6Packet(PROXY_V2_TCP4))), PROXY_V2_TCP4);
  const hopByHop = Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]); // next header TCP, 8 bytes, PadN
  t.is(hex(tcpPayload(ipv6Packet(PROXY_V2_TCP4, hopByHop))), PROXY_V2_TCP4);
});

test("a packet that is not TCP, a fragment, or cut inside its headers is BAD_PACKET", (t) => {
  const udp = t.throws(() => tcpPayload(ipv4Packet(PROXY_V2_TCP4, { protocol: 17 })), { instanceOf: BadPacketError });
  t.is(udp.code, "BAD_PACKET");
  t.regex(udp.message, /protocol 17, not TCP/);
  t.throws(() => tcpPayload(ipv4Packet(PROXY_V2_TCP4, { flagsFrag: 0x2000 })), { message: /fragment/ });
  t.throws(() => tcpPayload(ipv4Packet(PROXY_V2_TCP4).subarray(0, 30)), { message: /TCP header cut short/ });
  t.throws(() => tcpPayload(Uint8Array.from([0x45, 0, 0, 20])), { message: /shorter than its 20-byte header/ });
});
