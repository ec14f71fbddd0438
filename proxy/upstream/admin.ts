// The text of Envoy's admin `/clusters` page for a set of clusters, line for line as Envoy prints it
// (`<cluster>::<host>::<stat>::<value>`), for the admin listener to serve.
import type { Cluster } from "./cluster.js";

export function clusterAdminText(clusters: Iterable<Cluster>): string {
  const out: string[] = [];
  for (const c of clusters) {
    const n = c.name;
    out.push(`${n}::observability_name::${n}`);
    for (const [label, rm] of [["default", c.resources.DEFAULT], ["high", c.resources.HIGH]] as const) {
      out.push(`${n}::${label}_priority::max_connections::${rm.connections.max}`);
      out.push(`${n}::${label}_priority::max_pending_requests::${rm.pendingRequests.max}`);
      out.push(`${n}::${label}_priority::max_requests::${rm.requests.max}`);
      out.push(`${n}::${label}_priority::max_retries::${rm.retries.max}`);
    }
    out.push(`${n}::added_via_api::false`);
    for (const h of c.hosts) {
      const p = `${n}::${h.addressString}::`;
      const s = h.stats;
      // Envoy prints the host's counters and gauges sorted by name.
      out.push(`${p}cx_active::${s.cx_active}`);
      out.push(`${p}cx_connect_fail::${s.cx_connect_fail}`);
      out.push(`${p}cx_total::${s.cx_total}`);
      out.push(`${p}rq_active::${s.rq_active}`);
      out.push(`${p}rq_error::${s.rq_error}`);
      out.push(`${p}rq_success::${s.rq_success}`);
      out.push(`${p}rq_timeout::${s.rq_timeout}`);
      out.push(`${p}rq_total::${s.rq_total}`);
      out.push(`${p}hostname::${h.hostname}`);
      out.push(`${p}health_flags::${h.healthFlagsString()}`);
      out.push(`${p}weight::${h.weight}`);
      out.push(`${p}region::${h.locality.region}`);
      out.push(`${p}zone::${h.locality.zone}`);
      out.push(`${p}sub_zone::${h.locality.subZone}`);
      out.push(`${p}canary::false`);
      out.push(`${p}priority::0`);
      // No outlier detection: Envoy prints -1 for an unknown success rate.
      out.push(`${p}success_rate::-1`);
      out.push(`${p}local_origin_success_rate::-1`);
    }
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

interface JsonMetric {
  name: string;
  value?: string;
  type?: "GAUGE";
}

/**
 * `/clusters?format=json`: Envoy's admin.v3.Clusters as proto3 JSON, which leaves out default values (zero counters,
 * `false`, the DEFAULT priority, the COUNTER metric type) and writes 64-bit counters as strings.
 */
export function clusterAdminJson(clusters: Iterable<Cluster>): { cluster_statuses: object[] } {
  const statuses: object[] = [];
  for (const c of clusters) {
    const thresholds = (["DEFAULT", "HIGH"] as const).map((p) => {
      const rm = c.resources[p];
      return {
        ...(p === "HIGH" ? { priority: "HIGH" } : {}),
        max_connections: rm.connections.max,
        max_pending_requests: rm.pendingRequests.max,
        max_requests: rm.requests.max,
        max_retries: rm.retries.max,
      };
    });
    const hosts = c.hosts.map((h) => {
      const s = h.stats;
      const metric = (name: string, value: number, gauge: boolean): JsonMetric => ({
        name,
        ...(value !== 0 ? { value: String(value) } : {}),
        ...(gauge ? { type: "GAUGE" as const } : {}),
      });
      const flags = h.healthFlagsString();
      const health: Record<string, unknown> = {
        eds_health_status: flags.includes("/failed_eds_health") ? "UNHEALTHY" : flags.includes("/degraded_eds_health") ? "DEGRADED" : "HEALTHY",
      };
      if (flags.includes("/failed_active_hc")) health.failed_active_health_check = true;
      if (flags.includes("/degraded_active_hc")) health.failed_active_degraded_check = true;
      if (flags.includes("/pending_active_hc")) health.pending_active_hc = true;
      if (flags.includes("/excluded_via_immediate_hc_fail")) health.excluded_via_immediate_hc_fail = true;
      if (flags.includes("/active_hc_timeout")) health.active_hc_timeout = true;
      const locality: Record<string, string> = {};
      if (h.locality.region) locality.region = h.locality.region;
      if (h.locality.zone) locality.zone = h.locality.zone;
      if (h.locality.subZone) locality.sub_zone = h.locality.subZone;
      return {
        address: { socket_address: { address: h.address, port_value: h.port } },
        stats: [
          metric("cx_connect_fail", s.cx_connect_fail, false),
          metric("cx_total", s.cx_total, false),
          metric("rq_error", s.rq_error, false),
          metric("rq_success", s.rq_success, false),
          metric("rq_timeout", s.rq_timeout, false),
          metric("rq_total", s.rq_total, false),
          metric("cx_active", s.cx_active, true),
          metric("rq_active", s.rq_active, true),
        ],
        health_status: health,
        weight: h.weight,
        ...(h.hostname ? { hostname: h.hostname } : {}),
        locality,
      };
    });
    statuses.push({
      name: c.name,
      circuit_breakers: { thresholds },
      observability_name: c.name,
      ...(hosts.length > 0 ? { host_statuses: hosts } : {}),
    });
  }
  return { cluster_statuses: statuses };
}
