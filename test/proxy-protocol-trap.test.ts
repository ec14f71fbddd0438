// A trap inside the WASM module must not take the process down: the call that trapped is answered with
// INTERNAL, the trap is counted, the module is re-instantiated, and the next parse works.
// (Its own file: ava runs each file in a fresh process, so the trap count starts at zero here.)
import test from "ava";
import {
  ProxyParser, crc32c, wasmInstanceGeneration, wasmTestHooks, wasmTrapCount,
} from "../wasm/index.js";
import { encodeV2, text } from "./helpers/proxy-encoder.js";

test.serial("a forced trap gives INTERNAL, is counted, and a fresh module serves the next parse", (t) => {
  const parser = new ProxyParser();
  const header = encodeV2({ family: "TCP4", src: Uint8Array.of(192, 0, 2, 1), dst: Uint8Array.of(10, 0, 0, 1), srcPort: 1234, dstPort: 443 });
  const before = parser.parse(header);
  t.is(before.status, "ok");
  t.is(wasmTrapCount(), 0);
  const generation = wasmInstanceGeneration();

  wasmTestHooks.trapOnNextCall();
  const trapped = parser.parse(header);
  t.like(trapped, { status: "error", code: "INTERNAL" });
  t.regex(trapped.status === "error" ? trapped.message : "", /WebAssembly trap/);
  t.is(wasmTrapCount(), 1);
  t.is(wasmInstanceGeneration(), generation + 1);

  // The new instance answers correctly, including TLV-table and v1 scratch reads through fresh views.
  t.deepEqual(parser.parse(header), before);
  const v1 = parser.parse(text("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n"));
  t.true(v1.status === "ok" && v1.header.destination!.ip.length === 4);
  t.is(crc32c(text("123456789")), 0xe3069283);

  // And it survives again.
  wasmTestHooks.trapOnNextCall();
  t.like(parser.parse(text("PROXY UNKNOWN\r\n")), { status: "error", code: "INTERNAL" });
  t.is(wasmTrapCount(), 2);
  t.like(parser.parse(text("PROXY UNKNOWN\r\n")), { status: "ok" });
});
