// tollgate.wasm exports. Each feature lives in sibling files (proxy-*.ts today; CIDR sets and token
// buckets later) and is exported here. The memory layout is described in layout.ts; the host reads the
// region pointers through the getters below instead of hard-coding them.
import {
  INPUT_CAP, INPUT_PTR, MAX_TLVS, MEMORY_BASE, RESULT_FIELDS, RESULT_PTR, TLV_TABLE_PTR,
} from "./layout";
import { parseProxyHeader } from "./proxy-protocol";
import { crc32cInput } from "./crc32c";

export function resultPtr(): usize { return RESULT_PTR; }
export function resultFields(): i32 { return RESULT_FIELDS; }
export function inputPtr(): usize { return INPUT_PTR; }
export function inputCap(): i32 { return INPUT_CAP; }
export function tlvTablePtr(): usize { return TLV_TABLE_PTR; }
export function maxTlvs(): i32 { return MAX_TLVS; }
export function memoryBase(): usize { return MEMORY_BASE; }

@inline function clamp(v: i32, lo: i32, hi: i32): i32 {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Parses the first `len` bytes of the INPUT region as a PROXY v1/v2 header; v2 headers longer than
 * `maxHeader` bytes are refused. Returns the status (0 incomplete, 1 ok, 2 error); details in RESULT.
 */
export function parse(len: i32, maxHeader: i32): i32 {
  return parseProxyHeader(clamp(len, 0, INPUT_CAP), clamp(maxHeader, 0, INPUT_CAP));
}

/** CRC32C of `prev` (a finished CRC32C, 0 to start) continued over the first `len` INPUT bytes. */
export function crc32c(prev: u32, len: i32): u32 {
  return crc32cInput(prev, clamp(len, 0, INPUT_CAP));
}

/** Traps on purpose. Lets the host prove that a trap is survived (counted, module re-instantiated). */
export function debugTrap(): void {
  unreachable();
}

// CIDR sets (cidr-set.ts): built at config time, looked up per connection/request; wasm/cidr.ts binds them.
export { cidrArenaStart, cidrEnsure, cidrBuild, cidrLookup4, cidrLookup6 } from "./cidr-set";

// Per-client token buckets (token-buckets.ts): one table per instance; wasm/buckets.ts binds them.
export { bucketsInit, bucketsTake, bucketsPeek, bucketsLive, bucketsEvictions } from "./token-buckets";
