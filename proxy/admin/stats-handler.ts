// `/stats` and `/stats/prometheus`, with Envoy's parameters and error replies (source/server/admin/stats_params.cc):
//   usedonly, filter=<regex> (partial match on the stat name), format=text|json|prometheus, type=All|Counters|Gauges|
//   Histograms|TextReadouts, histogram_buckets=none|cumulative|disjoint, pretty (JSON), text_readouts (Prometheus;
//   Tollgate has no text readouts, so it changes nothing).
// The filter is a JavaScript regular expression; for the patterns people write (`upstream_rq_\d+`, `^cluster\.`,
// `a|b`) RE2 and JavaScript agree.
import type { StatsStore } from "../observability/stats.js";
import {
  renderStatsJson,
  renderStatsText,
  type HistogramBucketsMode,
  type StatsQuery,
  type StatsTypeFilter,
} from "../observability/stats/render-envoy.js";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../observability/stats/render-prometheus.js";
import type { Query } from "./query.js";
import { JSON_TYPE, text, type AdminResponse } from "./response.js";

const TYPES: readonly StatsTypeFilter[] = ["All", "Counters", "Gauges", "Histograms", "TextReadouts"];
const BUCKET_MODES: readonly HistogramBucketsMode[] = ["none", "cumulative", "disjoint"];

type Parsed = { ok: true; q: StatsQuery; format: string; pretty: boolean } | { ok: false; response: AdminResponse };

function parse(query: Query): Parsed {
  let filter: RegExp | null = null;
  const f = query.get("filter");
  if (f !== undefined) {
    try {
      filter = new RegExp(f);
    } catch {
      return { ok: false, response: text("Invalid re2 regex", 400) };
    }
  }
  const type = query.get("type") ?? "All";
  if (!(TYPES as readonly string[]).includes(type)) return { ok: false, response: text("invalid &type= param", 400) };
  const buckets = query.get("histogram_buckets") ?? "none";
  if (!(BUCKET_MODES as readonly string[]).includes(buckets)) {
    return { ok: false, response: text("usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n", 400) };
  }
  const format = query.get("format") ?? "text";
  if (format !== "text" && format !== "json" && format !== "prometheus") {
    return { ok: false, response: text("usage: /stats?format=(json|prometheus|text)\n\n", 400) };
  }
  return {
    ok: true,
    format,
    pretty: query.has("pretty"),
    q: {
      usedOnly: query.has("usedonly"),
      filter,
      type: type as StatsTypeFilter,
      histogramBuckets: buckets as HistogramBucketsMode,
    },
  };
}

export async function handleStats(stats: StatsStore, query: Query): Promise<AdminResponse> {
  const p = parse(query);
  if (!p.ok) return p.response;
  if (p.format === "prometheus") return prometheus(stats, p.q);
  if (p.format === "json") return { status: 200, contentType: JSON_TYPE, body: renderStatsJson(stats, p.q, p.pretty) };
  return text(renderStatsText(stats, p.q));
}

export async function handlePrometheusStats(stats: StatsStore, query: Query): Promise<AdminResponse> {
  const p = parse(query);
  if (!p.ok) return p.response;
  return prometheus(stats, p.q);
}

async function prometheus(stats: StatsStore, q: StatsQuery): Promise<AdminResponse> {
  const body = await renderPrometheus(stats, { usedOnly: q.usedOnly, filter: q.filter });
  return { status: 200, contentType: PROMETHEUS_CONTENT_TYPE, body };
}
