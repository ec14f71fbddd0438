// Host binding of tollgate.wasm: instantiate, copy bytes in, read numbers out.
//
// This is the only TypeScript file that knows the module's linear-memory layout (wasm/assembly/layout.ts),
// and it learns the region pointers from the module's own getters. Per parse call the host work is: one
// Uint8Array.set of at most the bytes a header can need, one call into WASM, a few reads from a cached
// Int32Array view, and the result object. Address bytes are copied out (slice) so results never alias
// WASM memory; nothing is formatted as text unless the caller asks (proxy/net/ip.ts formatIp).
//
// A trap inside the module (WebAssembly.RuntimeError) must never take the process down: the call that
// trapped gets an INTERNAL error, the trap is counted, and a fresh instance replaces the old one.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------------------------------
// Public types (contract in .tollgate-tmp/HELPERS.md)

export type ProxyErrorCode =
  | "BAD_SIGNATURE" | "BAD_VERSION" | "BAD_COMMAND" | "BAD_FAMILY" | "BAD_ADDRESS" | "BAD_PORT"
  | "BAD_LENGTH" | "TOO_LONG" | "MISSING_CRLF" | "BAD_V1_SYNTAX" | "TRUNCATED_TLV" | "CRC_MISMATCH"
  | "BAD_TLV" | "INTERNAL";

export type ProxyFamily =
  | "TCP4" | "TCP6" | "UDP4" | "UDP6" | "UNIX_STREAM" | "UNIX_DGRAM" | "UNSPEC" | "UNKNOWN";

export interface ProxyEndpoint { ip: Uint8Array; port: number }
export interface ProxyTlv { type: number; value: Uint8Array }
export interface ProxyHeader {
  version: 1 | 2;
  command: "PROXY" | "LOCAL";
  family: ProxyFamily;
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
  unixSource?: Uint8Array;
  unixDestination?: Uint8Array;
  headerLength: number;
  tlvs: ProxyTlv[];
}
export type ProxyParseResult =
  | { status: "incomplete" }
  | { status: "error"; code: ProxyErrorCode; message: string }
  | { status: "ok"; header: ProxyHeader };

/** A PROXY header that cannot be accepted. `code` is stable; `message` is meant for operators' logs. */
export class ProxyProtocolError extends Error {
  readonly code: ProxyErrorCode;
  constructor(code: ProxyErrorCode, message: string) {
    super(message);
    this.name = "ProxyProtocolError";
    this.code = code;
  }
}

/** Envoy's cap: a v2 header is at most 16 + 65535 bytes (the length field is 16 bits). */
export const DEFAULT_MAX_HEADER_BYTES = 16 + 65535;
/** The longest v1 line accepted, CRLF included (the spec says 107; Envoy accepts 108, and so do we). */
export const V1_MAX_LINE_BYTES = 108;

// ---------------------------------------------------------------------------------------------------
// Module loading and (re-)instantiation

// The WebAssembly global, typed locally: lib ES2023 + @types/node 20 do not declare it.
interface WasmMemory { readonly buffer: ArrayBuffer }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface TollgateExports {
  memory: WasmMemory;
  resultPtr(): number;
  resultFields(): number;
  inputPtr(): number;
  inputCap(): number;
  tlvTablePtr(): number;
  maxTlvs(): number;
  parse(len: number, maxHeader: number): number;
  crc32c(prev: number, len: number): number;
  debugTrap(): void;
}

interface Instance {
  readonly ex: TollgateExports;
  readonly inputPtr: number;
  readonly inputCap: number;
  readonly resultPtr: number;
  readonly resultFields: number;
  readonly tlvTablePtr: number;
  readonly maxTlvs: number;
  buffer: ArrayBuffer;
  u8: Uint8Array;
  result: Int32Array;
  tlvTable: Int32Array;
}

function locateWasm(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // wasm/index.ts (tsx) -> wasm/build/; dist/wasm/index.js (compiled) -> ../../wasm/build/.
  const candidates = [join(here, "build", "tollgate.wasm"), join(here, "..", "..", "wasm", "build", "tollgate.wasm")];
  for (const file of candidates) if (existsSync(file)) return file;
  throw new Error(`tollgate.wasm not found (looked in ${candidates.join(", ")}); run \`npm run build:wasm\``);
}

// Compiled once at import, synchronously: start-up cost, never per connection.
const wasmModule = new WebAssemblyApi.Module(readFileSync(locateWasm()));

function instantiate(): Instance {
  const ex = new WebAssemblyApi.Instance(wasmModule, {}).exports as TollgateExports;
  const inst: Instance = {
    ex,
    inputPtr: ex.inputPtr() >>> 0,
    inputCap: ex.inputCap(),
    resultPtr: ex.resultPtr() >>> 0,
    resultFields: ex.resultFields(),
    tlvTablePtr: ex.tlvTablePtr() >>> 0,
    maxTlvs: ex.maxTlvs(),
    buffer: ex.memory.buffer,
    u8: new Uint8Array(0),
    result: new Int32Array(0),
    tlvTable: new Int32Array(0),
  };
  if (inst.inputCap < DEFAULT_MAX_HEADER_BYTES) {
    throw new Error(`tollgate.wasm input region holds ${inst.inputCap} bytes, fewer than a PROXY header may need`);
  }
  refreshViews(inst);
  return inst;
}

/** Views over memory.buffer are detached when memory grows: rebuild them when the buffer changed. */
function refreshViews(inst: Instance): void {
  const buffer = inst.ex.memory.buffer;
  inst.buffer = buffer;
  inst.u8 = new Uint8Array(buffer);
  inst.result = new Int32Array(buffer, inst.resultPtr, inst.resultFields);
  inst.tlvTable = new Int32Array(buffer, inst.tlvTablePtr, inst.maxTlvs * 3);
}

let wasm: Instance = instantiate();
let trapCount = 0;
let generation = 1;
let trapOnNextCall = false;

/** How many times the module trapped (each time it was replaced by a fresh instance). */
export function wasmTrapCount(): number {
  return trapCount;
}

/** Increases by one each time the module is re-instantiated after a trap. */
export function wasmInstanceGeneration(): number {
  return generation;
}

/** Test hooks: make the next call into the module trap, to prove the process survives it. */
export const wasmTestHooks = {
  trapOnNextCall(): void {
    trapOnNextCall = true;
  },
};

function current(): Instance {
  const inst = wasm;
  if (inst.ex.memory.buffer !== inst.buffer) refreshViews(inst);
  return inst;
}

function recoverFromTrap(): void {
  trapCount++;
  generation++;
  wasm = instantiate();
}

const INTERNAL_MESSAGE =
  "the PROXY protocol parser failed internally (WebAssembly trap); the connection is refused and the parser was restarted";

// ---------------------------------------------------------------------------------------------------
// Result decoding (mirrors wasm/assembly/layout.ts)

const R_STATUS = 0, R_CODE = 1, R_VERSION = 2, R_COMMAND = 3, R_FAMILY = 4, R_HEADER_LEN = 5,
  R_SRC_PORT = 6, R_DST_PORT = 7, R_SRC_PTR = 8, R_SRC_LEN = 9, R_DST_PTR = 10, R_DST_LEN = 11,
  R_TLV_COUNT = 12, R_ERR_OFFSET = 13, R_ERR_AUX = 14, R_ERR_AUX2 = 15;
const STATUS_INCOMPLETE = 0, STATUS_OK = 1;

const FAMILIES: readonly ProxyFamily[] = ["UNSPEC", "TCP4", "TCP6", "UDP4", "UDP6", "UNIX_STREAM", "UNIX_DGRAM", "UNKNOWN"];
const ERROR_CODES: readonly ProxyErrorCode[] = [
  "INTERNAL", "BAD_SIGNATURE", "BAD_VERSION", "BAD_COMMAND", "BAD_FAMILY", "BAD_ADDRESS", "BAD_PORT",
  "BAD_LENGTH", "TOO_LONG", "MISSING_CRLF", "BAD_V1_SYNTAX", "TRUNCATED_TLV", "CRC_MISMATCH", "BAD_TLV",
];

const INCOMPLETE: ProxyParseResult = Object.freeze({ status: "incomplete" });

const hex = (n: number, width = 2): string => "0x" + (n >>> 0).toString(16).padStart(width, "0");
const V1_FIELDS = ["protocol", "source address", "destination address", "source port", "destination port", "end of line"];

function errorMessage(code: ProxyErrorCode, at: number, aux: number, aux2: number): string {
  switch (code) {
    case "BAD_SIGNATURE":
      return `not a PROXY protocol header: byte ${at} does not match the ${aux === 1 ? 'v1 signature "PROXY "' : aux === 2 ? "v2 signature" : 'v1 ("PROXY ") or v2 signature'}`;
    case "BAD_VERSION":
      return `PROXY v2 header declares version ${aux} (byte 12); only version 2 is defined`;
    case "BAD_COMMAND":
      return `PROXY v2 command ${aux} (byte 12) is neither LOCAL (0) nor PROXY (1)`;
    case "BAD_FAMILY":
      return aux2 === 2
        ? `PROXY v2 address family/transport byte ${hex(aux)} is not one of 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32`
        : `PROXY v1 protocol at byte ${at} is not TCP4, TCP6 or UNKNOWN`;
    case "BAD_ADDRESS":
      return `PROXY v1 ${V1_FIELDS[aux] ?? "address"} at byte ${at} is not a valid IPv${aux2} address for TCP${aux2}`;
    case "BAD_PORT":
      return `PROXY v1 ${V1_FIELDS[aux] ?? "port"} at byte ${at} is not a decimal 0-65535 without sign or leading zero`;
    case "BAD_LENGTH":
      return `PROXY v2 length ${aux} is shorter than the ${aux2}-byte address block its family needs`;
    case "TOO_LONG":
      return `PROXY v2 header would be ${aux} bytes (16 + length), above the limit of ${aux2} bytes`;
    case "MISSING_CRLF":
      return aux === 1
        ? `PROXY v1 line has no CRLF within ${V1_MAX_LINE_BYTES} bytes`
        : aux === 2
          ? `PROXY v1 line has a bare LF at byte ${at}; lines must end with CRLF`
          : `PROXY v1 line has a CR not followed by LF at byte ${at}`;
    case "BAD_V1_SYNTAX":
      return `PROXY v1 line is malformed at byte ${at} (${V1_FIELDS[aux] ?? "field"}): expected exactly one space between "PROXY", the protocol, two addresses and two ports, then CRLF`;
    case "TRUNCATED_TLV": {
      const what = aux > 0xff ? `sub-TLV ${hex(aux & 0xff)} inside the SSL TLV` : `TLV ${hex(aux)}`;
      return aux2 < 0
        ? `PROXY v2 ${what} at byte ${at} has no room for its 3-byte type and length`
        : `PROXY v2 ${what} at byte ${at} declares ${aux2} value bytes, past the end of the header`;
    }
    case "CRC_MISMATCH":
      return `PROXY v2 CRC32C TLV says ${hex(aux, 8)} but the header's checksum is ${hex(aux2, 8)}`;
    case "BAD_TLV": {
      const reason = aux2 === 1 ? "a CRC32C value must be 4 bytes"
        : aux2 === 2 ? "only one CRC32C TLV is allowed"
          : aux2 === 3 ? "a UNIQUE_ID value is at most 128 bytes"
            : aux2 === 4 ? "an SSL value needs at least 5 bytes (client, verify)"
              : "too many TLVs";
      return `PROXY v2 TLV ${hex(aux)} at byte ${at} is invalid: ${reason}`;
    }
    case "INTERNAL":
      return INTERNAL_MESSAGE;
  }
}

function errorResult(r: Int32Array): ProxyParseResult {
  const code = ERROR_CODES[r[R_CODE]!] ?? "INTERNAL";
  return { status: "error", code, message: errorMessage(code, r[R_ERR_OFFSET]!, r[R_ERR_AUX]!, r[R_ERR_AUX2]!) };
}

/**
 * Copies `len` bytes out of WASM memory into a fresh array. For address-sized copies an indexed loop into
 * `new Uint8Array(len)` is about twice as fast as TypedArray.prototype.slice (which goes through the
 * species-constructor protocol); large TLV values use slice, which is a memcpy.
 */
function copyOut(u8: Uint8Array, ptr: number, len: number): Uint8Array {
  if (len > 32) return u8.slice(ptr, ptr + len);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = u8[ptr + i]!;
  return out;
}

function okResult(inst: Instance): ProxyParseResult {
  const r = inst.result;
  const u8 = inst.u8;
  const family = FAMILIES[r[R_FAMILY]!]!;
  let source: ProxyEndpoint | null = null;
  let destination: ProxyEndpoint | null = null;
  let unixSource: Uint8Array | undefined;
  let unixDestination: Uint8Array | undefined;
  const srcLen = r[R_SRC_LEN]!;
  if (srcLen === 4 || srcLen === 16) {
    const s = r[R_SRC_PTR]!, d = r[R_DST_PTR]!;
    source = { ip: copyOut(u8, s, srcLen), port: r[R_SRC_PORT]! };
    destination = { ip: copyOut(u8, d, r[R_DST_LEN]!), port: r[R_DST_PORT]! };
  } else if (srcLen === 108) {
    const s = r[R_SRC_PTR]!, d = r[R_DST_PTR]!;
    unixSource = u8.slice(s, s + 108);
    unixDestination = u8.slice(d, d + 108);
  }
  const count = r[R_TLV_COUNT]!;
  const tlvs: ProxyTlv[] = [];
  if (count > 0) {
    const t = inst.tlvTable;
    const base = inst.inputPtr;
    for (let i = 0, k = 0; i < count; i++, k += 3) {
      const off = base + t[k + 1]!;
      tlvs.push({ type: t[k]!, value: copyOut(u8, off, t[k + 2]!) });
    }
  }
  const header: ProxyHeader = {
    version: r[R_VERSION] === 1 ? 1 : 2,
    command: r[R_COMMAND] === 0 ? "LOCAL" : "PROXY",
    family,
    source,
    destination,
    headerLength: r[R_HEADER_LEN]!,
    tlvs,
  };
  // Only UNIX headers carry the optional path fields (the IP header shape stays the common one).
  if (unixSource !== undefined) {
    header.unixSource = unixSource;
    header.unixDestination = unixDestination;
  }
  return { status: "ok", header };
}

// ---------------------------------------------------------------------------------------------------
// The parser

/**
 * Incremental PROXY v1/v2 header parser. Stateless: pass all bytes received so far on the connection
 * (however many reads they took); the answer is "incomplete", an error, or the header and the number of
 * bytes it takes. Bytes after the header are never read past what the header needs.
 */
export class ProxyParser {
  /** Largest v2 header accepted (16 + length field); longer ones fail with TOO_LONG. */
  readonly maxHeaderBytes: number;
  // No header can need more bytes than this (<= the module's input region).
  private readonly copyLimit: number;

  constructor(opts?: { maxHeaderBytes?: number }) {
    const max = opts?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    if (!Number.isInteger(max) || max < 16 || max > DEFAULT_MAX_HEADER_BYTES) {
      throw new RangeError(`maxHeaderBytes must be an integer from 16 to ${DEFAULT_MAX_HEADER_BYTES}, got ${max}`);
    }
    this.maxHeaderBytes = max;
    this.copyLimit = Math.max(max, V1_MAX_LINE_BYTES);
  }

  parse(bytes: Uint8Array): ProxyParseResult {
    let inst = current();
    // The parser never reads past the header, so only the bytes a header can still need are worth
    // passing: 16 + the v2 length field once it is visible, else a v1 line's 108 bytes. A connection's
    // first read may be 64 KiB; copying all of it on every re-parse would dominate the cost.
    const len = bytes.length;
    let need = len >= 16 && bytes[0] === 0x0d ? 16 + ((bytes[14]! << 8) | bytes[15]!) : V1_MAX_LINE_BYTES;
    if (need > this.copyLimit) need = this.copyLimit;
    const n = len < need ? len : need;
    // A small excess is cheaper to copy along than a subarray view is to create.
    if (n === len || (len <= inst.inputCap && len - n <= 4096)) inst.u8.set(bytes, inst.inputPtr);
    else inst.u8.set(bytes.subarray(0, n), inst.inputPtr);
    let status: number;
    try {
      if (trapOnNextCall) {
        trapOnNextCall = false;
        inst.ex.debugTrap();
      }
      status = inst.ex.parse(n, this.maxHeaderBytes);
    } catch {
      // Any throw out of the module (RuntimeError for a trap, RangeError for stack exhaustion) means its
      // state can no longer be trusted: answer this input with INTERNAL and start a fresh instance.
      recoverFromTrap();
      return { status: "error", code: "INTERNAL", message: INTERNAL_MESSAGE };
    }
    if (status === STATUS_INCOMPLETE) return INCOMPLETE;
    inst = current();
    return status === STATUS_OK ? okResult(inst) : errorResult(inst.result);
  }

  /** Like parse, but returns null while incomplete and throws ProxyProtocolError on error. */
  parseOrThrow(bytes: Uint8Array): ProxyHeader | null {
    const res = this.parse(bytes);
    if (res.status === "ok") return res.header;
    if (res.status === "error") throw new ProxyProtocolError(res.code, res.message);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers

const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/**
 * What the first bytes of a connection can still be: "v1"/"v2" once a full signature is present,
 * "maybe" while they are a proper prefix of one (including no bytes), "none" once they cannot be a
 * PROXY header at all. For allow_requests_without_proxy_protocol (Envoy compares the same prefixes).
 */
export function signaturePrefixState(bytes: Uint8Array): "v1" | "v2" | "maybe" | "none" {
  const n = bytes.length;
  if (n === 0) return "maybe";
  const sig = bytes[0] === 0x50 ? V1_SIGNATURE : bytes[0] === 0x0d ? V2_SIGNATURE : null;
  if (sig === null) return "none";
  const m = Math.min(n, sig.length);
  for (let i = 1; i < m; i++) if (bytes[i] !== sig[i]) return "none";
  if (n < sig.length) return "maybe";
  return sig === V1_SIGNATURE ? "v1" : "v2";
}

/** CRC32C (Castagnoli) of `bytes`, computed by the WASM module (the same code that checks headers). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0;
  let off = 0;
  do {
    const inst = current();
    const n = Math.min(bytes.length - off, inst.inputCap);
    inst.u8.set(bytes.subarray(off, off + n), inst.inputPtr);
    try {
      crc = inst.ex.crc32c(crc, n) >>> 0;
    } catch {
      recoverFromTrap();
      throw new ProxyProtocolError("INTERNAL", INTERNAL_MESSAGE);
    }
    off += n;
  } while (off < bytes.length);
  return crc;
}

export const PP2_TYPE = Object.freeze({
  ALPN: 0x01, AUTHORITY: 0x02, CRC32C: 0x03, NOOP: 0x04, UNIQUE_ID: 0x05, SSL: 0x20, NETNS: 0x30,
  GCP: 0xe0, AWS: 0xea, AZURE: 0xee,
});
export const PP2_SUBTYPE_SSL = Object.freeze({ VERSION: 0x21, CN: 0x22, CIPHER: 0x23, SIG_ALG: 0x24, KEY_ALG: 0x25 });

export type DecodedSsl = {
  client: number; // PP2_CLIENT_SSL 0x01 | PP2_CLIENT_CERT_CONN 0x02 | PP2_CLIENT_CERT_SESS 0x04
  verify: number; // 0 when the client certificate was verified
  version?: string; cn?: string; cipher?: string; sigAlg?: string; keyAlg?: string;
};
export type DecodedTlvs = {
  alpn?: string;
  authority?: string;
  crc32c?: number;
  uniqueId?: Uint8Array;
  ssl?: DecodedSsl;
  netns?: string;
  awsVpceId?: string; // 0xEA subtype 0x01
  azureLinkId?: number; // 0xEE subtype 0x01, u32 little-endian
  gcpPscConnectionId?: string; // 0xE0, u64 big-endian, as decimal text (it does not fit a number)
};

const utf8 = new TextDecoder("utf-8");

/**
 * The well-known TLVs of a parsed header, decoded. For each kind the first occurrence wins; a cloud TLV
 * whose value does not have the documented shape is left out (it stays in header.tlvs as bytes).
 * Config-time or per-connection use, not per request: it builds strings.
 */
export function decodeTlvs(header: ProxyHeader): DecodedTlvs {
  const out: DecodedTlvs = {};
  for (const { type, value } of header.tlvs) {
    switch (type) {
      case PP2_TYPE.ALPN: out.alpn ??= utf8.decode(value); break;
      case PP2_TYPE.AUTHORITY: out.authority ??= utf8.decode(value); break;
      case PP2_TYPE.CRC32C:
        if (value.length === 4) out.crc32c ??= ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
        break;
      case PP2_TYPE.UNIQUE_ID: out.uniqueId ??= value.slice(); break;
      case PP2_TYPE.SSL: if (out.ssl === undefined && value.length >= 5) out.ssl = decodeSsl(value); break;
      case PP2_TYPE.NETNS: out.netns ??= utf8.decode(value); break;
      case PP2_TYPE.AWS:
        if (value.length >= 1 && value[0] === 0x01) out.awsVpceId ??= utf8.decode(value.subarray(1));
        break;
      case PP2_TYPE.AZURE:
        if (value.length === 5 && value[0] === 0x01) {
          out.azureLinkId ??= (value[1]! | (value[2]! << 8) | (value[3]! << 16) | (value[4]! << 24)) >>> 0;
        }
        break;
      case PP2_TYPE.GCP:
        if (value.length === 8) {
          const view = new DataView(value.buffer, value.byteOffset, 8);
          out.gcpPscConnectionId ??= view.getBigUint64(0, false).toString();
        }
        break;
    }
  }
  return out;
}

function decodeSsl(value: Uint8Array): DecodedSsl {
  const ssl: DecodedSsl = {
    client: value[0]!,
    verify: ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!) >>> 0,
  };
  // Sub-TLV bounds were checked by the parser; the guard keeps this safe for hand-made headers too.
  for (let p = 5; p + 3 <= value.length; ) {
    const type = value[p]!;
    const len = (value[p + 1]! << 8) | value[p + 2]!;
    const end = p + 3 + len;
    if (end > value.length) break;
    const text = utf8.decode(value.subarray(p + 3, end));
    switch (type) {
      case PP2_SUBTYPE_SSL.VERSION: ssl.version ??= text; break;
      case PP2_SUBTYPE_SSL.CN: ssl.cn ??= text; break;
      case PP2_SUBTYPE_SSL.CIPHER: ssl.cipher ??= text; break;
      case PP2_SUBTYPE_SSL.SIG_ALG: ssl.sigAlg ??= text; break;
      case PP2_SUBTYPE_SSL.KEY_ALG: ssl.keyAlg ??= text; break;
    }
    p = end;
  }
  return ssl;
}
