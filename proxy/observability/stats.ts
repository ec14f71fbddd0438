// Stats with Envoy's names and semantics (`cluster.backend.upstream_rq_total`, `http.ingress.downstream_rq_2xx`).
//
// Shape of the hot path: a stat is created once, at config time, next to the filter that owns it. Creation does all
// the work that depends on the name: Envoy's tag extraction, the Prometheus name and the label text. What the
// request path holds is the stat object itself, and `inc`/`set`/`record` touch only plain numbers on it (measured:
// ~1 ns per `Counter.inc`, against ~125 ns for a prom-client labelled child, which hashes its labels on every call,
// and ~350 ns for a prom-client histogram `observe`).
//
// Rendering (admin `/stats`, `/stats/prometheus`) walks the stats when asked. The Prometheus text follows Envoy's
// exposition byte for byte (stats/render-prometheus.ts); the store also owns a prom-client Registry (never the global
// one) holding Node's process metrics, whose own exposition is appended to it, and where other code may register
// prom-client metrics of its own.
//
// Histograms follow Envoy's flush model: values go to a pending set; every `flushIntervalMs` (Envoy's
// stats_flush_interval, 5 s) the pending set becomes the "interval" set and is added to the "cumulative" one.
// `/stats` prints both; Prometheus uses the cumulative one. A histogram is "used" once a flush has merged values.
import { Registry } from "prom-client";
import { registerProcessMetrics } from "./process-metrics.js";
import { DEFAULT_BUCKETS, HistogramData } from "./stats/histogram-data.js";
import {
  defaultTagProducer,
  prometheusMetricName,
  sanitizePrometheusName,
  type Tag,
  type TagProducer,
} from "./stats/tag-extractors.js";
import { logger } from "./logger.js";

export type { Tag } from "./stats/tag-extractors.js";

export interface Counter {
  inc(n?: number): void;
  value(): number;
}

export interface Gauge {
  set(v: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
  value(): number;
}

/** Values in the stat's unit (milliseconds for `*_ms` and `*_time` stats); fractions are dropped, as Envoy records whole units. */
export interface Histogram {
  record(v: number): void;
}

/** Envoy's Gauge::ImportMode. It only matters for hot restart, which Tollgate does not have: kept for the record. */
export type GaugeImportMode = "accumulate" | "never";

export interface StatsScope {
  counter(name: string): Counter;
  gauge(name: string, opts?: { importMode?: GaugeImportMode }): Gauge;
  histogram(name: string): Histogram;
  scope(prefix: string): StatsScope;
}

export type StatType = "counter" | "gauge" | "histogram";

/** Everything about a stat that depends only on its name, computed when the stat is created. */
export interface StatIdentity {
  /** Envoy's name, e.g. `cluster.backend.upstream_rq_200`. */
  readonly name: string;
  /** The name with tag segments removed, e.g. `cluster.upstream_rq`. */
  readonly tagExtractedName: string;
  readonly tags: readonly Tag[];
  /** e.g. `envoy_cluster_upstream_rq`. */
  readonly promName: string;
  /** Label text without braces, e.g. `envoy_response_code="200",envoy_cluster_name="backend"`; "" without tags. */
  readonly promLabels: string;
  /** False when another stat type already owns `promName`: such a stat is left out of the Prometheus text. */
  readonly exported: boolean;
}

export interface CounterRecord {
  readonly id: StatIdentity;
  readonly used: boolean;
  value(): number;
}

export interface GaugeRecord {
  readonly id: StatIdentity;
  readonly used: boolean;
  readonly importMode: GaugeImportMode;
  value(): number;
}

export interface HistogramRecord {
  readonly id: StatIdentity;
  /** A flush has merged recorded values (Envoy's ParentHistogram::used()). */
  readonly used: boolean;
  /** Values merged by the last flush. */
  readonly interval: HistogramData;
  /** All values merged so far. */
  readonly cumulative: HistogramData;
}

class CounterImpl implements Counter, CounterRecord {
  // Hot path: a number and a flag on a monomorphic object.
  v = 0;
  used = false;

  constructor(readonly id: StatIdentity) {}

  inc(n: number = 1): void {
    this.v += n;
    this.used = true;
  }

  value(): number {
    return this.v;
  }
}

class GaugeImpl implements Gauge, GaugeRecord {
  v = 0;
  used = false;

  constructor(
    readonly id: StatIdentity,
    readonly importMode: GaugeImportMode,
  ) {}

  set(v: number): void {
    this.v = v;
    this.used = true;
  }

  inc(n: number = 1): void {
    this.v += n;
    this.used = true;
  }

  dec(n: number = 1): void {
    this.v -= n;
    this.used = true;
  }

  value(): number {
    return this.v;
  }
}

class HistogramImpl implements Histogram, HistogramRecord {
  used = false;
  private pending: HistogramData;
  interval: HistogramData;
  readonly cumulative: HistogramData;

  constructor(
    readonly id: StatIdentity,
    bounds: readonly number[],
  ) {
    this.pending = new HistogramData(bounds);
    this.interval = new HistogramData(bounds);
    this.cumulative = new HistogramData(bounds);
  }

  record(v: number): void {
    this.pending.record(v);
  }

  flush(): void {
    if (this.pending.count > 0) {
      this.cumulative.addFrom(this.pending);
      this.used = true;
    }
    const done = this.pending;
    this.pending = this.interval;
    this.pending.clear();
    this.interval = done;
  }
}

class ScopeImpl implements StatsScope {
  constructor(
    private readonly store: StatsStore,
    private readonly prefix: string,
  ) {}

  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }

  gauge(name: string, opts?: { importMode?: GaugeImportMode }): Gauge {
    return this.store.gauge(this.prefix + name, opts);
  }

  histogram(name: string): Histogram {
    return this.store.histogram(this.prefix + name);
  }

  scope(prefix: string): StatsScope {
    return new ScopeImpl(this.store, this.prefix + scopePrefix(prefix));
  }
}

/** `cluster.backend` and `cluster.backend.` both name the scope `cluster.backend.`, as Envoy's createScope does. */
function scopePrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith(".") ? prefix : `${prefix}.`;
}

/** Envoy's Stats::Utility::sanitizeStatsName: `://` and `:` (and NUL) become `_`, e.g. `[::]_80` -> `[__]_80`. */
export function sanitizeStatName(name: string): string {
  return name.replace(/:\/\//g, "_").replace(/[:\0]/g, "_");
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export interface StatsStoreOptions {
  /** Add Node's process metrics (prom-client collectDefaultMetrics) to the registry. Default true. */
  processMetrics?: boolean;
  /** Histogram flush period (Envoy's stats_flush_interval). Default 5000; 0 = only explicit `flush()`. */
  flushIntervalMs?: number;
  /** Histogram bucket bounds. Default Envoy's. */
  histogramBuckets?: readonly number[];
  tagProducer?: TagProducer;
}

export class StatsStore implements StatsScope {
  /** This store's own prom-client registry (process metrics; other prom-client metrics may be added). */
  readonly registry = new Registry();
  readonly histogramBuckets: readonly number[];
  private readonly counters = new Map<string, CounterImpl>();
  private readonly gauges = new Map<string, GaugeImpl>();
  private readonly histograms = new Map<string, HistogramImpl>();
  /** Prometheus family name -> the stat type that owns it. */
  private readonly families = new Map<string, StatType>();
  private readonly tagProducer: TagProducer;
  private readonly flushListeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: StatsStoreOptions = {}) {
    this.tagProducer = opts.tagProducer ?? defaultTagProducer();
    this.histogramBuckets = Object.freeze([...(opts.histogramBuckets ?? DEFAULT_BUCKETS)]);
    if (opts.processMetrics ?? true) registerProcessMetrics(this.registry);
    const period = opts.flushIntervalMs ?? 5000;
    if (period > 0) {
      this.timer = setInterval(() => this.flush(), period);
      this.timer.unref();
    }
  }

  // Lookups try the name as given first: names are almost always already clean, and callers that build names per
  // request (`upstream_rq_${code}`) then pay one Map lookup, not a sanitising pass.
  counter(name: string): Counter {
    const hit = this.counters.get(name);
    if (hit !== undefined) return hit;
    const key = sanitizeStatName(name);
    let c = this.counters.get(key);
    if (c === undefined) {
      c = new CounterImpl(this.identify(key, "counter"));
      this.counters.set(key, c);
    }
    return c;
  }

  gauge(name: string, opts?: { importMode?: GaugeImportMode }): Gauge {
    const hit = this.gauges.get(name);
    if (hit !== undefined) return hit;
    const key = sanitizeStatName(name);
    let g = this.gauges.get(key);
    if (g === undefined) {
      g = new GaugeImpl(this.identify(key, "gauge"), opts?.importMode ?? "accumulate");
      this.gauges.set(key, g);
    }
    return g;
  }

  histogram(name: string): Histogram {
    const hit = this.histograms.get(name);
    if (hit !== undefined) return hit;
    const key = sanitizeStatName(name);
    let h = this.histograms.get(key);
    if (h === undefined) {
      h = new HistogramImpl(this.identify(key, "histogram"), this.histogramBuckets);
      this.histograms.set(key, h);
    }
    return h;
  }

  scope(prefix: string): StatsScope {
    return new ScopeImpl(this, scopePrefix(prefix));
  }

  /** Merge pending histogram values (what the flush timer does), then run the onFlush listeners. */
  flush(): void {
    for (const h of this.histograms.values()) h.flush();
    for (const f of this.flushListeners) {
      try {
        f();
      } catch (err) {
        logger.error({ err }, "stats flush listener failed");
      }
    }
  }

  /**
   * Run `f` after every flush: the place to refresh stats computed from state rather than counted as they happen
   * (Envoy refreshes `server.uptime`, `server.memory_allocated`, ... at each flush). Returns an unsubscribe function.
   */
  onFlush(f: () => void): () => void {
    this.flushListeners.add(f);
    return () => this.flushListeners.delete(f);
  }

  /** Admin `/reset_counters`: every counter to zero (their `used` flag stays, as in Envoy). */
  resetCounters(): void {
    for (const c of this.counters.values()) c.v = 0;
  }

  /** Stop the flush timer. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  allCounters(): Iterable<CounterRecord> {
    return this.counters.values();
  }

  allGauges(): Iterable<GaugeRecord> {
    return this.gauges.values();
  }

  allHistograms(): Iterable<HistogramRecord> {
    return this.histograms.values();
  }

  /** Tag extraction and Prometheus naming: once per stat, here, at creation. */
  private identify(name: string, type: StatType): StatIdentity {
    const { extracted, tags } = this.tagProducer.extract(name);
    const promName = prometheusMetricName(extracted);
    const promLabels = tags.map((t) => `${sanitizePrometheusName(t.name)}="${escapeLabelValue(t.value)}"`).join(",");
    const owner = this.families.get(promName);
    let exported = true;
    if (owner === undefined) {
      this.families.set(promName, type);
    } else if (owner !== type) {
      exported = false;
      logger.warn(
        { stat: name, prometheusName: promName, owner, type },
        "stat left out of the Prometheus output: its Prometheus name already belongs to a stat of another type",
      );
    }
    return Object.freeze({ name, tagExtractedName: extracted, tags: Object.freeze(tags), promName, promLabels, exported });
  }
}
