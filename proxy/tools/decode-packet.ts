// `tcpdump -X` prints a packet from its IP header on, so a pasted capture holds IP + TCP headers in front
// of the PROXY header. Neither PROXY version can be mistaken for IP: v2 starts with 0x0d (high nibble 0)
// and v1 with 'P' (0x50, nibble 5), while an IP packet starts with nibble 4 or 6. But what a client sends
// without a header can: "GET " starts with 0x47. So the bytes must also be exactly as long as the IP
// length field says (give or take trailing link-layer padding); a text length field reads as >= 0x2020,
// far beyond a one-packet paste. Such bytes are unwrapped to their TCP payload; others pass untouched.

/** Bytes that look like an IP packet but cannot be unwrapped to a TCP payload. */
export class BadPacketError extends Error {
  readonly code = "BAD_PACKET";
  constructor(message: string) {
    super(message);
    this.name = "BadPacketError";
  }
}

const TCP = 6;
// IPv6 extension headers that only carry options and can be stepped over: hop-by-hop, routing, destination.
const SKIPPABLE_V6_HEADERS = new Set([0, 43, 60]);

// Ethernet pads frames to 60 bytes: at most 26 bytes can follow a minimal (20 + 20 byte) TCP/IPv4 packet.
const MAX_PADDING = 26;

/** True when the bytes are one whole IPv4 or IPv6 packet rather than a PROXY header or client data. */
export function looksLikeIpPacket(bytes: Uint8Array): boolean {
  if (bytes.length < 20) return false;
  const version = bytes[0]! >> 4;
  let ipLength: number;
  if (version === 4) {
    const headerLength = (bytes[0]! & 0x0f) * 4;
    ipLength = (bytes[2]! << 8) | bytes[3]!;
    if (headerLength < 20 || ipLength < headerLength) return false;
  } else if (version === 6) {
    if (bytes.length < 40) return false;
    ipLength = 40 + ((bytes[4]! << 8) | bytes[5]!);
  } else {
    return false;
  }
  return ipLength <= bytes.length && bytes.length - ipLength <= MAX_PADDING;
}

/** The TCP payload of an IPv4/IPv6 packet. Trailing link-layer padding past the IP length is dropped; a
 *  capture cut short by the snap length yields what was captured. Throws BadPacketError. */
export function tcpPayload(packet: Uint8Array): Uint8Array {
  const version = packet[0]! >> 4;
  let transport: number;
  let end: number;
  let protocol: number;
  if (version === 4) {
    if (packet.length < 20) throw new BadPacketError(`IPv4 packet shorter than its 20-byte header (${packet.length} bytes)`);
    const headerLength = (packet[0]! & 0x0f) * 4;
    if (headerLength < 20) throw new BadPacketError(`IPv4 header length ${headerLength} is below 20`);
    const fragment = ((packet[6]! << 8) | packet[7]!) & 0x3fff; // MF flag + fragment offset
    if (fragment !== 0) throw new BadPacketError("IPv4 fragment: capture the whole packet");
    protocol = packet[9]!;
    transport = headerLength;
    end = (packet[2]! << 8) | packet[3]!;
  } else {
    if (packet.length < 40) throw new BadPacketError(`IPv6 packet shorter than its 40-byte header (${packet.length} bytes)`);
    end = 40 + ((packet[4]! << 8) | packet[5]!);
    protocol = packet[6]!;
    transport = 40;
    while (SKIPPABLE_V6_HEADERS.has(protocol)) {
      if (packet.length < transport + 8) throw new BadPacketError("IPv6 extension header cut short");
      protocol = packet[transport]!;
      transport += (packet[transport + 1]! + 1) * 8;
    }
    if (protocol === 44) throw new BadPacketError("IPv6 fragment: capture the whole packet");
  }
  if (protocol !== TCP) throw new BadPacketError(`IP packet carries protocol ${protocol}, not TCP (6)`);
  if (packet.length < transport + 20) throw new BadPacketError("TCP header cut short");
  const dataOffset = (packet[transport + 12]! >> 4) * 4;
  if (dataOffset < 20) throw new BadPacketError(`TCP data offset ${dataOffset} is below 20`);
  const payload = transport + dataOffset;
  const stop = Math.min(end, packet.length);
  if (payload > stop) throw new BadPacketError("TCP header runs past the end of the packet");
  return packet.subarray(payload, stop);
}
