// End to end: Envoy's X-Forwarded-For rules (use_remote_address × xff_num_trusted_hops) with a real PROXY header as the
// connection's remote address. Checks what the upstream receives (X-Forwarded-For, x-envoy-external-address) and the
// trusted client address the access log reports (%DOWNSTREAM_REMOTE_ADDRESS%).
import test from "ava";
import { echoOf, get, openConnection, proxyV2, readAccessLog, startEcho, startProxy, tempDir } from "./helpers/e2e.js";

const PEER = "203.0.113.1"; // the client address in the PROXY header
// Envoy appends with "," and no space (Utility::appendXff → appendForwardedFor(addr, ",")); entries the client sent keep
// their own spacing.

interface Row {
  useRemoteAddress: boolean;
  hops: number;
  /** X-Forwarded-For sent by the client (undefined: none). */
  xffIn: string | undefined;
  /** What the upstream must receive (undefined: no header). */
  xffOut: string | undefined;
  external: string | undefined;
  /** The trusted client address (the access log's %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%). */
  trusted: string;
}

const rows: Row[] = [
  // Not an edge proxy: XFF is left alone and the trusted address is its rightmost entry (N=0) ...
  { useRemoteAddress: false, hops: 0, xffIn: "198.51.100.10", xffOut: "198.51.100.10", external: undefined, trusted: "198.51.100.10" },
  // ... or the (N+1)th from the right.
  { useRemoteAddress: false, hops: 1, xffIn: "198.51.100.10, 198.51.100.20", xffOut: "198.51.100.10, 198.51.100.20", external: undefined, trusted: "198.51.100.10" },
  // Too few entries: no trusted address from XFF, the log falls back to the (PROXY-restored) peer.
  { useRemoteAddress: false, hops: 1, xffIn: "198.51.100.10", xffOut: "198.51.100.10", external: undefined, trusted: PEER },
  // No XFF and not an edge proxy: nothing is added.
  { useRemoteAddress: false, hops: 0, xffIn: undefined, xffOut: undefined, external: undefined, trusted: PEER },
  // Edge proxy: the peer is the trusted address and is appended.
  { useRemoteAddress: true, hops: 0, xffIn: undefined, xffOut: PEER, external: PEER, trusted: PEER },
  { useRemoteAddress: true, hops: 0, xffIn: "198.51.100.10", xffOut: `198.51.100.10,${PEER}`, external: PEER, trusted: PEER },
  // Edge proxy trusting one hop: the rightmost XFF entry is the client.
  { useRemoteAddress: true, hops: 1, xffIn: "198.51.100.10, 198.51.100.20", xffOut: `198.51.100.10, 198.51.100.20,${PEER}`, external: "198.51.100.20", trusted: "198.51.100.20" },
  // Envoy's documented example (N=2).
  {
    useRemoteAddress: true,
    hops: 2,
    xffIn: "203.0.113.128, 203.0.113.10, 203.0.113.1",
    xffOut: `203.0.113.128, 203.0.113.10, 203.0.113.1,${PEER}`,
    external: "203.0.113.10",
    trusted: "203.0.113.10",
  },
  // Trusting hops that are not there: the peer is used.
  { useRemoteAddress: true, hops: 2, xffIn: undefined, xffOut: PEER, external: PEER, trusted: PEER },
];

test("XFF matrix: use_remote_address × xff_num_trusted_hops", async (t) => {
  const echo = await startEcho(t);
  const dir = tempDir(t);
  // One Tollgate per configuration, all started up front.
  const configs = new Map<string, { port: number; log: string; lines: number }>();
  for (const r of rows) {
    const key = `${r.useRemoteAddress}/${r.hops}`;
    if (configs.has(key)) continue;
    const log = `${dir}/${r.useRemoteAddress}-${r.hops}.log`;
    const tg = await startProxy(t, { backendPort: echo.port, hcm: { useRemoteAddress: r.useRemoteAddress, xffNumTrustedHops: r.hops, accessLogPath: log } });
    configs.set(key, { port: tg.port(), log, lines: 0 });
  }
  for (const r of rows) {
    const label = `use_remote_address=${r.useRemoteAddress} hops=${r.hops} xff=${r.xffIn ?? "(none)"}`;
    const cfg = configs.get(`${r.useRemoteAddress}/${r.hops}`)!;
    const conn = await openConnection(t, cfg.port);
    await conn.write(Buffer.concat([proxyV2(PEER, "192.0.2.10", 33000, 443), Buffer.from(get("/", r.xffIn ? { "x-forwarded-for": r.xffIn } : {}))]));
    const res = await conn.response();
    conn.destroy();
    t.is(res.status, 200, label);
    const seen = echoOf(res).headers;
    t.is(seen["x-forwarded-for"], r.xffOut, `${label}: X-Forwarded-For upstream`);
    t.is(seen["x-envoy-external-address"], r.external, `${label}: x-envoy-external-address`);
    cfg.lines++;
    const entries = await readAccessLog(cfg.log, cfg.lines);
    const entry = entries[cfg.lines - 1]!;
    t.is(entry.remote_ip, r.trusted, `${label}: trusted client address`);
    t.is(entry.direct, "127.0.0.1", `${label}: direct peer`);
  }
});

test("a client-sent x-envoy-external-address and x-envoy-internal are not passed through at the edge", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const conn = await openConnection(t, tg.port());
  await conn.write(
    Buffer.concat([
      proxyV2(PEER, "192.0.2.10"),
      Buffer.from(get("/", { "x-envoy-external-address": "10.9.9.9", "x-envoy-internal": "true", "x-envoy-retry-on": "5xx" })),
    ]),
  );
  const seen = echoOf(await conn.response()).headers;
  t.is(seen["x-envoy-external-address"], PEER);
  t.is(seen["x-envoy-internal"], undefined);
  t.is(seen["x-envoy-retry-on"], undefined);
});
