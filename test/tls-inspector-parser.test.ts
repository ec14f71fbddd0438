// The ClientHello parser behind envoy.filters.listener.tls_inspector: real ClientHellos from node:tls, every split
// point, multi-record hellos, the size limit, the cases BoringSSL (and so Envoy) treats as "not TLS", and random
// bytes that must never throw.
import test from "ava";
import fc from "fast-check";
import {
  ClientHelloScanner,
  TLS_MAX_CLIENT_HELLO,
  scanClientHello,
  type ClientHelloResult,
} from "../proxy/filters/listener/tls-inspector/client-hello.js";
import {
  alpnExt,
  captureClientHello,
  cat,
  clientHello,
  ext,
  handshake,
  latin1,
  paddingExt,
  records,
  reframe,
  sniExt,
  u16,
  u8,
  vec16,
  versionsExt,
  clientHelloBody,
} from "./tls-inspector-fixtures.js";

function tls(r: ClientHelloResult): { serverName: string; alpn: readonly string[]; bytesProcessed: number } {
  if (r.status !== "tls") throw new Error(`expected tls, got ${JSON.stringify(r)}`);
  return { serverName: r.hello.serverName, alpn: r.hello.alpn, bytesProcessed: r.bytesProcessed };
}

// ---- real ClientHellos ---------------------------------------------------------------------------------------------

test("node:tls ClientHello (TLS 1.3): SNI and ALPN are extracted", async (t) => {
  const hello = await captureClientHello({ servername: "api.example.com", ALPNProtocols: ["h2", "http/1.1"] });
  const r = tls(scanClientHello(hello));
  t.is(r.serverName, "api.example.com");
  t.deepEqual(r.alpn, ["h2", "http/1.1"]);
  t.is(r.bytesProcessed, hello.length);
});

test("node:tls ClientHello limited to TLS 1.2, without ALPN", async (t) => {
  const hello = await captureClientHello({ servername: "legacy.example.net", maxVersion: "TLSv1.2" });
  const r = tls(scanClientHello(hello));
  t.is(r.serverName, "legacy.example.net");
  t.deepEqual(r.alpn, []);
});

test("node:tls ClientHello to an IP address carries no SNI", async (t) => {
  // node sends no server_name for an IP literal host.
  const hello = await captureClientHello({ ALPNProtocols: ["http/1.1"] });
  const r = tls(scanClientHello(hello));
  t.is(r.serverName, "");
  t.deepEqual(r.alpn, ["http/1.1"]);
});

test("split at every byte boundary: need_more before the end, the same result at the end", async (t) => {
  const hello = await captureClientHello({ servername: "split.example.com", ALPNProtocols: ["h2"] });
  const whole = scanClientHello(hello);
  for (let k = 1; k < hello.length; k++) {
    const s = new ClientHelloScanner();
    const first = s.feed(hello.subarray(0, k));
    if (first.status !== "need_more") return t.fail(`prefix of ${k} bytes gave ${first.status}`);
    t.deepEqual(s.feed(hello), whole, `split at ${k}`);
  }
  t.is(tls(whole).serverName, "split.example.com");
});

test("byte by byte: each growing prefix waits, the last one answers", async (t) => {
  const hello = await captureClientHello({ servername: "trickle.example.com", ALPNProtocols: ["h2", "http/1.1"] });
  const s = new ClientHelloScanner();
  for (let k = 1; k < hello.length; k++) {
    if (s.feed(hello.subarray(0, k)).status !== "need_more") return t.fail(`answered early at ${k} bytes`);
  }
  const r = tls(s.feed(hello));
  t.is(r.serverName, "trickle.example.com");
  t.deepEqual(r.alpn, ["h2", "http/1.1"]);
});

test("a ClientHello fragmented over many records (down to 1 byte each) reads the same", async (t) => {
  const hello = await captureClientHello({ servername: "frag.example.com", ALPNProtocols: ["h2"] });
  for (const size of [1, 2, 3, 4, 5, 7, 64, 200]) {
    const framed = reframe(hello, size);
    const r = tls(scanClientHello(framed));
    t.is(r.serverName, "frag.example.com", `fragment ${size}`);
    t.deepEqual(r.alpn, ["h2"]);
    t.is(r.bytesProcessed, framed.length);
    // and incrementally, in 3-byte steps
    const s = new ClientHelloScanner();
    let last: ClientHelloResult = { status: "need_more" };
    for (let k = 3; k < framed.length + 3 && last.status === "need_more"; k += 3) last = s.feed(framed.subarray(0, Math.min(k, framed.length)));
    t.is(tls(last).serverName, "frag.example.com");
  }
});

test("bytes after the ClientHello's last record do not matter", (t) => {
  const hello = clientHello();
  const r = tls(scanClientHello(cat(hello, latin1("\x17\x03\x03 application data follows"))));
  t.is(r.bytesProcessed, hello.length);
  t.is(r.serverName, "example.com");
});

// ---- plaintext -------------------------------------------------------------------------------------------------------

test("plain HTTP is not TLS from its first byte", (t) => {
  for (const text of ["G", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "PRI * HTTP/2.0\r\n", "SSH-2.0-OpenSSH\r\n", "PROXY TCP4 "]) {
    const r = scanClientHello(latin1(text));
    t.is(r.status, "not_tls", text);
  }
  t.is(scanClientHello(new Uint8Array(0)).status, "need_more");
});

test("a lone 0x16 and a partial record header wait for more", (t) => {
  const hello = clientHello();
  for (let k = 1; k <= 5; k++) t.is(scanClientHello(hello.subarray(0, k)).status, "need_more", `${k} bytes`);
});

// ---- what BoringSSL (hence Envoy) refuses before it reads the SNI: not TLS ------------------------------------------

const notTlsCases: Array<[name: string, bytes: Uint8Array, reason: RegExp]> = [
  ["record version 2.x", records(handshake(1, clientHelloBody()), 16384, 22, 0x0200), /record version/],
  ["record longer than 2^14", cat(u8(22, 3, 1), u16(16385), new Uint8Array(16385)), /longer than 2\^14/],
  ["first handshake message is a ServerHello", records(handshake(2, clientHelloBody())), /not a ClientHello/],
  ["ClientHello longer than 16384 bytes", cat(u8(22, 3, 1), u16(4), u8(1, 0, 0x40, 0x01)), /longer than 16384/],
  ["a second handshake message in the same flight", records(cat(handshake(1, clientHelloBody()), handshake(20, new Uint8Array(4)))), /after the ClientHello/],
  ["an alert record in the middle", cat(records(handshake(1, clientHelloBody()).subarray(0, 10)), records(u8(1, 0), 16384, 21)), /non-handshake record/],
  ["session id of 33 bytes", clientHello({ sessionId: new Uint8Array(33) }), /session id/],
  ["no cipher suites", clientHello({ cipherSuites: new Uint8Array(0) }), /cipher suite/],
  ["odd cipher suite list", clientHello({ cipherSuites: u8(0x13, 0x01, 0x00) }), /cipher suite/],
  ["no compression method", clientHello({ compressionMethods: new Uint8Array(0) }), /compression/],
  ["bytes after the extension block", clientHello({ trailing: u8(0) }), /extension block length/],
  ["an extension longer than its block", clientHello({ extensions: null, trailing: vec16(cat(u16(5), u16(10), u8(1, 2))) }), /truncated extension/],
  ["duplicate extension", clientHello({ extensions: [paddingExt(1), paddingExt(2)] }), /duplicate/],
  ["two server_name entries", clientHello({ extensions: [ext(0, vec16(cat(u8(0), vec16(latin1("a.com")), u8(0), vec16(latin1("b.com")))))] }), /server_name/],
  ["empty host_name", clientHello({ extensions: [ext(0, vec16(cat(u8(0), vec16(new Uint8Array(0)))))] }), /server_name/],
  ["host_name of 256 bytes", clientHello({ extensions: [sniExt("a".repeat(256))] }), /server_name/],
  ["host_name with a NUL byte", clientHello({ extensions: [sniExt("evil.com\0good.com")] }), /server_name/],
  ["server_name of another name type", clientHello({ extensions: [ext(0, vec16(cat(u8(1), vec16(latin1("x")))))] }), /server_name/],
  ["server_name with trailing bytes", clientHello({ extensions: [ext(0, cat(vec16(cat(u8(0), vec16(latin1("a.com")))), u8(0)))] }), /server_name/],
  ["SSL 3.0 only", clientHello({ legacyVersion: 0x0300, extensions: [sniExt("a.com")] }), /version/],
  ["supported_versions offering no TLS version", clientHello({ extensions: [versionsExt([0x0a0a, 0x0300])] }), /version/],
  ["empty supported_versions", clientHello({ extensions: [ext(43, u8(0))] }), /version/],
  ["33 empty records", cat(...new Array<Uint8Array>(33).fill(u8(22, 3, 1, 0, 0)), clientHello()), /empty records/],
];

for (const [name, bytes, reason] of notTlsCases) {
  test(`not TLS: ${name}`, (t) => {
    const r = scanClientHello(bytes);
    if (r.status !== "not_tls") return t.fail(`got ${r.status}`);
    t.regex(r.reason, reason);
  });
}

test("what BoringSSL accepts: TLS 1.0 legacy version, GREASE among versions, no extensions, 32 empty records", (t) => {
  t.is(tls(scanClientHello(clientHello({ legacyVersion: 0x0301, extensions: [sniExt("old.example")] }))).serverName, "old.example");
  t.is(scanClientHello(clientHello({ extensions: [versionsExt([0x0a0a, 0x0304])] })).status, "tls");
  const bare = tls(scanClientHello(clientHello({ extensions: null })));
  t.deepEqual(bare, { serverName: "", alpn: [], bytesProcessed: clientHello({ extensions: null }).length });
  t.is(scanClientHello(cat(...new Array<Uint8Array>(32).fill(u8(22, 3, 1, 0, 0)), clientHello())).status, "tls");
});

test("a malformed ALPN list is ignored, as Envoy's onALPN does: TLS without protocols", (t) => {
  const cases = [
    ext(16, vec16(u8(0))), // empty protocol name
    ext(16, vec16(u8(5, 0x68))), // name longer than the list
    ext(16, u8(0, 1)), // list length beyond the extension
    ext(16, cat(alpnExt(["h2"])[1], u8(0))), // trailing byte
    ext(16, vec16(u8(0x68)).subarray(0, 2)), // list shorter than 2 bytes
  ];
  for (const alpn of cases) {
    const r = tls(scanClientHello(clientHello({ extensions: [sniExt("a.example"), alpn] })));
    t.deepEqual(r.alpn, []);
    t.is(r.serverName, "a.example");
  }
});

// ---- the size limit --------------------------------------------------------------------------------------------------

/** A hello of exactly `total` bytes in one record (padding fills it). */
function helloOfSize(total: number, fragment = 16384): Uint8Array {
  const base = clientHello({ extensions: [sniExt("big.example"), paddingExt(0)] }, fragment).length;
  const h = clientHello({ extensions: [sniExt("big.example"), paddingExt(total - base)] }, fragment);
  if (fragment >= total && h.length !== total) throw new Error(`size ${h.length} != ${total}`);
  return h;
}

test("a ClientHello of exactly max_client_hello_size bytes is read; one byte more is too large", (t) => {
  for (const max of [512, 4096, TLS_MAX_CLIENT_HELLO]) {
    const exact = helloOfSize(max);
    t.is(tls(scanClientHello(exact, max)).serverName, "big.example", `${max}`);
    const over = helloOfSize(max + 1);
    t.is(scanClientHello(over.subarray(0, max - 1), max).status, "need_more");
    t.deepEqual(scanClientHello(over, max), { status: "too_large", bytesProcessed: max });
    t.deepEqual(scanClientHello(over.subarray(0, max), max), { status: "too_large", bytesProcessed: max });
  }
});

test("too large is decided on the first max bytes: a defect after them is never seen", (t) => {
  const max = 600;
  const over = helloOfSize(1000);
  over[700] = 0xff; // inside the padding; irrelevant
  const broken = cat(over.subarray(0, max), u8(0x15, 0x15, 0x15));
  t.is(scanClientHello(broken, max).status, "too_large");
});

test("a hello spanning records beyond the limit is too large even if each record is small", (t) => {
  const framed = reframe(helloOfSize(3000), 100);
  t.is(scanClientHello(framed, 2048).status, "too_large");
  t.is(scanClientHello(framed).status, "tls");
});

// ---- robustness ------------------------------------------------------------------------------------------------------

const STATUSES = new Set(["need_more", "tls", "not_tls", "too_large"]);

test("random bytes never throw and always get a verdict shape", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 256, max: 16384 }), (bytes, max) => {
      const r = scanClientHello(bytes, max);
      return STATUSES.has(r.status);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("random records of a handshake type never throw, and feeding in pieces agrees with feeding at once", (t) => {
  const recordArb = fc
    .tuple(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(1, 2, 3))
    .map(([payload, major]) => cat(u8(22, major, 1), u16(payload.length), payload));
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (recs, cuts) => {
      const bytes = cat(...recs);
      const whole = scanClientHello(bytes);
      const s = new ClientHelloScanner();
      for (const c of cuts.map((n) => (bytes.length === 0 ? 0 : n % bytes.length)).sort((a, b) => a - b)) {
        const r = s.feed(bytes.subarray(0, c));
        if (r.status !== "need_more") return JSON.stringify(r) === JSON.stringify(whole);
      }
      return JSON.stringify(s.feed(bytes)) === JSON.stringify(whole);
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test("a real ClientHello with random bytes changed or cut never throws", async (t) => {
  const hello = await captureClientHello({ servername: "fuzz.example.com", ALPNProtocols: ["h2", "http/1.1"] });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: hello.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat({ max: hello.length }),
      (edits, cut) => {
        const b = Uint8Array.from(hello);
        for (const [i, v] of edits) b[i] = v;
        return STATUSES.has(scanClientHello(b.subarray(0, cut)).status) && STATUSES.has(scanClientHello(b).status);
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});
