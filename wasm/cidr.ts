// Host binding of the CIDR sets (wasm/assembly/cidr-set.ts): build a set from Cidr[] at config time, look
// addresses up per connection or request, free the set when its configuration is dropped.
//
// One instance for all sets. The sets live in their own instance of tollgate.wasm (the same module bytes
// as the PROXY parser, a separate WebAssembly.Instance and memory): a parser trap must not take every
// allowlist down with it, and a set's memory must not sit under the parser's fixed regions. Only this
// file knows where sets lie in that memory.
//
// Lookup: the address goes in as call arguments (one u32 for IPv4, four for IPv6) and the answer comes
// back as the call's i32 result (the longest matching prefix length, or -1). Nothing is copied through
// memory, nothing is allocated, memory.buffer is never read: a lookup cannot grow memory.
//
// Allocation: every set is one contiguous, position-independent block. Blocks are packed from the arena
// start in creation order. Dropping a set (dispose(), or the garbage collector through a
// FinalizationRegistry when the configuration that held it is unreachable) leaves a hole; the next build
// first compacts (memmove of the live blocks, bases updated in their Block records), so memory after any
// number of reloads is the live sets plus one build's scratch. When memory is much larger than the live
// sets need (a big allowlist was dropped), the instance is replaced by a fresh one holding copies of the
// live blocks: WebAssembly memory cannot shrink otherwise.
//
// Traps: a trap (WebAssembly.RuntimeError, or a RangeError from stack exhaustion) means the instance's
// state can no longer be trusted. The lookup that trapped throws CidrSetError INTERNAL (so the caller ends
// that one connection); the trap is counted; a fresh instance is made and every live set is rebuilt from
// the input records it kept (8 bytes per IPv4 prefix, 24 per IPv6 prefix, in JavaScript memory).
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseIp, type Cidr, type IpBytes } from "../proxy/net/ip.js";
import type { CidrMatcher } from "../proxy/filters/common/cidr-matcher.js";

export type CidrSetErrorCode = "BAD_CIDR" | "DISPOSED" | "OUT_OF_MEMORY" | "INTERNAL";

/** A CIDR set could not be built or used. `code` is stable. */
export class CidrSetError extends Error {
  readonly code: CidrSetErrorCode;
  constructor(code: CidrSetErrorCode, message: string) {
    super(message);
    this.name = "CidrSetError";
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------------
// Module and instance

interface WasmMemory { readonly buffer: ArrayBuffer }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface CidrExports {
  memory: WasmMemory;
  cidrArenaStart(): number;
  cidrEnsure(end: number): number;
  cidrBuild(dst: number, recs: number, n4: number, n6: number): number;
  cidrLookup4(base: number, addr: number): number;
  cidrLookup6(base: number, w0: number, w1: number, w2: number, w3: number): number;
  debugTrap(): void;
}

function locateWasm(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // wasm/cidr.ts (tsx) -> wasm/build/; dist/wasm/cidr.js (compiled) -> ../../wasm/build/.
  const candidates = [join(here, "build", "tollgate.wasm"), join(here, "..", "..", "wasm", "build", "tollgate.wasm")];
  for (const file of candidates) if (existsSync(file)) return file;
  throw new Error(`tollgate.wasm not found (looked in ${candidates.join(", ")}); run \`npm run build:wasm\``);
}

// Compiled once at import (start-up cost). wasm/index.ts compiles the same bytes for the parser; a
// module object is not shared because that file keeps it private, and compiling ~10 KB twice is cheap.
const wasmModule = new WebAssemblyApi.Module(readFileSync(locateWasm()));

let ex: CidrExports;
let arenaStart = 0;
let u8 = new Uint8Array(0);
// The hot-path entry points, held in module variables so a lookup is one monomorphic call.
let lookup4: (base: number, addr: number) => number;
let lookup6: (base: number, w0: number, w1: number, w2: number, w3: number) => number;

function instantiate(): void {
  ex = new WebAssemblyApi.Instance(wasmModule, {}).exports as CidrExports;
  arenaStart = ex.cidrArenaStart() >>> 0;
  lookup4 = ex.cidrLookup4;
  lookup6 = ex.cidrLookup6;
  refreshView();
}

/** Views over memory.buffer are detached when memory grows: rebuilt after every call that may grow it. */
function refreshView(): void {
  u8 = new Uint8Array(ex.memory.buffer);
}

function ensure(end: number): void {
  if (end <= u8.length) return;
  if (!ex.cidrEnsure(end)) throw new CidrSetError("OUT_OF_MEMORY", `cannot grow WebAssembly memory to ${end} bytes for a CIDR set`);
  refreshView();
}

instantiate();

// ---------------------------------------------------------------------------------------------------
// Blocks: placement, compaction, release

interface Block {
  /** Absolute address of the block in the current instance's memory; -1 once released (or unusable). */
  base: number;
  /** Size of the built block in bytes. */
  bytes: number;
  /** Input records as written for the build (IPv4 first), kept to rebuild the block after a trap. */
  readonly records: Uint8Array;
  readonly n4: number;
  readonly n6: number;
  /** Why base is -1: "DISPOSED", or "INTERNAL" when a rebuild after a trap failed. */
  dead: CidrSetErrorCode;
}

// Blocks start on 64-byte boundaries: nodes are laid out 32-aligned relative to the block start so that a
// node and its inline leaves share one cache line.
const alignBlock = (n: number): number => (n + 63) & ~63;

// Live blocks in address order. A Set iterates in insertion order, new blocks always go on top, and
// compaction keeps the order, so insertion order is address order.
const live = new Set<Block>();
let top = arenaStart; // end of the last live block
let holes = 0; // bytes of released blocks below top
let retained = 0; // bytes of input records kept in JavaScript for the live sets
let trapCount = 0;
let generation = 1;

/** Memory may stay this much above what the live sets need before the instance is replaced to shrink it. */
let shrinkSlack = 32 * 1024 * 1024;

function compact(): void {
  let dst = arenaStart;
  for (const b of live) {
    if (b.base !== dst) u8.copyWithin(dst, b.base, b.base + b.bytes);
    b.base = dst;
    dst = alignBlock(dst + b.bytes);
  }
  top = dst;
  holes = 0;
}

/** Builds `b` from its records on top of the live blocks. Throws CidrSetError OUT_OF_MEMORY; a trap propagates. */
function place(b: Block): void {
  if (holes > 0) compact();
  const recs = top;
  ensure(recs + b.records.length);
  u8.set(b.records, recs);
  const size = ex.cidrBuild(top, recs, b.n4, b.n6);
  refreshView();
  if (size < 0) throw new CidrSetError("OUT_OF_MEMORY", `cannot grow WebAssembly memory to build a CIDR set of ${b.n4 + b.n6} prefixes`);
  b.base = top;
  b.bytes = size;
  top = alignBlock(top + size);
  live.add(b);
  retained += b.records.length;
}

function release(b: Block): void {
  if (b.base < 0) return;
  live.delete(b);
  retained -= b.records.length;
  if (live.size === 0) {
    top = arenaStart;
    holes = 0;
  } else if (alignBlock(b.base + b.bytes) === top) {
    top = b.base;
  } else {
    holes += alignBlock(b.bytes);
  }
  b.base = -1;
  b.dead = "DISPOSED";
  maybeShrink();
}

/** Replaces the instance by a fresh one holding copies of the live blocks, when memory is mostly unused. */
function maybeShrink(): void {
  const needed = top - arenaStart - holes;
  if (u8.length - arenaStart <= 4 * needed + shrinkSlack) return;
  const old = u8;
  const blocks = [...live];
  instantiate();
  ensure(arenaStart + needed);
  let dst = arenaStart;
  for (const b of blocks) {
    u8.set(old.subarray(b.base, b.base + b.bytes), dst);
    b.base = dst;
    dst = alignBlock(dst + b.bytes);
  }
  top = dst;
  holes = 0;
}

/** After a trap: a fresh instance, every live set rebuilt from its records. */
function recoverFromTrap(): void {
  trapCount++;
  generation++;
  const blocks = [...live];
  live.clear();
  retained = 0;
  instantiate();
  top = arenaStart;
  holes = 0;
  for (const b of blocks) {
    try {
      place(b);
    } catch {
      // Rebuilding the same input that built before cannot fail unless memory is exhausted or the module
      // is broken; the set then refuses lookups (INTERNAL) rather than answering wrongly.
      b.base = -1;
      b.dead = "INTERNAL";
    }
  }
}

/** Sets that become unreachable without dispose() (a dropped configuration) release their block here. */
const finalizer = new FinalizationRegistry<Block>((b) => release(b));

/** How many times the CIDR instance trapped (each time it was replaced and the sets rebuilt). */
export function cidrTrapCount(): number {
  return trapCount;
}

/** Increases by one each time the CIDR instance is replaced after a trap. */
export function cidrInstanceGeneration(): number {
  return generation;
}

/**
 * Memory of the CIDR sets, for tests, benchmarks and a gauge: the WebAssembly memory of their instance,
 * the bytes of it the live sets occupy, how many sets are live, and the input records kept in JavaScript
 * to rebuild them after a trap.
 */
export function cidrMemoryStats(): { memoryBytes: number; liveBytes: number; liveSets: number; retainedBytes: number } {
  return { memoryBytes: u8.length, liveBytes: top - arenaStart - holes, liveSets: live.size, retainedBytes: retained };
}

/** Test hooks. */
export const cidrTestHooks = {
  /** Lowers the slack above which memory is given back (default 32 MiB), so tests need no huge sets. */
  setShrinkSlack(bytes: number): void {
    shrinkSlack = bytes;
  },
  /** Makes the next lookup (of any set) trap inside the module, to prove it is survived. */
  trapOnNextLookup(): void {
    const trap = (): number => {
      lookup4 = ex.cidrLookup4;
      lookup6 = ex.cidrLookup6;
      ex.debugTrap();
      return -1;
    };
    lookup4 = trap;
    lookup6 = trap;
  },
};

// ---------------------------------------------------------------------------------------------------
// Input records

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function badCidr(i: number, why: string): CidrSetError {
  return new CidrSetError("BAD_CIDR", `CIDR #${i}: ${why}`);
}

/**
 * Encodes the ranges in the module's input format (wasm/assembly/cidr-set.ts): IPv4 as u64
 * (address << 8 | length), IPv6 as (u64 high, u64 low, u32 length, u32 0), little-endian as WASM reads.
 * An IPv4-mapped IPv6 range of /96 or longer is the IPv4 range it covers (docs/addresses.md); host bits
 * are cleared by the module.
 */
function encode(cidrs: readonly Cidr[]): { records: Uint8Array; n4: number; n6: number } {
  let n4 = 0;
  const kind = new Uint8Array(cidrs.length); // 4 or 6
  for (let i = 0; i < cidrs.length; i++) {
    const c = cidrs[i]!;
    const len = c.prefixLen;
    const bytes = c.bytes;
    if (!(bytes instanceof Uint8Array) || (bytes.length !== 4 && bytes.length !== 16)) throw badCidr(i, "an address has 4 or 16 bytes");
    if (!Number.isInteger(len) || len < 0 || len > bytes.length * 8) throw badCidr(i, `prefix length ${len} is not 0-${bytes.length * 8}`);
    const v4 = bytes.length === 4 || (isMapped(bytes) && len >= 96);
    kind[i] = v4 ? 4 : 6;
    if (v4) n4++;
  }
  const n6 = cidrs.length - n4;
  const records = new Uint8Array(n4 * 8 + n6 * 24);
  const view = new DataView(records.buffer);
  let p4 = 0;
  let p6 = n4 * 8;
  for (let i = 0; i < cidrs.length; i++) {
    const { bytes: b, prefixLen } = cidrs[i]!;
    if (kind[i] === 4) {
      const o = b.length === 4 ? 0 : 12;
      const len = b.length === 4 ? prefixLen : prefixLen - 96;
      // (address << 8 | len) as u64: low word = low 24 address bits << 8 | len, high word = top 8 bits.
      view.setUint32(p4, ((b[o + 1]! << 24) | (b[o + 2]! << 16) | (b[o + 3]! << 8) | len) >>> 0, true);
      view.setUint32(p4 + 4, b[o]!, true);
      p4 += 8;
    } else {
      for (let w = 0; w < 4; w++) {
        const word = ((b[4 * w]! << 24) | (b[4 * w + 1]! << 16) | (b[4 * w + 2]! << 8) | b[4 * w + 3]!) >>> 0;
        // Word w of the big-endian address: words 0,1 form the high u64, 2,3 the low; high word second (LE).
        view.setUint32(p6 + (w >> 1) * 8 + ((w & 1) === 0 ? 4 : 0), word, true);
      }
      view.setUint32(p6 + 16, prefixLen, true);
      p6 += 24;
    }
  }
  return { records, n4, n6 };
}

// ---------------------------------------------------------------------------------------------------
// The set

/**
 * An immutable set of CIDR ranges in WebAssembly memory. Build at config time (O(n log n): 0.3-1.4 s for
 * 1,000,000 prefixes, see docs/cidr.md), look up per connection or request (a single call into WASM). Call
 * dispose() when the configuration holding it is dropped; a set that is simply forgotten is released
 * when it is garbage-collected.
 */
export class WasmCidrSet implements CidrMatcher {
  /** Number of ranges the set was built from (duplicates included). */
  readonly size: number;
  private readonly block: Block;

  constructor(cidrs: readonly Cidr[]) {
    const { records, n4, n6 } = encode(cidrs);
    this.size = cidrs.length;
    this.block = { base: -1, bytes: 0, records, n4, n6, dead: "DISPOSED" };
    try {
      place(this.block);
    } catch (err) {
      if (err instanceof CidrSetError) throw err;
      recoverFromTrap();
      throw new CidrSetError("INTERNAL", "building a CIDR set failed inside WebAssembly (trap); the module was restarted");
    }
    finalizer.register(this, this.block, this.block);
  }

  /**
   * The length of the longest range containing `ip` (4 or 16 bytes), or -1 if none does. A 16-byte
   * IPv4-mapped address is looked up as IPv4. Any other length: -1.
   */
  longestMatch(ip: IpBytes): number {
    const base = this.block.base;
    if (base < 0) throw this.unusable();
    try {
      if (ip.length === 4) return lookup4(base, (ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!);
      if (ip.length === 16) {
        return lookup6(
          base,
          (ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!,
          (ip[4]! << 24) | (ip[5]! << 16) | (ip[6]! << 8) | ip[7]!,
          (ip[8]! << 24) | (ip[9]! << 16) | (ip[10]! << 8) | ip[11]!,
          (ip[12]! << 24) | (ip[13]! << 16) | (ip[14]! << 8) | ip[15]!,
        );
      }
      return -1;
    } catch {
      recoverFromTrap();
      throw new CidrSetError("INTERNAL", "a CIDR lookup failed inside WebAssembly (trap); the module was restarted and the sets rebuilt");
    }
  }

  /** True when one of the ranges contains `ip` (bytes as parseIp returns them). */
  containsBytes(ip: IpBytes): boolean {
    return this.longestMatch(ip) >= 0;
  }

  /** True when one of the ranges contains the address written as `ipText`; unparsable text is false. */
  contains(ipText: string): boolean {
    const ip = parseIp(ipText);
    return ip !== null && this.longestMatch(ip) >= 0;
  }

  /** Bytes of WebAssembly memory the set occupies. */
  get memoryBytes(): number {
    return this.block.base < 0 ? 0 : this.block.bytes;
  }

  /** Frees the set's memory now. Lookups afterwards throw CidrSetError DISPOSED. Idempotent. */
  dispose(): void {
    finalizer.unregister(this.block);
    release(this.block);
  }

  private unusable(): CidrSetError {
    return this.block.dead === "INTERNAL"
      ? new CidrSetError("INTERNAL", "this CIDR set could not be rebuilt after a WebAssembly trap")
      : new CidrSetError("DISPOSED", "this CIDR set was disposed");
  }
}
