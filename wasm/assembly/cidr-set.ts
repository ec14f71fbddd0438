// CIDR sets: a prefix structure per set, built once at config time, answering "longest prefix of the set
// that contains this address" (its length, or -1) with a handful of dependent loads.
//
// The structure is a poptrie (Asai & Ohara, "Poptrie: A Compressed Trie with Population Count for Fast
// and Scalable Software IP Routing Table Lookup", SIGCOMM 2015): a multibit trie with 6-bit strides whose
// nodes are compressed with two 64-bit bitmaps and popcnt, with three additions described below: leaf
// values inline in the node, a direct table for the top bits of big families, and tail nodes for lone
// deep prefixes. docs/cidr.md has the measurements behind each.
//
//   node (32 bytes,  vector  u64   bit i set: slot i (the next 6 address bits == i) continues in a child node
//   32-aligned)      leafvec u64   bit i set: slot i is a leaf slot and starts a new run of equal leaf values
//                    leafOff u32   block-relative offset of this node's leaf values (u8 each)
//                    childOff u32  block-relative offset of this node's children, contiguous, in slot order
//                    inline  8 B   the leaf values themselves when there are at most 8 runs (leafOff points here;
//                                  a node without children has no use for childOff, and holds up to 12)
//   leaf value (u8)  1 + the length of the longest prefix covering the slot (prefixes are "leaf-pushed": a
//                    slot inherits the value of the longest shorter prefix above it), 0 = no prefix
//
// A child's index is popcnt(vector & bits 0..slot), a leaf's popcnt(leafvec & bits 0..slot): runs of
// equal leaves collapse to one byte. Most nodes have few runs, and keeping them inside the node's own
// half cache line saves the lookup its last dependent cache miss (on this class of machine a miss into a
// structure of tens of MB costs ~100 ns, which is the whole budget); the lookup code is the same either way.
//
// Direct table: a family with at least DIRECT_MIN_18 prefixes starts with a table of 2^18 u32 entries
// (1 MiB) indexed by the top 18 address bits, as in the paper's "Poptrie18": an entry is either a leaf
// value or (top bit set) the offset of the node for bits 18-23. It replaces the three top levels, which
// in a big set are shared by everything anyway, by one load, and puts an IPv4 /24 two dependent loads
// away (table entry, then the node at 18 with its inline leaf). From DIRECT_MIN_12 prefixes a 2^12-entry
// table (16 KiB) replaces the two top levels the same way. Smaller families start at a root node.
//
// Tail node: a subtree holding a single prefix that would need two or more further levels (a lone IPv6
// /48 or /128 below a shared top, a lone IPv4 /32) is one node whose word at offset 16 has TAIL_FLAG set:
//                    vector  u64   0 (so the walk stops here)
//                    hi      u64   the prefix's remaining bits, aligned as the walk's shift register will be
//                    word    u32   TAIL_FLAG | bit count << 16 | answer if they match << 8 | answer if not
//                    lo      u64   the low half of the remaining bits (IPv6), unaligned at offset 20
// This path compression keeps random IPv6 prefixes from costing a chain of near-empty nodes each.
//
// A set is one contiguous, position-independent block (every offset inside it is relative to its start),
// so the host can move blocks (compaction) with a memmove. Layout of a block:
//   0   u32  offset of the IPv4 root (a node, or the direct table when it has one)
//   4   u32  offset of the IPv6 root (likewise)
//   8   u32  block size in bytes
//   12  u32  direct-table bits: IPv4 in bits 0-7, IPv6 in bits 8-15 (0: the root is a node)
//   16  ...  nodes, leaf runs and direct tables, in build order. Offsets are aligned relative to the block
//            start (nodes to 32); the host places blocks on 64-byte boundaries so they hold in memory too.
//
// Memory of the CIDR instance (the host, wasm/cidr.ts, owns the placement of blocks):
//   [arena start .. top)   live blocks, packed by the host (compaction on reload)
//   [top ..)               during a build only: the input records, then the new block, which is then
//                          moved down to its final place; nothing survives a build except that block.
//
// Input records (written by the host at `recs`, masked and sorted here in place):
//   IPv4: n4 x u64   (address << 8) | prefix length, the address as a big-endian number
//   IPv6: n6 x 24 B  u64 high 64 bits, u64 low 64 bits (big-endian numbers), u32 prefix length, u32 0

const NODE_BYTES: usize = 32;
const NODE_ALIGN: usize = 32;
const N_VECTOR: usize = 0;
const N_LEAFVEC: usize = 8;
const N_LEAF_OFF: usize = 16;
const N_CHILD_OFF: usize = 20;
const N_INLINE: usize = 24;
const INLINE_LEAVES: i32 = 8;
const INLINE_LEAVES_CHILDLESS: i32 = 12; // from N_CHILD_OFF on

// Tail node fields (see above).
const T_HI: usize = 8;
const T_WORD: usize = 16;
const T_LO: usize = 20;
const TAIL_FLAG: u32 = 0x80000000;

const B_V4_ROOT: usize = 0;
const B_V6_ROOT: usize = 4;
const B_SIZE: usize = 8;
const B_DIRECT: usize = 12;
const BLOCK_HEADER: usize = 16;

/** Family sizes from which a direct table of 2^18 (1 MiB) or 2^12 (16 KiB) entries pays for itself. */
const DIRECT_MIN_18: i32 = 32768;
const DIRECT_MIN_12: i32 = 1024;
/** Direct-table entry bit: the rest is a node offset, not a leaf value. */
const DIRECT_NODE: u32 = 0x80000000;

const V4_RECORD: usize = 8;
const V6_RECORD: usize = 24;

/** Deepest level of a build: IPv6 strides start at 0, 6, ..., 126 (22 levels). */
const MAX_DEPTH: i32 = 22;
/** Per-level scratch: the 64 slot values, and each internal slot's [start, end) record range. */
const SLOT_VALUES: usize = memory.data(<i32>MAX_DEPTH * 64, 8);
const SLOT_RANGES: usize = memory.data(<i32>MAX_DEPTH * 64 * 8, 8);
/** The pivot record of the sort (copied out, because partitioning moves records). */
const PIVOT: usize = memory.data(24, 8);
/** The leaf runs of the node being written, before it is known whether they fit inline. */
const RUNS: usize = memory.data(64, 8);

// Build state (one build at a time; nothing is kept between calls).
let gRecs: usize = 0; // first record of the family being sorted/built
let gV6: bool = false; // which record format
let gStride: usize = V4_RECORD;
let gBlock: usize = 0; // start of the block being written
let gOut: usize = 0; // write cursor
let gFailed: bool = false; // memory.grow refused

let arenaStart: usize = 0;

/**
 * First byte the host may use for blocks. Reserved once through the runtime's allocator, so nothing the
 * module allocated at start-up (static data, the stub heap) overlaps; after this, the CIDR instance
 * allocates only through the host's placement.
 */
export function cidrArenaStart(): usize {
  if (arenaStart == 0) arenaStart = (heap.alloc(16) + 4095) & ~<usize>4095;
  return arenaStart;
}

/** Grows memory so that [0, end) is addressable. Returns false when the engine refuses. */
export function cidrEnsure(end: usize): bool {
  const have = <usize>memory.size() << 16;
  if (end <= have) return true;
  const need = <i32>((end - have + 0xffff) >>> 16);
  // At least 1 MiB per step: a big build grows memory in few steps, a small one wastes little.
  if (memory.grow(max<i32>(need, 16)) >= 0) return true;
  return memory.grow(need) >= 0;
}

// ---------------------------------------------------------------------------------------------------
// Lookups

/**
 * The trie walk shared by both families. (hi, lo) is the address as a 128-bit shift register whose top 6
 * bits are the current slot: each level shifts it left by 6, so no per-level offset arithmetic or
 * branch on the family is needed. IPv4 enters as (addr << 32, 0); the zero bits below an IPv4 address's
 * 32 are consistent with how the build expands /31 and /32 at the last stride (offset 30).
 */
@inline function walk(base: usize, node: usize, hi: u64, lo: u64): i32 {
  let v = hi >> 58;
  let vector = load<u64>(node, N_VECTOR);
  while ((vector >> v) & 1) {
    // Children are stored in slot order: this child is the popcnt(vector & bits 0..v)-th.
    const rank = popcnt<u64>(vector & ((<u64>2 << v) - 1)); // v == 63: 2 << 63 == 0, 0 - 1 = all ones
    node = base + <usize>load<u32>(node, N_CHILD_OFF) + (<usize>(rank - 1)) * NODE_BYTES;
    hi = (hi << 6) | (lo >> 58);
    lo <<= 6;
    v = hi >> 58;
    vector = load<u64>(node, N_VECTOR);
  }
  const leafOff = load<u32>(node, N_LEAF_OFF);
  if (leafOff & TAIL_FLAG) return tail(node, leafOff, hi, lo);
  const run = popcnt<u64>(load<u64>(node, N_LEAFVEC) & ((<u64>2 << v) - 1));
  return <i32>load<u8>(base + <usize>leafOff + <usize>(run - 1)) - 1;
}

/** A tail node's answer: does the register start with the node's remaining prefix bits? */
@inline function tail(node: usize, word: u32, hi: u64, lo: u64): i32 {
  const bits = <u64>((word >> 16) & 0xff); // 7..128
  let match: bool;
  if (bits <= 64) match = (hi ^ load<u64>(node, T_HI)) >> (64 - bits) == 0; // bits == 64: shift 0
  else match = hi == load<u64>(node, T_HI) && (lo ^ load<u64>(node, T_LO)) >> (128 - bits) == 0;
  return <i32>((match ? word >> 8 : word) & 0xff) - 1;
}

/** Longest prefix length of the set at `base` containing the IPv4 address `addr` (big-endian number), or -1. */
export function cidrLookup4(base: usize, addr: u32): i32 {
  const root = base + <usize>load<u32>(base, B_V4_ROOT);
  const hi = <u64>addr << 32;
  const bits = load<u32>(base, B_DIRECT) & 0xff;
  if (bits) {
    const e = load<u32>(root + (<usize>(addr >> (32 - bits)) << 2));
    if (!(e & DIRECT_NODE)) return <i32>e - 1;
    return walk(base, base + <usize>(e & ~DIRECT_NODE), hi << <u64>bits, 0);
  }
  return walk(base, root, hi, 0);
}

/**
 * Same for an IPv6 address given as four big-endian 32-bit words. An IPv4-mapped address (::ffff:a.b.c.d)
 * is looked up as IPv4, so the policy of docs/addresses.md holds even for a caller that did not
 * normalise; it costs one compare for the common case.
 */
export function cidrLookup6(base: usize, w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  if ((w0 | w1) == 0 && w2 == 0xffff) return cidrLookup4(base, w3);
  const hi = (<u64>w0 << 32) | <u64>w1;
  const lo = (<u64>w2 << 32) | <u64>w3;
  const root = base + <usize>load<u32>(base, B_V6_ROOT);
  const bits = (load<u32>(base, B_DIRECT) >> 8) & 0xff;
  if (bits) {
    const e = load<u32>(root + (<usize>(w0 >> (32 - bits)) << 2));
    if (!(e & DIRECT_NODE)) return <i32>e - 1;
    const b = <u64>bits;
    return walk(base, base + <usize>(e & ~DIRECT_NODE), (hi << b) | (lo >> (64 - b)), lo << b);
  }
  return walk(base, root, hi, lo);
}

// ---------------------------------------------------------------------------------------------------
// Records

@inline function rec(i: i32): usize {
  return gRecs + <usize>i * gStride;
}

@inline function recLen(i: i32): i32 {
  const p = rec(i);
  return gV6 ? load<i32>(p, 16) : <i32>(load<u64>(p) & 0xff);
}

/** High 64 bits of record i's address as a 128-bit number (IPv4 in the top 32 bits). */
@inline function recHi(i: i32): u64 {
  const p = rec(i);
  return gV6 ? load<u64>(p) : (load<u64>(p) >> 8) << 32;
}

@inline function recLo(i: i32): u64 {
  return gV6 ? load<u64>(rec(i), 8) : 0;
}

/** High 64 bits of (hi, lo) << off, 0 <= off < 128. */
@inline function shlHi(hi: u64, lo: u64, off: i32): u64 {
  if (off == 0) return hi;
  if (off < 64) return (hi << <u64>off) | (lo >> <u64>(64 - off));
  return lo << <u64>(off - 64);
}

/** The `bits` address bits of record i from bit `off` on (bits past the address are 0). */
@inline function recBits(i: i32, off: i32, bits: i32): i32 {
  return <i32>(shlHi(recHi(i), recLo(i), off) >> <u64>(64 - bits));
}

/** Clears host bits (`10.1.2.3/8` means `10.0.0.0/8`) and clamps lengths, so the build can trust both. */
function maskRecords(n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = rec(i);
    if (!gV6) {
      const k = load<u64>(p);
      const len = min<u64>(k & 0xff, 32);
      const addr = (k >> 8) & 0xffffffff;
      const mask: u64 = len == 0 ? 0 : (<u64>0xffffffff << (32 - len)) & 0xffffffff;
      store<u64>(p, ((addr & mask) << 8) | len);
    } else {
      const len = min<u32>(load<u32>(p, 16), 128);
      store<u32>(p, len, 16);
      store<u32>(p, 0, 20);
      if (len <= 64) {
        store<u64>(p, len == 0 ? 0 : load<u64>(p) & (~(<u64>0) << <u64>(64 - len)));
        store<u64>(p, 0, 8);
      } else if (len < 128) {
        store<u64>(p, load<u64>(p, 8) & (~(<u64>0) << <u64>(128 - len)), 8);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Sorting: introsort on the records, ordered by (address, prefix length). After the sort the prefixes
// inside any trie node's range are contiguous, and a prefix comes before every prefix it contains.

@inline function lessAt(a: usize, b: usize): bool {
  if (!gV6) return load<u64>(a) < load<u64>(b);
  const ah = load<u64>(a), bh = load<u64>(b);
  if (ah != bh) return ah < bh;
  const al = load<u64>(a, 8), bl = load<u64>(b, 8);
  if (al != bl) return al < bl;
  return load<u32>(a, 16) < load<u32>(b, 16);
}

@inline function swapAt(a: usize, b: usize): void {
  const x = load<u64>(a);
  store<u64>(a, load<u64>(b));
  store<u64>(b, x);
  if (gV6) {
    const y = load<u64>(a, 8);
    store<u64>(a, load<u64>(b, 8), 8);
    store<u64>(b, y, 8);
    const z = load<u64>(a, 16);
    store<u64>(a, load<u64>(b, 16), 16);
    store<u64>(b, z, 16);
  }
}

function insertionSort(lo: i32, hi: i32): void {
  for (let i = lo + 1; i <= hi; i++) {
    for (let j = i; j > lo && lessAt(rec(j), rec(j - 1)); j--) swapAt(rec(j), rec(j - 1));
  }
}

function siftDown(lo: i32, root: i32, n: i32): void {
  while (true) {
    let child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && lessAt(rec(lo + child), rec(lo + child + 1))) child++;
    if (!lessAt(rec(lo + root), rec(lo + child))) return;
    swapAt(rec(lo + root), rec(lo + child));
    root = child;
  }
}

/** The fallback that keeps the sort O(n log n) on inputs that defeat median-of-three. */
function heapSort(lo: i32, hi: i32): void {
  const n = hi - lo + 1;
  for (let i = n / 2 - 1; i >= 0; i--) siftDown(lo, i, n);
  for (let end = n - 1; end > 0; end--) {
    swapAt(rec(lo), rec(lo + end));
    siftDown(lo, 0, end);
  }
}

function introSort(lo: i32, hi: i32, depth: i32): void {
  while (hi - lo > 16) {
    if (depth == 0) {
      heapSort(lo, hi);
      return;
    }
    depth--;
    const mid = lo + ((hi - lo) >> 1);
    if (lessAt(rec(mid), rec(lo))) swapAt(rec(mid), rec(lo));
    if (lessAt(rec(hi), rec(lo))) swapAt(rec(hi), rec(lo));
    if (lessAt(rec(hi), rec(mid))) swapAt(rec(hi), rec(mid));
    memory.copy(PIVOT, rec(mid), gStride);
    // Hoare partition: equal keys split evenly, so duplicate prefixes cost nothing special.
    let i = lo - 1;
    let j = hi + 1;
    while (true) {
      do i++; while (lessAt(rec(i), PIVOT));
      do j--; while (lessAt(PIVOT, rec(j)));
      if (i >= j) break;
      swapAt(rec(i), rec(j));
    }
    // Recurse into the smaller side, loop on the larger: stack depth stays O(log n).
    if (j - lo < hi - j) {
      introSort(lo, j, depth);
      lo = j + 1;
    } else {
      introSort(j + 1, hi, depth);
      hi = j;
    }
  }
  insertionSort(lo, hi);
}

function sortRecords(n: i32): void {
  if (n < 2) return;
  introSort(0, n - 1, 2 * (32 - clz<i32>(n)));
}

// ---------------------------------------------------------------------------------------------------
// Build

/** Claims `bytes` at the write cursor, aligned to `align` (a power of two); sets gFailed if memory cannot grow. */
function reserve(bytes: usize, align: usize): usize {
  const at = (gOut + align - 1) & ~(align - 1);
  if (!cidrEnsure(at + bytes)) {
    gFailed = true;
    return 0;
  }
  gOut = at + bytes;
  return at;
}

/** Writes `node` (at address bit `off`) as a tail node for the single record i, which goes deeper than off + 6. */
function buildTail(node: usize, off: i32, i: i32, def: u8): void {
  const hi = recHi(i);
  const lo = recLo(i);
  const len = recLen(i);
  store<u64>(node, 0, N_VECTOR);
  store<u64>(node, shlHi(hi, lo, off), T_HI);
  store<u32>(node, TAIL_FLAG | (<u32>(len - off) << 16) | (<u32>(len + 1) << 8) | <u32>def, T_WORD);
  store<u64>(node, off < 64 ? lo << <u64>off : 0, T_LO);
  store<u32>(node, 0, T_LO + 8);
}

/** A subtree for records [a, b) at bit `off`: a tail node when it is one prefix two or more levels down. */
function buildSubtree(node: usize, off: i32, a: i32, b: i32, def: u8): void {
  if (b - a == 1 && recLen(a) > off + 6) buildTail(node, off, a, def);
  else buildNode(node, off, a, b, def);
}

/**
 * Fills the node at `node` for the address bits [off, off + 6) from the sorted records [a, b), all of
 * which lie under this node, with `def` the leaf value inherited from the prefixes above. Records whose
 * prefix ends within this stride are expanded into slot values (in sorted order, so a longer prefix
 * written later overrides the shorter one containing it); the others group by slot into children.
 */
function buildNode(node: usize, off: i32, a: i32, b: i32, def: u8): void {
  const level = <usize>(off / 6);
  const vals = SLOT_VALUES + level * 64;
  const ranges = SLOT_RANGES + level * 64 * 8;
  memory.fill(vals, def, 64);
  let vector: u64 = 0;
  const end = off + 6;
  let i = a;
  while (i < b) {
    const len = recLen(i);
    const s = recBits(i, off, 6);
    if (len <= end) {
      // A prefix ending in this stride covers 2^(end - len) slots from its own (aligned) slot.
      memory.fill(vals + <usize>s, <u8>(len + 1), <usize>1 << <usize>(end - len));
      i++;
    } else {
      // Every record of slot s from here on is longer than the stride: the ones ending in it sort first
      // (same address, shorter length) and were consumed above. They form the child's range.
      let j = i + 1;
      while (j < b && recBits(j, off, 6) == s) j++;
      store<i32>(ranges + (<usize>s << 3), i);
      store<i32>(ranges + (<usize>s << 3), j, 4);
      vector |= <u64>1 << <u64>s;
      i = j;
    }
  }
  // Leaf runs: one byte per change of value among the leaf slots, in slot order; inside the node when
  // they fit, else just after the last thing written.
  let leafvec: u64 = 0;
  let runs = 0;
  let prev: i32 = -1;
  for (let s = 0; s < 64; s++) {
    if ((vector >> <u64>s) & 1) continue;
    const v = <i32>load<u8>(vals + <usize>s);
    if (v != prev) {
      store<u8>(RUNS + <usize>runs, <u8>v);
      runs++;
      leafvec |= <u64>1 << <u64>s;
      prev = v;
    }
  }
  store<u64>(node, 0, N_INLINE);
  store<u32>(node, 0, N_CHILD_OFF);
  let leaves = node + N_INLINE;
  if (vector == 0 && runs > INLINE_LEAVES) leaves = node + N_CHILD_OFF; // childOff is free: 12 bytes
  if (runs > (vector == 0 ? INLINE_LEAVES_CHILDLESS : INLINE_LEAVES)) {
    leaves = reserve(<usize>runs, 1);
    if (gFailed) return;
  }
  memory.copy(leaves, RUNS, <usize>runs);
  const childStart = vector != 0 ? reserve(<usize>popcnt<u64>(vector) * NODE_BYTES, NODE_ALIGN) : 0;
  if (gFailed) return;
  store<u64>(node, vector, N_VECTOR);
  store<u64>(node, leafvec, N_LEAFVEC);
  store<u32>(node, <u32>(leaves - gBlock), N_LEAF_OFF);
  if (vector != 0) store<u32>(node, <u32>(childStart - gBlock), N_CHILD_OFF);
  let k: usize = 0;
  for (let s = 0; s < 64; s++) {
    if (!((vector >> <u64>s) & 1)) continue;
    const r = ranges + (<usize>s << 3);
    buildSubtree(childStart + k * NODE_BYTES, end, load<i32>(r), load<i32>(r, 4), load<u8>(vals + <usize>s));
    if (gFailed) return;
    k++;
  }
}

/**
 * The direct table for records [0, n): entry e covers the addresses whose top `bits` bits are e.
 * Same sweep as buildNode, with one difference: a slot's subtree is built as soon as its records are
 * seen (every shorter prefix covering the slot sorts before them, so its inherited value is final) and
 * gets a node of its own, since table entries hold offsets, not ranks.
 */
function buildDirect(table: usize, n: i32, bits: i32): void {
  memory.fill(table, 0, <usize>4 << <usize>bits);
  let i = 0;
  while (i < n) {
    const len = recLen(i);
    const s = recBits(i, 0, bits);
    if (len <= bits) {
      const value = <u32>(len + 1);
      const from = table + (<usize>s << 2);
      const to = from + (<usize>4 << <usize>(bits - len));
      for (let p = from; p < to; p += 4) store<u32>(p, value);
      i++;
    } else {
      let j = i + 1;
      while (j < n && recBits(j, 0, bits) == s) j++;
      const def = <u8>load<u32>(table + (<usize>s << 2));
      const node = reserve(NODE_BYTES, NODE_ALIGN);
      if (gFailed) return;
      buildSubtree(node, bits, i, j, def);
      if (gFailed) return;
      store<u32>(table + (<usize>s << 2), DIRECT_NODE | <u32>(node - gBlock));
      i = j;
    }
  }
}

/** Masks, sorts and builds one family's records; returns its root's block offset and records its table bits. */
function buildFamily(recs: usize, n: i32, v6: bool): u32 {
  gRecs = recs;
  gV6 = v6;
  gStride = v6 ? V6_RECORD : V4_RECORD;
  maskRecords(n);
  sortRecords(n);
  const bits = n >= DIRECT_MIN_18 ? 18 : n >= DIRECT_MIN_12 ? 12 : 0; // multiples of 6: strides stay aligned
  if (bits) {
    const table = reserve(<usize>4 << <usize>bits, 64);
    if (gFailed) return 0;
    buildDirect(table, n, bits);
    store<u32>(gBlock, load<u32>(gBlock, B_DIRECT) | (<u32>bits << (v6 ? 8 : 0)), B_DIRECT);
    return <u32>(table - gBlock);
  }
  const root = reserve(NODE_BYTES, NODE_ALIGN);
  if (gFailed) return 0;
  buildSubtree(root, 0, 0, n, 0);
  return <u32>(root - gBlock);
}

/**
 * Builds the set from `n4` IPv4 records at `recs` followed by `n6` IPv6 records, and places the block at
 * `dst` (below `recs`; the records are overwritten). Returns the block size in bytes, or -1 when memory
 * cannot grow. The block is written after the records first, then moved down: its size is not known
 * until it is built.
 */
export function cidrBuild(dst: usize, recs: usize, n4: i32, n6: i32): i32 {
  gFailed = false;
  const recsEnd = recs + <usize>n4 * V4_RECORD + <usize>n6 * V6_RECORD;
  gOut = (recsEnd + 7) & ~<usize>7;
  gBlock = reserve(BLOCK_HEADER, 64);
  if (gFailed) return -1;
  store<u32>(gBlock, 0, B_DIRECT);
  const root4 = buildFamily(recs, n4, false);
  if (gFailed) return -1;
  const root6 = buildFamily(recs + <usize>n4 * V4_RECORD, n6, true);
  if (gFailed) return -1;
  const size = gOut - gBlock;
  store<u32>(gBlock, root4, B_V4_ROOT);
  store<u32>(gBlock, root6, B_V6_ROOT);
  store<u32>(gBlock, <u32>size, B_SIZE);
  memory.copy(dst, gBlock, size);
  return <i32>size;
}
