// The connection limiter: one token per new connection from the listener-wide bucket (token_bucket, Envoy's
// behaviour) and, with the Tollgate type, first from the client's own bucket (client_token_bucket), keyed by
// the connection's remote address after the PROXY header. A client over its own limit is refused without
// touching the shared bucket, so one noisy client cannot spend everyone's connections.
//
// share_key: configurations with the same share_key and the same buckets use one limiter (Envoy's
// SharedRateLimitSingleton: held weakly, alive while some configuration uses it), so a bucket can span
// several filter chains or listeners, and survives a hot reload that keeps the key.
import { BucketTable, LIMITED, TRAPPED } from "../../../../wasm/buckets.js";
import { ClientKeyer } from "../../common/ratelimit/client-key.js";
import type { Clock } from "../../common/ratelimit/clock.js";
import { TokenBucket } from "../../common/ratelimit/token-bucket.js";
import type { NetworkLocalRateLimitConfig } from "./config.js";

interface TrapCounter {
  inc(): void;
}

/** What allow() would decide for a connection now, without taking a token (the explain tool). */
export interface ConnectionPeek {
  readonly allowed: boolean;
  /** The client's bucket: its client group (`203.0.113.7/32`, `2001:db8:1:2::/64`) and whole tokens; null when none applies. */
  readonly client: { readonly key: string; readonly tokens: number } | null;
  /** Whole tokens in the listener-wide bucket; null without token_bucket, or when the client bucket limits first. */
  readonly global: number | null;
  readonly limitedBy: "client" | "global" | null;
}

export class ConnectionLimiter {
  private readonly global: TokenBucket | null;
  readonly clients: BucketTable | null;
  private readonly keyer: ClientKeyer | null;

  constructor(
    config: NetworkLocalRateLimitConfig,
    private readonly clock: Clock,
  ) {
    this.global = config.tokenBucket === null ? null : new TokenBucket(config.tokenBucket);
    const c = config.clientTokenBucket;
    this.clients = c === null ? null : new BucketTable(c, config.maxClients);
    this.keyer = c === null ? null : new ClientKeyer(config.prefixes);
  }

  /** allow() step for step, taking nothing (a keyer of its own, so the shared one's words are untouched). */
  peek(remoteIp: string): ConnectionPeek {
    const now = this.clock.nowMs();
    const table = this.clients;
    let client: ConnectionPeek["client"] = null;
    if (table !== null) {
      const keyer = new ClientKeyer(this.keyer!.prefixes);
      if (keyer.keyOf(remoteIp)) {
        const w = keyer.words;
        client = { key: ClientKeyer.keyAddress(w, keyer.prefixes), tokens: table.peek(w[0], w[1], w[2], w[3], now) };
        if (client.tokens < 1) return { allowed: false, client, global: null, limitedBy: "client" };
      }
    }
    const g = this.global;
    if (g === null) return { allowed: true, client, global: null, limitedBy: null };
    const tokens = g.spec.maxTokens === 0 ? 0 : g.remaining(now);
    return { allowed: tokens >= 1, client, global: tokens, limitedBy: tokens >= 1 ? null : "global" };
  }

  /** True when the connection may proceed. `remoteIp` is the connection's remote address (post-PROXY). */
  allow(remoteIp: string, traps: TrapCounter): boolean {
    const now = this.clock.nowMs();
    const table = this.clients;
    if (table !== null && this.keyer!.keyOf(remoteIp)) {
      const w = this.keyer!.words;
      const r = table.take(w[0], w[1], w[2], w[3], now);
      if (r === TRAPPED) traps.inc(); // fail open: the table restarted empty
      else if (r === LIMITED) return false;
    }
    const g = this.global;
    if (g === null) return true;
    // Envoy: max_tokens 0 refuses every connection.
    return g.spec.maxTokens > 0 && g.take(now) !== LIMITED;
  }
}

const shared = new Map<string, WeakRef<ConnectionLimiter>>();
const cleanup = new FinalizationRegistry<string>((key) => {
  const ref = shared.get(key);
  if (ref !== undefined && ref.deref() === undefined) shared.delete(key);
});

/** The limiter for a configuration: shared by share_key (and identical buckets), else its own. */
export function connectionLimiterFor(config: NetworkLocalRateLimitConfig, clock: Clock): ConnectionLimiter {
  if (config.shareKey === "") return new ConnectionLimiter(config, clock);
  const key = JSON.stringify([config.shareKey, config.tokenBucket, config.clientTokenBucket, config.maxClients, config.prefixes]);
  const existing = shared.get(key)?.deref();
  if (existing !== undefined) return existing;
  const limiter = new ConnectionLimiter(config, clock);
  shared.set(key, new WeakRef(limiter));
  cleanup.register(limiter, key);
  return limiter;
}
