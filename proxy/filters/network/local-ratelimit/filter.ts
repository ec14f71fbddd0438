// envoy.filters.network.local_ratelimit — per-connection logic (Envoy's Filter::onNewConnection): each new
// connection takes a token; with none left the connection is closed at once, without a byte written,
// `local_rate_limit.<stat_prefix>.rate_limited` is counted and the termination details read
// `local_ratelimit_close_over_limit`. runtime_enabled false lets every connection through.
import type { Socket } from "node:net";
import type { DownstreamConnection } from "../../../listener/connection.js";
import { rateLimitClock } from "../../common/ratelimit/clock.js";
import type { BuildContext, NetworkFilter } from "../../types.js";
import type { NetworkLocalRateLimitConfig } from "./config.js";
import { connectionLimiterFor, type ConnectionLimiter } from "./limiter.js";
import { NetworkLocalRateLimitStats } from "./stats.js";

export const CLOSE_DETAILS = "local_ratelimit_close_over_limit";

export class NetworkLocalRateLimitFilter implements NetworkFilter {
  readonly limiter: ConnectionLimiter;
  private readonly stats: NetworkLocalRateLimitStats;

  constructor(
    private readonly config: NetworkLocalRateLimitConfig,
    ctx: BuildContext,
  ) {
    this.stats = new NetworkLocalRateLimitStats(ctx.stats, config.statPrefix);
    this.limiter = connectionLimiterFor(config, rateLimitClock());
  }

  onNewConnection(conn: DownstreamConnection, socket: Socket): boolean {
    if (!this.config.enabled) return true;
    if (this.limiter.allow(conn.remote.ip, this.stats.wasmTrap)) return true;
    this.stats.rateLimited.inc();
    conn.terminationDetails = CLOSE_DETAILS;
    socket.destroy();
    return false;
  }
}
