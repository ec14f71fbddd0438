// A set of CIDR ranges answering "is this address inside any of them?" (internal_address_config, trusted
// sources, RBAC principals, filter-chain source ranges).
//
// The implementation is the WebAssembly CIDR set (wasm/cidr.ts, a poptrie in WASM memory; docs/cidr.md):
// built once at config time, one call into WASM per lookup. This file keeps the interface the filters code
// against, so that they do not depend on where the set lives.
import type { Cidr, IpBytes } from "../../net/ip.js";
import { WasmCidrSet } from "../../../wasm/cidr.js";

export interface CidrMatcher {
  /** True when the address (text, any form parseIp accepts) lies in one of the ranges. Unparsable text: false. */
  contains(ipText: string): boolean;
  /** Same, for an already parsed address (4 or 16 bytes, mapped IPv4 already normalised). */
  containsBytes(ip: IpBytes): boolean;
  /** Number of ranges the matcher was built from. */
  readonly size: number;
}

/** `new CidrMatcher(cidrs)` builds the WASM set; the type stays the interface above. */
export const CidrMatcher: new (cidrs: readonly Cidr[]) => CidrMatcher = WasmCidrSet;

/**
 * Build a matcher from parsed ranges (config time). The set's memory is released when the matcher is
 * garbage-collected (or at once by `dispose()` on the WasmCidrSet, for owners that know when they drop it).
 */
export function buildCidrMatcher(cidrs: readonly Cidr[]): WasmCidrSet {
  return new WasmCidrSet(cidrs);
}

/** Matches nothing: Envoy's default internal_address_config since 1.33. */
export const EMPTY_CIDR_MATCHER: CidrMatcher = buildCidrMatcher([]);
