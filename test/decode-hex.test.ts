import test from "ava";
import { BadHexError, InputSplitter, parsePlainHex, splitArgument, type HexItem } from "../proxy/tools/decode-hex.js";

const hexOf = (item: HexItem | undefined): string => {
  if (item === undefined) throw new Error("no item");
  if (!item.ok) throw new Error(`item is an error: ${item.error.message}`);
  return Buffer.from(item.bytes).toString("hex");
};

const feed = (text: string): HexItem[] => {
  const splitter = new InputSplitter();
  const items = text.split("\n").flatMap((l) => splitter.push(l));
  return items.concat(splitter.end());
};

// A real `tcpdump -i any -nn -X -c 1` capture of HAProxy 2.6 sending PROXY v2 (send-proxy-v2, unique-id TLV).
const TCPDUMP_HAPROXY = [
  "20:41:58.842023 lo    In  IP 127.0.0.1.34140 > 127.0.0.1.10000: Flags [P.], seq 1410384588:1410384665, ack 516892859, win 64, options [nop,nop,TS val 1726503129 ecr 1770684881], length 77",
  "\t0x0000:  4500 0081 ac26 4000 4006 904e 7f00 0001  E....&@.@..N....",
  "\t0x0010:  7f00 0001 855c 2710 5410 c2cc 1ecf 28bb  .....\\'.T.....(.",
  "\t0x0020:  8018 0040 fe75 0000 0101 080a 66e8 58d9  ...@.u......f.X.",
  "\t0x0030:  698a 81d1 0d0a 0d0a 000d 0a51 5549 540a  i..........QUIT.",
  "\t0x0040:  2111 003d 7f00 0001 7f00 0001 8202 46a0  !..=..........F.",
  "\t0x0050:  0500 2e37 4630 3030 3030 313a 3832 3032  ...7F000001:8202",
  "\t0x0060:  5f37 4630 3030 3030 313a 3436 4130 5f36  _7F000001:46A0_6",
  "\t0x0070:  4230 3839 3939 365f 3030 3030 3a31 4431  B089996_0000:1D1",
  "\t0x0080:  39                                       9",
].join("\n");

// `xxd` and `hexdump -C` of "PROXY TCP4 203.0.113.7 10.0.0.9 51234 10000\r\nGET / HTTP/1.1\r\n".
const V1_WITH_REQUEST = Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.9 51234 10000\r\nGET / HTTP/1.1\r\n", "latin1").toString("hex");
const XXD = [
  "00000000: 5052 4f58 5920 5443 5034 2032 3033 2e30  PROXY TCP4 203.0",
  "00000010: 2e31 3133 2e37 2031 302e 302e 302e 3920  .113.7 10.0.0.9 ",
  "00000020: 3531 3233 3420 3130 3030 300d 0a47 4554  51234 10000..GET",
  "00000030: 202f 2048 5454 502f 312e 310d 0a          / HTTP/1.1..",
].join("\n");
const HEXDUMP_C = [
  "00000000  50 52 4f 58 59 20 54 43  50 34 20 32 30 33 2e 30  |PROXY TCP4 203.0|",
  "00000010  2e 31 31 33 2e 37 20 31  30 2e 30 2e 30 2e 39 20  |.113.7 10.0.0.9 |",
  "00000020  35 31 32 33 34 20 31 30  30 30 30 0d 0a 47 45 54  |51234 10000..GET|",
  "00000030  20 2f 20 48 54 54 50 2f  31 2e 31 0d 0a           | / HTTP/1.1..|",
  "0000003d",
].join("\n");

test("plain hex accepts whitespace, colons, commas, 0x prefixes and \\x escapes", (t) => {
  const want = "0d0a0d0a000d";
  for (const text of ["0d0a0d0a000d", "0d 0a 0d 0a 00 0d", "0d:0a:0d:0a:00:0d", "0x0d,0x0a,0x0d,0x0a,0x00,0x0d", "\\x0d\\x0a\\x0d\\x0a\\x00\\x0d", " 0D0A 0D0A\t000D\n", "0x0d0a0d0a000d"]) {
    t.is(Buffer.from(parsePlainHex(text)).toString("hex"), want, text);
  }
});

test("plain hex refuses non-hex, odd length and empty input with BAD_HEX", (t) => {
  const odd = t.throws(() => parsePlainHex("0d0a0"), { instanceOf: BadHexError });
  t.is(odd.code, "BAD_HEX");
  t.regex(odd.message, /odd number of hex digits \(5\)/);
  t.regex(t.throws(() => parsePlainHex("0d0g"), { instanceOf: BadHexError }).message, /not a hex digit: "g"/);
  t.regex(t.throws(() => parsePlainHex(" : "), { instanceOf: BadHexError }).message, /no hex digits/);
});

test("an xxd dump and a hexdump -C dump each become one input, ASCII column ignored", (t) => {
  t.deepEqual(feed(XXD).map(hexOf), [V1_WITH_REQUEST]);
  t.deepEqual(feed(HEXDUMP_C).map(hexOf), [V1_WITH_REQUEST]);
  t.deepEqual(splitArgument(XXD).map(hexOf), [V1_WITH_REQUEST]);
});

test("a tcpdump -X capture becomes one input holding the IP packet; its summary line is skipped", (t) => {
  const items = feed(TCPDUMP_HAPROXY);
  t.is(items.length, 1);
  const hex = hexOf(items[0]);
  t.is(hex.length / 2, 0x81); // the IPv4 total length
  t.true(hex.startsWith("45000081"));
  t.true(hex.endsWith("3a31443139"));
  t.deepEqual(splitArgument(TCPDUMP_HAPROXY).map(hexOf), [hex]);
});

test("a tcpdump summary line without a dump (tcpdump run without -X) is reported, not skipped", (t) => {
  const items = feed(`${TCPDUMP_HAPROXY.split("\n")[0]}\n0d0a`);
  t.is(items.length, 2);
  t.regex(items[0]!.ok ? "" : items[0]!.error.message, /run tcpdump with -X/);
  t.is(hexOf(items[1]), "0d0a");
});

test("stdin mode: one input per line, dumps grouped, order kept, bad lines reported in place", (t) => {
  const input = ["# a comment", "0d0a", "", "not hex at all", "0a0b", XXD, "zz", HEXDUMP_C, "0c"].join("\n");
  const items = feed(input);
  t.deepEqual(
    items.map((i) => (i.ok ? Buffer.from(i.bytes).toString("hex") : `error:${i.error.message}`)),
    ["0d0a", 'error:not a hex digit: "n"', "0a0b", V1_WITH_REQUEST, 'error:not a hex digit: "z"', V1_WITH_REQUEST, "0c"],
  );
});

test("two tcpdump packets in a row are two inputs", (t) => {
  const items = feed(`${TCPDUMP_HAPROXY}\n${TCPDUMP_HAPROXY}`);
  t.is(items.length, 2);
  t.is(hexOf(items[0]), hexOf(items[1]));
});

test("a dump with a gap in its offsets or a damaged group is BAD_HEX, not silently shortened", (t) => {
  const gap = feed([XXD.split("\n")[0], XXD.split("\n")[2]].join("\n"));
  t.is(gap.length, 1);
  t.false(gap[0]!.ok);
  t.regex(gap[0]!.ok ? "" : gap[0]!.error.message, /not contiguous: expected 0x10, got 0x20/);

  const damaged = feed("00000000: 5052 4f5 5920  PRO.Y");
  t.false(damaged[0]!.ok);
  t.regex(damaged[0]!.ok ? "" : damaged[0]!.error.message, /damaged hex group "4f5"/);
});

test("hexdump's '*' for repeated lines is refused with a hint to use -v", (t) => {
  const lines = HEXDUMP_C.split("\n");
  const collapsed = [lines[0], "*", lines[3], "0000003d"].join("\n");
  const items = feed(collapsed);
  t.is(items.length, 1);
  t.regex(items[0]!.ok ? "" : items[0]!.error.message, /run it with -v/);
});
