// envoy.filters.http.rbac — configuration, validated once at load.
//
// envoy.extensions.filters.http.rbac.v3.RBAC: `rules`, `shadow_rules`, `rules_stat_prefix`, `shadow_rules_stat_prefix`,
// `track_per_rule_stats`. `matcher` / `shadow_matcher` (the xDS matching API) are refused. The per-route form,
// envoy.extensions.filters.http.rbac.v3.RBACPerRoute {rbac}, replaces the filter's config on a route (virtual host,
// route configuration); without `rbac` it turns the filter off there. typed_per_filter_config is keyed by the
// filter's configured name, which the connection manager passes at build time (HttpFilterBuildContext.filterName).
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import { parseRbacRules } from "../../common/rbac/config.js";
import type { RbacEngine } from "../../common/rbac/engine.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterConfig } from "../../types.js";
import { HttpRbacFilter } from "./filter.js";
import { HttpRbacStats } from "./stats.js";

export const HTTP_RBAC_FILTER_NAME = "envoy.filters.http.rbac";
/** The dynamic metadata namespace the filter writes (Envoy's "envoy.filters.http.rbac"). */
export const HTTP_RBAC_METADATA_NAMESPACE = "envoy.filters.http.rbac";
const PER_ROUTE_TYPE = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

export interface MetadataKeys {
  readonly policyId: string;
  readonly result: string;
}

export interface HttpRbacSettings {
  /** null: `rules` absent, no enforcement. */
  readonly rules: RbacEngine | null;
  /** null: no shadow rules. */
  readonly shadowRules: RbacEngine | null;
  readonly rulesStatPrefix: string;
  readonly shadowRulesStatPrefix: string;
  readonly trackPerRuleStats: boolean;
  /** `<shadow_rules_stat_prefix>shadow_effective_policy_id`, `<shadow_rules_stat_prefix>shadow_engine_result`. */
  readonly shadowKeys: MetadataKeys;
  /** `<rules_stat_prefix>enforced_effective_policy_id`, `<rules_stat_prefix>enforced_engine_result`. */
  readonly enforcedKeys: MetadataKeys;
}

export interface HttpRbacConfig extends HttpFilterConfig {
  readonly settings: HttpRbacSettings;
}

export interface RbacPerRouteConfig {
  readonly kind: typeof PER_ROUTE_TYPE;
  /** null: RBACPerRoute without `rbac` — the filter is off on this route. */
  readonly settings: HttpRbacSettings | null;
}

export function isRbacPerRoute(v: unknown): v is RbacPerRouteConfig {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === PER_ROUTE_TYPE;
}

function refuseMatcher(r: ConfigReader, key: string, instead: string): void {
  if (r.has(key)) {
    throw new ConfigError(r.at(key), `the matching-API form of RBAC is not supported by Tollgate; configure ${instead} (policies) instead`);
  }
}

/** The fields shared by RBAC and RBACPerRoute.rbac. */
export function parseHttpRbacSettings(r: ConfigReader): HttpRbacSettings {
  refuseMatcher(r, "matcher", "rules");
  refuseMatcher(r, "shadow_matcher", "shadow_rules");
  const rulesReader = r.obj("rules");
  const rules = rulesReader ? parseRbacRules(rulesReader) : null;
  const shadowReader = r.obj("shadow_rules");
  const shadowRules = shadowReader ? parseRbacRules(shadowReader) : null;
  const rulesStatPrefix = r.str("rules_stat_prefix") ?? "";
  const shadowRulesStatPrefix = r.str("shadow_rules_stat_prefix") ?? "";
  const trackPerRuleStats = r.bool("track_per_rule_stats", false);
  return Object.freeze({
    rules,
    shadowRules,
    rulesStatPrefix,
    shadowRulesStatPrefix,
    trackPerRuleStats,
    // Envoy prepends the stat prefix to the key as is (no separator).
    shadowKeys: Object.freeze({ policyId: `${shadowRulesStatPrefix}shadow_effective_policy_id`, result: `${shadowRulesStatPrefix}shadow_engine_result` }),
    enforcedKeys: Object.freeze({ policyId: `${rulesStatPrefix}enforced_effective_policy_id`, result: `${rulesStatPrefix}enforced_engine_result` }),
  });
}

function parseHttpRbac(r: ConfigReader): HttpRbacConfig {
  const settings = parseHttpRbacSettings(r);
  const config: HttpRbacConfig = {
    terminal: false,
    settings,
    acceptsPerRouteConfig: isRbacPerRoute,
    build(ctx: HttpFilterBuildContext): HttpFilter {
      const stats = new HttpRbacStats(ctx.stats, ctx.hcmStatPrefix, settings);
      return new HttpRbacFilter(config, stats, ctx.filterName ?? HTTP_RBAC_FILTER_NAME, ctx.canonicalName ?? HTTP_RBAC_FILTER_NAME);
    },
  };
  return Object.freeze(config);
}

function parseRbacPerRoute(r: ConfigReader): RbacPerRouteConfig {
  const inner = r.obj("rbac");
  let settings: HttpRbacSettings | null = null;
  if (inner) {
    settings = parseHttpRbacSettings(inner);
    inner.done();
  }
  return Object.freeze({ kind: PER_ROUTE_TYPE, settings });
}

registerExtension<HttpRbacConfig>({
  category: "http_filter",
  typeUrls: ["envoy.extensions.filters.http.rbac.v3.RBAC"],
  names: [HTTP_RBAC_FILTER_NAME],
  parse: parseHttpRbac,
});

registerExtension<RbacPerRouteConfig>({
  category: "http_filter_per_route",
  typeUrls: [PER_ROUTE_TYPE],
  names: [HTTP_RBAC_FILTER_NAME],
  parse: parseRbacPerRoute,
});
