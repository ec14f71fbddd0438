// The trusted client address and X-Forwarded-For, row by row from Envoy's HCM header documentation
// ("x-forwarded-for", Examples 1-6) and Envoy's conn_manager_utility_test.cc.
import test from "ava";
import { buildCidrMatcher, EMPTY_CIDR_MATCHER } from "../proxy/filters/common/cidr-matcher.js";
import { deriveClientAddress, getLastAddressFromXff, type XffConfig } from "../proxy/filters/network/http-connection-manager/client-address.js";
import { parseCidr, formatIp } from "../proxy/net/ip.js";

const RFC1918 = buildCidrMatcher(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((c) => parseCidr(c)!));
const LOCAL = "10.3.2.1";

function cfg(useRemoteAddress: boolean, xffNumTrustedHops: number, extra: Partial<XffConfig> = {}): XffConfig {
  return { useRemoteAddress, xffNumTrustedHops, skipXffAppend: false, internalAddresses: EMPTY_CIDR_MATCHER, ...extra };
}

// Envoy appends with "," (HeaderMapImpl::appendToHeader); the docs print ", " but the code and its tests use ",".
test("Example 1: edge proxy, no trusted proxy in front: the peer is trusted and appended", (t) => {
  const r = deriveClientAddress(cfg(true, 0), "192.0.2.5", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1");
  t.is(r.trustedAddress, "192.0.2.5");
  t.false(r.trustedFromXff);
  t.is(r.xffHeaderOut, "203.0.113.128, 203.0.113.10, 203.0.113.1,192.0.2.5");
  t.false(r.internal);
  t.true(r.edge); // => x-envoy-external-address: 192.0.2.5
});

test("Example 2: internal proxy behind the edge of Example 1: the last XFF entry is trusted, XFF untouched", (t) => {
  const r = deriveClientAddress(cfg(false, 0), "10.11.12.13", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5");
  t.is(r.trustedAddress, "192.0.2.5");
  t.true(r.trustedFromXff);
  t.is(r.xffHeaderOut, null);
  t.false(r.internal);
  t.false(r.edge); // x-envoy-external-address not modified
});

test("Example 3: edge proxy with two trusted proxies in front: the 2nd entry from the right", (t) => {
  const r = deriveClientAddress(cfg(true, 2), "192.0.2.5", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1");
  t.is(r.trustedAddress, "203.0.113.10");
  t.true(r.trustedFromXff);
  t.is(r.xffHeaderOut, "203.0.113.128, 203.0.113.10, 203.0.113.1,192.0.2.5");
  t.false(r.internal);
  t.true(r.edge);
});

test("Example 4: internal proxy behind the edge of Example 3: the (N+1)th entry from the right", (t) => {
  const r = deriveClientAddress(cfg(false, 2), "10.11.12.13", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5");
  t.is(r.trustedAddress, "203.0.113.10");
  t.is(r.xffHeaderOut, null);
  t.false(r.internal);
  t.false(r.edge);
});

test("Example 5: internal client, no XFF, use_remote_address false: the peer, and external", (t) => {
  const r = deriveClientAddress(cfg(false, 0, { internalAddresses: RFC1918 }), "10.20.30.40", LOCAL, undefined);
  t.is(r.trustedAddress, "10.20.30.40");
  t.false(r.trustedFromXff);
  t.false(r.internal); // x-envoy-internal is not set
  t.false(r.edge);
  t.is(r.xffHeaderOut, null);
});

test("Example 6: proxied by another Envoy, XFF holds one internal address: internal (when configured)", (t) => {
  const configured = deriveClientAddress(cfg(false, 0, { internalAddresses: RFC1918 }), "10.20.30.50", LOCAL, "10.20.30.40");
  t.is(configured.trustedAddress, "10.20.30.40");
  t.true(configured.internal);
  t.false(configured.edge);
  // Since Envoy 1.33 nothing is internal unless internal_address_config says so.
  const byDefault = deriveClientAddress(cfg(false, 0), "10.20.30.50", LOCAL, "10.20.30.40");
  t.is(byDefault.trustedAddress, "10.20.30.40");
  t.false(byDefault.internal);
});

test("use_remote_address: no XFF, internal peer is internal and XFF becomes the peer", (t) => {
  const r = deriveClientAddress(cfg(true, 0, { internalAddresses: RFC1918 }), "10.0.0.1", LOCAL, undefined);
  t.true(r.internal);
  t.false(r.edge);
  t.is(r.xffHeaderOut, "10.0.0.1");
});

test("use_remote_address: any XFF makes the request external even if every address is internal", (t) => {
  const r = deriveClientAddress(cfg(true, 0, { internalAddresses: RFC1918 }), "10.0.0.1", LOCAL, "10.0.0.2");
  t.is(r.trustedAddress, "10.0.0.1");
  t.false(r.internal);
  t.true(r.edge);
  t.is(r.xffHeaderOut, "10.0.0.2,10.0.0.1");
});

test("use_remote_address: a loopback peer appends the local address instead", (t) => {
  const r = deriveClientAddress(cfg(true, 0), "127.0.0.1", LOCAL, undefined);
  t.is(r.trustedAddress, "127.0.0.1");
  t.is(r.xffHeaderOut, LOCAL);
  const v6 = deriveClientAddress(cfg(true, 0), "::1", LOCAL, "198.51.100.7");
  t.is(v6.xffHeaderOut, `198.51.100.7,${LOCAL}`);
});

test("use_remote_address with N=1 takes the rightmost XFF entry (Envoy UseRemoteAddressWithXFFTrustedHops)", (t) => {
  const r = deriveClientAddress(cfg(true, 1), "203.0.113.128", LOCAL, "198.51.100.1");
  t.is(r.trustedAddress, "198.51.100.1");
  t.true(r.edge);
});

test("use_remote_address with N beyond the XFF length or an invalid entry falls back to the peer", (t) => {
  t.is(deriveClientAddress(cfg(true, 3), "192.0.2.5", LOCAL, "203.0.113.10, 203.0.113.1").trustedAddress, "192.0.2.5");
  t.is(deriveClientAddress(cfg(true, 1), "192.0.2.5", LOCAL, "not-an-ip").trustedAddress, "192.0.2.5");
  t.is(deriveClientAddress(cfg(true, 1), "192.0.2.5", LOCAL, "203.0.113.1:443").trustedAddress, "192.0.2.5");
  t.is(deriveClientAddress(cfg(true, 1), "192.0.2.5", LOCAL, undefined).trustedAddress, "192.0.2.5");
  t.false(deriveClientAddress(cfg(true, 3), "192.0.2.5", LOCAL, "203.0.113.10").trustedFromXff);
});

test("use_remote_address false with N=1 (Envoy UseXFFTrustedHopsWithoutRemoteAddress)", (t) => {
  const r = deriveClientAddress(cfg(false, 1), "127.0.0.1", LOCAL, "198.51.100.2, 198.51.100.1");
  t.is(r.trustedAddress, "198.51.100.2");
  t.false(r.edge);
});

test("use_remote_address false with too few entries: no address from XFF, the peer is used, never internal", (t) => {
  const r = deriveClientAddress(cfg(false, 1, { internalAddresses: RFC1918 }), "10.0.0.9", LOCAL, "10.0.0.1");
  t.is(r.trustedAddress, "10.0.0.9");
  t.false(r.trustedFromXff);
  t.false(r.internal);
  // N > 0 without use_remote_address never yields internal, even with enough entries (Envoy's single-address rule).
  t.false(deriveClientAddress(cfg(false, 1, { internalAddresses: RFC1918 }), "10.0.0.9", LOCAL, "10.0.0.1, 10.0.0.2").internal);
});

test("use_remote_address false: an invalid last XFF entry falls back to the peer (Envoy PipeAddressInvalidXFFtDontUseRemote)", (t) => {
  const r = deriveClientAddress(cfg(false, 0), "50.0.0.1", LOCAL, "blah");
  t.is(r.trustedAddress, "50.0.0.1");
  t.false(r.trustedFromXff);
});

test("skip_xff_append leaves XFF untouched but still picks the trusted address", (t) => {
  const r = deriveClientAddress(cfg(true, 0, { skipXffAppend: true }), "12.12.12.12", LOCAL, "198.51.100.1");
  t.is(r.trustedAddress, "12.12.12.12");
  t.is(r.xffHeaderOut, null);
  t.is(deriveClientAddress(cfg(true, 0, { skipXffAppend: true }), "12.12.12.12", LOCAL, undefined).xffHeaderOut, null);
});

test("an empty XFF header counts as present: not internal, and the peer replaces the empty value", (t) => {
  const r = deriveClientAddress(cfg(true, 0, { internalAddresses: RFC1918 }), "10.0.0.1", LOCAL, "");
  t.false(r.internal);
  t.is(r.xffHeaderOut, "10.0.0.1");
});

test("IPv6 and IPv4-mapped addresses are canonicalised", (t) => {
  t.is(deriveClientAddress(cfg(false, 0), "10.0.0.1", LOCAL, "2001:DB8:0:0::1").trustedAddress, "2001:db8::1");
  t.is(deriveClientAddress(cfg(false, 0), "10.0.0.1", LOCAL, "::ffff:198.51.100.4").trustedAddress, "198.51.100.4");
  t.is(deriveClientAddress(cfg(true, 0), "2001:db8::5", LOCAL, "198.51.100.4").xffHeaderOut, "198.51.100.4,2001:db8::5");
});

test("a peer that is not an IP address (a pipe) gives no trusted address and appends nothing", (t) => {
  const r = deriveClientAddress(cfg(true, 0, { internalUnixSockets: true }), "", LOCAL, undefined);
  t.is(r.trustedAddress, null);
  t.is(r.xffHeaderOut, null);
  t.true(r.internal);
  t.false(deriveClientAddress(cfg(true, 0), "", LOCAL, undefined).internal);
});

test("getLastAddressFromXff follows Envoy's parsing (Envoy HttpUtility getLastAddressFromXFF)", (t) => {
  const fmt = (xff: string | undefined, skip: number) => {
    const e = getLastAddressFromXff(xff, skip);
    return e.ip ? `${formatIp(e.ip)}${e.single ? " single" : ""}` : null;
  };
  t.is(fmt("192.0.2.10, 192.0.2.1, 10.0.0.1", 0), "10.0.0.1");
  t.is(fmt("192.0.2.10, 192.0.2.1, 10.0.0.1", 1), "192.0.2.1");
  t.is(fmt("192.0.2.10, 192.0.2.1, 10.0.0.1", 2), "192.0.2.10");
  t.is(fmt("192.0.2.10, 192.0.2.1, 10.0.0.1", 3), null);
  t.is(fmt("192.0.2.10", 0), "192.0.2.10 single");
  t.is(fmt(" \t192.0.2.10 \t", 0), "192.0.2.10 single");
  t.is(fmt("192.0.2.10,", 0), null); // the text after the last comma is empty: the whole "a," fails to parse
  t.is(fmt("192.0.2.1,192.0.2.10", 0), "192.0.2.10");
  t.is(fmt("bad, 192.0.2.10", 0), "192.0.2.10");
  t.is(fmt("bad, 192.0.2.10", 1), null);
  t.is(fmt("01.2.3.4", 0), null); // strict: leading zeros refused, as inet_pton does
  t.is(fmt(undefined, 0), null);
});

test("hopsExplained is empty unless asked for, and tells the story when asked", (t) => {
  t.deepEqual(deriveClientAddress(cfg(true, 2), "192.0.2.5", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1").hopsExplained, []);
  const steps = deriveClientAddress(cfg(true, 2), "192.0.2.5", LOCAL, "203.0.113.128, 203.0.113.10, 203.0.113.1", true).hopsExplained;
  t.true(steps.some((s) => s.includes("xff_num_trusted_hops=2") && s.includes("203.0.113.10")));
  t.true(steps.some((s) => s.includes("appending the peer 192.0.2.5")));
  t.regex(steps[steps.length - 1], /trusted client address: 203\.0\.113\.10; external, edge request/);
});
