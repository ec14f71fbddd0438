// bench: standalone
// PROXY header parse cost: Tollgate's WASM parser beside the npm parsers and a memcpy floor, in one run.
//
//   npm run build && node bench/proxy-parse.mjs [--quick]
//
// Every timed operation starts from the bytes as a socket hands them over (a Buffer) and ends with the
// client's source address as text plus its port, because that is the work a proxy must do per connection:
//   tollgate parseInto  parser.parseInto(bytes, out) (copies into WASM memory, parses, reads numbers into a
//                       reused ProxyParseOutput; TLVs copied out) + formatIpv4(out.srcV4) / formatIpv6:
//                       the path the listener filter takes
//   tollgate parse      parser.parse(bytes) (the same, then builds the plain result objects: addresses as
//                       Uint8Arrays) + formatIp(source.ip)
//   proxy-protocol-js   v1: V1ProxyProtocol.parse(buf.toString("latin1")) (its faster v1 entry point);
//                       v2: V2ProxyProtocol.parse(buf) + sourceAddress.address.join(".")
//   @balena/...         decode(buf) (returns the address as text already)
//   memcpy floor        dst.set(bytes) into a preallocated Uint8Array + read one byte: the cost of merely
//                       handing the bytes to WASM, below which no WASM parser can go
// A second table splits the parseInto path of v1 TCP4 and v2 TCP4 into its parts (floor, module call,
// binding, address text) with the same method.
// Timing: process.hrtime.bigint around batches sized to ~BATCH_MS each; implementations interleave round
// by round so machine drift hits all alike. Reported: the median ns/op of the rounds, and each ratio as the
// median of the per-round ratios (both sides measured back to back), which a loaded machine disturbs less
// than a ratio of medians. Results go to stdout as a table and to bench/results/proxy-parse.json (+ a
// timestamped copy).
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { machineInfo, pkgVersion } from "./lib/report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const require = createRequire(import.meta.url);
const quick = process.argv.includes("--quick");

const ROUNDS = quick ? 5 : 21;
const BATCH_MS = quick ? 5 : 10;
const WARMUP_MS = quick ? 50 : 250;

// ---------------------------------------------------------------------------------------------------------
// Tollgate's parser: the built output when present (what ships), else the sources through tsx.
async function loadTollgate() {
  const distIndex = join(root, "dist/wasm/index.js");
  const distIp = join(root, "dist/proxy/net/ip.js");
  if (existsSync(distIndex) && existsSync(distIp)) {
    const srcIndex = join(root, "wasm/index.ts");
    let note = "dist/ (npm run build output)";
    if (existsSync(srcIndex) && statSync(srcIndex).mtimeMs > statSync(distIndex).mtimeMs) {
      note += "; WARNING: wasm/index.ts is newer than dist/wasm/index.js, run `npm run build`";
    }
    const wasm = await import(pathToFileURL(distIndex).href);
    const ip = await import(pathToFileURL(distIp).href);
    return { wasm, ip, note };
  }
  const { register } = await import("tsx/esm/api");
  register();
  const wasm = await import(pathToFileURL(join(root, "wasm/index.ts")).href);
  const ip = await import(pathToFileURL(join(root, "proxy/net/ip.ts")).href);
  return { wasm, ip, note: "sources via tsx (dist/ not built)" };
}

const { wasm, ip, note: tollgateSource } = await loadTollgate();
const parser = new wasm.ProxyParser();
const out = new wasm.ProxyParseOutput();
const PROXY_OK = wasm.PROXY_OK;
const { formatIp, formatIpv4, formatIpv6 } = ip;
const ppjs = require("proxy-protocol-js");
const balena = require("@balena/proxy-protocol-parser");

// ---------------------------------------------------------------------------------------------------------
// Inputs. Each is a Buffer holding exactly one header, as the first read of a connection would.
const V2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const tlv = (type, value) => {
  const v = typeof value === "string" ? Buffer.from(value, "latin1") : Buffer.from(value);
  return Buffer.concat([Buffer.from([type, v.length >> 8, v.length & 0xff]), v]);
};
const v2 = (family, addresses, tlvs) => {
  const body = Buffer.concat([Buffer.from(addresses), ...tlvs]);
  return Buffer.concat([Buffer.from([...V2_SIG, 0x21, family, body.length >> 8, body.length & 0xff]), body]);
};
const port = (p) => [p >> 8, p & 0xff];
const v4src = [203, 0, 113, 7];
const v4dst = [10, 0, 0, 9];
const v6src = [0x20, 0x01, 0x0d, 0xb8, 0x85, 0xa3, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34];
const v6dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
// ~100 bytes of TLVs, the kind a TLS-terminating LB sends: ALPN, authority, unique id, SSL with two
// sub-TLVs, and a NOOP pad.
const sslTlv = tlv(0x20, Buffer.concat([Buffer.from([0x07, 0, 0, 0, 0]), tlv(0x21, "TLSv1.3"), tlv(0x22, "client.example")]));
const richTlvs = [tlv(0x01, "h2"), tlv(0x02, "api.example.com"), tlv(0x05, Buffer.alloc(32, 0x5a)), sslTlv, tlv(0x04, Buffer.alloc(4))];
const VPCE_ID = "vpce-08d2bf15fac5001c9";
const awsTlv = tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from(VPCE_ID, "latin1")]));

const CASES = [
  {
    id: "v1-tcp4",
    title: "v1 TCP4",
    bytes: Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.9 51234 10000\r\n", "latin1"),
    expect: "203.0.113.7:51234",
  },
  {
    id: "v2-tcp4",
    title: "v2 TCP4",
    bytes: v2(0x11, [...v4src, ...v4dst, ...port(51234), ...port(10000)], []),
    expect: "203.0.113.7:51234",
  },
  {
    id: "v2-tcp6-tlvs",
    title: "v2 TCP6 + TLVs",
    bytes: v2(0x21, [...v6src, ...v6dst, ...port(51234), ...port(10000)], richTlvs),
    expect: "2001:db8:85a3::8a2e:370:7334:51234",
    tlvBytes: richTlvs.reduce((n, t) => n + t.length, 0),
    peersNa: "ignores the v2 length field and TLVs: cannot tell where the header ends",
  },
  {
    id: "v2-tcp4-aws-vpce",
    title: "v2 TCP4 + AWS VPCE TLV",
    bytes: v2(0x11, [...v4src, ...v4dst, ...port(51234), ...port(10000)], [awsTlv]),
    expect: "203.0.113.7:51234",
    peersNa: "no TLV support: cannot return the VPC endpoint id (nor where the header ends)",
  },
  {
    id: "v2-tcp4-aws-vpce-decoded",
    title: "  same, + decodeTlvs (id as text)",
    bytes: v2(0x11, [...v4src, ...v4dst, ...port(51234), ...port(10000)], [awsTlv]),
    expect: "203.0.113.7:51234",
    decodeTlvs: true,
    peersNa: "no TLV support",
  },
];

// ---------------------------------------------------------------------------------------------------------
// The timed operations. One function literal per implementation and mode, so that each loop keeps its
// own type feedback (a shared `fn(input)` call site would go megamorphic and tax the cheapest op most).
// Each returns a checksum and keeps the address text it made in `kept` (as a proxy keeps it in the
// connection), so that no work can be optimised away: with only the text's length used, the compiler
// could skip building a string made by concatenation.
let kept = "";
function tollgateLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const r = parser.parse(input);
    if (r.status !== "ok") throw new Error(`tollgate: ${r.status} ${r.code ?? ""}`);
    const src = r.header.source;
    kept = formatIp(src.ip);
    sink += kept.length + src.port;
  }
  return sink;
}
function tollgateIntoLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    if (parser.parseInto(input, out) !== PROXY_OK) throw new Error(`tollgate parseInto: ${out.status} ${out.errorCode}`);
    kept = out.srcLength === 4 ? formatIpv4(out.srcV4) : formatIpv6(out.srcBytes, 0);
    sink += kept.length + out.srcPort;
  }
  return sink;
}
function tollgateIntoDecodedLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    if (parser.parseInto(input, out) !== PROXY_OK) throw new Error(`tollgate parseInto: ${out.status} ${out.errorCode}`);
    const id = wasm.decodeTlvs(out).awsVpceId;
    kept = out.srcLength === 4 ? formatIpv4(out.srcV4) : formatIpv6(out.srcBytes, 0);
    sink += kept.length + out.srcPort + id.length;
  }
  return sink;
}
function tollgateDecodedLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const r = parser.parse(input);
    if (r.status !== "ok") throw new Error(`tollgate: ${r.status} ${r.code ?? ""}`);
    const src = r.header.source;
    const id = wasm.decodeTlvs(r.header).awsVpceId;
    kept = formatIp(src.ip);
    sink += kept.length + src.port + id.length;
  }
  return sink;
}
function ppjsV1Loop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const p = ppjs.V1ProxyProtocol.parse(input.toString("latin1"));
    kept = p.source.ipAddress;
    sink += kept.length + p.source.port;
  }
  return sink;
}
function ppjsV2Loop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const p = ppjs.V2ProxyProtocol.parse(input);
    const a = p.proxyAddress;
    kept = a.sourceAddress.address.join(".");
    sink += kept.length + a.sourcePort;
  }
  return sink;
}
function balenaLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const d = balena.decode(input);
    kept = d.remoteAddress;
    sink += kept.length + d.remotePort;
  }
  return sink;
}
const floorDst = new Uint8Array(65536 + 16);
function floorLoop(input, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    floorDst.set(input);
    sink += floorDst[0];
  }
  return sink;
}

// Correctness first: an implementation is timed on a case only if it returns the right client address.
function check(impl, c) {
  switch (impl) {
    case "tollgate parseInto": {
      if (parser.parseInto(c.bytes, out) !== PROXY_OK) return `parseInto status ${out.status} ${out.errorCode}`;
      const text = out.srcLength === 4 ? formatIpv4(out.srcV4) : formatIpv6(out.srcBytes, 0);
      const got = `${text}:${out.srcPort}`;
      if (got !== c.expect) return `source ${got}, expected ${c.expect}`;
      if (out.headerLength !== c.bytes.length) return `headerLength ${out.headerLength}, expected ${c.bytes.length}`;
      if (c.decodeTlvs && wasm.decodeTlvs(out).awsVpceId !== VPCE_ID) return "awsVpceId not decoded";
      return null;
    }
    case "tollgate parse": {
      const r = parser.parse(c.bytes);
      if (r.status !== "ok") return `parse status ${r.status} ${r.code ?? ""} ${r.message ?? ""}`;
      const got = `${formatIp(r.header.source.ip)}:${r.header.source.port}`;
      if (got !== c.expect) return `source ${got}, expected ${c.expect}`;
      if (r.header.headerLength !== c.bytes.length) return `headerLength ${r.header.headerLength}, expected ${c.bytes.length}`;
      if (c.decodeTlvs && wasm.decodeTlvs(r.header).awsVpceId !== VPCE_ID) return "awsVpceId not decoded";
      return null;
    }
    case "proxy-protocol-js": {
      if (c.bytes[0] === 0x50) {
        const p = ppjs.V1ProxyProtocol.parse(c.bytes.toString("latin1"));
        const got = `${p.source.ipAddress}:${p.source.port}`;
        return got === c.expect ? null : `source ${got}`;
      }
      const p = ppjs.V2ProxyProtocol.parse(c.bytes);
      const got = `${p.proxyAddress.sourceAddress.address.join(".")}:${p.proxyAddress.sourcePort}`;
      return got === c.expect ? null : `source ${got}`;
    }
    case "@balena/proxy-protocol-parser": {
      const d = balena.decode(c.bytes);
      const got = `${d.remoteAddress}:${d.remotePort}`;
      return got === c.expect ? null : `source ${got}`;
    }
    default:
      return null;
  }
}

function loopFor(impl, c) {
  switch (impl) {
    case "tollgate parseInto":
      return c.decodeTlvs ? tollgateIntoDecodedLoop : tollgateIntoLoop;
    case "tollgate parse":
      return c.decodeTlvs ? tollgateDecodedLoop : tollgateLoop;
    case "proxy-protocol-js":
      return c.bytes[0] === 0x50 ? ppjsV1Loop : ppjsV2Loop;
    case "@balena/proxy-protocol-parser":
      return balenaLoop;
    case "memcpy floor":
      return floorLoop;
  }
  throw new Error(impl);
}

const TOLLGATE = ["tollgate parseInto", "tollgate parse"];
const IMPLS = [...TOLLGATE, "proxy-protocol-js", "@balena/proxy-protocol-parser", "memcpy floor"];

function timeBatch(loop, input, n) {
  const t0 = process.hrtime.bigint();
  loop(input, n);
  return Number(process.hrtime.bigint() - t0);
}

/** Iterations that take about `ms` milliseconds. */
function calibrate(loop, input, ms) {
  let n = 64;
  for (;;) {
    const ns = timeBatch(loop, input, n);
    if (ns >= 2e6 || n >= 1 << 26) return Math.max(1, Math.round((n * ms * 1e6) / ns));
    n *= 4;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const started = Date.now();
const loadAtStart = loadavg()[0];
const results = [];
for (const c of CASES) {
  const entries = [];
  for (const impl of IMPLS) {
    if (!TOLLGATE.includes(impl) && impl !== "memcpy floor" && c.peersNa) {
      entries.push({ impl, na: c.peersNa });
      continue;
    }
    let problem;
    try {
      problem = check(impl, c);
    } catch (e) {
      problem = `threw ${e instanceof Error ? e.message : String(e)}`;
    }
    if (problem) {
      entries.push({ impl, na: `wrong result: ${problem}` });
      continue;
    }
    const loop = loopFor(impl, c);
    const warmEnd = process.hrtime.bigint() + BigInt(WARMUP_MS * 1e6);
    while (process.hrtime.bigint() < warmEnd) loop(c.bytes, 1000);
    entries.push({ impl, loop, n: calibrate(loop, c.bytes, BATCH_MS), rounds: [] });
  }
  const timed = entries.filter((e) => e.loop);
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of timed) e.rounds.push(timeBatch(e.loop, c.bytes, e.n) / e.n);
  }
  const byImpl = {};
  for (const e of entries) {
    byImpl[e.impl] = e.na
      ? { na: e.na }
      : { nsPerOp: median(e.rounds), minNsPerOp: Math.min(...e.rounds), maxNsPerOp: Math.max(...e.rounds), iterationsPerRound: e.n };
  }
  // Per-round ratios: each tollgate API against each other implementation, measured in the same round.
  const perRoundRatios = {};
  for (const api of TOLLGATE) {
    const tollgate = entries.find((e) => e.impl === api && e.loop);
    if (tollgate === undefined) continue;
    const ratios = (perRoundRatios[api] = {});
    for (const e of timed) {
      if (e === tollgate || TOLLGATE.includes(e.impl)) continue;
      ratios[e.impl] = median(e.rounds.map((ns, i) => ns / tollgate.rounds[i]));
    }
  }
  results.push({ case: c.id, title: c.title, headerBytes: c.bytes.length, ...(c.tlvBytes ? { tlvBytes: c.tlvBytes } : {}), results: byImpl, perRoundRatios });
}

// ---------------------------------------------------------------------------------------------------------
// Report.
const fmtNs = (r) => (r === undefined || r.na ? "n/a" : r.nsPerOp < 100 ? r.nsPerOp.toFixed(1) : r.nsPerOp.toFixed(0));
// "vs X": X ns / tollgate ns (above 1: tollgate is faster); "over floor": tollgate ns / floor ns. Both from
// per-round ratios; each cell gives parseInto first, parse() in parentheses.
const rows = results.map((r) => {
  r.ratios = {};
  for (const api of TOLLGATE) {
    const q = r.perRoundRatios[api] ?? {};
    const peers = ["proxy-protocol-js", "@balena/proxy-protocol-parser"].map((p) => q[p]).filter((x) => x !== undefined);
    r.ratios[api] = {
      vsPpjs: q["proxy-protocol-js"] ?? null,
      vsBalena: q["@balena/proxy-protocol-parser"] ?? null,
      speedupVsFastestPeer: peers.length ? Math.min(...peers) : null,
      tollgateOverFloor: q["memcpy floor"] === undefined ? null : 1 / q["memcpy floor"],
    };
  }
  const x = (v) => (v === null ? "n/a" : `${v.toFixed(1)}x`);
  const pair = (k) => {
    const [a, b] = TOLLGATE.map((api) => r.ratios[api][k]);
    return a === null && b === null ? "n/a" : `${x(a)} (${x(b)})`;
  };
  return [
    r.title,
    String(r.headerBytes),
    fmtNs(r.results["tollgate parseInto"]),
    fmtNs(r.results["tollgate parse"]),
    fmtNs(r.results["proxy-protocol-js"]),
    fmtNs(r.results["@balena/proxy-protocol-parser"]),
    fmtNs(r.results["memcpy floor"]),
    pair("vsPpjs"),
    pair("vsBalena"),
    pair("tollgateOverFloor"),
  ];
});
const header = ["case", "bytes", "parseInto ns", "parse ns", "ppjs ns", "balena ns", "floor ns", "vs ppjs", "vs balena", "over floor"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
const table = [line(header), `|${widths.map((w, i) => (i < 1 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...rows.map(line)];

// ---------------------------------------------------------------------------------------------------------
// Where the time of the fast path goes, v1 TCP4 and v2 TCP4: the same method, one component per line.
// "module call" instantiates tollgate.wasm on its own and calls its exports (inputPtr() for where to copy,
// parse()), as wasm/index.ts does, without the binding around them: the floor plus the WASM parse.
const rawExports = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(root, "wasm/build/tollgate.wasm"))), {}).exports;
const rawU8 = new Uint8Array(rawExports.memory.buffer);
const rawInput = rawExports.inputPtr() >>> 0;
const fixedV4 = 0xcb007107; // 203.0.113.7, the cases' client
const COMPONENTS = [
  ["memcpy floor", floorLoop],
  ["module call (copy in + WASM parse)", function rawLoop(input, n) {
    let sink = 0;
    for (let i = 0; i < n; i++) {
      rawU8.set(input, rawInput);
      sink += rawExports.parse(input.length, 65551);
    }
    return sink;
  }],
  ["parseInto (the binding: + result read)", function intoOnlyLoop(input, n) {
    let sink = 0;
    for (let i = 0; i < n; i++) sink += parser.parseInto(input, out) + out.srcPort;
    return sink;
  }],
  ["address text alone (formatIpv4)", function textLoop(input, n) {
    let sink = 0;
    for (let i = 0; i < n; i++) {
      kept = formatIpv4(fixedV4 + (i & 1)); // two values: the text is built, not reused
      sink += kept.length;
    }
    return sink;
  }],
  ["parseInto + address text (the row above)", tollgateIntoLoop],
  ["parse() alone (plain objects, no text)", function parseOnlyLoop(input, n) {
    let sink = 0;
    for (let i = 0; i < n; i++) sink += parser.parse(input).header.source.port;
    return sink;
  }],
];
const breakdown = [];
for (const c of CASES.filter((x) => x.id === "v1-tcp4" || x.id === "v2-tcp4")) {
  const entries = COMPONENTS.map(([name, loop]) => {
    const warmEnd = process.hrtime.bigint() + BigInt(WARMUP_MS * 1e6);
    while (process.hrtime.bigint() < warmEnd) loop(c.bytes, 1000);
    return { name, loop, n: calibrate(loop, c.bytes, BATCH_MS), rounds: [] };
  });
  for (let r = 0; r < ROUNDS; r++) for (const e of entries) e.rounds.push(timeBatch(e.loop, c.bytes, e.n) / e.n);
  const floor = entries[0];
  breakdown.push({
    case: c.id,
    components: entries.map((e) => ({ name: e.name, nsPerOp: median(e.rounds), overFloor: median(e.rounds.map((ns, i) => ns / floor.rounds[i])) })),
  });
}
const bdRows = COMPONENTS.map(([name], k) => [name, ...breakdown.map((b) => `${fmtNs(b.components[k])} (${b.components[k].overFloor.toFixed(1)}x)`)]);
const bdHeader = ["component", ...breakdown.map((b) => `${b.case} ns (x floor)`)];
const bdWidths = bdHeader.map((h, i) => Math.max(h.length, ...bdRows.map((r) => r[i].length)));
const bdLine = (cells) => `| ${cells.map((c, i) => (i < 1 ? c.padEnd(bdWidths[i]) : c.padStart(bdWidths[i]))).join(" | ")} |`;
const bdTable = [bdLine(bdHeader), `|${bdWidths.map((w, i) => (i < 1 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...bdRows.map(bdLine)];

const nas = new Map();
for (const r of results) for (const [impl, v] of Object.entries(r.results)) if (v.na) nas.set(`${impl}: ${v.na}`, true);

const machine = machineInfo(loadAtStart);
const report = {
  benchmark: "proxy-parse",
  date: new Date().toISOString(),
  command: `node bench/proxy-parse.mjs${quick ? " --quick" : ""}`,
  tollgateSource,
  machine,
  peers: { "proxy-protocol-js": pkgVersion("proxy-protocol-js"), "@balena/proxy-protocol-parser": pkgVersion("@balena/proxy-protocol-parser") },
  method: { rounds: ROUNDS, batchMs: BATCH_MS, warmupMs: WARMUP_MS, statistic: "median ns/op over rounds; ratios are medians of per-round ratios" },
  results,
  breakdown,
  elapsedMs: Date.now() - started,
};

console.log(`proxy-parse: ns per parse incl. copy-in and source address as text (median of ${ROUNDS} rounds)`);
console.log(`node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), load average ${loadAtStart.toFixed(2)} -> ${machine.loadAverage1mAtEnd.toFixed(2)}; tollgate from ${tollgateSource}`);
console.log(table.join("\n"));
console.log("ratios (medians of per-round ratios), parseInto first, parse() in parentheses: 'vs X' = X ns / tollgate ns, >1 means tollgate is faster; 'over floor' = tollgate ns / floor ns");
for (const k of nas.keys()) console.log(`n/a  ${k}`);
console.log(`\nwhere the parseInto path's time goes (median ns; in parentheses, per-round ratio to the floor):`);
console.log(bdTable.join("\n"));

const resultsDir = join(here, "results");
mkdirSync(resultsDir, { recursive: true });
const json = `${JSON.stringify(report, null, 2)}\n`;
writeFileSync(join(resultsDir, "proxy-parse.json"), json);
writeFileSync(join(resultsDir, `proxy-parse-${report.date.replace(/[:.]/g, "-")}.json`), json);
console.log(`wrote bench/results/proxy-parse.json (${(report.elapsedMs / 1000).toFixed(1)} s)`);
