// A WASM trap while parsing a PROXY header ends that one connection, is counted as a stat, and the next
// connection is served by a fresh module instance: the process lives on (DESIGN.md principle 4).
import test from "ava";
import { connect } from "node:net";
import { wasmTestHooks } from "../wasm/index.js";
import { TollgateServer } from "../proxy/server.js";
import { bootstrapYaml, directResponseHost, hcmFilter, listener, proxyProtocolFilter } from "./helpers/e2e.js";

const yaml = bootstrapYaml({
  listeners: [listener({ name: "web", listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter({ virtualHosts: [directResponseHost("ok")] })] })],
});

function exchange(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.end("PROXY TCP4 203.0.113.7 10.0.0.5 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    let out = "";
    s.setEncoding("latin1");
    s.on("data", (c: string) => (out += c));
    s.on("close", () => resolve(out));
    s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(out) : reject(e)));
  });
}

test("a trap in the PROXY parser closes that connection, counts tollgate.wasm.proxy_protocol.trap, and the next is served", async (t) => {
  const server = new TollgateServer({ source: { yaml }, drainTimeS: 1, argv: [] });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.boundAddresses.get("web")!.port;
  wasmTestHooks.trapOnNextCall();
  t.is(await exchange(port), "", "the connection whose header trapped the module is closed without a reply");
  t.regex(await exchange(port), /^HTTP\/1\.1 200 [^]*ok$/, "the next connection is parsed by a fresh instance");
  server.stats.flush();
  t.is(server.stats.counter("tollgate.wasm.proxy_protocol.trap").value(), 1);
  t.is(server.stats.counter("downstream_cx_proxy_proto_error").value(), 1);
});
