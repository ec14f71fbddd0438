// End to end: a PROXY header (v1, v2, LOCAL, UNKNOWN; IPv4 and IPv6) in front of an HTTP request reaches the upstream as
// the X-Forwarded-For Envoy would send (use_remote_address: true), and the access log shows the real client address.
import test from "ava";
import { hostLocalAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import {
  echoOf,
  get,
  ipv6Available,
  openConnection,
  proxyV1,
  proxyV2,
  proxyV2Local,
  readAccessLog,
  startEcho,
  startProxy,
  tempDir,
  bootstrapYaml,
  listener,
  proxyProtocolFilter,
  hcmFilter,
  staticCluster,
  startTollgate,
} from "./helpers/e2e.js";

/** What Envoy appends to XFF for a loopback peer: its host's first non-loopback IPv4 address. */
const LOCAL_IP = hostLocalAddress();

interface Case {
  name: string;
  header: Buffer;
  /** X-Forwarded-For the upstream must see. */
  xff: string;
  /** %DOWNSTREAM_REMOTE_ADDRESS% in the access log. */
  remote: string;
  /** %DOWNSTREAM_LOCAL_ADDRESS% in the access log (null: the socket's own, not checked exactly). */
  local: string | null;
}

const cases: Case[] = [
  { name: "v1 TCP4", header: proxyV1("203.0.113.7", "198.51.100.1", 51000, 443), xff: "203.0.113.7", remote: "203.0.113.7:51000", local: "198.51.100.1:443" },
  {
    name: "v1 TCP6",
    header: proxyV1("2001:db8::7", "2001:db8::1", 51001, 8443),
    xff: "2001:db8::7",
    remote: "[2001:db8::7]:51001",
    local: "[2001:db8::1]:8443",
  },
  { name: "v2 TCP4", header: proxyV2("203.0.113.8", "198.51.100.2", 51002, 80), xff: "203.0.113.8", remote: "203.0.113.8:51002", local: "198.51.100.2:80" },
  {
    name: "v2 TCP6",
    header: proxyV2("2001:db8:0:0:0:0:0:8", "2001:db8::2", 51003, 80),
    xff: "2001:db8::8",
    remote: "[2001:db8::8]:51003",
    local: "[2001:db8::2]:80",
  },
  // LOCAL (an LB health check) and v1 UNKNOWN keep the socket's addresses: the peer is loopback, so Envoy appends its
  // own host address instead.
  { name: "v2 LOCAL", header: proxyV2Local(), xff: LOCAL_IP, remote: "127.0.0.1", local: null },
  { name: "v1 UNKNOWN", header: Buffer.from("PROXY UNKNOWN\r\n"), xff: LOCAL_IP, remote: "127.0.0.1", local: null },
  {
    name: "v1 UNKNOWN with addresses",
    header: Buffer.from("PROXY UNKNOWN 203.0.113.9 198.51.100.9 1 2\r\n"),
    xff: LOCAL_IP,
    remote: "127.0.0.1",
    local: null,
  },
];

for (const c of cases) {
  test(`${c.name}: X-Forwarded-For upstream and the access log show the client`, async (t) => {
    const echo = await startEcho(t);
    const logPath = `${tempDir(t)}/access.log`;
    const tg = await startProxy(t, { backendPort: echo.port, hcm: { accessLogPath: logPath } });
    const conn = await openConnection(t, tg.port());
    await conn.write(Buffer.concat([c.header, Buffer.from(get("/who"))]));
    const r = await conn.response();
    t.is(r.status, 200);
    const seen = echoOf(r);
    t.is(seen.headers["x-forwarded-for"], c.xff);
    // An edge request: the trusted address is announced upstream.
    t.is(seen.headers["x-envoy-external-address"], c.xff === LOCAL_IP ? "127.0.0.1" : c.xff);
    t.is(seen.url, "/who");
    const [entry] = await readAccessLog(logPath, 1);
    if (c.remote.startsWith("127.0.0.1")) t.is(entry!.remote_ip, "127.0.0.1");
    else t.is(entry!.remote, c.remote);
    t.is(entry!.direct, "127.0.0.1");
    if (c.local !== null) t.is(entry!.local, c.local);
    t.is(entry!.xff, c.xff);
    t.is(entry!.code, "200");
    t.is(tg.stat("downstream_cx_proxy_proto_error"), 0);
  });
}

test("a header arriving one byte per TCP write is waited for (v1 and v2), and keep-alive continues", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  for (const header of [proxyV1("192.0.2.200", "192.0.2.1", 1234, 80), proxyV2("192.0.2.201", "192.0.2.1", 1234, 80)]) {
    const conn = await openConnection(t, tg.port());
    await conn.writeByteByByte(header);
    await conn.writeByteByByte(Buffer.from(get("/split")));
    const r = await conn.response();
    t.is(r.status, 200);
    const ip = header[0] === 0x50 ? "192.0.2.200" : "192.0.2.201";
    t.is(echoOf(r).headers["x-forwarded-for"], ip);
    // The same connection carries a second request with the same client address.
    await conn.write(get("/again"));
    const r2 = await conn.response();
    t.is(echoOf(r2).headers["x-forwarded-for"], ip);
    conn.destroy();
  }
  t.is(tg.stat("proxy_proto.versions.v1.found"), 1);
  t.is(tg.stat("proxy_proto.versions.v2.found"), 1);
});

test("the header and the request in one write: the header is consumed exactly, the request intact", async (t) => {
  const echo = await startEcho(t);
  const tg = await startProxy(t, { backendPort: echo.port });
  const conn = await openConnection(t, tg.port());
  const body = "hello=world";
  await conn.write(
    Buffer.concat([
      proxyV2("198.51.100.77", "192.0.2.1", 1, 2),
      Buffer.from(`POST /form HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n${body}`),
    ]),
  );
  const seen = echoOf(await conn.response());
  t.is(seen.method, "POST");
  t.is(seen.body, body);
  t.is(seen.headers["x-forwarded-for"], "198.51.100.77");
});

test("TCP6 end to end: a listener on ::1 receives a v2 TCP6 header", async (t) => {
  if (!(await ipv6Available())) {
    t.log("IPv6 loopback is not available here; nothing to test");
    t.pass();
    return;
  }
  const echo = await startEcho(t);
  const logPath = `${tempDir(t)}/access.log`;
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [listener({ address: "::1", listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter({ accessLogPath: logPath })] })],
      clusters: [staticCluster("backend", [echo.port])],
    }),
  );
  const conn = await openConnection(t, tg.port(), "::1");
  await conn.write(Buffer.concat([proxyV2("2001:db8:1::5", "2001:db8:1::1", 6000, 443), Buffer.from(get())]));
  const r = await conn.response();
  t.is(echoOf(r).headers["x-forwarded-for"], "2001:db8:1::5");
  const [entry] = await readAccessLog(logPath, 1);
  t.is(entry!.remote, "[2001:db8:1::5]:6000");
  t.is(entry!.direct, "::1");

  // v2 LOCAL on an IPv6 socket keeps the socket's (loopback) address: Envoy then appends its host's IPv4 address.
  const local = await openConnection(t, tg.port(), "::1");
  await local.write(Buffer.concat([proxyV2Local(), Buffer.from(get())]));
  t.is(echoOf(await local.response()).headers["x-forwarded-for"], LOCAL_IP);
});
