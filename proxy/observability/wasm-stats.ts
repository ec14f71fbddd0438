// WASM traps, counted as stats. Each binding (the PROXY parser, the CIDR sets, the per-client buckets) catches a
// trap, ends only the input that caused it, re-instantiates its module and counts it; these counters make the
// count visible at each stats flush:
//   tollgate.wasm.proxy_protocol.trap   tollgate.wasm.cidr.trap   tollgate.wasm.buckets.trap
import { wasmTrapCount } from "../../wasm/index.js";
import { cidrTrapCount } from "../../wasm/cidr.js";
import { bucketTrapCount } from "../../wasm/buckets.js";
import type { StatsStore } from "./stats.js";

export function registerWasmTrapStats(stats: StatsStore): () => void {
  const sources: Array<[string, () => number]> = [
    ["tollgate.wasm.proxy_protocol.trap", wasmTrapCount],
    ["tollgate.wasm.cidr.trap", cidrTrapCount],
    ["tollgate.wasm.buckets.trap", bucketTrapCount],
  ];
  const tracked = sources.map(([name, read]) => ({ counter: stats.counter(name), read, seen: read() }));
  return stats.onFlush(() => {
    for (const t of tracked) {
      const now = t.read();
      if (now > t.seen) t.counter.inc(now - t.seen);
      t.seen = now;
    }
  });
}
