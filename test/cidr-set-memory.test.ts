// Memory of the CIDR sets: sets are created at config load and dropped on reload; WebAssembly memory must
// not grow with the number of reloads, live sets must survive being moved by compaction, memory is given
// back after a big set is dropped, and a set nobody disposes is released once garbage-collected.
// (Its own file: ava runs each file in a fresh process, so the CIDR instance holds only these sets.)
import test from "ava";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { WasmCidrSet, cidrMemoryStats, cidrTestHooks } from "../wasm/cidr.js";
import type { Cidr } from "../proxy/net/ip.js";
import { modelLongestMatch } from "./cidr-set-model.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function randomCidrs(n: number, seed: number): Cidr[] {
  const next = rng(seed);
  const out: Cidr[] = [];
  for (let i = 0; i < n; i++) {
    if (next() % 4 === 0) {
      const b = new Uint8Array(16);
      for (let k = 0; k < 16; k++) b[k] = next() & 0xff;
      b[0] = 0x20;
      out.push({ bytes: b, prefixLen: 16 + (next() % 113) });
    } else {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, next());
      out.push({ bytes: b, prefixLen: 8 + (next() % 25) });
    }
  }
  return out;
}

/** Checks a set against the model on addresses inside (and just beside) its own rules. */
function agrees(set: WasmCidrSet, cidrs: readonly Cidr[], samples: number, seed: number): boolean {
  const next = rng(seed);
  for (let k = 0; k < samples; k++) {
    const q = cidrs[next() % cidrs.length]!.bytes.slice();
    q[q.length - 1] ^= next() & 0xff;
    if (set.longestMatch(q) !== modelLongestMatch(cidrs, q)) return false;
  }
  return true;
}

test.serial("50 reloads (build the new config beside the old, then dispose the old) leave memory bounded", (t) => {
  // A "configuration": many small principal lists, a few trusted ranges, one allowlist of 5,000 ranges.
  const lists = Array.from({ length: 120 }, (_, i) => randomCidrs(1 + (i % 7), 1000 + i));
  const allow = randomCidrs(5000, 7);
  const load = (): WasmCidrSet[] => [...lists.map((c) => new WasmCidrSet(c)), new WasmCidrSet(allow)];
  const before = cidrMemoryStats();
  let current = load();
  const oneConfig = cidrMemoryStats().liveBytes - before.liveBytes;
  const memory: number[] = [];
  for (let reload = 0; reload < 50; reload++) {
    const next = load();
    for (const s of current) s.dispose();
    current = next;
    const stats = cidrMemoryStats();
    memory.push(stats.memoryBytes);
    t.is(stats.liveBytes - before.liveBytes, oneConfig, `reload ${reload}: live bytes are one configuration's`);
    t.is(stats.liveSets - before.liveSets, lists.length + 1);
  }
  // Memory reaches its high-water mark (two configurations plus one build's scratch) in the first
  // reloads and never moves after.
  t.is(memory[49], memory[2]);
  t.true(memory[49]! <= before.memoryBytes + 3 * oneConfig + 4 * 1024 * 1024, `memory ${memory[49]} for a configuration of ${oneConfig} bytes`);
  // The sets of the last load answer correctly after all that moving around.
  t.true(agrees(current[current.length - 1]!, allow, 200, 1));
  for (let i = 0; i < lists.length; i += 17) t.true(agrees(current[i]!, lists[i]!, 20, i));
  for (const s of current) s.dispose();
  t.is(cidrMemoryStats().liveSets, before.liveSets);
});

test.serial("compaction moves live sets without changing their answers", (t) => {
  const cs = [randomCidrs(300, 1), randomCidrs(2000, 2), randomCidrs(50, 3), randomCidrs(700, 4)];
  const [a, b, c] = cs.slice(0, 3).map((x) => new WasmCidrSet(x));
  a!.dispose();
  b!.dispose();
  const d = new WasmCidrSet(cs[3]!); // compacts first: c moves down to where a was
  t.true(agrees(c!, cs[2]!, 100, 5));
  t.true(agrees(d, cs[3]!, 100, 6));
  const placed = (bytes: number): number => Math.ceil(bytes / 64) * 64; // blocks start on 64-byte boundaries
  t.is(cidrMemoryStats().liveBytes, placed(c!.memoryBytes) + placed(d.memoryBytes));
  c!.dispose();
  d.dispose();
});

test.serial("memory is given back after a big set is dropped", (t) => {
  cidrTestHooks.setShrinkSlack(1024 * 1024);
  t.teardown(() => cidrTestHooks.setShrinkSlack(32 * 1024 * 1024));
  const small = randomCidrs(40, 11);
  const keep = new WasmCidrSet(small);
  const big = new WasmCidrSet(randomCidrs(200_000, 12));
  const grown = cidrMemoryStats().memoryBytes;
  t.true(grown > 8 * 1024 * 1024);
  big.dispose();
  const after = cidrMemoryStats().memoryBytes;
  t.true(after < grown / 4, `memory ${after} after dropping a set that had it at ${grown}`);
  t.true(agrees(keep, small, 100, 13)); // the survivor was copied into the fresh instance
  keep.dispose();
});

test.serial("a set that is never disposed is released when garbage-collected", async (t) => {
  const before = cidrMemoryStats().liveSets;
  (() => {
    for (let i = 0; i < 10; i++) new WasmCidrSet(randomCidrs(100, 20 + i));
  })();
  t.is(cidrMemoryStats().liveSets, before + 10);
  // FinalizationRegistry callbacks run as tasks after a collection: collect, yield, and look again.
  for (let round = 0; round < 50 && cidrMemoryStats().liveSets > before; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.is(cidrMemoryStats().liveSets, before);
});

test.serial("a disposed set's neighbours keep answering; new sets reuse the space", (t) => {
  const cidrs = randomCidrs(500, 30);
  const sets = Array.from({ length: 10 }, () => new WasmCidrSet(cidrs));
  const stats = cidrMemoryStats();
  for (let i = 0; i < 10; i += 2) sets[i]!.dispose();
  const again = Array.from({ length: 5 }, () => new WasmCidrSet(cidrs));
  t.is(cidrMemoryStats().memoryBytes, stats.memoryBytes);
  for (const s of again) t.true(agrees(s, cidrs, 30, 31));
  for (let i = 1; i < 10; i += 2) t.true(agrees(sets[i]!, cidrs, 30, 32));
  for (const s of [...sets, ...again]) s.dispose();
});
