// Envoy's DynamicDescriptor: the buckets of one wildcard descriptor, one per distinct request descriptor,
// at most `size` of them, least recently used dropped first (max_dynamic_descriptors, default 20). A dropped
// descriptor that comes back starts with a full bucket, exactly as in Envoy.
//
// A Map keeps insertion order, so "move to the front" is delete + set and the LRU victim is the first key.
// A bucket that has refilled to max carries no state: when one is found, it is dropped instead of the LRU.
import { TokenBucket, type TokenBucketSpec } from "./token-bucket.js";

export class BoundedBucketMap {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly spec: TokenBucketSpec,
    readonly size: number,
  ) {}

  get count(): number {
    return this.buckets.size;
  }

  /** The bucket for `key` if there is one, touching nothing (no LRU move, no creation): the explain tool's peek. */
  peek(key: string): TokenBucket | undefined {
    return this.buckets.get(key);
  }

  /** The bucket for `key`, created full when absent; marks it most recently used. */
  get(key: string, nowMs: number): TokenBucket {
    const m = this.buckets;
    let b = m.get(key);
    if (b !== undefined) {
      m.delete(key);
      m.set(key, b);
      return b;
    }
    if (m.size >= this.size) {
      // Make room before adding: the oldest goes, unless one of the oldest few has refilled to max.
      let victim: string | undefined;
      let scanned = 0;
      for (const [k, bucket] of m) {
        victim ??= k;
        if (bucket.isFull(nowMs)) {
          victim = k;
          break;
        }
        if (++scanned === 8) break;
      }
      m.delete(victim!);
    }
    b = new TokenBucket(this.spec);
    m.set(key, b);
    return b;
  }
}
