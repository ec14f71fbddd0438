// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960 appendix B and the PROXY protocol
// PP2_TYPE_CRC32C TLV use it. Table-driven, one byte per step: the checksum is only computed when a header
// carries the TLV, and headers are at most 64 KiB, so a slicing-by-8 table (8 KiB) would not pay for itself.
import { CRC_TABLE_PTR, INPUT_PTR } from "./layout";

const POLY: u32 = 0x82f63b78;

// Start function: fill the fixed table region once per instantiation.
for (let n: u32 = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  store<u32>(CRC_TABLE_PTR + (<usize>n << 2), c);
}

@inline function step(crc: u32, byte: u32): u32 {
  return load<u32>(CRC_TABLE_PTR + (<usize>((crc ^ byte) & 0xff) << 2)) ^ (crc >>> 8);
}

/** Advances a raw (not finalised) CRC register over `len` bytes of the INPUT region from `from`. */
export function crcRange(crc: u32, from: i32, len: i32): u32 {
  let p = INPUT_PTR + <usize>from;
  const end = p + <usize>len;
  while (p < end) {
    crc = step(crc, <u32>load<u8>(p));
    p++;
  }
  return crc;
}

/** Advances a raw CRC register over `n` zero bytes (the checksum field, zeroed as the spec requires). */
export function crcZeros(crc: u32, n: i32): u32 {
  for (let i = 0; i < n; i++) crc = step(crc, 0);
  return crc;
}

/**
 * zlib-style continuation: `prev` is a finished CRC32C (0 to start), the result is the finished CRC32C
 * of everything so far followed by the first `len` bytes of the INPUT region.
 */
export function crc32cInput(prev: u32, len: i32): u32 {
  return ~crcRange(~prev, 0, len);
}
