// `/stats/prometheus` as Envoy writes it (source/server/admin/prometheus_stats.cc): counters, then gauges, then
// histograms; within each type one group per Prometheus name, groups sorted by tag-extracted name, each group
// `# TYPE name type`, its series sorted by stat name, then a blank line. Series always carry braces, even empty
// (`envoy_x{} 3`), as Envoy prints them. After Envoy's stats comes the store's prom-client registry (Node process
// metrics), unless a `filter` was given: the filter applies to Envoy stat names, which those metrics do not have.
//
// Deliberate difference from Envoy: histogram `_bucket` counts are exact (value <= le), where Envoy derives them
// from its log-linear sketch and may put a value exactly on a bound into the next bucket.
import type { CounterRecord, GaugeRecord, HistogramRecord, StatIdentity, StatsStore } from "../stats.js";

export interface PrometheusQuery {
  usedOnly: boolean;
  filter: RegExp | null;
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function shown(rec: { id: StatIdentity; used: boolean }, q: PrometheusQuery): boolean {
  if (!rec.id.exported) return false;
  if (q.usedOnly && !rec.used) return false;
  if (q.filter !== null) {
    q.filter.lastIndex = 0;
    if (!q.filter.test(rec.id.name)) return false;
  }
  return true;
}

function groups<T extends { id: StatIdentity; used: boolean }>(records: Iterable<T>, q: PrometheusQuery): T[][] {
  const byName = new Map<string, T[]>();
  for (const r of records) {
    if (!shown(r, q)) continue;
    let list = byName.get(r.id.promName);
    if (!list) byName.set(r.id.promName, (list = []));
    list.push(r);
  }
  const out = [...byName.values()];
  for (const list of out) list.sort((a, b) => (a.id.name < b.id.name ? -1 : a.id.name > b.id.name ? 1 : 0));
  const key = (list: T[]): string => list[0].id.tagExtractedName;
  out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return out;
}

function numericGroup(list: Array<CounterRecord | GaugeRecord>, type: string): string {
  const name = list[0].id.promName;
  let s = `# TYPE ${name} ${type}\n`;
  for (const r of list) s += `${name}{${r.id.promLabels}} ${r.value()}\n`;
  return `${s}\n`;
}

function histogramGroup(list: HistogramRecord[]): string {
  const name = list[0].id.promName;
  let s = `# TYPE ${name} histogram\n`;
  for (const h of list) {
    const labels = h.id.promLabels;
    const lead = labels === "" ? "" : `${labels},`;
    const data = h.cumulative;
    const cumulative = data.cumulativeBuckets();
    data.bounds.forEach((b, i) => {
      s += `${name}_bucket{${lead}le="${b}"} ${cumulative[i]}\n`;
    });
    s += `${name}_bucket{${lead}le="+Inf"} ${data.count}\n`;
    s += `${name}_sum{${labels}} ${data.sum}\n`;
    s += `${name}_count{${labels}} ${data.count}\n`;
  }
  return `${s}\n`;
}

/** Envoy's stats only, in Envoy's Prometheus text. */
export function renderEnvoyPrometheus(store: StatsStore, q: PrometheusQuery): string {
  let out = "";
  for (const g of groups(store.allCounters(), q)) out += numericGroup(g, "counter");
  for (const g of groups(store.allGauges(), q)) out += numericGroup(g, "gauge");
  for (const g of groups(store.allHistograms(), q)) out += histogramGroup(g);
  return out;
}

/** `/stats/prometheus`: Envoy's stats, then the prom-client registry (process metrics) when no filter is set. */
export async function renderPrometheus(
  store: StatsStore,
  q: PrometheusQuery = { usedOnly: false, filter: null },
): Promise<string> {
  const envoy = renderEnvoyPrometheus(store, q);
  if (q.filter !== null) return envoy;
  const own = await store.registry.metrics();
  return own.trim() === "" ? envoy : envoy + own;
}
