import test from "ava";
import { ActivityOptionsError, ActivityRecorder, SpaceSaving } from "../proxy/observability/activity.js";

const NO_FLAGS: string[] = [];
const DENIED = "rbac_access_denied_matched_policy[none]";

function fakeClock(startMs = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Deterministic PRNG (mulberry32) so a failing stream can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Zipf(s) sampler over ranks 0..n-1 by inverse CDF. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

test("counts each second by status class, with no-response, RBAC denials and rate limiting", (t) => {
  const clock = fakeClock();
  const a = new ActivityRecorder({ now: clock.now });
  a.record("203.0.113.7", 200, NO_FLAGS, "via_upstream");
  a.record("203.0.113.7", 204, NO_FLAGS, undefined);
  a.record("203.0.113.8", 403, NO_FLAGS, DENIED);
  a.record("203.0.113.9", 429, ["RL"], "local_rate_limited");
  a.record("203.0.113.9", 0, ["DC"], undefined);
  a.record("203.0.113.9", 503, ["UH"], "no_healthy_upstream");
  a.record("203.0.113.9", 101, NO_FLAGS, undefined);
  a.record("203.0.113.9", 302, NO_FLAGS, undefined);
  clock.advance(1000);
  a.record("203.0.113.7", 200, NO_FLAGS, undefined);
  const s = a.snapshot();
  t.is(s.series.byClass[0].length, 300);
  const last = (xs: number[], back: number): number => xs[xs.length - 1 - back];
  t.deepEqual([0, 1, 2, 3, 4].map((c) => last(s.series.byClass[c], 1)), [1, 2, 1, 2, 1]);
  t.is(last(s.series.noResponse, 1), 1);
  t.is(last(s.series.rbacDenied, 1), 1);
  t.is(last(s.series.rateLimited, 1), 1);
  t.is(last(s.series.byClass[1], 0), 1, "the current second");
  // "Now" is the last complete second, not the partial one.
  t.is(s.totals.lastSecond.requests, 8);
  t.deepEqual(s.totals.lastSecond.byClass, [1, 2, 1, 2, 1]);
  t.is(s.totals.window.requests, 9);
  t.is(s.totals.lastMinute.requests, 8);
  t.is(s.totals.window.rbacDenied, 1);
  t.is(s.totals.window.rateLimited, 1);
  t.deepEqual(s.topRateLimited.map((e) => [e.key, e.count]), [["203.0.113.9", 1]]);
  t.deepEqual(s.topDenied.map((e) => [e.key, e.count]), [["203.0.113.8", 1]]);
  t.deepEqual(s.topDenyReasons.map((e) => e.key), [DENIED]);
  t.deepEqual(s.topClients.map((e) => [e.key, e.count, e.error]), [["203.0.113.9", 5, 0], ["203.0.113.7", 3, 0], ["203.0.113.8", 1, 0]]);
});

test("details that are not an RBAC denial and flags other than RL are not counted as such", (t) => {
  const a = new ActivityRecorder({ now: fakeClock().now });
  a.record("198.51.100.1", 403, ["UAEX"], "ext_authz_denied");
  a.record("198.51.100.1", 403, NO_FLAGS, "rbac_allowed");
  a.record("198.51.100.1", 429, ["URL"], undefined);
  const s = a.snapshot();
  t.is(s.totals.window.rbacDenied, 0);
  t.is(s.totals.window.rateLimited, 0);
  t.deepEqual(s.topDenied, []);
  t.deepEqual(s.topRateLimited, []);
});

test("the window rolls over: old seconds and old top-k slices drop out, quiet seconds read as zero", (t) => {
  const clock = fakeClock();
  const a = new ActivityRecorder({ now: clock.now, windowSeconds: 60, epochSeconds: 10 });
  for (let i = 0; i < 5; i++) a.record("192.0.2.1", 200, NO_FLAGS, undefined);
  clock.advance(30_000);
  a.record("192.0.2.2", 500, NO_FLAGS, undefined);
  let s = a.snapshot();
  t.is(s.totals.window.requests, 6);
  t.deepEqual(s.topClients.map((e) => [e.key, e.count]), [["192.0.2.1", 5], ["192.0.2.2", 1]]);
  const first = s.series.byClass[1].indexOf(5);
  t.is(s.series.byClass[1].length - 1 - first, 30, "five 2xx thirty seconds ago");

  // 40 s later the first burst is 70 s old: out of the 60 s window, and its 10 s slice is gone too.
  clock.advance(40_000);
  s = a.snapshot();
  t.is(s.totals.window.requests, 1);
  t.deepEqual(s.topClients.map((e) => e.key), ["192.0.2.2"]);
  t.is(s.series.byClass[4].reduce((x, y) => x + y, 0), 1);

  // A jump longer than the window clears everything.
  clock.advance(3_600_000);
  s = a.snapshot();
  t.is(s.totals.window.requests, 0);
  t.deepEqual(s.topClients, []);
  t.true(s.series.byClass.every((c) => c.every((v) => v === 0)));

  // Recording resumes in the new second.
  a.record("192.0.2.3", 200, NO_FLAGS, undefined);
  t.is(a.snapshot().totals.window.requests, 1);
});

test("a clock that steps back keeps counting into the current second", (t) => {
  const clock = fakeClock();
  const a = new ActivityRecorder({ now: clock.now });
  clock.advance(5_000);
  a.record("192.0.2.1", 200, NO_FLAGS, undefined);
  clock.advance(-3_000);
  a.record("192.0.2.1", 200, NO_FLAGS, undefined);
  clock.advance(3_000);
  const s = a.snapshot();
  t.is(s.series.byClass[1][s.series.byClass[1].length - 1], 2);
});

test("per-client slice series and last-minute counts", (t) => {
  const clock = fakeClock(0);
  const a = new ActivityRecorder({ now: clock.now, windowSeconds: 120, epochSeconds: 10 });
  a.record("192.0.2.1", 200, NO_FLAGS, undefined); // slice 0, t=0
  clock.advance(100_000); // t=100 s: slice 10
  a.record("192.0.2.1", 200, NO_FLAGS, undefined);
  a.record("192.0.2.1", 200, NO_FLAGS, undefined);
  const [e] = a.snapshot().topClients;
  t.is(e.count, 3);
  t.is(e.lastMinute, 2, "the t=0 request is older than a minute");
  t.is(e.series.length, 13);
  t.is(e.series[e.series.length - 1], 2);
  t.is(e.series.reduce((x, y) => x + y, 0), 3);
});

test("memory stays bounded with one million distinct clients", (t) => {
  const clock = fakeClock(0);
  const k = 100;
  const a = new ActivityRecorder({ now: clock.now, topK: k, windowSeconds: 300, epochSeconds: 10 });
  const bound = k * (300 / 10 + 1);
  for (let i = 0; i < 1_000_000; i++) {
    // Every client is new, every one rate limited and denied: all four summaries see a million keys.
    if (i % 2_000 === 0) clock.advance(1_000);
    a.record(ipOf(i), 403, ["RL"], `rbac_access_denied_matched_policy[p${i}]`);
  }
  t.true(a.trackedKeys() <= 4 * bound, `tracked ${a.trackedKeys()}`);
  const s = a.snapshot({ top: 1000 });
  t.is(s.topClients.length, k, "top is capped at topK");
  t.is(s.totals.window.requests, 300 * 2_000);
  // The heavy hitter question still has an answer: one client that sends 5% of a slice is found among the noise.
  for (let i = 0; i < 20_000; i++) a.record(i % 20 === 0 ? "198.51.100.99" : ipOf(2_000_000 + i), 200, NO_FLAGS, undefined);
  const top = a.snapshot().topClients[0];
  t.is(top.key, "198.51.100.99");
  t.true(Math.abs(top.count - 1_000) <= top.error);
});

test("top-k on a skewed stream: the true heavy hitters, in order, within the reported error", (t) => {
  const random = rng(42);
  const sample = zipf(50_000, 1.1, random);
  const sk = new SpaceSaving(100);
  const exact = new Map<string, number>();
  const n = 500_000;
  for (let i = 0; i < n; i++) {
    const key = ipOf(sample());
    sk.add(key);
    exact.set(key, (exact.get(key) ?? 0) + 1);
  }
  const held = new Map<string, { count: number; error: number }>();
  sk.forEach((key, count, error) => held.set(key, { count, error }));
  t.is(held.size, 100);
  // Space-Saving's guarantees: every held count over-estimates by at most its error...
  for (const [key, { count, error }] of held) {
    const truth = exact.get(key)!;
    t.true(count >= truth && count - error <= truth, `${key}: ${count}-${error} vs ${truth}`);
  }
  // ...and every key with more than n/k occurrences is held.
  for (const [key, c] of exact) if (c > n / 100) t.true(held.has(key), key);
  const exactTop = [...exact].sort((x, y) => y[1] - x[1]).slice(0, 10).map((e) => e[0]);
  const sketchTop = [...held].sort((x, y) => y[1].count - x[1].count).slice(0, 10).map((e) => e[0]);
  t.deepEqual(sketchTop, exactTop);
});

test("top-k merged over slices: same heavy hitters, and |true - estimate| <= error", (t) => {
  const clock = fakeClock(0);
  const a = new ActivityRecorder({ now: clock.now, topK: 100, windowSeconds: 300, epochSeconds: 10 });
  const random = rng(7);
  const sample = zipf(20_000, 1.2, random);
  const exact = new Map<string, number>();
  for (let i = 0; i < 300_000; i++) {
    if (i % 1_000 === 0) clock.advance(1_000);
    const key = ipOf(sample());
    a.record(key, 200, NO_FLAGS, undefined);
    exact.set(key, (exact.get(key) ?? 0) + 1);
  }
  const top = a.snapshot({ top: 20 }).topClients;
  const exactTop = [...exact].sort((x, y) => y[1] - x[1]).slice(0, 10).map((e) => e[0]);
  t.deepEqual(top.slice(0, 10).map((e) => e.key), exactTop);
  for (const e of top) t.true(Math.abs(exact.get(e.key)! - e.count) <= e.error, `${e.key}: ${e.count}±${e.error} vs ${exact.get(e.key)}`);
});

test("exact while the distinct keys fit in k", (t) => {
  const sk = new SpaceSaving(4);
  for (const k of ["a", "b", "a", "c", "a", "b", "d"]) sk.add(k);
  const got: Array<[string, number, number]> = [];
  sk.forEach((key, c, e) => got.push([key, c, e]));
  t.deepEqual(got.sort(), [["a", 3, 0], ["b", 2, 0], ["c", 1, 0], ["d", 1, 0]]);
  t.is(sk.floor, 1);
  sk.add("e"); // evicts a count-1 key: e inherits count 1 as error
  const e: Array<[string, number, number]> = [];
  sk.forEach((key, c, err) => e.push([key, c, err]));
  t.deepEqual(e.find((x) => x[0] === "e"), ["e", 2, 1]);
  t.is(e.length, 4);
  sk.clear();
  t.is(sk.size, 0);
  t.is(sk.floor, 0);
});

test("bad options are refused with a named error", (t) => {
  for (const o of [{ windowSeconds: 1 }, { windowSeconds: 300, epochSeconds: 7 }, { topK: 0 }, { windowSeconds: 2.5 }]) {
    const err = t.throws(() => new ActivityRecorder(o), { instanceOf: ActivityOptionsError });
    t.is(err?.code, "ACTIVITY_OPTIONS");
  }
});
