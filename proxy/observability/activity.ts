// Recent request activity for the admin dashboard: what happened over the last few minutes, second by second, and
// who did it, by the real (trusted) client address.
//
// The connection manager calls `record()` once per finished request, so it is shaped for the hot path:
//   - Per-second counts live in one Int32Array ring (`windowSeconds` rows × FIELDS columns). A request bumps two or
//     three integers in the current row. Rows are zeroed when the clock moves past them, never per request.
//   - "Top clients" cannot be exact without memory growing with the number of distinct clients (a flood from 1M
//     addresses must not grow the process), so each `epochSeconds` slice of time gets a Space-Saving summary
//     (Metwally et al., 2005) of `topK` counters. It finds every client whose share of the slice exceeds 1/topK
//     and over-estimates a count by at most the `error` it reports. Memory is topK × epochs entries per summary,
//     whatever the traffic. An existing key costs a Map lookup and a short sift in a typed-array heap; a new key
//     replaces the smallest counter (one Map delete + set). Nothing is allocated per call beyond the Map entry a
//     new key needs.
//   - Reading (`snapshot()`, once a second per open dashboard) merges the slices: the costly work happens there.
// Separate summaries track rate-limited clients, RBAC-denied clients and the denial details (which policy denied),
// fed only when a request was limited or denied, so the common request pays nothing for them.

/** Columns of one per-second row. */
const F_1XX = 0; // ..F_5XX = 4: counts by status class
const F_NONE = 5; // no response was sent (the client went away, the stream was reset)
const F_RBAC = 6; // RBAC denied (details `rbac_access_denied...`)
const F_RL = 7; // rate limited (response flag RL)
const FIELDS = 8;

const RBAC_PREFIX = "rbac_access_denied";

/** One key of a Space-Saving summary after merging the slices of the window. */
export interface TopEntry {
  key: string;
  /** Estimated requests over the window. */
  count: number;
  /** Bound on the estimate's error: |true count - count| <= error. 0 = exact. */
  error: number;
  /** Estimated requests in the slices that overlap the last 60 seconds. */
  lastMinute: number;
  /** Estimated requests per slice (`epochSeconds` each), oldest first; the last slice is the current, partial one. */
  series: number[];
}

export interface ActivityTotals {
  requests: number;
  /** [1xx, 2xx, 3xx, 4xx, 5xx] */
  byClass: number[];
  /** Requests that ended without a response. */
  noResponse: number;
  rbacDenied: number;
  rateLimited: number;
}

export interface ActivitySnapshot {
  /** The recorder's clock at the snapshot (epoch ms by default). */
  nowMs: number;
  windowSeconds: number;
  epochSeconds: number;
  /** Per-second series, oldest first; the last element is the current (partial) second. */
  series: {
    /** The second (clock ms / 1000, floored) of the first element. */
    startSecond: number;
    /** [class][second]: class 0 = 1xx ... 4 = 5xx. */
    byClass: number[][];
    noResponse: number[];
    rbacDenied: number[];
    rateLimited: number[];
  };
  totals: {
    /** The whole window. */
    window: ActivityTotals;
    /** The last 60 complete seconds. */
    lastMinute: ActivityTotals;
    /** The last complete second: "requests per second now". */
    lastSecond: ActivityTotals;
  };
  topClients: TopEntry[];
  topRateLimited: TopEntry[];
  topDenied: TopEntry[];
  /** Denial details (`rbac_access_denied_matched_policy[name]`) by count. */
  topDenyReasons: TopEntry[];
}

export interface ActivityOptions {
  /** How far back the recorder remembers. Default 300 (5 minutes). */
  windowSeconds?: number;
  /** Length of one top-k slice. Default 10. Must divide windowSeconds. */
  epochSeconds?: number;
  /** Counters per slice and summary (Space-Saving's k). Default 100. */
  topK?: number;
  /** Clock in ms, never negative. Default Date.now: the cheapest clock Node has (40-55 ns measured), most of what record() costs. */
  now?: () => number;
}

export class ActivityOptionsError extends Error {
  readonly code = "ACTIVITY_OPTIONS";
}

/**
 * Space-Saving with k counters. Keys live in slots 0..k-1 (stable while the key is tracked); a min-heap of slot
 * numbers orders them by count, so the counter to evict is at the root. The heap holds slot numbers, not keys, so a
 * sift swaps integers in typed arrays and never touches the Map.
 */
export class SpaceSaving {
  private readonly index = new Map<string, number>();
  private readonly keys: string[];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  /** heap[i] = slot; pos[slot] = i. */
  private readonly heap: Int32Array;
  private readonly pos: Int32Array;
  private n = 0;
  /** Which slice this summary currently holds (-1: none yet). */
  epoch = -1;

  constructor(readonly k: number) {
    this.keys = new Array<string>(k).fill("");
    this.counts = new Float64Array(k);
    this.errors = new Float64Array(k);
    this.heap = new Int32Array(k);
    this.pos = new Int32Array(k);
  }

  get size(): number {
    return this.n;
  }

  /** The smallest count held when full (an untracked key's true count is at most this), else 0. */
  get floor(): number {
    return this.n === this.k ? this.counts[this.heap[0]] : 0;
  }

  add(key: string): void {
    const slot = this.index.get(key);
    if (slot !== undefined) {
      this.counts[slot] += 1;
      this.siftDown(this.pos[slot]);
      return;
    }
    if (this.n < this.k) {
      const s = this.n++;
      this.keys[s] = key;
      this.counts[s] = 1;
      this.errors[s] = 0;
      this.index.set(key, s);
      this.heap[s] = s;
      this.pos[s] = s;
      this.siftUp(s);
      return;
    }
    // Full: the new key takes over the smallest counter and inherits its count as its possible error.
    const s = this.heap[0];
    const min = this.counts[s];
    this.index.delete(this.keys[s]);
    this.index.set(key, s);
    this.keys[s] = key;
    this.errors[s] = min;
    this.counts[s] = min + 1;
    this.siftDown(0);
  }

  clear(): void {
    this.index.clear();
    // Drop the key strings so a quiet summary does not pin yesterday's addresses.
    this.keys.fill("", 0, this.n);
    this.n = 0;
  }

  forEach(f: (key: string, count: number, error: number) => void): void {
    for (let s = 0; s < this.n; s++) f(this.keys[s], this.counts[s], this.errors[s]);
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const counts = this.counts;
    const n = this.n;
    const slot = heap[i];
    const c = counts[slot];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && counts[heap[r]] < counts[heap[l]] ? r : l;
      if (counts[heap[child]] >= c) break;
      heap[i] = heap[child];
      this.pos[heap[i]] = i;
      i = child;
    }
    heap[i] = slot;
    this.pos[slot] = i;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const counts = this.counts;
    const slot = heap[i];
    const c = counts[slot];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (counts[heap[p]] <= c) break;
      heap[i] = heap[p];
      this.pos[heap[i]] = i;
      i = p;
    }
    heap[i] = slot;
    this.pos[slot] = i;
  }
}

/** One ring of per-slice summaries: the summary for a slice is reused once its slice has left the window. */
class SliceRing {
  readonly slices: SpaceSaving[];

  constructor(count: number, k: number) {
    this.slices = Array.from({ length: count }, () => new SpaceSaving(k));
  }

  add(epoch: number, key: string): void {
    const s = this.slices[epoch % this.slices.length];
    if (s.epoch !== epoch) {
      s.clear();
      s.epoch = epoch;
    }
    s.add(key);
  }

  trackedKeys(): number {
    let n = 0;
    for (const s of this.slices) n += s.size;
    return n;
  }

  /**
   * Merge the slices of epochs (lastEpoch - slices + 1 .. lastEpoch) and return the `top` largest. A slice that holds
   * a key over-counts it by at most that counter's error; a full slice that does not hold it may have missed up to
   * its smallest count. The entry's `error` is the larger of the two sums: |true count - count| <= error.
   */
  top(lastEpoch: number, top: number, minuteFromEpoch: number): TopEntry[] {
    const count = this.slices.length;
    const first = lastEpoch - count + 1;
    const merged = new Map<string, { e: TopEntry; over: number; heldFloors: number }>();
    let floorSum = 0;
    for (let e = Math.max(0, first); e <= lastEpoch; e++) {
      const s = this.slices[e % count];
      if (s.epoch !== e || s.size === 0) continue;
      const floor = s.floor;
      floorSum += floor;
      const at = e - first;
      s.forEach((key, c, err) => {
        let m = merged.get(key);
        if (m === undefined) {
          m = { e: { key, count: 0, error: 0, lastMinute: 0, series: new Array<number>(count).fill(0) }, over: 0, heldFloors: 0 };
          merged.set(key, m);
        }
        m.e.count += c;
        m.e.series[at] = c;
        if (e >= minuteFromEpoch) m.e.lastMinute += c;
        m.over += err;
        m.heldFloors += floor;
      });
    }
    const out: TopEntry[] = [];
    for (const m of merged.values()) {
      m.e.error = Math.max(m.over, floorSum - m.heldFloors);
      out.push(m.e);
    }
    out.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out.slice(0, top);
  }
}

function emptyTotals(): ActivityTotals {
  return { requests: 0, byClass: [0, 0, 0, 0, 0], noResponse: 0, rbacDenied: 0, rateLimited: 0 };
}

function addRow(t: ActivityTotals, rows: Int32Array, r: number): void {
  for (let c = 0; c < 5; c++) {
    t.byClass[c] += rows[r + F_1XX + c];
    t.requests += rows[r + F_1XX + c];
  }
  t.noResponse += rows[r + F_NONE];
  t.requests += rows[r + F_NONE];
  t.rbacDenied += rows[r + F_RBAC];
  t.rateLimited += rows[r + F_RL];
}

/** A bounded record of recent requests; see the top of this file. */
export class ActivityRecorder {
  readonly windowSeconds: number;
  readonly epochSeconds: number;
  readonly topK: number;
  private readonly now: () => number;
  private readonly rows: Int32Array;
  /** The second the current row stands for. */
  private second: number;
  /** Offset of the current row in `rows`. */
  private row: number;
  private epoch: number;
  private readonly clients: SliceRing;
  private readonly limited: SliceRing;
  private readonly denied: SliceRing;
  private readonly reasons: SliceRing;

  constructor(opts: ActivityOptions = {}) {
    const w = opts.windowSeconds ?? 300;
    const e = opts.epochSeconds ?? 10;
    const k = opts.topK ?? 100;
    if (!Number.isInteger(w) || w < 2) throw new ActivityOptionsError(`windowSeconds must be an integer >= 2, got ${w}`);
    if (!Number.isInteger(e) || e < 1 || w % e !== 0) throw new ActivityOptionsError(`epochSeconds must divide windowSeconds, got ${e}`);
    if (!Number.isInteger(k) || k < 1) throw new ActivityOptionsError(`topK must be a positive integer, got ${k}`);
    this.windowSeconds = w;
    this.epochSeconds = e;
    this.topK = k;
    this.now = opts.now ?? Date.now;
    this.rows = new Int32Array(w * FIELDS);
    this.second = Math.floor(this.now() / 1000);
    this.row = (this.second % w) * FIELDS;
    this.epoch = Math.floor(this.second / e);
    // One more slice than the window holds: the current slice is partial, so the oldest one is still needed.
    const slices = w / e + 1;
    this.clients = new SliceRing(slices, k);
    this.limited = new SliceRing(slices, k);
    this.denied = new SliceRing(slices, k);
    this.reasons = new SliceRing(slices, k);
  }

  /**
   * Account one finished request. `clientIp` is the stream's trusted client address (after PROXY protocol and
   * X-Forwarded-For), `statusCode` 0 when no response was sent, `flags` Envoy's response flags, `details` the
   * response code details.
   */
  record(clientIp: string, statusCode: number, flags: readonly string[], details: string | undefined): void {
    const sec = Math.floor(this.now() / 1000);
    // A clock that steps back (wall-clock adjustment) keeps counting into the current second.
    if (sec > this.second) this.advance(sec);
    const rows = this.rows;
    const row = this.row;
    rows[row + (statusCode >= 100 && statusCode < 600 ? ((statusCode / 100) | 0) - 1 : F_NONE)]++;
    const epoch = this.epoch;
    this.clients.add(epoch, clientIp);
    // Indexed loop, not includes(): flags is almost always empty, and this reads no property but length.
    for (let i = 0; i < flags.length; i++) {
      if (flags[i] === "RL") {
        rows[row + F_RL]++;
        this.limited.add(epoch, clientIp);
        break;
      }
    }
    if (details !== undefined && details.startsWith(RBAC_PREFIX)) {
      rows[row + F_RBAC]++;
      this.denied.add(epoch, clientIp);
      this.reasons.add(epoch, details);
    }
  }

  /** Keys held across all summaries: bounded by 4 × topK × (windowSeconds / epochSeconds + 1). */
  trackedKeys(): number {
    return this.clients.trackedKeys() + this.limited.trackedKeys() + this.denied.trackedKeys() + this.reasons.trackedKeys();
  }

  /** Everything the dashboard shows, as of now. `top` entries per list (default 10, at most topK). */
  snapshot(opts: { top?: number } = {}): ActivitySnapshot {
    const nowMs = this.now();
    const sec = Math.floor(nowMs / 1000);
    if (sec > this.second) this.advance(sec);
    const w = this.windowSeconds;
    const cur = this.second;
    const top = Math.max(1, Math.min(opts.top ?? 10, this.topK));
    const byClass: number[][] = [[], [], [], [], []];
    const noResponse: number[] = [];
    const rbacDenied: number[] = [];
    const rateLimited: number[] = [];
    const window = emptyTotals();
    const lastMinute = emptyTotals();
    const lastSecond = emptyTotals();
    const startSecond = cur - w + 1;
    const rows = this.rows;
    for (let s = startSecond; s <= cur; s++) {
      if (s < 0) {
        // A clock that started near 0 (tests): seconds before it are empty.
        for (let c = 0; c < 5; c++) byClass[c].push(0);
        noResponse.push(0);
        rbacDenied.push(0);
        rateLimited.push(0);
        continue;
      }
      const r = (s % w) * FIELDS;
      for (let c = 0; c < 5; c++) byClass[c].push(rows[r + F_1XX + c]);
      noResponse.push(rows[r + F_NONE]);
      rbacDenied.push(rows[r + F_RBAC]);
      rateLimited.push(rows[r + F_RL]);
      addRow(window, rows, r);
      if (s < cur && s >= cur - 60) addRow(lastMinute, rows, r);
      if (s === cur - 1) addRow(lastSecond, rows, r);
    }
    // Slices that overlap the last 60 s count toward a top entry's `lastMinute`.
    const minuteFromEpoch = Math.floor((cur - 59) / this.epochSeconds);
    return {
      nowMs,
      windowSeconds: w,
      epochSeconds: this.epochSeconds,
      series: { startSecond, byClass, noResponse, rbacDenied, rateLimited },
      totals: { window, lastMinute, lastSecond },
      topClients: this.clients.top(this.epoch, top, minuteFromEpoch),
      topRateLimited: this.limited.top(this.epoch, top, minuteFromEpoch),
      topDenied: this.denied.top(this.epoch, top, minuteFromEpoch),
      topDenyReasons: this.reasons.top(this.epoch, top, minuteFromEpoch),
    };
  }

  /** Move the current row to `sec`, zeroing the rows in between (at most the whole ring). Rare: once a second. */
  private advance(sec: number): void {
    const w = this.windowSeconds;
    const steps = Math.min(sec - this.second, w);
    for (let i = 1; i <= steps; i++) {
      const r = ((sec - steps + i) % w) * FIELDS;
      this.rows.fill(0, r, r + FIELDS);
    }
    this.second = sec;
    this.row = (sec % w) * FIELDS;
    this.epoch = Math.floor(sec / this.epochSeconds);
  }
}
