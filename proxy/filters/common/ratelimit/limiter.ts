// Envoy's LocalRateLimiterImpl::requestAllowed, with Tollgate's per-client tables:
//   1. every request descriptor that matches a configured descriptor (static first, then wildcards in
//      configuration order) brings its bucket;
//   2. matched buckets are taken from slowest fill rate first; the first empty one limits the request (the
//      ones before it have already given a token, as in Envoy);
//   3. the default bucket (token_bucket) is taken when nothing matched, or always with
//      always_consume_default_token_bucket (the default).
// The decision names the bucket Envoy reports in x-ratelimit-*: the limiting bucket, else the first matched
// descriptor's, else the default one.
//
// Per request this allocates only the small list of matched buckets; bucket state is a number per bucket
// (JavaScript) or a 24-byte cell in a WebAssembly table (per client).
import { BucketTable, LIMITED, TRAPPED } from "../../../../wasm/buckets.js";
import { ClientKeyer, type PrefixLengths } from "./client-key.js";
import type { Clock } from "./clock.js";
import { descriptorKey, descriptorText, matchesWildcard, type DescriptorKind, type LocalDescriptorConfig, type RequestDescriptor } from "./descriptors.js";
import { BoundedBucketMap } from "./bounded-buckets.js";
import { fillRatePerSecond, resetSeconds, TokenBucket, type TokenBucketSpec } from "./token-bucket.js";

export interface LimiterConfig {
  /** token_bucket; null when absent (then only descriptors limit). */
  readonly defaultBucket: TokenBucketSpec | null;
  readonly descriptors: readonly LocalDescriptorConfig[];
  readonly alwaysConsumeDefault: boolean;
  /** Envoy's max_dynamic_descriptors (LRU size of wildcard descriptors other than per-client ones). */
  readonly maxDynamicDescriptors: number;
  /** Tollgate: clients per per-client table. */
  readonly maxClients: number;
  /** Tollgate: how client addresses are grouped in per-client tables. */
  readonly prefixes: PrefixLengths;
}

/** What a decision reports; one object per limiter, overwritten by each decision (read it at once). */
export interface LimitDecision {
  allowed: boolean;
  /** The bucket for x-ratelimit-*: false when no bucket took part (nothing configured matched). */
  hasBucket: boolean;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/** One bucket a request would draw from, as peek() sees it (nothing taken). */
export interface BucketPeek {
  /** "default": token_bucket; otherwise the kind of the configured descriptor the bucket belongs to. */
  readonly kind: "default" | DescriptorKind;
  /** Index of that descriptor in the configuration (`descriptors[i]`); null for the default bucket. */
  readonly descriptorIndex: number | null;
  /** The request descriptor that found the bucket (`key=value, ...`); null for the default bucket. */
  readonly requestDescriptor: string | null;
  /**
   * Which bucket of the descriptor: per-client tables key by the client group (`2001:db8:1:2::/64`,
   * `203.0.113.7/32`), other wildcards by the request descriptor; null for the default and static buckets.
   */
  readonly key: string | null;
  readonly spec: TokenBucketSpec;
  /** Whole tokens in the bucket now, before this request (a bucket not created yet is full). */
  readonly tokens: number;
  /** False for the bucket that limits the request (it has no whole token left). */
  readonly takes: boolean;
}

/** What requestAllowed() would decide now, and from which buckets, without taking a token. */
export interface LimitPeek {
  readonly allowed: boolean;
  /**
   * The buckets in the order requestAllowed() takes them (matched descriptors slowest fill rate first, then the
   * default bucket when it is consumed); the list ends at the bucket that limits the request.
   */
  readonly buckets: readonly BucketPeek[];
  /** Request descriptors that matched no configured descriptor (`key=value, ...`). */
  readonly unmatched: readonly string[];
}

interface PeekMatch {
  readonly rate: number;
  readonly peek: Omit<BucketPeek, "takes">;
  /** Identity of the bucket, so that two descriptors finding the same bucket count two takes. */
  readonly id: unknown;
}

interface TrapCounter {
  inc(): void;
}

/** A matched bucket for this request. */
interface Match {
  readonly rate: number;
  readonly spec: TokenBucketSpec;
  readonly bucket: TokenBucket | null;
  readonly table: BucketTable | null;
  /**
   * The client key for `table`, copied out of the slot's shared keyer: a request may match several per-client
   * descriptors (e.g. a request_headers action keyed remote_address beside the remote_address action), and each
   * must take from its own client's bucket, not from the last one keyed.
   */
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
}

interface WildcardSlot {
  readonly config: LocalDescriptorConfig;
  readonly rate: number;
  readonly table: BucketTable | null;
  readonly keyer: ClientKeyer | null;
  readonly lru: BoundedBucketMap | null;
}

export interface LimiterOptions {
  readonly clock: Clock;
  /** false: per-client descriptors use a small LRU like other wildcards (per-connection limiters). */
  readonly clientTables: boolean;
  readonly traps?: TrapCounter;
}

export class LocalRateLimiter {
  readonly decision: LimitDecision = { allowed: true, hasBucket: false, limit: 0, remaining: 0, resetSeconds: 0 };
  private readonly defaultBucket: TokenBucket | null;
  private readonly statics = new Map<string, { bucket: TokenBucket; rate: number }>();
  private readonly wildcards: WildcardSlot[] = [];
  private readonly clock: Clock;
  private readonly traps: TrapCounter | undefined;

  constructor(
    readonly config: LimiterConfig,
    opts: LimiterOptions,
  ) {
    this.clock = opts.clock;
    this.traps = opts.traps;
    const d = config.defaultBucket;
    this.defaultBucket = d === null ? null : new TokenBucket(d);
    for (const desc of config.descriptors) {
      const rate = fillRatePerSecond(desc.tokenBucket);
      if (desc.kind === "static") {
        this.statics.set(desc.text, { bucket: new TokenBucket(desc.tokenBucket), rate });
      } else if (desc.kind === "per_client" && opts.clientTables) {
        const table = new BucketTable(desc.tokenBucket, config.maxClients);
        this.wildcards.push({ config: desc, rate, table, keyer: new ClientKeyer(config.prefixes), lru: null });
      } else {
        const lru = new BoundedBucketMap(desc.tokenBucket, config.maxDynamicDescriptors);
        this.wildcards.push({ config: desc, rate, table: null, keyer: null, lru });
      }
    }
  }

  /** The per-client tables of this limiter (tests and benchmarks inspect them). */
  clientTables(): BucketTable[] {
    const out: BucketTable[] = [];
    for (const w of this.wildcards) if (w.table !== null) out.push(w.table);
    return out;
  }

  private findBucket(d: RequestDescriptor, now: number): Match | null {
    if (this.statics.size > 0) {
      const s = this.statics.get(descriptorKey(d));
      if (s !== undefined) return { rate: s.rate, spec: s.bucket.spec, bucket: s.bucket, table: null, k0: 0, k1: 0, k2: 0, k3: 0 };
    }
    for (const w of this.wildcards) {
      if (!matchesWildcard(d, w.config)) continue;
      if (w.table !== null) {
        const keyer = w.keyer!;
        // A remote_address value that is not an IP address (cannot happen for a TCP client) matches nothing.
        if (!keyer.keyOf(d[w.config.clientEntry].value)) return null;
        const k = keyer.words;
        return { rate: w.rate, spec: w.config.tokenBucket, bucket: null, table: w.table, k0: k[0], k1: k[1], k2: k[2], k3: k[3] };
      }
      const bucket = w.lru!.get(descriptorKey(d), now);
      return { rate: w.rate, spec: w.config.tokenBucket, bucket, table: null, k0: 0, k1: 0, k2: 0, k3: 0 };
    }
    return null;
  }

  /**
   * The explain tool: which bucket each request descriptor would draw from and what requestAllowed() would decide
   * now, with no side effect (no token taken, no LRU reordering, no bucket created, the shared keyer untouched).
   * It follows findBucket() and requestAllowed() step for step; test/explain-ratelimit.test.ts checks the two agree.
   */
  peek(descriptors: readonly RequestDescriptor[]): LimitPeek {
    const now = this.clock.nowMs();
    const keyer = new ClientKeyer(this.config.prefixes);
    const matched: PeekMatch[] = [];
    const unmatched: string[] = [];
    for (const d of descriptors) {
      const m = this.peekBucket(d, now, keyer);
      if (m === null) unmatched.push(descriptorText(d));
      else matched.push(m);
    }
    // Array.prototype.sort is stable, as in requestAllowed().
    if (matched.length > 1) matched.sort((a, b) => a.rate - b.rate);
    const buckets: BucketPeek[] = [];
    const taken = new Map<unknown, number>();
    for (const m of matched) {
      const before = taken.get(m.id) ?? 0;
      const takes = m.peek.tokens - before >= 1;
      buckets.push({ ...m.peek, tokens: m.peek.tokens - before, takes });
      if (!takes) return { allowed: false, buckets, unmatched };
      taken.set(m.id, before + 1);
    }
    const def = this.defaultBucket;
    if (def !== null && (matched.length === 0 || this.config.alwaysConsumeDefault)) {
      const tokens = def.spec.maxTokens === 0 ? 0 : def.remaining(now);
      const takes = tokens >= 1;
      buckets.push({ kind: "default", descriptorIndex: null, requestDescriptor: null, key: null, spec: def.spec, tokens, takes });
      if (!takes) return { allowed: false, buckets, unmatched };
    }
    return { allowed: true, buckets, unmatched };
  }

  /** findBucket() without its side effects (the LRU's get() creates and reorders; peek() only looks). */
  private peekBucket(d: RequestDescriptor, now: number, keyer: ClientKeyer): PeekMatch | null {
    const text = descriptorText(d);
    if (this.statics.size > 0) {
      const s = this.statics.get(descriptorKey(d));
      if (s !== undefined) {
        const index = this.config.descriptors.findIndex((c) => c.kind === "static" && c.text === descriptorKey(d));
        const peek = { kind: "static" as const, descriptorIndex: index, requestDescriptor: text, key: null, spec: s.bucket.spec, tokens: s.bucket.remaining(now) };
        return { rate: s.rate, peek, id: s.bucket };
      }
    }
    for (let i = 0; i < this.wildcards.length; i++) {
      const w = this.wildcards[i];
      if (!matchesWildcard(d, w.config)) continue;
      const index = this.config.descriptors.indexOf(w.config);
      const spec = w.config.tokenBucket;
      if (w.table !== null) {
        if (!keyer.keyOf(d[w.config.clientEntry].value)) return null;
        const k = keyer.words;
        const key = ClientKeyer.keyAddress(k, this.config.prefixes);
        const tokens = w.table.peek(k[0], k[1], k[2], k[3], now);
        return { rate: w.rate, peek: { kind: w.config.kind, descriptorIndex: index, requestDescriptor: text, key, spec, tokens }, id: `${i}/${key}` };
      }
      const bucket = w.lru!.peek(descriptorKey(d));
      const tokens = bucket === undefined ? spec.maxTokens : bucket.remaining(now);
      return { rate: w.rate, peek: { kind: w.config.kind, descriptorIndex: index, requestDescriptor: text, key: text, spec, tokens }, id: `${i}/${descriptorKey(d)}` };
    }
    return null;
  }

  /** Take one token where the request's descriptors say; the answer is in `this.decision`. */
  requestAllowed(descriptors: readonly RequestDescriptor[]): LimitDecision {
    const now = this.clock.nowMs();
    const out = this.decision;
    let matched: Match[] | null = null;
    for (const d of descriptors) {
      const m = this.findBucket(d, now);
      if (m !== null) (matched ??= []).push(m);
    }
    let first: Match | null = null;
    let firstRemaining = 0;
    if (matched !== null) {
      if (matched.length > 1) matched.sort((a, b) => a.rate - b.rate);
      for (let i = 0; i < matched.length; i++) {
        const m = matched[i];
        const r = this.takeFrom(m, now);
        if (r === LIMITED) return this.report(false, m.spec, 0);
        if (i === 0) {
          first = m;
          firstRemaining = r;
        }
      }
    }
    const def = this.defaultBucket;
    if (first === null || this.config.alwaysConsumeDefault) {
      if (def !== null) {
        // Envoy: max_tokens 0 rejects every request and reports no bucket.
        if (def.spec.maxTokens === 0) {
          out.allowed = false;
          out.hasBucket = false;
          return out;
        }
        const r = def.take(now);
        if (r === LIMITED) return this.report(false, def.spec, 0);
        if (first === null) return this.report(true, def.spec, r);
      }
    }
    if (first !== null) return this.report(true, first.spec, firstRemaining);
    out.allowed = true;
    out.hasBucket = false;
    return out;
  }

  private takeFrom(m: Match, now: number): number {
    if (m.bucket !== null) return m.bucket.take(now);
    const r = m.table!.take(m.k0, m.k1, m.k2, m.k3, now);
    if (r === TRAPPED) {
      // Fail open: the table was replaced by an empty one; this request is allowed and the trap counted.
      this.traps?.inc();
      return m.spec.maxTokens;
    }
    return r;
  }

  private report(allowed: boolean, spec: TokenBucketSpec, remaining: number): LimitDecision {
    const out = this.decision;
    out.allowed = allowed;
    out.hasBucket = true;
    out.limit = spec.maxTokens;
    out.remaining = remaining;
    out.resetSeconds = resetSeconds(spec, remaining);
    return out;
  }
}
