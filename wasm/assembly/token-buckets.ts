// Per-client token buckets: a fixed-size, 8-way set-associative table of GCRA cells, one table per
// instance (wasm/buckets.ts gives every per-client limiter its own instance of tollgate.wasm).
//
// The bucket is Envoy's continuous token bucket (AtomicTokenBucketImpl, lazily refilled on access: tokens
// grow by fill_rate = tokens_per_fill / fill_interval per unit of time, capped at max_tokens), stored the
// way folly's TokenBucket and the GCRA store it: as ONE number per client, the time at which the bucket
// will be full again ("fullAt"), measured in token units (1 unit = the time one token takes to refill).
//   tokens(now) = max - max(0, fullAt - now)       taking a token: fullAt = max(fullAt, now) + 1
// Why this shape:
//   - a cell is 16 key bytes + one f64 = 24 bytes, so one million clients take 24 MB;
//   - a bucket that has refilled to max (fullAt <= now) carries no state at all: its cell is free and is
//     reused by the next new client without any sweep, and zeroed memory (fullAt = 0) is all-free;
//   - time in token units makes "take a token" an exact +1.0 (no rounding drift across many takes).
//
// Placement: key hash -> one group of 8 cells (192 bytes). A lookup reads at most those 8 cells. A new
// client takes a free cell of its group; when all 8 hold live buckets, the cell closest to full (smallest
// fullAt) is evicted: it is the bucket whose loss forgives the fewest tokens, and a drained (noisy) client
// is evicted last, so churn from many new identities cannot reset the buckets of clients being limited.
// Memory is fixed at init: whatever the number of distinct clients, nothing grows.
//
// The hash is murmur3's mixing with a per-table random seed chosen by the host, so a client cannot pick
// addresses that pile into one group to evict someone else's bucket.

const CELL_BYTES: usize = 24;
const WAYS: usize = 8;
const GROUP_BYTES: usize = CELL_BYTES * WAYS;
const K0: usize = 0;
const K1: usize = 4;
const K2: usize = 8;
const K3: usize = 12;
const FULL_AT: usize = 16;

let table: usize = 0;
let groups: u64 = 0;
let seed: u32 = 0;
let maxTokens: f64 = 0;
let tokensPerFill: f64 = 1;
let fillIntervalMs: f64 = 1000;
// Allowed iff the debt after taking a token stays within the burst. The tiny slack absorbs the rounding
// of now (ms) -> token units, so that a token that has exactly refilled is never refused.
let burstLimit: f64 = 0;
let evictions: f64 = 0;

/**
 * Allocates the table (`groupCount` groups of 8 cells, zeroed = all free) and sets the bucket shape.
 * Returns the number of cells, or 0 when memory cannot grow that far. Called once per instance.
 */
export function bucketsInit(groupCount: i32, max: f64, perFill: f64, intervalMs: f64, hashSeed: u32): i32 {
  if (table != 0 || groupCount <= 0) return 0;
  const bytes = <usize>groupCount * GROUP_BYTES;
  const before = <usize>memory.size() << 16;
  // The stub runtime's bump allocator grows memory as needed. Pages added by memory.grow are zero by
  // definition and are only committed by the OS when first touched, so only the part of the table that
  // lies in memory the module had before is cleared: a big table costs nothing until clients arrive.
  table = heap.alloc(bytes + 64);
  table = (table + 63) & ~<usize>63;
  if (table < before) memory.fill(table, 0, min<usize>(bytes, before - table));
  groups = <u64>groupCount;
  seed = hashSeed;
  maxTokens = max;
  tokensPerFill = perFill;
  fillIntervalMs = intervalMs;
  burstLimit = max - 1 + 1e-9;
  evictions = 0;
  return groupCount * <i32>WAYS;
}

@inline function mix(h: u32, k: u32): u32 {
  k *= 0xcc9e2d51;
  k = rotl<u32>(k, 15);
  k *= 0x1b873593;
  h ^= k;
  h = rotl<u32>(h, 13);
  return h * 5 + 0xe6546b64;
}

@inline function groupOf(k0: u32, k1: u32, k2: u32, k3: u32): usize {
  let h = mix(mix(mix(mix(seed, k0), k1), k2), k3);
  h ^= 16;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  // Lemire's multiply-shift maps the hash onto [0, groups) without a modulo or a power-of-two size.
  return table + <usize>((<u64>h * groups) >> 32) * GROUP_BYTES;
}

@inline function nowUnits(nowMs: f64): f64 {
  // Multiply first: for whole milliseconds and whole token counts the product is exact, so a time that
  // is an exact multiple of the refill interval maps to an exact whole number of units.
  return (nowMs * tokensPerFill) / fillIntervalMs;
}

/** The cell holding this key, or a cell to (re)use for it: free first, else the live one closest to full. */
@inline function findCell(k0: u32, k1: u32, k2: u32, k3: u32, now: f64): usize {
  const g = groupOf(k0, k1, k2, k3);
  let free: usize = 0;
  let victim: usize = g;
  let victimFullAt: f64 = Infinity;
  for (let c = g, end = g + GROUP_BYTES; c < end; c += CELL_BYTES) {
    if (load<u32>(c, K0) == k0 && load<u32>(c, K1) == k1 && load<u32>(c, K2) == k2 && load<u32>(c, K3) == k3) {
      return c;
    }
    const fullAt = load<f64>(c, FULL_AT);
    if (fullAt <= now) {
      if (free == 0) free = c;
    } else if (fullAt < victimFullAt) {
      victimFullAt = fullAt;
      victim = c;
    }
  }
  let cell = free;
  if (cell == 0) {
    cell = victim;
    evictions += 1;
  }
  store<u32>(cell, k0, K0);
  store<u32>(cell, k1, K1);
  store<u32>(cell, k2, K2);
  store<u32>(cell, k3, K3);
  store<f64>(cell, now, FULL_AT); // a new client's bucket is full
  return cell;
}

/**
 * Takes one token from the client's bucket. Returns the tokens remaining (a whole number >= 0) when the
 * request is allowed, -1 when the bucket is empty (nothing is taken).
 */
export function bucketsTake(k0: u32, k1: u32, k2: u32, k3: u32, nowMs: f64): f64 {
  const now = nowUnits(nowMs);
  const cell = findCell(k0, k1, k2, k3, now);
  let fullAt = load<f64>(cell, FULL_AT);
  if (fullAt < now) fullAt = now;
  const debt = fullAt - now;
  if (debt > burstLimit) return -1;
  store<f64>(cell, fullAt + 1, FULL_AT);
  const remaining = Math.floor(maxTokens - debt - 1 + 1e-9);
  return remaining < 0 ? 0 : remaining;
}

/** The client's tokens now (whole number), without taking one or storing anything. */
export function bucketsPeek(k0: u32, k1: u32, k2: u32, k3: u32, nowMs: f64): f64 {
  const now = nowUnits(nowMs);
  const g = groupOf(k0, k1, k2, k3);
  for (let c = g, end = g + GROUP_BYTES; c < end; c += CELL_BYTES) {
    if (load<u32>(c, K0) == k0 && load<u32>(c, K1) == k1 && load<u32>(c, K2) == k2 && load<u32>(c, K3) == k3) {
      const debt = load<f64>(c, FULL_AT) - now;
      return debt <= 0 ? maxTokens : Math.floor(maxTokens - debt + 1e-9);
    }
  }
  return maxTokens;
}

/** Cells holding a bucket that has not refilled to max yet (a full scan: for tests, benchmarks, admin). */
export function bucketsLive(nowMs: f64): i32 {
  const now = nowUnits(nowMs);
  let n = 0;
  const end = table + <usize>groups * GROUP_BYTES;
  for (let c = table; c < end; c += CELL_BYTES) if (load<f64>(c, FULL_AT) > now) n++;
  return n;
}

/** Live buckets dropped to make room for a new client since init. */
export function bucketsEvictions(): f64 {
  return evictions;
}
