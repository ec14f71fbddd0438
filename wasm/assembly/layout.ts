// Linear-memory layout of tollgate.wasm. Only this file (on the WASM side) and wasm/index.ts (on the host
// side, which reads the pointers through the exported getters in index.ts, never hard-coded) know it.
//
//   0x00000  RESULT block          18 x i32: the answer of the last parse call (fields below)
//   0x00080  V1 address scratch    2 x 16 bytes: binary form of the v1 source / destination address
//   0x00400  CRC32C table          256 x u32, filled once by the module's start function
//   0x00800  TLV index table       MAX_TLVS x (type, offset, length) i32 triples; offsets are relative to INPUT
//   0x40800  INPUT region          INPUT_CAP bytes: the host copies the received bytes here, once per call
//   0x60000  MEMORY_BASE           end of the fixed, reserved regions. Static data of the AssemblyScript
//                                  modules starts here (`--memoryBase` in wasm/build.mjs), then the stub
//                                  runtime's heap. Later modules (CIDR tries, token buckets) are sibling
//                                  files of proxy-*.ts, exported from index.ts; they either allocate
//                                  above this line at start-up, or take a fixed region in the free gap
//                                  0x50810-0x5FFFF, raising MEMORY_BASE here and in wasm/build.mjs
//                                  together if they need more.
//
// Why fixed regions: the host copies bytes in and reads numbers out without any allocation or pointer
// exchange per call, and a parse can never grow memory (so host views over memory.buffer stay valid).
// Every read the parsers make is at INPUT + i with 0 <= i < the byte count the host passed, which is
// clamped to INPUT_CAP: no input can make the module read outside the INPUT region. (One exception, still
// inside it: the v1 fast path puts a sentinel byte at INPUT + min(count, 108) for the length of its pass
// and reads up to it; see proxy-v1.ts.) Address pointers in the RESULT block are 4-byte aligned: the host
// copies IPv6 and UNIX addresses by 32-bit words.

export const RESULT_PTR: usize = 0x00000;
export const RESULT_FIELDS: i32 = 18;
export const V1_ADDR_PTR: usize = 0x00080;
export const CRC_TABLE_PTR: usize = 0x00400;
export const TLV_TABLE_PTR: usize = 0x00800;
/** Each TLV takes at least 3 bytes and the v2 length field is at most 65535: at most 21845 TLVs. */
export const MAX_TLVS: i32 = 21845;
export const INPUT_PTR: usize = 0x40800;
/** The longest PROXY header: 16 bytes of v2 fixed header + a 65535-byte length field. */
export const INPUT_CAP: i32 = 16 + 65535;
export const MEMORY_BASE: usize = 0x60000;

// RESULT block field indexes (i32 units).
export const R_STATUS: i32 = 0; // STATUS_*
export const R_CODE: i32 = 1; // ERR_* when STATUS_ERROR
export const R_VERSION: i32 = 2; // 1 or 2
export const R_COMMAND: i32 = 3; // CMD_*
export const R_FAMILY: i32 = 4; // FAM_*
export const R_HEADER_LEN: i32 = 5; // bytes consumed by the header
export const R_SRC_PORT: i32 = 6;
export const R_DST_PORT: i32 = 7;
export const R_SRC_PTR: i32 = 8; // absolute pointer to the source address bytes
export const R_SRC_LEN: i32 = 9; // 4, 16 (IP; an IPv4-mapped IPv6 address is reported as its 4 IPv4 bytes) or 108 (UNIX)
export const R_DST_PTR: i32 = 10;
export const R_DST_LEN: i32 = 11;
export const R_TLV_COUNT: i32 = 12;
export const R_ERR_OFFSET: i32 = 13; // byte offset where the error was detected
export const R_ERR_AUX: i32 = 14; // error-specific detail (see wasm/index.ts messages)
export const R_ERR_AUX2: i32 = 15;
// An IPv4 address (R_SRC_LEN / R_DST_LEN 4) also as one number, most significant byte first
// (203.0.113.7 = 0xCB007107; read it with >>> 0): the host's fast path reads one i32 instead of four bytes,
// and can hand it straight to a CIDR lookup or format it from a table.
export const R_SRC_V4: i32 = 16;
export const R_DST_V4: i32 = 17;

export const STATUS_INCOMPLETE: i32 = 0;
export const STATUS_OK: i32 = 1;
export const STATUS_ERROR: i32 = 2;

export const CMD_LOCAL: i32 = 0;
export const CMD_PROXY: i32 = 1;

export const FAM_UNSPEC: i32 = 0;
export const FAM_TCP4: i32 = 1;
export const FAM_TCP6: i32 = 2;
export const FAM_UDP4: i32 = 3;
export const FAM_UDP6: i32 = 4;
export const FAM_UNIX_STREAM: i32 = 5;
export const FAM_UNIX_DGRAM: i32 = 6;
export const FAM_UNKNOWN: i32 = 7; // v1 "PROXY UNKNOWN"

export const ERR_BAD_SIGNATURE: i32 = 1;
export const ERR_BAD_VERSION: i32 = 2;
export const ERR_BAD_COMMAND: i32 = 3;
export const ERR_BAD_FAMILY: i32 = 4;
export const ERR_BAD_ADDRESS: i32 = 5;
export const ERR_BAD_PORT: i32 = 6;
export const ERR_BAD_LENGTH: i32 = 7;
export const ERR_TOO_LONG: i32 = 8;
export const ERR_MISSING_CRLF: i32 = 9;
export const ERR_BAD_V1_SYNTAX: i32 = 10;
export const ERR_TRUNCATED_TLV: i32 = 11;
export const ERR_CRC_MISMATCH: i32 = 12;
export const ERR_BAD_TLV: i32 = 13;

@inline export function setResult(field: i32, value: i32): void {
  store<i32>(RESULT_PTR + (<usize>field << 2), value);
}

// clearResult() below zeroes exactly 18 fields: a change of RESULT_FIELDS must change it too (this traps
// at instantiation otherwise; binaryen removes the test while the two agree).
if (RESULT_FIELDS != 18) unreachable();

/** Zeroes the RESULT block. Plain stores: memory.fill is a call out of compiled WASM into the engine
 *  (about 2 ns of a 20 ns v2 call, measured on Node 20). */
@inline export function clearResult(): void {
  // Unrolled (binaryen keeps the loop): 9 x 8 bytes = RESULT_FIELDS (18) x 4.
  store<u64>(RESULT_PTR, 0);
  store<u64>(RESULT_PTR, 0, 8);
  store<u64>(RESULT_PTR, 0, 16);
  store<u64>(RESULT_PTR, 0, 24);
  store<u64>(RESULT_PTR, 0, 32);
  store<u64>(RESULT_PTR, 0, 40);
  store<u64>(RESULT_PTR, 0, 48);
  store<u64>(RESULT_PTR, 0, 56);
  store<u64>(RESULT_PTR, 0, 64);
}

/** Records an address (`len` 4, 16 or 108 bytes at `ptr`) as the source (`dst` false) or destination. */
@inline export function setAddressResult(dst: bool, ptr: usize, len: i32): void {
  setResult(dst ? R_DST_PTR : R_SRC_PTR, <i32>ptr);
  setResult(dst ? R_DST_LEN : R_SRC_LEN, len);
  if (len == 4) setResult(dst ? R_DST_V4 : R_SRC_V4, <i32>bswap<u32>(load<u32>(ptr)));
}

@inline export function inputByte(i: i32): i32 {
  return <i32>load<u8>(INPUT_PTR + <usize>i);
}
