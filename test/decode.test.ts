import test from "ava";
import { PassThrough } from "node:stream";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { runDecode } from "../proxy/tools/decode.js";

interface Run {
  code: number;
  out: string;
  err: string;
  lines: Array<Record<string, unknown>>;
}

async function run(argv: string[], stdinText = ""): Promise<Run> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  stdin.end(stdinText);
  const code = await runDecode(argv, { stdin, stdout, stderr });
  const lines = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, out, err, lines };
}

const SIG = "0d0a0d0a000d0a515549540a";
const hexOf = (text: string) => Buffer.from(text, "latin1").toString("hex");
const tlv = (type: number, valueHex: string) => {
  const len = valueHex.length / 2;
  return type.toString(16).padStart(2, "0") + len.toString(16).padStart(4, "0") + valueHex;
};
const v2 = (verCmd: string, famProto: string, bodyHex: string) => SIG + verCmd + famProto + (bodyHex.length / 2).toString(16).padStart(4, "0") + bodyHex;
// 203.0.113.7:51234 -> 10.0.0.9:10000
const ADDR4 = "cb007107" + "0a000009" + "c822" + "2710";
const V2_TCP4 = v2("21", "11", ADDR4);
const VPCE = "vpce-08d2bf15fac5001c9";
const V2_AWS = v2("21", "11", ADDR4 + tlv(0xea, "01" + hexOf(VPCE)));
const V1 = "PROXY TCP4 203.0.113.7 10.0.0.9 51234 10000\r\n";

// A real `tcpdump -i any -nn -X -c 1 'tcp port 10000 and tcp[tcpflags] & tcp-push != 0'` capture of
// HAProxy 2.6 `send-proxy-v2 proxy-v2-options unique-id` (client 127.0.0.1:33282 -> 127.0.0.1:18080).
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

test("v2 TCP4: the exact output line, exit 0", async (t) => {
  const r = await run([V2_TCP4]);
  t.is(r.code, 0);
  t.is(
    r.out,
    '{"status":"ok","version":2,"command":"PROXY","family":"TCP4","source":{"address":"203.0.113.7","port":51234},' +
      '"destination":{"address":"10.0.0.9","port":10000},"headerLength":28,"tlvs":[],"decoded":{}}\n',
  );
});

test("v1 TCP4, given as colon-separated hex split over several arguments", async (t) => {
  const hex = hexOf(V1).match(/../g)!.join(":");
  const half = hex.length / 2 + 1; // cut on a ':' so each argument holds whole bytes
  const r = await run([hex.slice(0, half), hex.slice(half)]);
  t.is(r.code, 0);
  t.deepEqual(r.lines, [
    {
      status: "ok",
      version: 1,
      command: "PROXY",
      family: "TCP4",
      source: { address: "203.0.113.7", port: 51234 },
      destination: { address: "10.0.0.9", port: 10000 },
      headerLength: V1.length,
      tlvs: [],
      decoded: {},
    },
  ]);
});

test("v2 with the AWS VPC endpoint TLV: raw TLV and decoded.awsVpceId", async (t) => {
  const r = await run([V2_AWS]);
  t.is(r.code, 0);
  const [line] = r.lines;
  t.is(line!["headerLength"], V2_AWS.length / 2);
  t.deepEqual(line!["tlvs"], [{ type: 0xea, hex: "01" + hexOf(VPCE) }]);
  t.is((line!["decoded"] as Record<string, unknown>)["awsVpceId"], VPCE);
});

test("UNIX addresses print as paths, LOCAL and UNKNOWN as null endpoints", async (t) => {
  const path = (p: string) => hexOf(p.padEnd(108, "\0"));
  const unix = await run([v2("21", "31", path("/run/client.sock") + path("/run/tollgate.sock"))]);
  t.like(unix.lines[0]!, { status: "ok", family: "UNIX_STREAM", source: { path: "/run/client.sock" }, destination: { path: "/run/tollgate.sock" } });
  const local = await run([v2("20", "00", "")]);
  t.like(local.lines[0]!, { status: "ok", command: "LOCAL", source: null, destination: null, headerLength: 16 });
  const unknown = await run([hexOf("PROXY UNKNOWN\r\n")]);
  t.like(unknown.lines[0]!, { status: "ok", version: 1, family: "UNKNOWN", source: null, destination: null });
});

test("bytes after the header are counted as trailingBytes", async (t) => {
  const r = await run([hexOf(`${V1}GET / HTTP/1.1\r\n`)]);
  t.is(r.code, 0);
  t.is(r.lines[0]!["headerLength"], V1.length);
  t.is(r.lines[0]!["trailingBytes"], 16);
});

test("a header cut short is incomplete, exit 1", async (t) => {
  for (const partial of [V2_TCP4.slice(0, 20), V2_AWS.slice(0, V2_AWS.length - 2), hexOf(V1.slice(0, 20))]) {
    const r = await run([partial]);
    t.is(r.out, '{"status":"incomplete"}\n', partial);
    t.is(r.code, 1);
  }
});

test("parser errors print status, code and message, exit 1", async (t) => {
  const cases: Array<[string, string]> = [
    [hexOf("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "BAD_SIGNATURE"],
    [v2("31", "11", ADDR4), "BAD_VERSION"],
    [v2("2f", "11", ADDR4), "BAD_COMMAND"],
    [v2("21", "11", "cb007107"), "BAD_LENGTH"],
    [v2("21", "11", ADDR4 + "ea0010" + "01"), "TRUNCATED_TLV"],
    [hexOf("PROXY TCP4 203.0.113.999 10.0.0.9 51234 10000\r\n"), "BAD_ADDRESS"],
  ];
  for (const [hex, code] of cases) {
    const r = await run([hex]);
    t.is(r.code, 1, code);
    t.is(r.lines.length, 1);
    const [line] = r.lines;
    t.deepEqual(Object.keys(line!), ["status", "code", "message"], code);
    t.is(line!["status"], "error");
    t.is(line!["code"], code);
    t.is(typeof line!["message"], "string");
  }
});

test("invalid hex as an argument: BAD_HEX line and exit 2", async (t) => {
  const r = await run(["0d0a0d0g"]);
  t.is(r.code, 2);
  t.deepEqual(r.lines, [{ status: "error", code: "BAD_HEX", message: 'not a hex digit: "g"' }]);
  const text = await run(["PROXY TCP4 1.2.3.4 5.6.7.8 1 2"]);
  t.is(text.code, 2);
  t.regex(String(text.lines[0]!["message"]), /a v1 line as text: give it as hex/);
});

test("stdin: one JSON line per input line, in order; worst outcome decides the exit code", async (t) => {
  const input = ["# captured on lb-1", V2_TCP4, "", hexOf(V1), V2_TCP4.slice(0, 20), "xyz", V2_AWS].join("\n") + "\n";
  const r = await run([], input);
  t.deepEqual(
    r.lines.map((l) => (l["status"] === "error" ? `error:${String(l["code"])}` : String(l["status"]))),
    ["ok", "ok", "incomplete", "error:BAD_HEX", "ok"],
  );
  t.is(r.code, 2);

  const allGood = await run([], `${V2_TCP4}\r\n${V2_AWS}\r\n`);
  t.is(allGood.code, 0);
  t.is(allGood.lines.length, 2);

  const oneIncomplete = await run(["-"], `${V2_TCP4}\n${V2_TCP4.slice(0, 20)}\n`);
  t.is(oneIncomplete.code, 1);
});

test("a pasted tcpdump -X capture is unwrapped from IP and TCP and decoded", async (t) => {
  for (const r of [await run([TCPDUMP_HAPROXY]), await run([], TCPDUMP_HAPROXY)]) {
    t.is(r.code, 0);
    t.is(r.lines.length, 1);
    const [line] = r.lines;
    t.like(line!, {
      status: "ok",
      version: 2,
      family: "TCP4",
      source: { address: "127.0.0.1", port: 33282 },
      destination: { address: "127.0.0.1", port: 18080 },
      headerLength: 77,
    });
    t.is("trailingBytes" in line!, false);
    t.deepEqual(line!["tlvs"], [{ type: 5, hex: hexOf("7F000001:8202_7F000001:46A0_6B089996_0000:1D19") }]);
  }
});

test("an IP packet that is not TCP is BAD_PACKET", async (t) => {
  const udp = "4500001c00004000401100007f0000017f000001" + "0035003500080000"; // IPv4 + UDP, no payload
  const r = await run([udp]);
  t.is(r.code, 1);
  t.like(r.lines[0]!, { status: "error", code: "BAD_PACKET" });
});

test("--help prints usage and exits 0; an unknown option or empty stdin is a usage error", async (t) => {
  const help = await run(["--help"]);
  t.is(help.code, 0);
  t.regex(help.out, /^Usage: tollgate decode \[HEX\.\.\.\]/);

  const unknown = await run(["--pretty", V2_TCP4]);
  t.is(unknown.code, 2);
  t.is(unknown.out, "");
  t.regex(unknown.err, /unknown option --pretty/);

  const empty = await run([], "\n# nothing\n");
  t.is(empty.code, 2);
  t.regex(empty.err, /no input/);
});

test("end to end through the tollgate CLI: `tollgate decode` reading stdin, exit status 1", async (t) => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", "proxy/cli.ts", "decode"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.resume();
  child.stdin.end(`${V2_AWS}\n${hexOf("SSH-2.0-OpenSSH_9.2\r\n")}\n`);
  const [code] = (await once(child, "close")) as [number | null];
  t.is(code, 1);
  const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(lines.length, 2);
  t.like(lines[0]!, { status: "ok", family: "TCP4", source: { address: "203.0.113.7", port: 51234 }, decoded: { awsVpceId: VPCE } });
  t.like(lines[1]!, { status: "error", code: "BAD_SIGNATURE" });
});
