// Host selection within one set of hosts (healthy, degraded, or all of them in panic mode), per lb_policy.
//
// A picker is built when the cluster's membership or health changes, never per request; `pick()` is the per-request
// work and is O(1) (round robin, random, power of two choices) or O(log n) (weighted schedules).
import type { LbPolicy } from "./config.js";

/** What a picker needs to know about a host. */
export interface Pickable {
  readonly weight: number;
  /** Requests in flight to this host (LEAST_REQUEST). */
  readonly rqActive: number;
}

export interface Picker<H extends Pickable> {
  pick(): H;
}

/** Round-robin position that survives picker rebuilds, so a health flap does not restart the rotation at host 0. */
export interface Cursor {
  i: number;
}

export function createPicker<H extends Pickable>(
  policy: LbPolicy,
  hosts: readonly H[],
  opts: { random: () => number; cursor: Cursor; choiceCount: number },
): Picker<H> {
  if (hosts.length === 0) throw new RangeError("a picker needs at least one host");
  const weighted = hosts.some((h) => h.weight !== hosts[0].weight);
  switch (policy) {
    case "ROUND_ROBIN":
      return weighted ? new EdfPicker(hosts, (h) => h.weight) : new RoundRobinPicker(hosts, opts.cursor);
    case "LEAST_REQUEST":
      // Envoy: equal weights ⇒ N random choices, fewest active requests wins; unequal weights ⇒ an EDF schedule
      // whose weights are divided by (active requests + 1) each time a host is re-queued (active_request_bias 1.0).
      return weighted
        ? new EdfPicker(hosts, (h) => h.weight / (h.rqActive + 1))
        : new LeastRequestPicker(hosts, opts.random, opts.choiceCount);
    case "RANDOM":
      // Envoy's random balancer ignores weights.
      return new RandomPicker(hosts, opts.random);
  }
}

class RoundRobinPicker<H extends Pickable> implements Picker<H> {
  constructor(private readonly hosts: readonly H[], private readonly cursor: Cursor) {}

  pick(): H {
    const i = this.cursor.i++ % this.hosts.length;
    if (this.cursor.i >= Number.MAX_SAFE_INTEGER) this.cursor.i = 0;
    return this.hosts[i];
  }
}

class RandomPicker<H extends Pickable> implements Picker<H> {
  constructor(private readonly hosts: readonly H[], private readonly random: () => number) {}

  pick(): H {
    return this.hosts[Math.floor(this.random() * this.hosts.length)];
  }
}

class LeastRequestPicker<H extends Pickable> implements Picker<H> {
  constructor(
    private readonly hosts: readonly H[],
    private readonly random: () => number,
    private readonly choices: number,
  ) {}

  pick(): H {
    // Sampling with replacement, as Envoy does; ties keep the first sample.
    const n = this.hosts.length;
    let best = this.hosts[Math.floor(this.random() * n)];
    for (let c = 1; c < this.choices; c++) {
      const h = this.hosts[Math.floor(this.random() * n)];
      if (h.rqActive < best.rqActive) best = h;
    }
    return best;
  }
}

/**
 * Earliest-deadline-first schedule (Envoy's EdfScheduler): each host is due at `deadline`, and when picked it is due
 * again 1/weight later. Over a cycle each host is picked in proportion to its weight, smoothly interleaved.
 */
class EdfPicker<H extends Pickable> implements Picker<H> {
  private readonly heap: { host: H; deadline: number; order: number }[] = [];
  private now = 0;
  private seq = 0;

  constructor(hosts: readonly H[], private readonly weightOf: (h: H) => number) {
    for (const h of hosts) this.push(h, 1 / weightOf(h));
  }

  pick(): H {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    this.now = top.deadline;
    this.push(top.host, this.now + 1 / this.weightOf(top.host));
    return top.host;
  }

  private push(host: H, deadline: number): void {
    const e = { host, deadline, order: this.seq++ };
    this.heap.push(e);
    this.up(this.heap.length - 1);
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a];
    const y = this.heap[b];
    return x.deadline < y.deadline || (x.deadline === y.deadline && x.order < y.order);
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      [this.heap[i], this.heap[p]] = [this.heap[p], this.heap[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      [this.heap[i], this.heap[m]] = [this.heap[m], this.heap[i]];
      i = m;
    }
  }
}
