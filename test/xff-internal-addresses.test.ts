// internal_address_config: the CIDR matcher and the HCM fields that build it.
import test from "ava";
import { ConfigReader } from "../proxy/config/reader.js";
import { buildCidrMatcher, CidrMatcher, EMPTY_CIDR_MATCHER } from "../proxy/filters/common/cidr-matcher.js";
import { deriveClientAddress } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { readRequestHeadersConfig } from "../proxy/filters/network/http-connection-manager/headers-config.js";
import { parseCidr, parseIp } from "../proxy/net/ip.js";

const m = (...cidrs: string[]) => buildCidrMatcher(cidrs.map((c) => parseCidr(c)!));

test("IPv4 ranges: boundaries, host bits, /0 and /32", (t) => {
  const s = m("10.0.0.0/8", "192.168.1.7/24", "203.0.113.9/32");
  t.true(s.contains("10.0.0.0"));
  t.true(s.contains("10.255.255.255"));
  t.false(s.contains("11.0.0.0"));
  t.false(s.contains("9.255.255.255"));
  t.true(s.contains("192.168.1.200")); // host bits of 192.168.1.7/24 are cleared
  t.false(s.contains("192.168.2.1"));
  t.true(s.contains("203.0.113.9"));
  t.false(s.contains("203.0.113.8"));
  t.true(m("0.0.0.0/0").contains("198.51.100.1"));
  t.false(m("0.0.0.0/0").contains("::1")); // an IPv4 range never holds an IPv6 address
});

test("IPv6 ranges, and IPv4-mapped addresses match IPv4 ranges", (t) => {
  const s = m("2001:db8::/32", "fd00::/8", "::1/128", "10.0.0.0/8");
  t.true(s.contains("2001:db8:ffff::1"));
  t.false(s.contains("2001:db9::1"));
  t.true(s.contains("fdab::1"));
  t.true(s.contains("::1"));
  t.false(s.contains("::2"));
  t.true(s.contains("::ffff:10.1.2.3"));
  t.true(m("2001:db8:abcd:12::/63").contains("2001:db8:abcd:13::1"));
  t.false(m("2001:db8:abcd:12::/63").contains("2001:db8:abcd:14::1"));
});

test("unparsable text is never contained; the empty matcher contains nothing", (t) => {
  const s = m("0.0.0.0/0", "::/0");
  t.false(s.contains("not-an-ip"));
  t.false(s.contains(""));
  t.false(s.contains("1.2.3.4:80"));
  t.false(EMPTY_CIDR_MATCHER.contains("10.0.0.1"));
  t.is(EMPTY_CIDR_MATCHER.size, 0);
  t.true(s.containsBytes(parseIp("8.8.8.8")!));
});

test("new CidrMatcher(cidrs) builds the same matcher", (t) => {
  const s = new CidrMatcher([parseCidr("172.16.0.0/12")!]);
  t.true(s.contains("172.31.255.255"));
  t.false(s.contains("172.32.0.0"));
  t.is(s.size, 1);
});

function headersConfig(obj: object) {
  const r = new ConfigReader(obj, "hcm");
  const c = readRequestHeadersConfig(r, { localIp: "10.3.2.1" });
  r.done();
  return c;
}

test("internal_address_config.cidr_ranges makes matching trusted addresses internal", (t) => {
  const c = headersConfig({
    use_remote_address: true,
    internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }, { address_prefix: "fd00::", prefix_len: 8 }] },
  });
  t.true(deriveClientAddress(c.xff, "10.1.1.1", c.localIp, undefined).internal);
  t.true(deriveClientAddress(c.xff, "fd12::1", c.localIp, undefined).internal);
  t.false(deriveClientAddress(c.xff, "192.168.0.1", c.localIp, undefined).internal);
});

test("without internal_address_config nothing is internal (Envoy >= 1.33), not even RFC 1918 or loopback", (t) => {
  const c = headersConfig({ use_remote_address: true });
  for (const ip of ["10.0.0.1", "192.168.1.1", "172.16.0.1", "127.0.0.1", "fd00::1"]) {
    t.false(deriveClientAddress(c.xff, ip, c.localIp, undefined).internal, ip);
  }
});

test("internal_address_config errors name their path", (t) => {
  const e = t.throws(() => headersConfig({ internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.300", prefix_len: 8 }] } }));
  t.regex(e!.message, /^hcm\.internal_address_config\.cidr_ranges\[0\]\.address_prefix: /);
  const e2 = t.throws(() => headersConfig({ internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 33 }] } }));
  t.regex(e2!.message, /^hcm\.internal_address_config\.cidr_ranges\[0\]\.prefix_len: /);
  const e3 = t.throws(() => headersConfig({ internal_address_config: { unix_socket: true } }));
  t.regex(e3!.message, /^hcm\.internal_address_config\.unix_socket: unknown/);
});
