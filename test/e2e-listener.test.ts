// End to end: the listener and its PROXY listener filter — timeouts, malformed headers, optional headers, disallowed
// versions, and Tollgate's trusted_sources — with the stats Envoy counts for each.
import test from "ava";
import { hostLocalAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { echoOf, get, openConnection, proxyProtocolFilter, proxyV1, proxyV2, startEcho, startProxy, withTimeout, type Json } from "./helpers/e2e.js";

const LISTENER = "listener.127.0.0.1_0."; // Envoy names listener stats by the configured address (port 0 here)

test("listener_filters_timeout closes a connection that never sends a header (downstream_pre_cx_timeout)", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, listenerExtra: { listener_filters_timeout: "0.2s" } });
  const silent = await openConnection(t, tg.port());
  // Half a header, then nothing: still a timeout.
  const partial = await openConnection(t, tg.port());
  await partial.write("PROXY TCP4 1.2.");
  await withTimeout(silent.closed, 5000, "the silent connection was not closed");
  await withTimeout(partial.closed, 5000, "the partial connection was not closed");
  t.is(silent.pending.length, 0, "nothing is written back");
  t.is(partial.pending.length, 0);
  t.is(tg.stat(`${LISTENER}downstream_pre_cx_timeout`), 2);
  t.is(tg.server.stats.gauge(`${LISTENER}downstream_pre_cx_active`).value(), 0);
  // The listener still serves.
  const ok = await openConnection(t, tg.port());
  await ok.write(Buffer.concat([proxyV1("198.51.100.3", "192.0.2.1"), Buffer.from(get())]));
  t.is((await ok.response()).status, 200);
});

test("a malformed PROXY header closes that connection only, and is counted", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const bad = await openConnection(t, tg.port());
  await bad.write("PROXY TCP4 198.51.100.1 not-an-ip 1 2\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n");
  t.is((await bad.readToEnd()).length, 0, "closed silently, as Envoy");
  t.is(tg.stat("downstream_cx_proxy_proto_error"), 1);
  t.is(tg.stat("proxy_proto.versions.v1.error"), 1);

  // A bad v2 header (an address family the PROXY command cannot carry).
  const v2 = proxyV2("198.51.100.1", "192.0.2.1");
  v2[13] = 0x00; // AF_UNSPEC with the PROXY command: an error in Envoy
  const bad2 = await openConnection(t, tg.port());
  await bad2.write(v2);
  t.is((await bad2.readToEnd()).length, 0);
  t.is(tg.stat("downstream_cx_proxy_proto_error"), 2);
  t.is(tg.stat("proxy_proto.versions.v2.error"), 1);

  // No header at all where one is required.
  const plain = await openConnection(t, tg.port());
  await plain.write(get());
  t.is((await plain.readToEnd()).length, 0);
  t.is(tg.stat("proxy_proto.not_found_disallowed"), 1);
  t.is(tg.stat("downstream_cx_proxy_proto_error"), 3);

  const next = await openConnection(t, tg.port());
  await next.write(Buffer.concat([proxyV1("198.51.100.4", "192.0.2.1"), Buffer.from(get())]));
  const r = await next.response();
  t.is(r.status, 200);
  t.is(echoOf(r).headers["x-forwarded-for"], "198.51.100.4");
});

test("allow_requests_without_proxy_protocol: plain HTTP is served, a header is still honoured", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, listenerFilters: [proxyProtocolFilter({ allow_requests_without_proxy_protocol: true })] });
  const plain = await openConnection(t, tg.port());
  await plain.write(get("/plain"));
  const r = await plain.response();
  t.is(r.status, 200);
  // A loopback peer: Envoy appends its host address.
  t.is(echoOf(r).headers["x-forwarded-for"], hostLocalAddress());
  t.is(tg.stat("proxy_proto.not_found_allowed"), 1);

  const withHeader = await openConnection(t, tg.port());
  await withHeader.write(Buffer.concat([proxyV2("198.51.100.5", "192.0.2.1"), Buffer.from(get("/pp"))]));
  t.is(echoOf(await withHeader.response()).headers["x-forwarded-for"], "198.51.100.5");
  t.is(tg.stat("proxy_proto.versions.v2.found"), 1);
});

test("disallowed_versions: a V1 header is refused, V2 accepted", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, listenerFilters: [proxyProtocolFilter({ disallowed_versions: ["V1"] })] });
  const v1 = await openConnection(t, tg.port());
  await v1.write(Buffer.concat([proxyV1("198.51.100.6", "192.0.2.1"), Buffer.from(get())]));
  t.is((await v1.readToEnd()).length, 0);
  t.is(tg.stat("proxy_proto.versions.v1.found"), 1);
  t.is(tg.stat("proxy_proto.versions.v1.disallowed"), 1);
  const v2 = await openConnection(t, tg.port());
  await v2.write(Buffer.concat([proxyV2("198.51.100.7", "192.0.2.1"), Buffer.from(get())]));
  t.is(echoOf(await v2.response()).headers["x-forwarded-for"], "198.51.100.7");
});

// ---- Tollgate's trusted_sources ---------------------------------------------------------------------------------------

function trusted(sources: string[], allowWithout: boolean): Json[] {
  return [proxyProtocolFilter({ trusted_sources: sources, allow_requests_without_proxy_protocol: allowWithout }, true)];
}

test("trusted_sources without 127.0.0.1, header required: the loopback peer is refused even with a valid header", async (t) => {
  let requests = 0;
  const echo = await startEcho(t);
  echo.server.on("request", () => requests++);
  const tg = await startProxy(t, { backendPort: echo.port, listenerFilters: trusted(["10.0.0.0/8"], false) });
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV1("198.51.100.8", "192.0.2.1"), Buffer.from(get())]));
  t.is((await c.readToEnd()).length, 0);
  t.is(requests, 0);
  t.is(tg.stat("proxy_proto.untrusted_source_refused"), 1);
  t.is(tg.stat("downstream_cx_proxy_proto_error"), 1);
});

test("trusted_sources without 127.0.0.1, header optional: served as plain, a spoofed header is NOT honoured", async (t) => {
  const seenXff: Array<string | undefined> = [];
  const echo = await startEcho(t);
  echo.server.on("request", (rq: { headers: Record<string, string | undefined> }) => seenXff.push(rq.headers["x-forwarded-for"]));
  const tg = await startProxy(t, { backendPort: echo.port, listenerFilters: trusted(["10.0.0.0/8"], true) });

  const plain = await openConnection(t, tg.port());
  await plain.write(get());
  const r = await plain.response();
  t.is(r.status, 200);
  t.is(echoOf(r).headers["x-forwarded-for"], hostLocalAddress());
  t.is(tg.stat("proxy_proto.untrusted_source_plain"), 1);

  // An untrusted peer's header is application data: HTTP sees "PROXY ..." and refuses it; no spoofed address upstream.
  for (const header of [proxyV1("198.51.100.9", "192.0.2.1"), proxyV2("198.51.100.9", "192.0.2.1")]) {
    const spoof = await openConnection(t, tg.port());
    await spoof.write(Buffer.concat([header, Buffer.from(get())]));
    const bytes = await spoof.readToEnd();
    t.regex(bytes.toString("latin1"), /^HTTP\/1\.1 400 /);
  }
  t.false(seenXff.includes("198.51.100.9"));
  t.deepEqual(seenXff, [hostLocalAddress()]);
  t.is(tg.stat("proxy_proto.versions.v1.found"), 0);
  t.is(tg.stat("proxy_proto.versions.v2.found"), 0);
});

test("trusted_sources including 127.0.0.0/8: the header is honoured", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port, listenerFilters: trusted(["10.0.0.0/8", "127.0.0.0/8"], false) });
  const c = await openConnection(t, tg.port());
  await c.write(Buffer.concat([proxyV2("198.51.100.10", "192.0.2.1"), Buffer.from(get())]));
  t.is(echoOf(await c.response()).headers["x-forwarded-for"], "198.51.100.10");
  t.is(tg.stat("proxy_proto.untrusted_source_refused"), 0);
});

test("stop() returns while a client keeps an idle connection open, and closes that connection", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const idle = await openConnection(t, tg.port());
  await idle.write(Buffer.concat([proxyV1("198.51.100.11", "192.0.2.1"), Buffer.from(get())]));
  t.is((await idle.response()).status, 200);
  const waiting = await openConnection(t, tg.port()); // still in the listener filters
  await withTimeout(tg.server.stop(), 5000, "stop() waited for the clients");
  await withTimeout(idle.closed, 5000, "the keep-alive connection was left open");
  await withTimeout(waiting.closed, 5000, "the connection in the listener filters was left open");
  t.pass();
});
