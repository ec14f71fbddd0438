// Admin `/stats` in Envoy's text and JSON formats (source/server/admin/stats_render.cc).
//
// Text: counters and gauges interleaved, sorted by name, `name: value`; then histograms, sorted, either
// `name: P0(interval,cumulative) P25(...) ... P100(...)`, or with `histogram_buckets=cumulative|disjoint`
// `name: B0.5(interval,cumulative) B1(...) ...`; an unused histogram prints `name: No recorded values`.
// JSON: {"stats":[{"name":..,"value":..}, ..., {"histograms": {...}}]}.
import type { CounterRecord, GaugeRecord, HistogramRecord, StatsStore } from "../stats.js";
import { SUPPORTED_QUANTILES } from "./histogram-data.js";
import { formatDouble, formatG } from "./number-format.js";

export type StatsTypeFilter = "All" | "Counters" | "Gauges" | "Histograms" | "TextReadouts";
export type HistogramBucketsMode = "none" | "cumulative" | "disjoint";

export interface StatsQuery {
  /** Only stats that were ever written (`usedonly`). */
  usedOnly: boolean;
  /** Partial-match filter on the full stat name (`filter=`). */
  filter: RegExp | null;
  type: StatsTypeFilter;
  histogramBuckets: HistogramBucketsMode;
}

export const DEFAULT_STATS_QUERY: StatsQuery = Object.freeze({
  usedOnly: false,
  filter: null,
  type: "All",
  histogramBuckets: "none",
});

function byName<T extends { id: { name: string } }>(a: T, b: T): number {
  return a.id.name < b.id.name ? -1 : a.id.name > b.id.name ? 1 : 0;
}

function shown(rec: { id: { name: string }; used: boolean }, q: StatsQuery): boolean {
  if (q.usedOnly && !rec.used) return false;
  if (q.filter !== null) {
    q.filter.lastIndex = 0;
    if (!q.filter.test(rec.id.name)) return false;
  }
  return true;
}

interface Selected {
  numeric: Array<CounterRecord | GaugeRecord>;
  histograms: HistogramRecord[];
}

function select(store: StatsStore, q: StatsQuery): Selected {
  const numeric: Array<CounterRecord | GaugeRecord> = [];
  if (q.type === "All" || q.type === "Counters") for (const c of store.allCounters()) if (shown(c, q)) numeric.push(c);
  if (q.type === "All" || q.type === "Gauges") for (const g of store.allGauges()) if (shown(g, q)) numeric.push(g);
  const histograms: HistogramRecord[] = [];
  if (q.type === "All" || q.type === "Histograms") for (const h of store.allHistograms()) if (shown(h, q)) histograms.push(h);
  numeric.sort(byName);
  histograms.sort(byName);
  return { numeric, histograms };
}

function quantileSummary(h: HistogramRecord): string {
  const interval = h.interval.quantiles();
  const cumulative = h.cumulative.quantiles();
  return SUPPORTED_QUANTILES.map(
    (q, i) => `P${formatG(q * 100)}(${formatDouble(interval[i])},${formatDouble(cumulative[i])})`,
  ).join(" ");
}

function bucketSummary(h: HistogramRecord, mode: "cumulative" | "disjoint"): string {
  const interval = mode === "cumulative" ? h.interval.cumulativeBuckets() : h.interval.disjointBuckets();
  const cumulative = mode === "cumulative" ? h.cumulative.cumulativeBuckets() : h.cumulative.disjointBuckets();
  return h.cumulative.bounds.map((b, i) => `B${formatG(b)}(${interval[i]},${cumulative[i]})`).join(" ");
}

/** `/stats` (text). */
export function renderStatsText(store: StatsStore, q: StatsQuery = DEFAULT_STATS_QUERY): string {
  const { numeric, histograms } = select(store, q);
  const out: string[] = [];
  for (const s of numeric) out.push(`${s.id.name}: ${formatDouble(s.value())}\n`);
  for (const h of histograms) {
    if (!h.used) out.push(`${h.id.name}: No recorded values\n`);
    else if (q.histogramBuckets === "none") out.push(`${h.id.name}: ${quantileSummary(h)}\n`);
    else out.push(`${h.id.name}: ${bucketSummary(h, q.histogramBuckets)}\n`);
  }
  return out.join("");
}

function jsonNumber(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** `/stats?format=json`. */
export function renderStatsJson(store: StatsStore, q: StatsQuery = DEFAULT_STATS_QUERY, pretty = false): string {
  const { numeric, histograms } = select(store, q);
  const stats: unknown[] = numeric.map((s) => ({ name: s.id.name, value: s.value() }));
  if (histograms.length > 0) {
    if (q.histogramBuckets === "none") {
      stats.push({
        histograms: {
          supported_quantiles: SUPPORTED_QUANTILES.map((x) => x * 100),
          computed_quantiles: histograms.map((h) => {
            const interval = h.interval.quantiles();
            const cumulative = h.cumulative.quantiles();
            return {
              name: h.id.name,
              values: SUPPORTED_QUANTILES.map((_, i) => ({
                cumulative: jsonNumber(cumulative[i]),
                interval: jsonNumber(interval[i]),
              })),
            };
          }),
        },
      });
    } else {
      const mode = q.histogramBuckets;
      stats.push({
        histograms: histograms.map((h) => {
          const interval = mode === "cumulative" ? h.interval.cumulativeBuckets() : h.interval.disjointBuckets();
          const cumulative = mode === "cumulative" ? h.cumulative.cumulativeBuckets() : h.cumulative.disjointBuckets();
          return {
            name: h.id.name,
            buckets: h.cumulative.bounds.map((b, i) => ({ upper_bound: b, interval: interval[i], cumulative: cumulative[i] })),
          };
        }),
      });
    }
  }
  return JSON.stringify({ stats }, null, pretty ? 2 : undefined);
}
