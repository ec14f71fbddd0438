// RBAC configuration: every field Tollgate cannot honour is refused with its full path, through a whole bootstrap
// (HTTP filter, per-route config and network filter), and the supported forms load.
import test from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import { validateConfig } from "../proxy/server.js";
import { bootstrapYaml, hcmFilter, listener, staticCluster, tcpProxyFilter, type Json } from "./helpers/e2e.js";

const T_HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const T_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const T_NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

const HTTP_FILTER = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";
const NET_FILTER = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

function httpBootstrap(rbac: Record<string, Json>, perRoute?: Record<string, Json>): string {
  const route: Record<string, Json> = { match: { prefix: "/" }, route: { cluster: "backend" } };
  if (perRoute) route.typed_per_filter_config = { "envoy.filters.http.rbac": { "@type": T_PER_ROUTE, ...perRoute } };
  const hcm = hcmFilter({
    virtualHosts: [{ name: "all", domains: ["*"], routes: [route] }],
    extra: {
      http_filters: [
        { name: "envoy.filters.http.rbac", typed_config: { "@type": T_HTTP_RBAC, ...rbac } },
        { name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } },
      ],
    },
  });
  return bootstrapYaml({ listeners: [listener({ filters: [hcm] })], clusters: [staticCluster("backend", [1])] });
}

function networkBootstrap(rbac: Record<string, Json>): string {
  return bootstrapYaml({
    listeners: [listener({ filters: [{ name: "envoy.filters.network.rbac", typed_config: { "@type": T_NET_RBAC, ...rbac } }, tcpProxyFilter("backend")] })],
    clusters: [staticCluster("backend", [1])],
  });
}

async function refused(yaml: string): Promise<ConfigError> {
  const err = await validateConfig({ yaml });
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err;
}

const everyone = { permissions: [{ any: true }], principals: [{ any: true }] };
const policyWith = (extra: Record<string, Json>): Record<string, Json> => ({ rules: { policies: { p: { ...everyone, ...extra } } } });
const permission = (p: Json): Record<string, Json> => ({ rules: { policies: { p: { permissions: [p], principals: [{ any: true }] } } } });
const principal = (p: Json): Record<string, Json> => ({ rules: { policies: { p: { permissions: [{ any: true }], principals: [p] } } } });

test("a full HTTP, per-route and network RBAC configuration loads", async (t) => {
  t.is(
    await validateConfig({
      yaml: httpBootstrap(
        {
          rules: {
            action: "DENY",
            policies: {
              p: {
                permissions: [
                  { header: { name: ":path", string_match: { prefix: "/admin" } } },
                  { url_path: { path: { safe_regex: { regex: "^/v[0-9]+/internal" } } } },
                  { destination_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } },
                  { destination_port: 8443 },
                  { destination_port_range: { start: 9000, end: 9100 } },
                  { requested_server_name: { exact: "" } },
                  { and_rules: { rules: [{ any: true }] } },
                  { or_rules: { rules: [{ any: true }] } },
                  { not_rule: { any: true } },
                ],
                principals: [
                  { remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } },
                  { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } },
                  { source_ip: { address_prefix: "2001:db8::", prefix_len: 32 } },
                  { header: { name: "x-role", present_match: true } },
                  { url_path: { path: { exact: "/" } } },
                  { and_ids: { ids: [{ any: true }] } },
                  { or_ids: { ids: [{ any: true }] } },
                  { not_id: { any: true } },
                ],
              },
            },
          },
          shadow_rules: { action: "LOG", policies: { p: everyone } },
          rules_stat_prefix: "edge",
          shadow_rules_stat_prefix: "canary_",
          track_per_rule_stats: true,
        },
        { rbac: { rules: { policies: {} } } },
      ),
    }),
    null,
  );
  t.is(await validateConfig({ yaml: httpBootstrap({}, {}) }), null); // no rules: no enforcement; RBACPerRoute {}: off
  t.is(
    await validateConfig({
      yaml: networkBootstrap({ stat_prefix: "tcp", rules: { policies: { p: everyone } }, enforcement_type: "CONTINUOUS", delay_deny: "0.5s", enforce_on_transport_ready: true }),
    }),
    null,
  );
});

const refusedCases: Array<[string, Record<string, Json>, string, RegExp]> = [
  ["matcher", { matcher: {} }, `${HTTP_FILTER}.matcher`, /matching-API/],
  ["shadow_matcher", { shadow_matcher: {} }, `${HTTP_FILTER}.shadow_matcher`, /matching-API/],
  ["audit_logging_options", { rules: { audit_logging_options: {} } }, `${HTTP_FILTER}.rules.audit_logging_options`, /audit logging/],
  ["condition (CEL)", policyWith({ condition: { const_expr: { bool_value: true } } }), `${HTTP_FILTER}.rules.policies.p.condition`, /CEL/],
  ["checked_condition (CEL)", policyWith({ checked_condition: {} }), `${HTTP_FILTER}.rules.policies.p.checked_condition`, /CEL/],
  ["permission metadata", permission({ metadata: { filter: "x", path: [{ key: "k" }], value: { present_match: true } } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].metadata`, /metadata/],
  ["permission matcher", permission({ matcher: { name: "x" } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].matcher`, /extensions/],
  ["permission uri_template", permission({ uri_template: { name: "x" } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].uri_template`, /uri_template/],
  ["permission sourced_metadata", permission({ sourced_metadata: {} }), `${HTTP_FILTER}.rules.policies.p.permissions[0].sourced_metadata`, /sourced_metadata/],
  ["principal authenticated", principal({ authenticated: { principal_name: { exact: "spiffe://x" } } }), `${HTTP_FILTER}.rules.policies.p.principals[0].authenticated`, /TLS/],
  ["principal metadata", principal({ metadata: {} }), `${HTTP_FILTER}.rules.policies.p.principals[0].metadata`, /metadata/],
  ["principal filter_state", principal({ filter_state: { key: "k" } }), `${HTTP_FILTER}.rules.policies.p.principals[0].filter_state`, /filter_state/],
  ["principal sourced_metadata", principal({ sourced_metadata: {} }), `${HTTP_FILTER}.rules.policies.p.principals[0].sourced_metadata`, /sourced_metadata/],
  ["principal custom of an unregistered type", principal({ custom: { name: "envoy.rbac.principals.mtls_authenticated", typed_config: { "@type": "type.googleapis.com/envoy.extensions.rbac.principals.mtls_authenticated.v3.Config" } } }), `${HTTP_FILTER}.rules.policies.p.principals[0].custom.typed_config.@type`, /registered implementation/],
  ["principal custom without typed_config", principal({ custom: { name: "x" } }), `${HTTP_FILTER}.rules.policies.p.principals[0].custom.typed_config`, /registered implementation/],
  ["a refused field nested in and_ids/not_id", principal({ and_ids: { ids: [{ any: true }, { not_id: { filter_state: {} } }] } }), `${HTTP_FILTER}.rules.policies.p.principals[0].and_ids.ids[1].not_id.filter_state`, /filter_state/],
  ["any: false", principal({ any: false }), `${HTTP_FILTER}.rules.policies.p.principals[0].any`, /must be true/],
  ["a permission with no rule", permission({}), `${HTTP_FILTER}.rules.policies.p.permissions[0]`, /one of and_rules, .* is required \(rule\)/],
  ["a principal with two identifiers", principal({ any: true, remote_ip: { address_prefix: "10.0.0.0" } }), `${HTTP_FILTER}.rules.policies.p.principals[0]`, /only one of any, remote_ip/],
  ["a policy without principals", { rules: { policies: { p: { permissions: [{ any: true }] } } } }, `${HTTP_FILTER}.rules.policies.p.principals`, /is required/],
  ["an empty or_rules", permission({ or_rules: { rules: [] } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].or_rules.rules`, /at least 1/],
  ["destination_port above 65535", permission({ destination_port: 70000 }), `${HTTP_FILTER}.rules.policies.p.permissions[0].destination_port`, /at most 65535/],
  ["an empty destination_port_range", permission({ destination_port_range: { start: 80, end: 80 } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].destination_port_range`, /cannot be greater or equal/],
  ["destination_port_range end out of bounds", permission({ destination_port_range: { start: 1, end: 70000 } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].destination_port_range.end`, /out of bounds/],
  ["a CIDR that is not an address", principal({ remote_ip: { address_prefix: "10.0.0.256", prefix_len: 8 } }), `${HTTP_FILTER}.rules.policies.p.principals[0].remote_ip.address_prefix`, /not an IP address/],
  ["a prefix_len too long for IPv4", principal({ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 33 } }), `${HTTP_FILTER}.rules.policies.p.principals[0].remote_ip.prefix_len`, /at most 32/],
  ["an unknown action", { rules: { action: "AUDIT" } }, `${HTTP_FILTER}.rules.action`, /ALLOW, DENY, LOG/],
  ["an unknown policy field", policyWith({ weight: 1 }), `${HTTP_FILTER}.rules.policies.p.weight`, /unknown/],
  ["an invalid header regex", permission({ header: { name: "x", string_match: { safe_regex: { regex: "(a" } } } }), `${HTTP_FILTER}.rules.policies.p.permissions[0].header.string_match.safe_regex.regex`, /./],
];

for (const [name, rbac, path, message] of refusedCases) {
  test(`refused with its path: ${name}`, async (t) => {
    const err = await refused(httpBootstrap(rbac));
    t.is(err.path, path);
    t.regex(err.detail, message);
  });
}

test("refused with its path: RBACPerRoute fields", async (t) => {
  const base = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config.envoy.filters.http.rbac";
  const matcher = await refused(httpBootstrap({}, { rbac: { matcher: {} } }));
  t.is(matcher.path, `${base}.rbac.matcher`);
  const unknown = await refused(httpBootstrap({}, { enabled: false }));
  t.is(unknown.path, `${base}.enabled`);
  const deep = await refused(httpBootstrap({}, { rbac: { rules: { policies: { p: { ...everyone, condition: {} } } } } }));
  t.is(deep.path, `${base}.rbac.rules.policies.p.condition`);
});

test("refused with its path: network filter fields", async (t) => {
  const noPrefix = await refused(networkBootstrap({ rules: { policies: {} } }));
  t.is(noPrefix.path, `${NET_FILTER}.stat_prefix`);
  const matcher = await refused(networkBootstrap({ stat_prefix: "tcp", shadow_matcher: {} }));
  t.is(matcher.path, `${NET_FILTER}.shadow_matcher`);
  // The network filter has no rules_stat_prefix (Envoy's network RBAC message does not either).
  const rulesPrefix = await refused(networkBootstrap({ stat_prefix: "tcp", rules_stat_prefix: "x" }));
  t.is(rulesPrefix.path, `${NET_FILTER}.rules_stat_prefix`);
  const enforcement = await refused(networkBootstrap({ stat_prefix: "tcp", enforcement_type: "SOMETIMES" }));
  t.is(enforcement.path, `${NET_FILTER}.enforcement_type`);
  const cel = await refused(networkBootstrap({ stat_prefix: "tcp", shadow_rules: { policies: { p: { ...everyone, checked_condition: {} } } } }));
  t.is(cel.path, `${NET_FILTER}.shadow_rules.policies.p.checked_condition`);
});
