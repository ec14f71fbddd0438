// `tollgate decode [HEX...]`: reads a PROXY protocol header an operator captured (hex, or a tcpdump -X /
// xxd / hexdump -C dump) and prints what Tollgate's own parser makes of it, as one JSON object per input.
// It runs the same WASM parser the listener filter runs, so "decode says ok" means "the proxy accepts it".
// Operator workflow: docs/decode.md.
import { createInterface } from "node:readline";
import { once } from "node:events";
import type { ProxyParser, ProxyHeader, ProxyEndpoint, decodeTlvs } from "../../wasm/index.js";
import { formatIp } from "../net/ip.js";
import { InputSplitter, splitArgument, type HexItem } from "./decode-hex.js";
import { BadPacketError, looksLikeIpPacket, tcpPayload } from "./decode-packet.js";

export interface DecodeIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const DECODE_USAGE = `Usage: tollgate decode [HEX...]
       tollgate decode < FILE        (or: ... | tollgate decode, or: tollgate decode -)

Decodes a PROXY protocol header (v1 or v2) with Tollgate's own parser and prints one JSON object per input:
  {"status":"ok","version":2,"command":"PROXY","family":"TCP4","source":{"address":"203.0.113.7","port":51234},
   "destination":{...},"headerLength":28,"tlvs":[{"type":234,"hex":"..."}],"decoded":{"awsVpceId":"..."}}
  {"status":"incomplete"}                   the bytes end before the header does
  {"status":"error","code":"BAD_SIGNATURE","message":"..."}

Input:
  HEX arguments are joined into one input. Without arguments (or with "-"), stdin is read: one header per
  line, blank lines and lines starting with '#' skipped.
  Hex may contain spaces, ':' ',' '-' separators, 0x prefixes and \\x escapes. Multi-line dumps from
  tcpdump -X, xxd and hexdump -C are read as one input each (tcpdump's summary line is skipped). Bytes that
  start with an IPv4/IPv6 header (tcpdump -X prints one) are unwrapped to their TCP payload first.
  "trailingBytes" appears when bytes follow the header (e.g. the client's first request in the same packet).

Exit status: 0 every input decoded ok; 1 some input was incomplete or an error; 2 usage error or input
that is not hex ({"status":"error","code":"BAD_HEX"}).

Options:
  -h, --help   print this help
  --           end of options
See docs/decode.md for capturing a header and reading each error code.
`;

const EXIT_OK = 0;
const EXIT_NOT_OK = 1;
const EXIT_USAGE = 2;

/** Runs `tollgate decode`; resolves to the process exit code. */
export async function runDecode(argv: string[], io: DecodeIo): Promise<number> {
  const positional: string[] = [];
  let optionsEnded = false;
  for (const arg of argv) {
    if (!optionsEnded && (arg === "-h" || arg === "--help")) {
      await write(io.stdout, DECODE_USAGE);
      return EXIT_OK;
    }
    if (!optionsEnded && arg === "--") {
      optionsEnded = true;
    } else if (!optionsEnded && arg.startsWith("-") && arg !== "-") {
      await write(io.stderr, `tollgate decode: unknown option ${arg}\n\n${DECODE_USAGE}`);
      return EXIT_USAGE;
    } else {
      positional.push(arg);
    }
  }

  // Loaded here rather than imported at the top so that a missing or broken tollgate.wasm (the module is
  // compiled when wasm/index.js is first imported) gives a sentence, not a stack trace.
  let parser: Parser;
  try {
    const wasm = await import("../../wasm/index.js");
    parser = { parser: new wasm.ProxyParser(), decodeTlvs: wasm.decodeTlvs };
  } catch (e) {
    await write(io.stderr, `tollgate decode: cannot load the WASM parser (${errorText(e)}); run \`npm run build\`\n`);
    return EXIT_NOT_OK;
  }

  let exit = EXIT_OK;
  let count = 0;
  const emit = async (item: HexItem): Promise<void> => {
    count++;
    const result = decodeItem(parser, item);
    const outcome = result.status === "ok" ? EXIT_OK : result.status === "error" && result.code === "BAD_HEX" ? EXIT_USAGE : EXIT_NOT_OK;
    exit = Math.max(exit, outcome);
    await write(io.stdout, `${JSON.stringify(result, jsonBytes)}\n`);
  };

  if (positional.length > 0 && !(positional.length === 1 && positional[0] === "-")) {
    for (const item of splitArgument(positional.join(" "))) await emit(item);
    return exit;
  }

  if ((io.stdin as { isTTY?: boolean }).isTTY === true) {
    await write(io.stderr, "tollgate decode: reading hex from stdin, one header per line (Ctrl-D ends)\n");
  }
  const splitter = new InputSplitter();
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity, terminal: false });
  for await (const line of lines) {
    for (const item of splitter.push(line)) await emit(item);
  }
  for (const item of splitter.end()) await emit(item);
  if (count === 0) {
    await write(io.stderr, `tollgate decode: no input\n\n${DECODE_USAGE}`);
    return EXIT_USAGE;
  }
  return exit;
}

/** What is printed for one input. Field order is part of the output format (docs/decode.md). */
export type DecodeOutput =
  | { status: "incomplete" }
  | { status: "error"; code: string; message: string }
  | ({ status: "ok" } & Record<string, unknown>);

/** The parser and the TLV decoder of wasm/index.ts. */
export interface Parser {
  parser: ProxyParser;
  decodeTlvs: typeof decodeTlvs;
}

/** Decodes one input item into the printed object. */
export function decodeItem({ parser, decodeTlvs }: Parser, item: HexItem): DecodeOutput {
  if (!item.ok) return { status: "error", code: item.error.code, message: item.error.message };
  let bytes = item.bytes;
  if (looksLikeIpPacket(bytes)) {
    try {
      bytes = tcpPayload(bytes);
    } catch (e) {
      if (e instanceof BadPacketError) return { status: "error", code: e.code, message: e.message };
      throw e;
    }
  }
  const result = parser.parse(bytes);
  switch (result.status) {
    case "incomplete":
      return { status: "incomplete" };
    case "error":
      return { status: "error", code: result.code, message: result.message };
    case "ok":
      return describeHeader(result.header, bytes.length, decodeTlvs);
  }
}

function describeHeader(header: ProxyHeader, inputLength: number, decode: typeof decodeTlvs): DecodeOutput {
  const out: { status: "ok" } & Record<string, unknown> = {
    status: "ok",
    version: header.version,
    command: header.command,
    family: header.family,
    source: endpoint(header.source, header.unixSource),
    destination: endpoint(header.destination, header.unixDestination),
    headerLength: header.headerLength,
  };
  const trailing = inputLength - header.headerLength;
  if (trailing > 0) out["trailingBytes"] = trailing;
  out["tlvs"] = header.tlvs.map((tlv) => ({ type: tlv.type, hex: hex(tlv.value) }));
  out["decoded"] = decode(header);
  return out;
}

function endpoint(ip: ProxyEndpoint | null, unixPath: Uint8Array | undefined): unknown {
  if (ip !== null) return { address: formatIp(ip.ip), port: ip.port };
  if (unixPath !== undefined) {
    // AF_UNIX addresses are 108-byte sun_path fields padded with NULs.
    const end = unixPath.indexOf(0);
    return { path: Buffer.from(unixPath.subarray(0, end === -1 ? unixPath.length : end)).toString("utf8") };
  }
  return null;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** JSON.stringify replacer: byte arrays inside decoded TLVs print as hex, bigints as decimal strings. */
function jsonBytes(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return hex(value);
  if (typeof value === "bigint") return value.toString();
  // Buffer.prototype.toJSON runs before the replacer sees the value: undo it.
  if (typeof value === "object" && value !== null && (value as { type?: unknown }).type === "Buffer" && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString("hex");
  }
  return value;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, "drain");
}
