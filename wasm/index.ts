// Host binding of tollgate.wasm: instantiate, copy bytes in, read numbers out.
//
// This is the only TypeScript file that knows the module's linear-memory layout (wasm/assembly/layout.ts),
// and it learns the region pointers from the module's own getters. Two ways to parse, one module call each:
//
//   parse(bytes)            the whole answer as plain objects: addresses as fresh Uint8Arrays, TLVs copied
//                           out. For tools, tests and whatever keeps a header around.
//   parseInto(bytes, out)   numbers only, written into a caller-owned ProxyParseOutput that is reused from
//                           call to call: IPv4 addresses as u32 (to format with formatIpv4 or to hand to a
//                           CIDR lookup), IPv6 bytes into the output's own arrays. Nothing is allocated
//                           unless the header carries TLVs (they are copied out) or is refused. The
//                           listener filter's path.
//
// Per call the host work is one Uint8Array.set of at most the bytes a header can need, one call into WASM,
// and reads from a cached Int32Array view. Where the time went before this shape (bench/proxy-parse.mjs,
// docs/benchmarks.md): reading memory.buffer on every call, allocating a Uint8Array per address, building
// result objects. Nothing is formatted as text unless the caller asks (proxy/net/ip.ts).
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
  /** All TLVs in order. Read-only: a header without TLVs shares one frozen empty array. */
  tlvs: readonly ProxyTlv[];
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

// Numbers of the parseInto path (ProxyParseOutput).
/** ProxyParseOutput.status, and parseInto's return value. */
export const PROXY_INCOMPLETE = 0;
export const PROXY_OK = 1;
export const PROXY_ERROR = 2;
/** ProxyParseOutput.familyCode values; PROXY_FAMILIES[code] is the ProxyHeader.family name. */
export const PROXY_FAMILY = Object.freeze({
  UNSPEC: 0, TCP4: 1, TCP6: 2, UDP4: 3, UDP6: 4, UNIX_STREAM: 5, UNIX_DGRAM: 6, UNKNOWN: 7,
} as const);
export const PROXY_FAMILIES: readonly ProxyFamily[] = Object.freeze([
  "UNSPEC", "TCP4", "TCP6", "UDP4", "UDP6", "UNIX_STREAM", "UNIX_DGRAM", "UNKNOWN",
] as const);
/** ProxyParseOutput.commandCode values (v1 is always PROXY). */
export const PROXY_COMMAND_LOCAL = 0;
export const PROXY_COMMAND_PROXY = 1;

// RESULT block fields (mirrors wasm/assembly/layout.ts). Declared before the module is instantiated below.
const R_STATUS = 0, R_CODE = 1, R_VERSION = 2, R_COMMAND = 3, R_FAMILY = 4, R_HEADER_LEN = 5,
  R_SRC_PORT = 6, R_DST_PORT = 7, R_SRC_PTR = 8, R_SRC_LEN = 9, R_DST_PTR = 10, R_DST_LEN = 11,
  R_TLV_COUNT = 12, R_ERR_OFFSET = 13, R_ERR_AUX = 14, R_ERR_AUX2 = 15, R_SRC_V4 = 16, R_DST_V4 = 17;
const RESULT_FIELDS = 18;

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
  u8: Uint8Array;
  i32: Int32Array;
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
    u8: new Uint8Array(0),
    i32: new Int32Array(0),
    result: new Int32Array(0),
    tlvTable: new Int32Array(0),
  };
  if (inst.inputCap < DEFAULT_MAX_HEADER_BYTES) {
    throw new Error(`tollgate.wasm input region holds ${inst.inputCap} bytes, fewer than a PROXY header may need`);
  }
  if (inst.resultFields < RESULT_FIELDS) {
    throw new Error(`tollgate.wasm has a ${inst.resultFields}-field result block, this host reads ${RESULT_FIELDS}: run \`npm run build:wasm\``);
  }
  refreshViews(inst);
  return inst;
}

/** (Re)creates the views over memory.buffer. */
function refreshViews(inst: Instance): void {
  const buffer = inst.ex.memory.buffer;
  inst.u8 = new Uint8Array(buffer);
  inst.i32 = new Int32Array(buffer);
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

/**
 * The live instance with valid views. Views over memory.buffer are detached when memory grows, and a
 * detached view has length 0: that is the staleness test. It is the cheapest one (Node 20, measured in a
 * loop): `length` is inlined by V8 (under 1 ns), `byteLength` is a builtin call (about 9 ns), and reading
 * memory.buffer to compare it with the last one seen (what this did before) calls into C++ (about 14 ns,
 * and it was done twice per parse). A parse call cannot grow memory (fixed regions, nothing allocated), so one test before
 * the call covers the reads after it.
 */
function current(): Instance {
  const inst = wasm;
  if (inst.u8.length === 0) refreshViews(inst);
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
// Result decoding

/** What run() answers when the module trapped (the instance has been replaced already). */
const TRAPPED = -1;

const ERROR_CODES: readonly ProxyErrorCode[] = [
  "INTERNAL", "BAD_SIGNATURE", "BAD_VERSION", "BAD_COMMAND", "BAD_FAMILY", "BAD_ADDRESS", "BAD_PORT",
  "BAD_LENGTH", "TOO_LONG", "MISSING_CRLF", "BAD_V1_SYNTAX", "TRUNCATED_TLV", "CRC_MISMATCH", "BAD_TLV",
];

const INCOMPLETE: ProxyParseResult = Object.freeze({ status: "incomplete" });
const INTERNAL_ERROR: ProxyParseResult = Object.freeze({ status: "error", code: "INTERNAL", message: INTERNAL_MESSAGE });
/** Most headers carry no TLV: they all share this array instead of allocating an empty one each. */
const EMPTY_TLVS: readonly ProxyTlv[] = Object.freeze([]);

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
 * Copies `len` bytes out of WASM memory (or a TLV store) into a fresh array. For small copies a loop into
 * `new Uint8Array(len)` is about twice as fast as TypedArray.prototype.slice (which goes through the
 * species-constructor protocol); large TLV values use slice, which is a memcpy.
 */
function copyOut(u8: Uint8Array, ptr: number, len: number): Uint8Array {
  if (len > 32) return u8.slice(ptr, ptr + len);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = u8[ptr + i]!;
  return out;
}

/** The 4 bytes of an IPv4 address given as a u32, most significant byte first. */
function v4Bytes(v: number): Uint8Array {
  const out = new Uint8Array(4);
  out[0] = v >>> 24;
  out[1] = v >>> 16; // a Uint8Array store keeps the low 8 bits
  out[2] = v >>> 8;
  out[3] = v;
  return out;
}

/** An endpoint of the RESULT block as a plain ProxyEndpoint, or null when the header has no IP address. */
function endpointOf(inst: Instance, lenField: number, ptrField: number, v4Field: number, port: number): ProxyEndpoint | null {
  const r = inst.result;
  const len = r[lenField]!;
  if (len === 4) return { ip: v4Bytes(r[v4Field]!), port };
  if (len === 16) return { ip: copyOut(inst.u8, r[ptrField]!, 16), port };
  return null;
}

function copyTlvs(inst: Instance, count: number): readonly ProxyTlv[] {
  if (count === 0) return EMPTY_TLVS;
  const t = inst.tlvTable;
  const u8 = inst.u8;
  const base = inst.inputPtr;
  const tlvs: ProxyTlv[] = new Array(count);
  for (let i = 0, k = 0; i < count; i++, k += 3) tlvs[i] = { type: t[k]!, value: copyOut(u8, base + t[k + 1]!, t[k + 2]!) };
  return tlvs;
}

function okResult(inst: Instance): ProxyParseResult {
  const r = inst.result;
  const header: ProxyHeader = {
    version: r[R_VERSION] === 1 ? 1 : 2,
    command: r[R_COMMAND] === PROXY_COMMAND_LOCAL ? "LOCAL" : "PROXY",
    family: PROXY_FAMILIES[r[R_FAMILY]!]!,
    source: endpointOf(inst, R_SRC_LEN, R_SRC_PTR, R_SRC_V4, r[R_SRC_PORT]!),
    destination: endpointOf(inst, R_DST_LEN, R_DST_PTR, R_DST_V4, r[R_DST_PORT]!),
    headerLength: r[R_HEADER_LEN]!,
    tlvs: copyTlvs(inst, r[R_TLV_COUNT]!),
  };
  // Only UNIX headers carry the optional path fields (the IP header shape stays the common one).
  if (r[R_SRC_LEN] === 108) {
    const s = r[R_SRC_PTR]!, d = r[R_DST_PTR]!;
    header.unixSource = inst.u8.slice(s, s + 108);
    header.unixDestination = inst.u8.slice(d, d + 108);
  }
  return { status: "ok", header };
}

// ---------------------------------------------------------------------------------------------------
// The numbers-only answer

/** ProxyParser.parseInto's way into a ProxyParseOutput (a method no other module can name). */
const CAPTURE: unique symbol = Symbol("capture");

/** TLVs kept as bytes: the TLV region in one array, and (type, offset, length) per TLV in `index`. */
function materializeTlvs(data: Uint8Array, index: Int32Array, count: number): readonly ProxyTlv[] {
  if (count === 0) return EMPTY_TLVS;
  const tlvs: ProxyTlv[] = new Array(count);
  for (let i = 0, k = 0; i < count; i++, k += 3) tlvs[i] = { type: index[k]!, value: copyOut(data, index[k + 1]!, index[k + 2]!) };
  return tlvs;
}

/**
 * Copies an address (16 or 108 bytes) into a ProxyParseOutput array word by word: four 32-bit moves for
 * IPv6 rather than sixteen byte moves (about 30 ns less per TCP6 header, measured). The module's address
 * pointers are 4-byte aligned (fixed regions); the byte loop is only a guard.
 */
function copyAddress(inst: Instance, ptr: number, len: number, words: Int32Array, bytes: Uint8Array): void {
  if ((ptr & 3) === 0) {
    const from = ptr >>> 2;
    for (let k = 0, n = len >>> 2; k < n; k++) words[k] = inst.i32[from + k]!;
  } else {
    for (let k = 0; k < len; k++) bytes[k] = inst.u8[ptr + k]!;
  }
}

/**
 * What ProxyParser.parseInto writes. Make one and reuse it for every call: each call overwrites it, and
 * writes only the fields its answer makes valid (the others keep stale values). Nothing in it aliases
 * WASM memory.
 */
export class ProxyParseOutput {
  /** PROXY_INCOMPLETE, PROXY_OK or PROXY_ERROR (the same number parseInto returns). */
  status = PROXY_INCOMPLETE;

  // Valid when status is PROXY_OK.
  /** 1 or 2. */
  version = 0;
  /** PROXY_COMMAND_LOCAL or PROXY_COMMAND_PROXY. */
  commandCode = 0;
  /** PROXY_FAMILY.*, as declared by the header (a TCP6 header with IPv4-mapped addresses stays TCP6). */
  familyCode = 0;
  /** Bytes the header takes; what follows belongs to the next layer. */
  headerLength = 0;
  /**
   * Address kind per side: 0 none (LOCAL, UNSPEC, v1 UNKNOWN), 4 IPv4 (in srcV4 / dstV4), 16 IPv6 (in
   * srcBytes / dstBytes), 108 a UNIX path field (in srcBytes / dstBytes). An IPv4-mapped IPv6 address is 4.
   */
  srcLength = 0;
  dstLength = 0;
  /** IPv4 addresses as unsigned numbers, most significant byte first: 203.0.113.7 is 0xcb007107. */
  srcV4 = 0;
  dstV4 = 0;
  srcPort = 0;
  dstPort = 0;
  /** IPv6 (first 16 bytes) or UNIX (108 bytes) addresses. Overwritten by the next call: copy to keep. */
  readonly srcBytes: Uint8Array;
  readonly dstBytes: Uint8Array;
  /** How many TLVs the header carries (v2 PROXY only); `tlvs` has them. */
  tlvCount = 0;

  // Valid when status is PROXY_ERROR. The message is only built when asked for.
  errorCode: ProxyErrorCode = "INTERNAL";
  /** Where and why, as the module reported it: the inputs of errorMessage(). */
  errorOffset = 0;
  errorAux = 0;
  errorAux2 = 0;

  // Word views of srcBytes / dstBytes, for copyAddress.
  private readonly srcWords = new Int32Array(27);
  private readonly dstWords = new Int32Array(27);
  // The TLV region and its index, copied in one piece per call into arrays that are reused (grown when a
  // header needs more). ProxyTlv objects are made only when `tlvs` is read: making one object and one
  // array per TLV on every call cost about 50 ns per TLV (bench: v2 TCP6 + 5 TLVs).
  private tlvWords = new Int32Array(32);
  private tlvData = new Uint8Array(this.tlvWords.buffer);
  private tlvDataLength = 0;
  private tlvIndex = new Int32Array(24);
  private tlvList: readonly ProxyTlv[] | null = EMPTY_TLVS;

  constructor() {
    this.srcBytes = new Uint8Array(this.srcWords.buffer);
    this.dstBytes = new Uint8Array(this.dstWords.buffer);
  }

  /** The TLVs in order, made on first read after each call (fresh arrays: safe to keep). */
  get tlvs(): readonly ProxyTlv[] {
    return (this.tlvList ??= materializeTlvs(this.tlvData, this.tlvIndex, this.tlvCount));
  }

  /** The operator-facing message of the error (as ProxyParseResult's), built on demand. */
  errorMessage(): string {
    return errorMessage(this.errorCode, this.errorOffset, this.errorAux, this.errorAux2);
  }

  /**
   * The accepted header as a ProxyHeader that stays valid after this output is reused. The numbers are
   * taken now (and the TLV bytes, in one piece); `source`, `destination` and `tlvs` are built when first
   * read, so a header that is stored but never inspected costs one small object (plus a copy for IPv6
   * addresses and one for TLVs).
   */
  toHeader(): ProxyHeader {
    if (this.status !== PROXY_OK) throw new Error(`toHeader() needs an accepted header (status ${this.status})`);
    const count = this.tlvCount;
    const tlvs = count === 0 ? EMPTY_TLVS : this.tlvList;
    const data = tlvs === null ? this.tlvData.slice(0, this.tlvDataLength) : null;
    const index = tlvs === null ? this.tlvIndex.slice(0, count * 3) : null;
    return new StoredProxyHeader(this, tlvs, data, index);
  }

  /** Fills this output from the module's RESULT block after a parse call that answered `status`. */
  [CAPTURE](inst: Instance, status: number): void {
    const r = inst.result;
    this.status = status;
    if (status === PROXY_OK) {
      this.version = r[R_VERSION]!;
      this.commandCode = r[R_COMMAND]!;
      this.familyCode = r[R_FAMILY]!;
      this.headerLength = r[R_HEADER_LEN]!;
      const srcLen = r[R_SRC_LEN]!;
      const dstLen = r[R_DST_LEN]!;
      this.srcLength = srcLen;
      this.dstLength = dstLen;
      if (srcLen !== 0) {
        // >>> 0: an i32 view gives addresses from 128.0.0.0 up as negative numbers.
        if (srcLen === 4) this.srcV4 = r[R_SRC_V4]! >>> 0;
        else copyAddress(inst, r[R_SRC_PTR]!, srcLen, this.srcWords, this.srcBytes);
        if (dstLen === 4) this.dstV4 = r[R_DST_V4]! >>> 0;
        else copyAddress(inst, r[R_DST_PTR]!, dstLen, this.dstWords, this.dstBytes);
        this.srcPort = r[R_SRC_PORT]!;
        this.dstPort = r[R_DST_PORT]!;
      }
      const count = r[R_TLV_COUNT]!;
      this.tlvCount = count;
      if (count === 0) {
        this.tlvList = EMPTY_TLVS;
      } else {
        this.captureTlvs(inst, count);
        this.tlvList = null;
      }
    } else if (status === PROXY_ERROR) {
      this.errorCode = ERROR_CODES[r[R_CODE]!] ?? "INTERNAL";
      this.errorOffset = r[R_ERR_OFFSET]!;
      this.errorAux = r[R_ERR_AUX]!;
      this.errorAux2 = r[R_ERR_AUX2]!;
    }
  }

  private captureTlvs(inst: Instance, count: number): void {
    const t = inst.tlvTable;
    // TLVs are contiguous: from the first one's type byte to the last one's value end (absolute addresses).
    const last = (count - 1) * 3;
    const start = inst.inputPtr + t[1]! - 3;
    const end = inst.inputPtr + t[last + 1]! + t[last + 2]!;
    // Copied as the word-aligned span around them: a 32-bit loop beats creating a view for set() on the
    // ~100 bytes a load balancer sends (the up to 3 bytes on either side lie in the INPUT region or the
    // module's free gap after it, and no value reaches them).
    const from = start & ~3;
    const words = (end - from + 3) >>> 2;
    if (words > this.tlvWords.length) {
      this.tlvWords = new Int32Array(Math.max(words, this.tlvWords.length * 2));
      this.tlvData = new Uint8Array(this.tlvWords.buffer);
    }
    if (words <= 64) {
      const i32 = inst.i32;
      const w = this.tlvWords;
      for (let k = 0, f = from >>> 2; k < words; k++) w[k] = i32[f + k]!;
    } else {
      this.tlvData.set(new Uint8Array(inst.i32.buffer, from, words << 2));
    }
    this.tlvDataLength = words << 2;
    if (count * 3 > this.tlvIndex.length) this.tlvIndex = new Int32Array(Math.max(count * 3, this.tlvIndex.length * 2));
    const index = this.tlvIndex;
    const shift = from - inst.inputPtr; // table offsets are relative to INPUT; index offsets to tlvData
    for (let k = 0; k < count * 3; k += 3) {
      index[k] = t[k]!;
      index[k + 1] = t[k + 1]! - shift;
      index[k + 2] = t[k + 2]!;
    }
  }
}

/** A ProxyHeader taken from a ProxyParseOutput (see toHeader): endpoints and TLVs are built on first read. */
class StoredProxyHeader implements ProxyHeader {
  readonly version: 1 | 2;
  readonly command: "PROXY" | "LOCAL";
  readonly family: ProxyFamily;
  readonly headerLength: number;
  // Declared, not initialised: only UNIX headers have these properties (as with parse()).
  declare unixSource?: Uint8Array;
  declare unixDestination?: Uint8Array;
  private readonly srcV4: number;
  private readonly dstV4: number;
  private readonly src6: Uint8Array | null;
  private readonly dst6: Uint8Array | null;
  private readonly srcLength: number;
  private readonly dstLength: number;
  private readonly srcPort: number;
  private readonly dstPort: number;
  private src: ProxyEndpoint | null | undefined = undefined;
  private dst: ProxyEndpoint | null | undefined = undefined;
  private tlvList: readonly ProxyTlv[] | null;
  private readonly tlvData: Uint8Array | null;
  private readonly tlvIndex: Int32Array | null;
  private readonly tlvCount: number;

  constructor(out: ProxyParseOutput, tlvs: readonly ProxyTlv[] | null, tlvData: Uint8Array | null, tlvIndex: Int32Array | null) {
    this.version = out.version === 1 ? 1 : 2;
    this.command = out.commandCode === PROXY_COMMAND_LOCAL ? "LOCAL" : "PROXY";
    this.family = PROXY_FAMILIES[out.familyCode]!;
    this.headerLength = out.headerLength;
    this.srcLength = out.srcLength;
    this.dstLength = out.dstLength;
    this.srcV4 = out.srcV4;
    this.dstV4 = out.dstV4;
    this.srcPort = out.srcPort;
    this.dstPort = out.dstPort;
    // Private copies: the output's arrays are reused by its next call.
    this.src6 = out.srcLength === 16 ? out.srcBytes.slice(0, 16) : null;
    this.dst6 = out.dstLength === 16 ? out.dstBytes.slice(0, 16) : null;
    if (out.srcLength === 108) {
      this.unixSource = out.srcBytes.slice();
      this.unixDestination = out.dstBytes.slice();
    }
    this.tlvList = tlvs;
    this.tlvData = tlvData;
    this.tlvIndex = tlvIndex;
    this.tlvCount = out.tlvCount;
  }

  get source(): ProxyEndpoint | null {
    if (this.src === undefined) this.src = storedEndpoint(this.srcLength, this.srcV4, this.src6, this.srcPort);
    return this.src;
  }

  get destination(): ProxyEndpoint | null {
    if (this.dst === undefined) this.dst = storedEndpoint(this.dstLength, this.dstV4, this.dst6, this.dstPort);
    return this.dst;
  }

  get tlvs(): readonly ProxyTlv[] {
    return (this.tlvList ??= materializeTlvs(this.tlvData!, this.tlvIndex!, this.tlvCount));
  }
}

function storedEndpoint(length: number, v4: number, v6: Uint8Array | null, port: number): ProxyEndpoint | null {
  if (length === 4) return { ip: v4Bytes(v4), port };
  if (v6 !== null) return { ip: v6.slice(), port };
  return null;
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

  /** Copies the bytes a header can need into the module and parses them: the status, or TRAPPED. */
  private run(inst: Instance, bytes: Uint8Array): number {
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
    try {
      if (trapOnNextCall) {
        trapOnNextCall = false;
        inst.ex.debugTrap();
      }
      return inst.ex.parse(n, this.maxHeaderBytes);
    } catch {
      // Any throw out of the module (RuntimeError for a trap, RangeError for stack exhaustion) means its
      // state can no longer be trusted: answer this input with INTERNAL and start a fresh instance.
      recoverFromTrap();
      return TRAPPED;
    }
  }

  parse(bytes: Uint8Array): ProxyParseResult {
    const inst = current();
    const status = this.run(inst, bytes);
    if (status === PROXY_INCOMPLETE) return INCOMPLETE;
    if (status === PROXY_OK) return okResult(inst);
    return status === TRAPPED ? INTERNAL_ERROR : errorResult(inst.result);
  }

  /**
   * Parses like parse(), answering in numbers: writes `out` and returns its status (PROXY_INCOMPLETE,
   * PROXY_OK, PROXY_ERROR). Allocates nothing unless the header has TLVs or is refused.
   */
  parseInto(bytes: Uint8Array, out: ProxyParseOutput): number {
    const inst = current();
    const status = this.run(inst, bytes);
    if (status === TRAPPED) {
      out.status = PROXY_ERROR;
      out.errorCode = "INTERNAL";
      return PROXY_ERROR;
    }
    out[CAPTURE](inst, status);
    return status;
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
 * UTF-8 text of a TLV value after its one-byte ASCII subtype. Not `value.subarray(1)`: small values live
 * in arrays whose bytes are on V8's heap, and the first view of such an array moves its bytes off the heap
 * into a new ArrayBuffer, which cost three times the decoding. The subtype byte is decoded along and cut
 * off the text instead: an ASCII byte is a whole character, so the rest decodes exactly as it would alone
 * (a byte order mark right after it, which TextDecoder drops at the start of its input, is dropped too).
 */
function textAfterSubtype(value: Uint8Array): string {
  const text = utf8.decode(value);
  return text.charCodeAt(1) === 0xfeff ? text.slice(2) : text.slice(1);
}

/**
 * The well-known TLVs of a parsed header (or of a ProxyParseOutput), decoded. For each kind the first
 * occurrence wins; a cloud TLV whose value does not have the documented shape is left out (it stays in
 * `tlvs` as bytes). Per connection at most, when a rule needs a TLV, never per request: it builds strings.
 */
export function decodeTlvs(header: { readonly tlvs: readonly ProxyTlv[] }): DecodedTlvs {
  const out: DecodedTlvs = {};
  const tlvs = header.tlvs;
  for (let i = 0; i < tlvs.length; i++) {
    const { type, value } = tlvs[i]!;
    switch (type) {
      case PP2_TYPE.ALPN: out.alpn ??= utf8.decode(value); break;
      case PP2_TYPE.AUTHORITY: out.authority ??= utf8.decode(value); break;
      case PP2_TYPE.CRC32C:
        if (value.length === 4) out.crc32c ??= be32(value, 0);
        break;
      case PP2_TYPE.UNIQUE_ID: out.uniqueId ??= value.slice(); break;
      case PP2_TYPE.SSL: if (out.ssl === undefined && value.length >= 5) out.ssl = decodeSsl(value); break;
      case PP2_TYPE.NETNS: out.netns ??= utf8.decode(value); break;
      case PP2_TYPE.AWS:
        if (value.length >= 1 && value[0] === 0x01) out.awsVpceId ??= textAfterSubtype(value);
        break;
      case PP2_TYPE.AZURE:
        if (value.length === 5 && value[0] === 0x01) {
          out.azureLinkId ??= (value[1]! | (value[2]! << 8) | (value[3]! << 16) | (value[4]! << 24)) >>> 0;
        }
        break;
      case PP2_TYPE.GCP:
        // u64 big-endian as two u32 halves (no DataView: that would move the bytes off the heap too).
        if (value.length === 8) out.gcpPscConnectionId ??= ((BigInt(be32(value, 0)) << 32n) | BigInt(be32(value, 4))).toString();
        break;
    }
  }
  return out;
}

function be32(value: Uint8Array, at: number): number {
  return ((value[at]! << 24) | (value[at + 1]! << 16) | (value[at + 2]! << 8) | value[at + 3]!) >>> 0;
}

function decodeSsl(value: Uint8Array): DecodedSsl {
  const ssl: DecodedSsl = { client: value[0]!, verify: be32(value, 1) };
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
