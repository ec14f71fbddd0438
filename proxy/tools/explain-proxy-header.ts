// The PROXY protocol header a load balancer would send for the explain tool's inputs, as bytes, so that the
// listener's own proxy_protocol filter (and its WebAssembly parser) reads it exactly as it reads a real one.
import { parseIp } from "../net/ip.js";
import type { AddressPort } from "./explain-input.js";

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export function isIpv6(ip: string): boolean {
  return parseIp(ip)?.length === 16;
}

/** v2: PROXY command, TCP4 or TCP6, no TLVs. v1: `PROXY TCP4|TCP6 src dst sport dport\r\n`. Same family required. */
export function encodeProxyHeader(version: 1 | 2, source: AddressPort, destination: AddressPort): Buffer {
  const src = parseIp(source.ip);
  const dst = parseIp(destination.ip);
  if (src === null || dst === null || src.length !== dst.length) {
    throw new RangeError(`a PROXY header carries two addresses of one family, got ${source.ip} and ${destination.ip}`);
  }
  const v6 = src.length === 16;
  if (version === 1) {
    return Buffer.from(`PROXY ${v6 ? "TCP6" : "TCP4"} ${source.ip} ${destination.ip} ${source.port} ${destination.port}\r\n`, "latin1");
  }
  const ports = Buffer.from([source.port >> 8, source.port & 0xff, destination.port >> 8, destination.port & 0xff]);
  const body = Buffer.concat([src, dst, ports]);
  const head = Buffer.from([0x21, v6 ? 0x21 : 0x11, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}
