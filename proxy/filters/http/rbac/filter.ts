// envoy.filters.http.rbac — per-request logic, following Envoy's RoleBasedAccessControlFilter::decodeHeaders:
//   1. the settings: the route's RBACPerRoute when it has one (none inside: the filter is off), else the filter's own;
//   2. shadow rules: count shadow_allowed / shadow_denied, record `shadow_engine_result` (and the matched policy);
//   3. rules: LOG sets envoy.common/access_log_hint; allowed continues; denied answers 403 `RBAC: access denied`
//      with details rbac_access_denied_matched_policy[<policy>|none] and no response flag (Envoy sets none).
// Addresses come from the stream and connection as the connection manager and the PROXY filter left them; the
// request object only points at them (common/rbac/request.ts).
import { ACCESS_LOG_HINT_KEY, COMMON_METADATA_NAMESPACE, DETAILS_NO_POLICY, EVALUATION_FAILED } from "../../common/rbac/engine.js";
import { RbacRequest } from "../../common/rbac/request.js";
import { logger } from "../../../observability/logger.js";
import type { HttpStream } from "../../network/http-connection-manager/stream.js";
import { perFilterKey } from "../../network/http-connection-manager/route-config.js";
import type { HttpFilter, HttpFilterStatus } from "../../types.js";
import { HTTP_RBAC_METADATA_NAMESPACE, isRbacPerRoute, type HttpRbacConfig, type HttpRbacSettings } from "./config.js";
import type { HttpRbacStats } from "./stats.js";

export const DENIED_STATUS = 403;
export const DENIED_BODY = "RBAC: access denied";


export class HttpRbacFilter implements HttpFilter {
  constructor(
    private readonly config: HttpRbacConfig,
    private readonly stats: HttpRbacStats,
    /** The configured name: the key of this filter's typed_per_filter_config entries. */
    private readonly name: string,
    /** Envoy's fallback key when no entry is keyed by the configured name. */
    private readonly canonicalName: string,
  ) {}

  /** The settings for this stream; null when the route turns the filter off. Public for the explain tool. */
  settingsFor(stream: Pick<HttpStream, "route">): HttpRbacSettings | null {
    const route = stream.route;
    if (route === null) return this.config.settings;
    const key = perFilterKey(route, this.name, this.canonicalName);
    if (route.filterDisabled(key)) return null;
    // Envoy resolves the most specific per-filter config of the RBAC type; an entry of another type is ignored.
    const local = route.perFilterConfig(key);
    return isRbacPerRoute(local) ? local.settings : this.config.settings;
  }

  decodeHeaders(stream: HttpStream): HttpFilterStatus {
    try {
      return this.decide(stream);
    } catch (err) {
      // A CIDR lookup can fail only if the WebAssembly set trapped (wasm/cidr.ts restarts it and rebuilds the sets).
      // No decision could be made for this request: fail closed and end its connection, as that module expects.
      logger.error({ err, conn: stream.conn.id }, "rbac: evaluation failed; closing the connection");
      stream.responseCodeDetails = EVALUATION_FAILED;
      stream.req.socket.destroy();
      return "stop";
    }
  }

  private decide(stream: HttpStream): HttpFilterStatus {
    const s = this.settingsFor(stream);
    if (s === null) return "continue";
    const shadow = s.shadowRules;
    const rules = s.rules;
    if (shadow === null && rules === null) return "continue";

    const global = this.config.settings;
    const st = this.stats;
    const req = RbacRequest.forHttp(stream.conn, stream.clientAddress, stream);

    if (shadow !== null) {
      const policy = shadow.firstMatch(req);
      const allowed = shadow.allows(policy);
      // A route-level config names its metadata keys with its own prefix when it has one (Envoy's
      // ROUTE_LOCAL_PREFIX_OVERRIDE); both key sets are built at config time.
      const keys = s.shadowRulesStatPrefix !== "" ? s.shadowKeys : global.shadowKeys;
      if (allowed) {
        st.shadowAllowed.inc();
        if (policy !== null && s.trackPerRuleStats) st.policy(policy.name, "shadow_allowed").inc();
      } else {
        st.shadowDenied.inc();
        if (policy !== null && s.trackPerRuleStats) st.policy(policy.name, "shadow_denied").inc();
      }
      if (policy !== null) stream.setMetadata(HTTP_RBAC_METADATA_NAMESPACE, keys.policyId, policy.name);
      stream.setMetadata(HTTP_RBAC_METADATA_NAMESPACE, keys.result, allowed ? "allowed" : "denied");
    }

    if (rules === null) return "continue";
    const policy = rules.firstMatch(req);
    const allowed = rules.allows(policy);
    if (rules.action === "LOG") stream.setMetadata(COMMON_METADATA_NAMESPACE, ACCESS_LOG_HINT_KEY, policy !== null);
    const keys = s.rulesStatPrefix !== "" ? s.enforcedKeys : global.enforcedKeys;
    if (policy !== null) stream.setMetadata(HTTP_RBAC_METADATA_NAMESPACE, keys.policyId, policy.name);
    stream.setMetadata(HTTP_RBAC_METADATA_NAMESPACE, keys.result, allowed ? "allowed" : "denied");
    if (allowed) {
      st.allowed.inc();
      if (policy !== null && s.trackPerRuleStats) st.policy(policy.name, "allowed").inc();
      return "continue";
    }
    st.denied.inc();
    if (policy !== null && s.trackPerRuleStats) st.policy(policy.name, "denied").inc();
    stream.sendLocalReply(DENIED_STATUS, DENIED_BODY, { details: policy?.details ?? DETAILS_NO_POLICY });
    return "stop";
  }
}
