// End to end: tcp_proxy behind the PROXY listener filter — bytes pass both ways unchanged, a half-close is forwarded in
// each direction, and the access log shows the client from the PROXY header.
import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import {
  bootstrapYaml,
  fileAccessLog,
  freePort,
  listener,
  openConnection,
  proxyProtocolFilter,
  proxyV2,
  readAccessLog,
  startTcpUpstream,
  startTollgate,
  staticCluster,
  tcpProxyFilter,
  tempDir,
  withTimeout,
} from "./helpers/e2e.js";

const LOG_FORMAT = {
  flags: "%RESPONSE_FLAGS%",
  remote: "%DOWNSTREAM_REMOTE_ADDRESS%",
  direct: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
  upstream: "%UPSTREAM_HOST%",
  received: "%BYTES_RECEIVED%",
  sent: "%BYTES_SENT%",
};

async function startTcpProxy(t: Parameters<typeof startTollgate>[0], port: number, log?: string): Promise<number> {
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [
        listener({
          listenerFilters: [proxyProtocolFilter()],
          filters: [tcpProxyFilter("backend", log ? { access_log: [fileAccessLog(log, LOG_FORMAT)] } : {})],
        }),
      ],
      clusters: [staticCluster("backend", [port])],
    }),
  );
  return tg.port();
}

test("tcp_proxy: bytes pass both ways intact; the client's half-close reaches the upstream, which can still answer", async (t) => {
  // The upstream hashes everything until the client's FIN, then answers with the hash and closes.
  const up = await startTcpUpstream(t, (s: Socket) => {
    const h = createHash("sha256");
    let n = 0;
    s.on("data", (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    s.on("end", () => s.end(`${n} ${h.digest("hex")}`));
  });
  const log = `${tempDir(t)}/tcp.log`;
  const port = await startTcpProxy(t, up.port, log);
  const payload = randomBytes(3 * 1024 * 1024);
  const c = await openConnection(t, port);
  await c.write(Buffer.concat([proxyV2("203.0.113.90", "192.0.2.1", 5555, 22), payload]));
  c.end();
  const answer = (await c.readToEnd()).toString();
  t.is(answer, `${payload.length} ${createHash("sha256").update(payload).digest("hex")}`);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.remote, "203.0.113.90:5555");
  t.is(e!.direct, "127.0.0.1");
  t.is(e!.upstream, `127.0.0.1:${up.port}`);
  t.is(e!.received, String(payload.length));
  t.is(e!.sent, String(answer.length));
});

test("tcp_proxy: the upstream's half-close reaches the client, which can still send", async (t) => {
  // The upstream speaks first, half-closes, then reads what the client sends and reports it on a second socket.
  let gotAfterFin: (s: string) => void = () => {};
  const received = new Promise<string>((r) => (gotAfterFin = r));
  const up = await startTcpUpstream(t, (s: Socket) => {
    let buf = "";
    s.on("data", (c: Buffer) => (buf += c.toString()));
    s.on("end", () => gotAfterFin(buf));
    s.end("banner then FIN");
  });
  const port = await startTcpProxy(t, up.port);
  const c = await openConnection(t, port);
  await c.write(proxyV2("203.0.113.91", "192.0.2.1"));
  await withTimeout(new Promise<void>((r) => c.socket.once("end", () => r())), 5000, "the upstream's FIN did not reach the client");
  t.is(c.pending.toString(), "banner then FIN");
  // Our side is still open: what we send now still reaches the upstream.
  await c.write("late words");
  c.end();
  t.is(await withTimeout(received, 5000, "the upstream did not get the client's late bytes"), "late words");
});

test("tcp_proxy: an unreachable upstream closes the client's connection and logs UF", async (t) => {
  const log = `${tempDir(t)}/tcp.log`;
  const port = await startTcpProxy(t, await freePort(), log);
  const c = await openConnection(t, port);
  await c.write(Buffer.concat([proxyV2("203.0.113.92", "192.0.2.1"), Buffer.from("hello")]));
  t.is((await c.readToEnd()).length, 0);
  const [e] = await readAccessLog(log, 1);
  t.is(e!.flags, "UF");
});
