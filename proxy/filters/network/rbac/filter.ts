// envoy.filters.network.rbac — per-connection logic, following Envoy's RoleBasedAccessControlFilter::onData:
// shadow rules first (stats and `envoy.filters.network.rbac` dynamic metadata), then the rules. A denial records
// %CONNECTION_TERMINATION_DETAILS% = rbac_access_denied_matched_policy[<policy>|none] and closes without flushing,
// at once or after delay_deny (reading stopped meanwhile, so a retrying client is slowed, not served).
// At L4 there are no headers: a `header` rule sees none (only absence tests can match) and `url_path` never matches,
// as in Envoy, which evaluates the network engine against an empty header map.
import type { Socket } from "node:net";
import type { DownstreamConnection } from "../../../listener/connection.js";
import { ACCESS_LOG_HINT_KEY, COMMON_METADATA_NAMESPACE, DETAILS_NO_POLICY, EVALUATION_FAILED } from "../../common/rbac/engine.js";
import { RbacRequest } from "../../common/rbac/request.js";
import { logger } from "../../../observability/logger.js";
import type { NetworkFilter } from "../../types.js";
import { NETWORK_RBAC_METADATA_NAMESPACE, type NetworkRbacConfig } from "./config.js";
import type { NetworkRbacStats } from "./stats.js";

/** The timer functions delay_deny uses (tests pass a fake clock). */
export interface DenyTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: DenyTimers = {
  setTimeout(fn, ms) {
    // unref: a connection waiting to be refused must not keep the process alive at shutdown.
    return setTimeout(fn, ms).unref();
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export class NetworkRbacFilter implements NetworkFilter {
  constructor(
    private readonly config: NetworkRbacConfig,
    private readonly stats: NetworkRbacStats,
    private readonly timers: DenyTimers = realTimers,
  ) {}

  onNewConnection(conn: DownstreamConnection, socket: Socket): boolean {
    try {
      return this.decide(conn, socket);
    } catch (err) {
      // Only a trapped WebAssembly CIDR lookup throws here (wasm/cidr.ts): fail closed for this one connection.
      logger.error({ err, conn: conn.id }, "rbac: evaluation failed; closing the connection");
      conn.terminationDetails = EVALUATION_FAILED;
      socket.destroy();
      return false;
    }
  }

  private decide(conn: DownstreamConnection, socket: Socket): boolean {
    const cfg = this.config;
    const shadow = cfg.shadowRules;
    const rules = cfg.rules;
    if (shadow === null && rules === null) return true;
    const st = this.stats;
    const req = RbacRequest.forConnection(conn);

    if (shadow !== null) {
      const policy = shadow.firstMatch(req);
      const allowed = shadow.allows(policy);
      (allowed ? st.shadowAllowed : st.shadowDenied).inc();
      if (policy !== null) conn.setMetadata(NETWORK_RBAC_METADATA_NAMESPACE, cfg.shadowPolicyIdKey, policy.name);
      conn.setMetadata(NETWORK_RBAC_METADATA_NAMESPACE, cfg.shadowResultKey, allowed ? "allowed" : "denied");
    }

    if (rules === null) return true;
    const policy = rules.firstMatch(req);
    if (rules.action === "LOG") conn.setMetadata(COMMON_METADATA_NAMESPACE, ACCESS_LOG_HINT_KEY, policy !== null);
    if (rules.allows(policy)) {
      st.allowed.inc();
      return true;
    }
    st.denied.inc();
    conn.terminationDetails = policy?.details ?? DETAILS_NO_POLICY;
    if (cfg.delayDenyMs > 0) this.delayClose(socket, cfg.delayDenyMs);
    else socket.destroy();
    return false;
  }

  /** Envoy's delay_deny: stop reading, close when the delay ends (or forget it if the peer leaves first). */
  private delayClose(socket: Socket, ms: number): void {
    // Envoy's readDisable(true): nothing more is read (the listener resumed the socket before the chain started, so
    // this has the last word); the kernel buffers fill and TCP pushes the client back.
    socket.pause();
    const timer = this.timers.setTimeout(() => socket.destroy(), ms);
    socket.once("close", () => this.timers.clearTimeout(timer));
  }
}
