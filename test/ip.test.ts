// proxy/net/ip.ts: strict parsing, RFC 5952 formatting, the IPv4-mapped normalisation policy, CIDRs.
import test from "ava";
import fc from "fast-check";
import net from "node:net";
import {
  formatIp, formatIpv4, formatIpv6, isUnicastIp, isUnicastIpv4, normaliseIp, normaliseSocketAddress, parseCidr, parseIp,
} from "../proxy/net/ip.js";
import { ipv6TextForms, v4Text } from "./helpers/proxy-encoder.js";

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const v6 = (...words: number[]): Uint8Array => Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]));

test("parseIp: dotted quads, strictly", (t) => {
  t.deepEqual(parseIp("0.0.0.0"), bytes(0, 0, 0, 0));
  t.deepEqual(parseIp("255.255.255.255"), bytes(255, 255, 255, 255));
  t.deepEqual(parseIp("10.20.30.40"), bytes(10, 20, 30, 40));
  for (const bad of ["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.00", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "+1.2.3.4", "1..2.3", "1.2.3.", "a.b.c.d", "0x1.2.3.4", "1.2.3.1000"]) {
    t.is(parseIp(bad), null, bad);
  }
});

test("parseIp: IPv6 in every RFC 4291 form; zone ids and brackets refused", (t) => {
  t.deepEqual(parseIp("::"), new Uint8Array(16));
  t.deepEqual(parseIp("::1"), v6(0, 0, 0, 0, 0, 0, 0, 1));
  t.deepEqual(parseIp("1::"), v6(1, 0, 0, 0, 0, 0, 0, 0));
  t.deepEqual(parseIp("2001:DB8::a:0:1"), v6(0x2001, 0xdb8, 0, 0, 0, 0xa, 0, 1));
  t.deepEqual(parseIp("1:2:3:4:5:6:7:8"), v6(1, 2, 3, 4, 5, 6, 7, 8));
  t.deepEqual(parseIp("1::2:3:4:5:6:7"), v6(1, 0, 2, 3, 4, 5, 6, 7));
  t.deepEqual(parseIp("64:ff9b::192.0.2.33"), v6(0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x221));
  t.deepEqual(parseIp("1:2:3:4:5:6:1.2.3.4"), v6(1, 2, 3, 4, 5, 6, 0x102, 0x304));
  for (const bad of [":", ":::", "1:::2", "1::2::3", ":1::", "1::2:", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
    "12345::", "fe80::1%eth0", "[::1]", "::1.2.3", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "::01.2.3.4", "g::1", "1:2:3:4:5:6:7"]) {
    t.is(parseIp(bad), null, bad);
  }
});

test("IPv4-mapped addresses are normalised to IPv4 wherever they enter", (t) => {
  t.deepEqual(parseIp("::ffff:192.0.2.1"), bytes(192, 0, 2, 1));
  t.deepEqual(parseIp("::FFFF:c000:0201"), bytes(192, 0, 2, 1));
  t.deepEqual(parseIp("0:0:0:0:0:ffff:192.0.2.1"), bytes(192, 0, 2, 1));
  t.deepEqual(normaliseIp(v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001)), bytes(10, 0, 0, 1));
  const plain = v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  t.is(normaliseIp(plain), plain);
  // Not mapped: IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) stay IPv6.
  t.is(parseIp("::192.0.2.1")?.length, 16);
  t.is(parseIp("64:ff9b::192.0.2.1")?.length, 16);
});

test("normaliseSocketAddress turns Node's dual-stack peer text into IPv4 and leaves the rest", (t) => {
  t.is(normaliseSocketAddress("::ffff:127.0.0.1"), "127.0.0.1");
  t.is(normaliseSocketAddress("::FFFF:10.1.2.3"), "10.1.2.3");
  t.is(normaliseSocketAddress("0:0:0:0:0:ffff:10.1.2.3"), "10.1.2.3");
  t.is(normaliseSocketAddress("10.1.2.3"), "10.1.2.3");
  t.is(normaliseSocketAddress("::1"), "::1");
  t.is(normaliseSocketAddress("2001:db8::1"), "2001:db8::1");
  t.is(normaliseSocketAddress("::192.0.2.1"), "::192.0.2.1");
  t.is(normaliseSocketAddress("fe80::1%eth0"), "fe80::1%eth0");
});

test("a real IPv4 client of a dual-stack listener is seen as IPv4 after normalisation", async (t) => {
  const server = net.createServer();
  t.teardown(() => server.close());
  const seen = new Promise<string>((resolve) => {
    server.once("connection", (socket) => {
      resolve(socket.remoteAddress ?? "");
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "::", ipv6Only: false }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ port, host: "127.0.0.1" });
  t.teardown(() => client.destroy());
  client.on("error", () => undefined);
  const remote = await seen;
  t.is(remote, "::ffff:127.0.0.1");
  t.is(normaliseSocketAddress(remote), "127.0.0.1");
});

test("formatIp: RFC 5952 text", (t) => {
  t.is(formatIp(bytes(192, 0, 2, 1)), "192.0.2.1");
  t.is(formatIp(new Uint8Array(16)), "::");
  t.is(formatIp(v6(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  t.is(formatIp(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), "2001:db8::1:0:0:1"); // first of equal runs
  t.is(formatIp(v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), "2001:db8:0:1:1:1:1:1"); // one zero group stays
  t.is(formatIp(v6(0x2001, 0xdb8, 0, 0, 0, 0xabcd, 0, 0)), "2001:db8::abcd:0:0");
  t.is(formatIp(v6(0, 0, 0, 0, 0, 0xffff, 0x102, 0x304)), "::ffff:1.2.3.4"); // RFC 5952 section 5
  t.throws(() => formatIp(new Uint8Array(5)), { instanceOf: RangeError });
});

const word = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const ipv6 = fc.array(word, { minLength: 8, maxLength: 8 }).map((ws) => v6(...ws));
const notMapped = (b: Uint8Array): boolean => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff);

test("formatIp agrees with the WHATWG URL serialiser, and parseIp reads back every spelling", (t) => {
  fc.assert(
    fc.property(ipv6.filter(notMapped), (b) => {
      const forms = ipv6TextForms(b);
      const full = forms.find((f) => f.split(":").length === 8 && f.split(":").every((g) => g.length === 4))!;
      t.is(formatIp(b), new URL(`http://[${full}]/`).hostname.slice(1, -1));
      for (const f of forms) {
        if (!net.isIPv6(f)) return false;
        t.deepEqual(parseIp(f), b, f);
      }
      return true;
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
      t.is(formatIp(b), v4Text(b));
      t.deepEqual(parseIp(v4Text(b)), b);
      t.deepEqual(parseIp(`::ffff:${v4Text(b)}`), b);
    }),
    { numRuns: 300 },
  );
});

test("parseIp accepts what node:net accepts (zone ids aside) and nothing else", (t) => {
  const alphabet = Array.from("0123456789abcdefABCDEF:.%");
  const candidate = fc.oneof(
    fc.array(fc.constantFrom(...alphabet), { maxLength: 46 }).map((cs) => cs.join("")),
    ipv6.map((b) => ipv6TextForms(b)[0]!).chain((s) => fc.nat(s.length).map((cut) => s.slice(0, cut) + s.slice(cut + 1))),
  );
  fc.assert(
    fc.property(candidate, (s) => {
      const ours = parseIp(s) !== null;
      const node = net.isIP(s) !== 0 && !s.includes("%");
      return ours === node;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("parseCidr clears host bits, defaults to a host prefix, folds mapped prefixes into IPv4", (t) => {
  t.deepEqual(parseCidr("10.1.2.3/8"), { bytes: bytes(10, 0, 0, 0), prefixLen: 8 });
  t.deepEqual(parseCidr("192.168.7.255/23"), { bytes: bytes(192, 168, 6, 0), prefixLen: 23 });
  t.deepEqual(parseCidr("1.2.3.4"), { bytes: bytes(1, 2, 3, 4), prefixLen: 32 });
  t.deepEqual(parseCidr("1.2.3.4/0"), { bytes: bytes(0, 0, 0, 0), prefixLen: 0 });
  t.deepEqual(parseCidr("2001:db8:ffff::1/33"), { bytes: v6(0x2001, 0xdb8, 0x8000, 0, 0, 0, 0, 0), prefixLen: 33 });
  t.deepEqual(parseCidr("::1"), { bytes: v6(0, 0, 0, 0, 0, 0, 0, 1), prefixLen: 128 });
  t.deepEqual(parseCidr("::/0"), { bytes: new Uint8Array(16), prefixLen: 0 });
  t.deepEqual(parseCidr("::ffff:10.9.8.7/104"), { bytes: bytes(10, 0, 0, 0), prefixLen: 8 });
  t.deepEqual(parseCidr("::ffff:10.9.8.7"), { bytes: bytes(10, 9, 8, 7), prefixLen: 32 });
  t.deepEqual(parseCidr("::ffff:0:0/96"), { bytes: bytes(0, 0, 0, 0), prefixLen: 0 });
  t.deepEqual(parseCidr("::ffff:0:0/80"), { bytes: new Uint8Array(16), prefixLen: 80 });
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/+8", "::/129", "10.0.0.0/8/8", "10.0.0.0 /8", "10.0.0/8", "fe80::/10%x", ""]) {
    t.is(parseCidr(bad), null, bad);
  }
});

test("parseCidr keeps exactly the prefix bits of random networks", (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), ipv6.filter(notMapped)), fc.nat(), (addr, n) => {
      const len = n % (addr.length * 8 + 1);
      const c = parseCidr(`${formatIp(addr)}/${len}`);
      if (c === null || c.prefixLen !== len || c.bytes.length !== addr.length) return false;
      for (let bit = 0; bit < addr.length * 8; bit++) {
        const want = bit < len ? (addr[bit >> 3]! >> (7 - (bit & 7))) & 1 : 0;
        if (((c.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) !== want) return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test("isUnicastIp follows Envoy's isUnicastAddress", (t) => {
  t.true(isUnicastIp(bytes(192, 0, 2, 1)));
  t.false(isUnicastIp(bytes(0, 0, 0, 0)));
  t.false(isUnicastIp(bytes(255, 255, 255, 255)));
  t.false(isUnicastIp(bytes(224, 0, 0, 1)));
  t.false(isUnicastIp(bytes(239, 255, 255, 250)));
  t.true(isUnicastIp(bytes(240, 0, 0, 1)));
  t.true(isUnicastIp(v6(0, 0, 0, 0, 0, 0, 0, 1)));
  t.false(isUnicastIp(new Uint8Array(16)));
  t.false(isUnicastIp(v6(0xff02, 0, 0, 0, 0, 0, 0, 1)));
  t.true(isUnicastIp(v6(0xfe80, 0, 0, 0, 0, 0, 0, 1)));
});

test("formatIpv4 (an address as an unsigned number) and formatIpv6 (16 bytes at an offset) match formatIp", (t) => {
  const toBytes = (v: number): Uint8Array => bytes(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  t.is(formatIpv4(0xcb007107), "203.0.113.7");
  t.is(formatIpv4(0xffffffff), "255.255.255.255");
  t.is(formatIpv4(0), "0.0.0.0");
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => formatIpv4(v) === formatIp(toBytes(v))), { numRuns: 2000 });
  fc.assert(
    fc.property(ipv6, fc.nat(100), fc.uint8Array({ maxLength: 100 }), (addr, at, junk) => {
      const big = new Uint8Array(at + 16 + junk.length).fill(0xab);
      big.set(addr, at);
      big.set(junk, at + 16);
      return formatIpv6(big, at) === formatIp(addr);
    }),
    { numRuns: 1000 },
  );
  t.is(formatIpv6(v6(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201), 0), "::ffff:192.0.2.1");
  t.throws(() => formatIpv6(new Uint8Array(20), 5), { instanceOf: RangeError });
  t.throws(() => formatIpv6(new Uint8Array(16), -1), { instanceOf: RangeError });
});

test("isUnicastIpv4 agrees with isUnicastIp", (t) => {
  for (const v of [0, 1, 0xffffffff, 0xfffffffe, 0xe0000000, 0xefffffff, 0xf0000000, 0xdfffffff, 0xc0000201]) {
    t.is(isUnicastIpv4(v), isUnicastIp(bytes(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)), v.toString(16));
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) =>
      isUnicastIpv4(v) === isUnicastIp(bytes(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff))),
    { numRuns: 2000 },
  );
});
