// The data behind one histogram: exact Prometheus bucket counts, sum, count, and a log-linear sketch for the
// percentiles that `/stats` prints.
//
// The sketch follows Envoy's circllhist: a value falls in a bin of two significant decimal digits
// ([1.0, 1.1), [250, 260), ...), and a quantile is interpolated linearly inside its bin, so a single recorded 1
// prints `P0(1,1) P25(1.025,1.025) ... P100(1.1,1.1)` as Envoy does. Recording is a few additions and one Map
// update: it runs on the request path.

/** Envoy's default histogram bucket bounds (stats_config.histogram_bucket_settings absent), in the stat's unit. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** The quantiles `/stats` prints (Envoy's supportedQuantiles). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

const EXP_BIAS = 400; // bin keys stay positive for any double exponent; 0 is the zero bin

// Powers of ten as circllhist's table has them (doubles), so interpolated values print like Envoy's.
function pow10(e: number): number {
  return e >= 0 ? 10 ** e : 1 / 10 ** -e;
}

/** The bin key of a value: (exponent + bias) * 100 + two-digit mantissa; 0 for values <= 0. */
export function binKey(v: number): number {
  if (!(v > 0)) return 0;
  // Fast path for the common case, whole milliseconds below 10^6: integer division only, no logarithm.
  if (v < 1e6 && Number.isInteger(v)) {
    if (v < 10) return EXP_BIAS * 100 + v * 10;
    if (v < 100) return (EXP_BIAS + 1) * 100 + v;
    if (v < 1000) return (EXP_BIAS + 2) * 100 + Math.floor(v / 10);
    if (v < 10000) return (EXP_BIAS + 3) * 100 + Math.floor(v / 100);
    if (v < 100000) return (EXP_BIAS + 4) * 100 + Math.floor(v / 1000);
    return (EXP_BIAS + 5) * 100 + Math.floor(v / 10000);
  }
  let e = Math.floor(Math.log10(v));
  // log10 can be off by one ulp around powers of ten; the mantissa check below corrects it.
  let m = mantissa(v, e);
  if (m >= 100) {
    e++;
    m = Math.floor(m / 10);
  } else if (m < 10) {
    e--;
    m = mantissa(v, e);
  }
  return (e + EXP_BIAS) * 100 + m;
}

function mantissa(v: number, e: number): number {
  return e - 1 >= 0 ? Math.floor(v / 10 ** (e - 1)) : Math.floor(v * 10 ** (1 - e) + 1e-9);
}

function binLower(key: number): number {
  if (key === 0) return 0;
  const e = Math.floor(key / 100) - EXP_BIAS;
  const m = key % 100;
  return (m / 10) * pow10(e);
}

function binWidth(key: number): number {
  if (key === 0) return 0;
  const e = Math.floor(key / 100) - EXP_BIAS;
  return pow10(e) / 10;
}

export class HistogramData {
  count = 0;
  sum = 0;
  /** Per-bucket counts (not cumulative), bucket i holding values in (bound[i-1], bound[i]]. */
  readonly buckets: Float64Array;
  readonly bins = new Map<number, number>();

  constructor(readonly bounds: readonly number[] = DEFAULT_BUCKETS) {
    this.buckets = new Float64Array(bounds.length);
  }

  record(v: number): void {
    // Envoy records whole units (uint64: durations are truncated to milliseconds); negative and NaN count as 0.
    const value = v > 0 ? Math.floor(v) : 0;
    this.count++;
    this.sum += value;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    if (i < b.length) this.buckets[i]++;
    const key = binKey(value);
    this.bins.set(key, (this.bins.get(key) ?? 0) + 1);
  }

  addFrom(other: HistogramData): void {
    this.count += other.count;
    this.sum += other.sum;
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i] += other.buckets[i];
    for (const [k, c] of other.bins) this.bins.set(k, (this.bins.get(k) ?? 0) + c);
  }

  clear(): void {
    this.count = 0;
    this.sum = 0;
    this.buckets.fill(0);
    this.bins.clear();
  }

  /** Cumulative bucket counts (values <= bound), as Prometheus `_bucket{le}` wants them. */
  cumulativeBuckets(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const c of this.buckets) out.push((acc += c));
    return out;
  }

  /** Per-bucket (disjoint) counts. */
  disjointBuckets(): number[] {
    return Array.from(this.buckets);
  }

  /** circllhist's hist_approx_quantile over the sketch; NaN for every quantile when empty. */
  quantiles(qs: readonly number[] = SUPPORTED_QUANTILES): number[] {
    if (this.count === 0) return qs.map(() => NaN);
    const keys = [...this.bins.keys()].sort((a, b) => a - b);
    let total = 0;
    for (const k of keys) total += this.bins.get(k) ?? 0;
    const out: number[] = [];
    let i = 0;
    let lowerCnt = 0;
    let upperCnt = this.bins.get(keys[0]) ?? 0;
    let left = binLower(keys[0]);
    let width = binWidth(keys[0]);
    for (const q of qs) {
      const target = total * q;
      while (i < keys.length - 1 && upperCnt < target) {
        i++;
        left = binLower(keys[i]);
        width = binWidth(keys[i]);
        lowerCnt = upperCnt;
        upperCnt = lowerCnt + (this.bins.get(keys[i]) ?? 0);
      }
      if (width === 0 || lowerCnt === target) out.push(left);
      else if (upperCnt === target) out.push(left + width);
      else out.push(left + ((target - lowerCnt) / (upperCnt - lowerCnt)) * width);
    }
    return out;
  }
}
