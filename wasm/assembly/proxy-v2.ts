// PROXY protocol v2: 12-byte signature, version/command, family/transport, 16-bit length, the address
// block, then TLVs. The fixed 16 bytes are judged as they arrive (a wrong version is refused on byte
// 13); the address block and TLVs only once the whole header (16 + length bytes) is present, because
// both the TLV bounds and the CRC32C need all of it.
import {
  CMD_LOCAL, CMD_PROXY, ERR_BAD_COMMAND, ERR_BAD_FAMILY, ERR_BAD_LENGTH, ERR_BAD_SIGNATURE, ERR_BAD_TLV,
  ERR_BAD_VERSION, ERR_CRC_MISMATCH, ERR_TOO_LONG, ERR_TRUNCATED_TLV, FAM_TCP4, FAM_TCP6, FAM_UDP4,
  FAM_UDP6, FAM_UNIX_DGRAM, FAM_UNIX_STREAM, FAM_UNSPEC, INPUT_PTR, MAX_TLVS, R_COMMAND, R_DST_PORT,
  R_FAMILY, R_HEADER_LEN, R_SRC_PORT, R_STATUS, R_TLV_COUNT, R_VERSION, STATUS_OK, TLV_TABLE_PTR, inputByte,
  setAddressResult, setResult,
} from "./layout";
import { STOP, fail, gLen, gMaxHeader, incomplete } from "./parse-state";
import { crcRange, crcZeros } from "./crc32c";

// The v2 signature as one u64 (bytes 0-7, little-endian load) and one u32 (bytes 8-11).
const SIG_LO: u64 = 0x510a0d000a0d0a0d; // 0D 0A 0D 0A 00 0D 0A 51
const SIG_HI: u32 = 0x0a544955; // 55 49 54 0A

const TLV_CRC32C: i32 = 0x03;
const TLV_UNIQUE_ID: i32 = 0x05;
const TLV_SSL: i32 = 0x20;

// BAD_TLV reasons (R_ERR_AUX2).
const BAD_CRC_LENGTH: i32 = 1;
const BAD_CRC_DUPLICATE: i32 = 2;
const BAD_UNIQUE_ID_LENGTH: i32 = 3;
const BAD_SSL_LENGTH: i32 = 4;
const BAD_TOO_MANY: i32 = 5;

/** 12 when the 16 bytes at `ptr` are an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else 0. */
export function mappedOffset(ptr: usize): usize {
  return load<u64>(ptr) == 0 && load<u32>(ptr + 8) == 0xffff0000 ? 12 : 0;
}

@inline function be16(i: i32): i32 {
  return (inputByte(i) << 8) | inputByte(i + 1);
}

@inline function be32(i: i32): u32 {
  return bswap<u32>(load<u32>(INPUT_PTR + <usize>i));
}

function sigMismatchAt(): i32 {
  const n = gLen < 12 ? gLen : 12;
  for (let i = 0; i < n; i++) {
    if (inputByte(i) != <i32>((i < 8 ? <u32>(SIG_LO >> (<u64>i << 3)) : SIG_HI >> (<u32>(i - 8) << 3)) & 0xff)) {
      return i;
    }
  }
  return -1;
}

export function parseV2(): i32 {
  // Fast path: the whole signature present and equal, two loads. Otherwise find the first differing
  // byte among those present (or report incomplete if every present byte matches).
  if (gLen < 12 || load<u64>(INPUT_PTR) != SIG_LO || load<u32>(INPUT_PTR + 8) != SIG_HI) {
    const bad = sigMismatchAt();
    if (bad >= 0) return fail(ERR_BAD_SIGNATURE, bad, 2, 0);
    return incomplete();
  }
  if (gLen < 13) return incomplete();
  const verCmd = inputByte(12);
  if (verCmd >> 4 != 2) return fail(ERR_BAD_VERSION, 12, verCmd >> 4, 0);
  const cmd = verCmd & 0xf;
  if (cmd > CMD_PROXY) return fail(ERR_BAD_COMMAND, 12, cmd, 0);
  if (gLen < 14) return incomplete();
  const famByte = inputByte(13);
  let family = FAM_UNSPEC;
  let addrLen = 0;
  if (cmd == CMD_PROXY) {
    // Accepted bytes: 0x00 (UNSPEC) and 0x11 0x12 0x21 0x22 0x31 0x32. With LOCAL the byte is ignored,
    // as the spec says and Envoy does.
    const af = famByte >> 4;
    const tp = famByte & 0xf;
    if (af > 3 || tp > 2 || (af == 0) != (tp == 0)) return fail(ERR_BAD_FAMILY, 13, famByte, 2);
    if (af == 1) {
      addrLen = 12;
      family = tp == 1 ? FAM_TCP4 : FAM_UDP4;
    } else if (af == 2) {
      addrLen = 36;
      family = tp == 1 ? FAM_TCP6 : FAM_UDP6;
    } else if (af == 3) {
      addrLen = 216;
      family = tp == 1 ? FAM_UNIX_STREAM : FAM_UNIX_DGRAM;
    }
  }
  if (gLen < 16) return incomplete();
  const length = be16(14);
  if (length < addrLen) return fail(ERR_BAD_LENGTH, 14, length, addrLen);
  const total = 16 + length;
  if (total > gMaxHeader) return fail(ERR_TOO_LONG, 14, total, gMaxHeader);
  if (gLen < total) return incomplete();

  let tlvCount = 0;
  if (cmd == CMD_PROXY && family != FAM_UNSPEC) {
    if (addrLen == 12) {
      setAddressResult(false, INPUT_PTR + 16, 4);
      setAddressResult(true, INPUT_PTR + 20, 4);
      setResult(R_SRC_PORT, be16(24));
      setResult(R_DST_PORT, be16(26));
    } else if (addrLen == 36) {
      const s = mappedOffset(INPUT_PTR + 16);
      const d = mappedOffset(INPUT_PTR + 32);
      setAddressResult(false, INPUT_PTR + 16 + s, 16 - <i32>s);
      setAddressResult(true, INPUT_PTR + 32 + d, 16 - <i32>d);
      setResult(R_SRC_PORT, be16(48));
      setResult(R_DST_PORT, be16(50));
    } else {
      setAddressResult(false, INPUT_PTR + 16, 108);
      setAddressResult(true, INPUT_PTR + 124, 108);
    }
    tlvCount = walkTlvs(16 + addrLen, total);
    if (tlvCount < 0) return STOP;
  }
  // LOCAL: addresses and TLVs are ignored and the whole header is consumed (Envoy). PROXY + UNSPEC: the
  // address block has no known size, so TLVs cannot be located; the listener filter decides.
  setResult(R_VERSION, 2);
  setResult(R_COMMAND, cmd == CMD_LOCAL ? CMD_LOCAL : CMD_PROXY);
  setResult(R_FAMILY, family);
  setResult(R_HEADER_LEN, total);
  setResult(R_TLV_COUNT, tlvCount);
  setResult(R_STATUS, STATUS_OK);
  return total;
}

/** Walks TLVs in [from, end), fills the TLV index table, verifies a CRC32C TLV. Count, or STOP. */
function walkTlvs(from: i32, end: i32): i32 {
  let p = from;
  let count = 0;
  let crcAt = -1;
  while (p < end) {
    const type = inputByte(p);
    if (end - p < 3) return fail(ERR_TRUNCATED_TLV, p, type, -1);
    const len = be16(p + 1);
    const value = p + 3;
    if (len > end - value) return fail(ERR_TRUNCATED_TLV, p, type, len);
    if (type == TLV_CRC32C) {
      if (len != 4) return fail(ERR_BAD_TLV, p, type, BAD_CRC_LENGTH);
      if (crcAt >= 0) return fail(ERR_BAD_TLV, p, type, BAD_CRC_DUPLICATE);
      crcAt = value;
    } else if (type == TLV_UNIQUE_ID) {
      if (len > 128) return fail(ERR_BAD_TLV, p, type, BAD_UNIQUE_ID_LENGTH);
    } else if (type == TLV_SSL) {
      // struct pp2_tlv_ssl { u8 client; u32 verify; struct pp2_tlv sub_tlv[]; }
      if (len < 5) return fail(ERR_BAD_TLV, p, type, BAD_SSL_LENGTH);
      const subEnd = value + len;
      let q = value + 5;
      while (q < subEnd) {
        const sub = inputByte(q);
        if (subEnd - q < 3) return fail(ERR_TRUNCATED_TLV, q, (TLV_SSL << 8) | sub, -1);
        const subLen = be16(q + 1);
        if (subLen > subEnd - q - 3) return fail(ERR_TRUNCATED_TLV, q, (TLV_SSL << 8) | sub, subLen);
        q += 3 + subLen;
      }
    }
    // Unreachable while each TLV takes >= 3 bytes of a <= 65535-byte block; kept so that no input
    // can ever write past the table.
    if (count >= MAX_TLVS) return fail(ERR_BAD_TLV, p, type, BAD_TOO_MANY);
    const entry = TLV_TABLE_PTR + <usize>count * 12;
    store<i32>(entry, type);
    store<i32>(entry + 4, value);
    store<i32>(entry + 8, len);
    count++;
    p = value + len;
  }
  if (crcAt >= 0) {
    let crc = crcRange(0xffffffff, 0, crcAt);
    crc = crcZeros(crc, 4);
    crc = ~crcRange(crc, crcAt + 4, end - crcAt - 4);
    const sent = be32(crcAt);
    if (sent != crc) return fail(ERR_CRC_MISMATCH, crcAt, <i32>sent, <i32>crc);
  }
  return count;
}
