// envoy.filters.network.local_ratelimit — configuration, validated once at load.
//
// envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit: stat_prefix, token_bucket (required),
// runtime_enabled, share_key. tollgate.extensions.filters.network.local_ratelimit.v1.LocalRateLimit adds a
// bucket per client address: client_token_bucket, max_clients, ipv4_prefix_len, ipv6_prefix_len (token_bucket
// becomes optional when client_token_bucket is set).
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import { MAX_CLIENTS } from "../../../../wasm/buckets.js";
import type { PrefixLengths } from "../../common/ratelimit/client-key.js";
import { readRuntimeFeatureFlag } from "../../common/ratelimit/runtime-fraction.js";
import { readTokenBucket, type TokenBucketSpec } from "../../common/ratelimit/token-bucket.js";
import type { BuildContext, NetworkFilter, NetworkFilterConfig } from "../../types.js";
import { NetworkLocalRateLimitFilter } from "./filter.js";

export const ENVOY_TYPE = "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
export const TOLLGATE_TYPE = "tollgate.extensions.filters.network.local_ratelimit.v1.LocalRateLimit";
export const DEFAULT_MAX_CLIENTS = 1_000_000;

export interface NetworkLocalRateLimitConfig extends NetworkFilterConfig {
  readonly statPrefix: string;
  /** The listener-wide bucket (one token per connection); null only with a client bucket (Tollgate type). */
  readonly tokenBucket: TokenBucketSpec | null;
  /** runtime_enabled.default_value (true when absent). */
  readonly enabled: boolean;
  readonly shareKey: string;
  /** Tollgate: a bucket per client address (post-PROXY remote address). */
  readonly clientTokenBucket: TokenBucketSpec | null;
  readonly maxClients: number;
  readonly prefixes: PrefixLengths;
}

function parse(r: ConfigReader, tollgate: boolean): NetworkLocalRateLimitConfig {
  const statPrefix = r.str("stat_prefix", { required: true });
  const tb = r.obj("token_bucket");
  let clientTokenBucket: TokenBucketSpec | null = null;
  let maxClients = DEFAULT_MAX_CLIENTS;
  let ipv4 = 32;
  let ipv6 = 128;
  if (tollgate) {
    const cb = r.obj("client_token_bucket");
    clientTokenBucket = cb ? readTokenBucket(cb) : null;
    maxClients = r.int("max_clients", { default: DEFAULT_MAX_CLIENTS, min: 1, max: MAX_CLIENTS });
    ipv4 = r.int("ipv4_prefix_len", { default: 32, min: 1, max: 32 });
    ipv6 = r.int("ipv6_prefix_len", { default: 64, min: 1, max: 128 });
  }
  if (!tb && clientTokenBucket === null) {
    throw new ConfigError(r.at("token_bucket"), tollgate ? "is required unless client_token_bucket is set" : "is required");
  }
  const tokenBucket = tb ? readTokenBucket(tb) : null;
  const rf = r.obj("runtime_enabled");
  const enabled = rf ? readRuntimeFeatureFlag(rf) : true;
  const shareKey = r.str("share_key") ?? "";
  r.done();
  const config: NetworkLocalRateLimitConfig = {
    terminal: false,
    statPrefix,
    tokenBucket,
    enabled,
    shareKey,
    clientTokenBucket,
    maxClients,
    prefixes: Object.freeze({ ipv4, ipv6 }),
    build(ctx: BuildContext): NetworkFilter {
      return new NetworkLocalRateLimitFilter(config, ctx);
    },
  };
  return Object.freeze(config);
}

registerExtension<NetworkLocalRateLimitConfig>({
  category: "network_filter",
  typeUrls: [ENVOY_TYPE],
  names: ["envoy.filters.network.local_ratelimit"],
  parse: (r) => parse(r, false),
});

registerExtension<NetworkLocalRateLimitConfig>({
  category: "network_filter",
  typeUrls: [TOLLGATE_TYPE],
  names: ["tollgate.filters.network.local_ratelimit"],
  parse: (r) => parse(r, true),
});
