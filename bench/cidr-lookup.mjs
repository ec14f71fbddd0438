// bench: standalone
// CIDR set lookups: Tollgate's WebAssembly set beside the npm matchers and Node's net.BlockList, at 10,
// 10,000 and 1,000,000 prefixes, plus build time and memory for 1,000,000 prefixes, in one run.
//
//   npm run build && node bench/cidr-lookup.mjs [--quick]
//
// Prefixes: a deterministic BGP-like mix, 80% IPv4 (60% /24, 15% /22-/23, 15% /16-/21, 5% /8-/15,
// 5% /25-/32) and 20% IPv6 (40% /48, 20% /32, 15% /64, 10% /128, 15% /29-/64) in 2001::/16-2003::/16.
// Queries: a pool of distinct addresses in the same family mix, half inside a random prefix (random host
// bits), half random; the pool is walked in order, so every lookup is a different address and the big
// sets are hit all over (no single hot path stays in cache).
//
// Timed operations (each returns whether the address is in the set):
//   tollgate bytes    set.containsBytes(ip)     the proxy's hot path: the address is already bytes (PROXY
//                                               header, or parsed once per connection)
//   tollgate text     set.contains(text)        parseIp + the lookup: text in, like the peers
//   cidr-matcher      matcher.contains(text)    npm cidr-matcher 2.1.1 (ip6addr; a linear scan of ranges)
//   ipaddr.js linear  ipaddr.process(text) then addr.match(range) over the parsed ranges of its kind
//   net.BlockList     blockList.check(text, family)   Node's built-in (C++, rules checked one by one)
// Timing: batches of ~BATCH_MS; implementations interleave round by round; a ns/op is the median over
// rounds, a ratio the median of per-round ratios. Each batch is timed twice: by the process's CPU time
// (process.cpuUsage, user + system) and by the wall clock. The tables use CPU time: on a shared machine
// (this one runs other jobs) the wall clock also counts the time the process waited for a CPU, which
// has nothing to do with the code measured; the wall-clock medians are in the JSON beside them. The linear peers at
// 1,000,000 prefixes take milliseconds per lookup: they get one round over a sample of SAMPLE_1M lookups
// each (the cap is printed), after being checked on the same sample.
// Results: a table on stdout, JSON in bench/results/cidr-lookup.json (+ a timestamped copy).
import { createRequire } from "node:module";
import net from "node:net";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { machineInfo, pkgVersion } from "./lib/report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const require = createRequire(import.meta.url);
const quick = process.argv.includes("--quick");

const ROUNDS = quick ? 5 : 15;
const BATCH_MS = quick ? 10 : 20;
const WARMUP_MS = quick ? 50 : 200;
const SAMPLE_1M = 40; // lookups per linear peer at 1,000,000 prefixes
const BUILDS_1M = quick ? 1 : 3;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

// ---------------------------------------------------------------------------------------------------------
// Tollgate: the built output when present (what ships), else the sources through tsx.
async function loadTollgate() {
  const distCidr = join(root, "dist/wasm/cidr.js");
  const distIp = join(root, "dist/proxy/net/ip.js");
  if (existsSync(distCidr) && existsSync(distIp)) {
    let note = "dist/ (npm run build output)";
    const src = join(root, "wasm/cidr.ts");
    if (existsSync(src) && statSync(src).mtimeMs > statSync(distCidr).mtimeMs) {
      note += "; WARNING: wasm/cidr.ts is newer than dist/wasm/cidr.js, run `npm run build`";
    }
    return { cidr: await import(pathToFileURL(distCidr).href), ip: await import(pathToFileURL(distIp).href), note };
  }
  const { register } = await import("tsx/esm/api");
  register();
  const cidr = await import(pathToFileURL(join(root, "wasm/cidr.ts")).href);
  const ip = await import(pathToFileURL(join(root, "proxy/net/ip.ts")).href);
  return { cidr, ip, note: "sources via tsx (dist/ not built)" };
}

const { cidr: tollgate, ip, note: tollgateSource } = await loadTollgate();
const CidrMatcherNpm = require("cidr-matcher");
const ipaddr = require("ipaddr.js");

// ---------------------------------------------------------------------------------------------------------
// Data
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function v4Len(next) {
  const r = next() % 100;
  if (r < 60) return 24;
  if (r < 75) return 22 + (next() % 2);
  if (r < 90) return 16 + (next() % 6);
  if (r < 95) return 8 + (next() % 8);
  return 25 + (next() % 8);
}
function v6Len(next) {
  const r = next() % 100;
  if (r < 40) return 48;
  if (r < 60) return 32;
  if (r < 75) return 64;
  if (r < 85) return 128;
  return 29 + (next() % 36);
}
function maskInPlace(b, len) {
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    b[i] &= (0xff00 >> keep) & 0xff;
  }
  return b;
}
function randomAddress(next, v6) {
  if (!v6) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, next());
    return b;
  }
  const b = new Uint8Array(16);
  for (let k = 0; k < 16; k++) b[k] = next() & 0xff;
  b[0] = 0x20;
  b[1] = 0x01 + (next() % 3);
  return b;
}

/** n prefixes (80% IPv4), as Cidr objects and as text. */
function makePrefixes(n, seed) {
  const next = rng(seed);
  const cidrs = [];
  for (let i = 0; i < n; i++) {
    const v6 = i % 5 === 4;
    const len = v6 ? v6Len(next) : v4Len(next);
    cidrs.push({ bytes: maskInPlace(randomAddress(next, v6), len), prefixLen: len });
  }
  return { cidrs, texts: cidrs.map((c) => `${ip.formatIp(c.bytes)}/${c.prefixLen}`) };
}

/** q queries: half inside a random prefix, half random; `family` 0 = the 80/20 mix, 4 or 6 = only that. */
function makeQueries(cidrs, q, seed, family = 0) {
  const next = rng(seed);
  const bytes = [];
  while (bytes.length < q) {
    let b;
    if (next() & 1) {
      const c = cidrs[next() % cidrs.length];
      b = c.bytes.slice();
      for (let bit = c.prefixLen; bit < b.length * 8; bit++) if (next() & 1) b[bit >> 3] |= 0x80 >> (bit & 7);
    } else {
      b = randomAddress(next, family === 6 || (family === 0 && next() % 5 === 4));
    }
    if (family === 4 && b.length !== 4) continue;
    if (family === 6 && b.length !== 16) continue;
    bytes.push(b);
  }
  const texts = bytes.map((b) => ip.formatIp(b));
  return { bytes, texts, kinds: bytes.map((b) => (b.length === 4 ? "ipv4" : "ipv6")) };
}

// ---------------------------------------------------------------------------------------------------------
// Implementations: build(prefixes) -> state; loop(state, queries, start, n) -> hits. One loop function
// per implementation, so each keeps its own type feedback.
const IMPLS = {
  "tollgate bytes": {
    build: (p) => new tollgate.WasmCidrSet(p.cidrs),
    loop(set, qs, start, n) {
      const b = qs.bytes, mask = b.length - 1;
      let hits = 0;
      for (let i = 0; i < n; i++) if (set.containsBytes(b[(start + i) & mask])) hits++;
      return hits;
    },
    dispose: (set) => set.dispose(),
  },
  "tollgate text": {
    shares: "tollgate bytes",
    loop(set, qs, start, n) {
      const t = qs.texts, mask = t.length - 1;
      let hits = 0;
      for (let i = 0; i < n; i++) if (set.contains(t[(start + i) & mask])) hits++;
      return hits;
    },
  },
  "cidr-matcher": {
    build: (p) => new CidrMatcherNpm(p.texts),
    loop(m, qs, start, n) {
      const t = qs.texts, mask = t.length - 1;
      let hits = 0;
      for (let i = 0; i < n; i++) if (m.contains(t[(start + i) & mask])) hits++;
      return hits;
    },
  },
  "ipaddr.js linear": {
    build(p) {
      const v4 = [], v6 = [];
      for (const t of p.texts) {
        const r = ipaddr.parseCIDR(t);
        (r[0].kind() === "ipv4" ? v4 : v6).push(r);
      }
      return { v4, v6 };
    },
    loop(s, qs, start, n) {
      const t = qs.texts, mask = t.length - 1;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const a = ipaddr.process(t[(start + i) & mask]);
        const ranges = a.kind() === "ipv4" ? s.v4 : s.v6;
        for (let k = 0; k < ranges.length; k++) {
          if (a.match(ranges[k])) {
            hits++;
            break;
          }
        }
      }
      return hits;
    },
  },
  "net.BlockList": {
    build(p) {
      const bl = new net.BlockList();
      for (const c of p.cidrs) bl.addSubnet(ip.formatIp(c.bytes), c.prefixLen, c.bytes.length === 4 ? "ipv4" : "ipv6");
      return bl;
    },
    loop(bl, qs, start, n) {
      const t = qs.texts, k = qs.kinds, mask = t.length - 1;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const j = (start + i) & mask;
        if (bl.check(t[j], k[j])) hits++;
      }
      return hits;
    },
  },
};
const NAMES = Object.keys(IMPLS);
const LINEAR = new Set(["cidr-matcher", "ipaddr.js linear", "net.BlockList"]);

// ---------------------------------------------------------------------------------------------------------
// Measurement
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
let sink = 0;
/** Runs fn once: CPU ns (user + system of the whole process), wall-clock ns, and fn's result. */
function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = fn();
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { ns: (c.user + c.system) * 1000, wall, r };
}

/** The answers of tollgate bytes on the first `n` queries: every implementation must give the same. */
function expected(set, qs, n) {
  return qs.bytes.slice(0, n).map((b) => set.containsBytes(b));
}
function agrees(impl, state, qs, want) {
  for (let i = 0; i < want.length; i++) if ((IMPLS[impl].loop(state, qs, i, 1) === 1) !== want[i]) return `query ${qs.texts[i]}: expected ${want[i]}`;
  return null;
}

/** Interleaved rounds over the implementations in `entries` ({ impl, state, qs }). */
function measure(entries) {
  for (const e of entries) {
    const loop = IMPLS[e.impl].loop;
    const warmEnd = process.hrtime.bigint() + BigInt(WARMUP_MS * 1e6);
    let start = 0;
    while (process.hrtime.bigint() < warmEnd) sink += loop(e.state, e.qs, (start += 997), 997);
    let n = 16;
    for (;;) {
      const { wall } = timed(() => loop(e.state, e.qs, 0, n));
      if (wall >= 2e6 || n >= 1 << 24) {
        e.n = Math.max(1, Math.round((n * BATCH_MS * 1e6) / wall));
        break;
      }
      n *= 4;
    }
    e.rounds = [];
    e.wallRounds = [];
    e.start = 0;
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of entries) {
      const { ns, wall, r: hits } = timed(() => IMPLS[e.impl].loop(e.state, e.qs, e.start, e.n));
      sink += hits;
      e.start = (e.start + e.n) & (e.qs.texts.length - 1);
      e.rounds.push(ns / e.n);
      e.wallRounds.push(wall / e.n);
    }
  }
}

/** JS heap in use after a full collection. (net.BlockList keeps its rules in native memory: not counted.) */
function memoryNow() {
  gc();
  return process.memoryUsage().heapUsed;
}

// ---------------------------------------------------------------------------------------------------------
// Run
const started = Date.now();
const loadAtStart = loadavg()[0];
const sizes = [10, 10_000, 1_000_000];
const lookups = [];
let build1M = null;

for (const size of sizes) {
  const prefixes = makePrefixes(size, 1000 + size);
  const qs = makeQueries(prefixes.cidrs, size >= 1_000_000 ? 1 << 18 : 1 << 14, 77 + size);
  const row = { prefixes: size, queries: qs.texts.length, results: {}, perRoundRatios: {} };
  const tg = IMPLS["tollgate bytes"].build(prefixes);
  const want = expected(tg, qs, size >= 1_000_000 ? SAMPLE_1M : 500);
  row.hitRate = want.filter(Boolean).length / want.length;
  const entries = [];
  const sampled = [];
  for (const impl of NAMES) {
    if (impl.startsWith("tollgate")) {
      entries.push({ impl, state: tg, qs });
      continue;
    }
    if (quick && size >= 1_000_000) {
      row.results[impl] = { na: "skipped with --quick" };
      continue;
    }
    const memBefore = size >= 1_000_000 ? memoryNow() : null;
    const { wall: buildNs, r: state } = timed(() => IMPLS[impl].build(prefixes));
    const problem = agrees(impl, state, qs, want);
    if (problem) {
      row.results[impl] = { na: `wrong result: ${problem}` };
      continue;
    }
    if (size >= 1_000_000 && LINEAR.has(impl)) {
      // Linear in the set size: one round over a fixed sample, then the structure is dropped.
      const mem = memoryNow();
      const { ns } = timed(() => IMPLS[impl].loop(state, qs, 0, SAMPLE_1M));
      sampled.push(impl);
      row.results[impl] = {
        nsPerOp: ns / SAMPLE_1M, sampledLookups: SAMPLE_1M, buildMs: buildNs / 1e6,
        heapBytes: impl === "net.BlockList" ? null : mem - memBefore,
      };
      continue;
    }
    entries.push({ impl, state, qs });
  }
  measure(entries);
  const base = entries.find((e) => e.impl === "tollgate text");
  const bytesBase = entries.find((e) => e.impl === "tollgate bytes");
  for (const e of entries) {
    row.results[e.impl] = {
      nsPerOp: median(e.rounds), minNsPerOp: Math.min(...e.rounds), maxNsPerOp: Math.max(...e.rounds),
      wallNsPerOp: median(e.wallRounds), iterationsPerRound: e.n,
    };
    if (e !== base) row.perRoundRatios[e.impl] = median(e.rounds.map((ns, i) => ns / base.rounds[i]));
  }
  for (const impl of sampled) row.perRoundRatios[impl] = row.results[impl].nsPerOp / row.results["tollgate text"].nsPerOp;
  row.tollgateBytesVsText = median(bytesBase.rounds.map((ns, i) => ns / base.rounds[i]));

  if (size >= 1_000_000) {
    // Per family, tollgate bytes only: IPv6 walks are longer.
    row.byFamily = {};
    for (const family of [4, 6]) {
      const fq = makeQueries(prefixes.cidrs, 1 << 18, 99 + family, family);
      const e = { impl: "tollgate bytes", state: tg, qs: fq };
      measure([e]);
      row.byFamily[`ipv${family}`] = { nsPerOp: median(e.rounds), minNsPerOp: Math.min(...e.rounds), maxNsPerOp: Math.max(...e.rounds), wallNsPerOp: median(e.wallRounds) };
    }
    // Build time and memory: fresh builds from the same Cidr[] (the first one is the set measured above).
    tg.dispose();
    const buildMs = [];
    let stats = null;
    let blockBytes = 0;
    for (let b = 0; b < BUILDS_1M; b++) {
      const before = tollgate.cidrMemoryStats();
      const { wall, r: set } = timed(() => new tollgate.WasmCidrSet(prefixes.cidrs));
      buildMs.push(wall / 1e6);
      stats = tollgate.cidrMemoryStats();
      blockBytes = set.memoryBytes;
      stats.liveBytesOfOthers = before.liveBytes;
      set.dispose();
    }
    build1M = {
      prefixes: size,
      ipv4: prefixes.cidrs.filter((c) => c.bytes.length === 4).length,
      tollgate: {
        buildMs: median(buildMs),
        buildMsAll: buildMs,
        setBytes: blockBytes,
        wasmMemoryBytes: stats.memoryBytes,
        retainedJsBytes: stats.retainedBytes,
      },
      peers: Object.fromEntries(Object.entries(row.results).filter(([k, v]) => !k.startsWith("tollgate") && v.buildMs !== undefined).map(([k, v]) => [k, { buildMs: v.buildMs, heapBytes: v.heapBytes }])),
    };
  } else {
    tg.dispose();
  }
  lookups.push(row);
}

// ---------------------------------------------------------------------------------------------------------
// Report
const fmt = (r) => (!r ? "" : r.na ? "n/a" : `${r.nsPerOp < 100 ? r.nsPerOp.toFixed(1) : r.nsPerOp < 1e5 ? r.nsPerOp.toFixed(0) : `${(r.nsPerOp / 1e6).toFixed(2)} ms`}${r.sampledLookups ? "*" : ""}`);
const x = (v) => (v === undefined ? "n/a" : v >= 100 ? `${Math.round(v).toLocaleString("en-US")}x` : `${v.toFixed(1)}x`);
const header = ["prefixes", ...NAMES.map((n) => `${n} ns`), "cidr-matcher / text", "ipaddr.js / text", "BlockList / text"];
const rows = lookups.map((r) => [
  r.prefixes.toLocaleString("en-US"),
  ...NAMES.map((n) => fmt(r.results[n])),
  x(r.perRoundRatios["cidr-matcher"]),
  x(r.perRoundRatios["ipaddr.js linear"]),
  x(r.perRoundRatios["net.BlockList"]),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(" | ")} |`;
const table = [line(header), `|${widths.map((w) => `${"-".repeat(w + 1)}:`).join("|")}|`, ...rows.map(line)];

const machine = machineInfo(loadAtStart);
const report = {
  benchmark: "cidr-lookup",
  date: new Date().toISOString(),
  command: `node bench/cidr-lookup.mjs${quick ? " --quick" : ""}`,
  tollgateSource,
  machine,
  peers: { "cidr-matcher": pkgVersion("cidr-matcher"), "ipaddr.js": pkgVersion("ipaddr.js"), "net.BlockList": `node ${process.version}` },
  method: {
    rounds: ROUNDS, batchMs: BATCH_MS, warmupMs: WARMUP_MS, linearPeersAt1MSampledLookups: SAMPLE_1M,
    statistic: "median CPU-time ns/op over rounds (wallNsPerOp: wall clock); ratios are medians of per-round ratios against tollgate text (sampled peers: ratio of the sample's mean to tollgate text's median); build times are wall clock",
  },
  lookups,
  build1M,
  elapsedMs: Date.now() - started,
  sink,
};

const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
console.log(`cidr-lookup: CPU ns per lookup (median of ${ROUNDS} rounds); queries walk a pool of distinct addresses, ~half inside the set`);
console.log(`node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), load average ${loadAtStart.toFixed(2)} -> ${machine.loadAverage1mAtEnd.toFixed(2)}; tollgate from ${tollgateSource}`);
console.log(table.join("\n"));
console.log(`* one round of ${SAMPLE_1M} lookups (a linear scan of 1,000,000 ranges per lookup); "X / text" = X ns / tollgate text ns`);
const big = lookups.find((r) => r.byFamily);
if (big) console.log(`tollgate bytes at 1,000,000 prefixes by query family: IPv4 ${big.byFamily.ipv4.nsPerOp.toFixed(0)} ns, IPv6 ${big.byFamily.ipv6.nsPerOp.toFixed(0)} ns`);
if (build1M) {
  const t = build1M.tollgate;
  console.log(`build 1,000,000 prefixes (${build1M.ipv4.toLocaleString("en-US")} IPv4): tollgate ${t.buildMs.toFixed(0)} ms (median of ${t.buildMsAll.length}); set ${mb(t.setBytes)}, WebAssembly memory ${mb(t.wasmMemoryBytes)}, input kept for trap recovery ${mb(t.retainedJsBytes)}`);
  for (const [k, v] of Object.entries(build1M.peers)) {
    console.log(`  ${k}: build ${v.buildMs.toFixed(0)} ms, ${v.heapBytes === null ? "rules in native memory (not measured)" : `JS heap +${mb(v.heapBytes)}`}`);
  }
}
for (const r of lookups) for (const [impl, v] of Object.entries(r.results)) if (v.na) console.log(`n/a  ${impl} at ${r.prefixes}: ${v.na}`);

const resultsDir = join(here, "results");
mkdirSync(resultsDir, { recursive: true });
const json = `${JSON.stringify(report, null, 2)}\n`;
writeFileSync(join(resultsDir, "cidr-lookup.json"), json);
writeFileSync(join(resultsDir, `cidr-lookup-${report.date.replace(/[:.]/g, "-")}.json`), json);
console.log(`wrote bench/results/cidr-lookup.json (${(report.elapsedMs / 1000).toFixed(1)} s)`);
