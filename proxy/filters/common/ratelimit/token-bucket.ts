// Envoy's TokenBucket (envoy.type.v3.TokenBucket) and its semantics, for the buckets that live in JavaScript:
// the default bucket, the per-descriptor buckets and the small per-connection ones. Per-client buckets use the
// same arithmetic in WebAssembly (wasm/assembly/token-buckets.ts); the two are tested against each other.
//
// Semantics (Envoy's AtomicTokenBucketImpl, the only implementation since the timer-based refill was removed):
// the bucket starts full; it refills continuously at tokens_per_fill / fill_interval, never above max_tokens;
// a request takes one whole token if at least one is there. So with max_tokens 10, tokens_per_fill 10 and
// fill_interval 1s, a drained bucket has its first token back after 100 ms, not after 1 s.
//
// Representation: the instant the bucket will be full again, in token units (GCRA). A take is `fullAt + 1`.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";

export interface TokenBucketSpec {
  /** 0 means every request is limited (Envoy 1.39+: "always reject"). */
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** Envoy refuses fill intervals under 50 ms ("local rate limit token bucket fill timer must be >= 50ms"). */
export const MIN_FILL_INTERVAL_MS = 50;
const UINT32_MAX = 0xffffffff;
/** Rounding slack of the ms -> token-unit conversion (the same as the WebAssembly table's). */
const EPSILON = 1e-9;

/** Read a TokenBucket message. `what` names it in Envoy's error text ("token bucket", "descriptor token bucket"). */
export function readTokenBucket(r: ConfigReader, what = "token bucket"): TokenBucketSpec {
  const maxTokens = r.int("max_tokens", { default: 0, min: 0, max: UINT32_MAX });
  const tokensPerFill = r.int("tokens_per_fill", { default: 1, min: 1, max: UINT32_MAX });
  const fillIntervalMs = r.duration("fill_interval", { required: true });
  if (!(fillIntervalMs > 0)) throw new ConfigError(r.at("fill_interval"), "must be greater than 0");
  // Envoy skips the check for an always-reject bucket (max_tokens 0), whose refill never matters.
  if (maxTokens > 0 && fillIntervalMs < MIN_FILL_INTERVAL_MS) {
    throw new ConfigError(r.at("fill_interval"), `local rate limit ${what} fill timer must be >= 50ms`);
  }
  r.done();
  return Object.freeze({ maxTokens, tokensPerFill, fillIntervalMs });
}

/** Tokens per second: the order in which matched descriptors are consumed (slowest first, as Envoy sorts). */
export function fillRatePerSecond(s: TokenBucketSpec): number {
  return (s.tokensPerFill * 1000) / s.fillIntervalMs;
}

/**
 * x-ratelimit-reset as Envoy computes it (RateLimitTokenBucket::resetSeconds): 0 while a whole token is left,
 * else the time one token takes to refill, in ms rounded up, then cut to whole seconds.
 */
export function resetSeconds(s: TokenBucketSpec, remaining: number): number {
  if (remaining >= 1) return 0;
  const msPerToken = Math.ceil((s.fillIntervalMs / s.tokensPerFill) - EPSILON);
  return Math.floor(msPerToken / 1000);
}

/** One bucket in JavaScript. Not shared between threads: Node runs a config's requests on one thread. */
export class TokenBucket {
  /** When the bucket is full again, in token units; <= now means full. */
  private fullAt = 0;

  constructor(readonly spec: TokenBucketSpec) {}

  private units(nowMs: number): number {
    return (nowMs * this.spec.tokensPerFill) / this.spec.fillIntervalMs;
  }

  /** Take a token: tokens remaining (>= 0) when allowed, -1 when empty (nothing taken). */
  take(nowMs: number): number {
    const max = this.spec.maxTokens;
    const now = this.units(nowMs);
    const fullAt = this.fullAt > now ? this.fullAt : now;
    const debt = fullAt - now;
    if (debt > max - 1 + EPSILON) return -1;
    this.fullAt = fullAt + 1;
    const remaining = Math.floor(max - debt - 1 + EPSILON);
    return remaining < 0 ? 0 : remaining;
  }

  /** Whole tokens now, taking none. */
  remaining(nowMs: number): number {
    const debt = this.fullAt - this.units(nowMs);
    return debt <= 0 ? this.spec.maxTokens : Math.max(0, Math.floor(this.spec.maxTokens - debt + EPSILON));
  }

  /** True when the bucket has refilled to max: it carries no state and may be dropped. */
  isFull(nowMs: number): boolean {
    return this.fullAt <= this.units(nowMs);
  }
}
