// PROXY protocol v1: one US-ASCII line, "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n".
// The line may take 108 bytes including the CRLF: the spec's worst case is 107, Envoy accepts 108
// (MAX_PROXY_PROTO_LEN_V1) and Tollgate follows Envoy.
//
// Two parsers. The fast one (fastTcpLine) takes the common case, a complete and valid TCP4/TCP6 line, in
// one pass: it reads the fields by position, with no per-byte checks for the 108-byte limit, for bytes not
// yet arrived or for a bare LF (a sentinel byte ends the scan instead, and an LF is no field character),
// then wants CR LF right after the last port. It only ever accepts; on anything else (no CRLF yet,
// UNKNOWN, any defect) it gives up without writing a verdict, and the careful parser decides. The careful
// one checks every byte as soon as it is present, so a line that cannot become valid is refused without
// waiting for its end, with the exact field and byte offset. The fast path accepts only lines that the
// careful one accepts with the same result: the property tests compare prefix verdicts (reached by the
// careful parser) with whole-line verdicts (reached by the fast one) on valid and near-valid lines.
// Why two: checking each byte for the limit, its arrival and LF, and scanning each field twice (once for
// its end, once to parse it), made a v1 parse call cost about 125 ns against 22 ns for v2 (Node 20, the
// call alone in a loop); with the fast pass it costs about 40 ns.
import {
  CMD_PROXY, ERR_BAD_ADDRESS, ERR_BAD_FAMILY, ERR_BAD_PORT, ERR_BAD_SIGNATURE, ERR_BAD_V1_SYNTAX,
  ERR_MISSING_CRLF, FAM_TCP4, FAM_TCP6, FAM_UNKNOWN, INPUT_PTR, R_COMMAND, R_DST_PORT, R_FAMILY,
  R_HEADER_LEN, R_SRC_PORT, R_STATUS, R_VERSION, STATUS_OK, V1_ADDR_PTR, inputByte, setAddressResult,
  setResult,
} from "./layout";
import { STOP, fail, gLen, incomplete } from "./parse-state";
import { parseIpv4Text, parseIpv6Text } from "./ip-text";
import { mappedOffset } from "./proxy-v2";

export const V1_MAX_LINE: i32 = 108;

const CR: i32 = 0x0d;
const LF: i32 = 0x0a;
const SP: i32 = 0x20;

// MISSING_CRLF details (R_ERR_AUX).
const CRLF_TOO_LONG: i32 = 1;
const CRLF_BARE_LF: i32 = 2;
const CRLF_CR_ALONE: i32 = 3;

// Field numbers reported in R_ERR_AUX for address / port / syntax errors.
const F_FAMILY: i32 = 0;
const F_SRC_ADDR: i32 = 1;
const F_DST_ADDR: i32 = 2;
const F_SRC_PORT: i32 = 3;
const F_DST_PORT: i32 = 4;
const F_END: i32 = 5;

let srcPort: i32 = 0;
let dstPort: i32 = 0;

/**
 * The byte at `pos` of the line, or STOP after writing the verdict: MISSING_CRLF once the line would
 * pass 108 bytes (decided without reading past them), incomplete when the byte has not arrived yet.
 * A line feed read here is always bare (the one of the CRLF is read by endOfLine).
 */
function at(pos: i32): i32 {
  if (pos >= V1_MAX_LINE) return fail(ERR_MISSING_CRLF, pos, CRLF_TOO_LONG, 0);
  if (pos >= gLen) return incomplete();
  const c = inputByte(pos);
  if (c == LF) return fail(ERR_MISSING_CRLF, pos, CRLF_BARE_LF, 0);
  return c;
}

/** `crPos` holds a CR that must end the line: returns the header length, or STOP. */
function endOfLine(crPos: i32): i32 {
  const p = crPos + 1;
  if (p >= V1_MAX_LINE) return fail(ERR_MISSING_CRLF, p, CRLF_TOO_LONG, 0);
  if (p >= gLen) return incomplete();
  if (inputByte(p) != LF) return fail(ERR_MISSING_CRLF, crPos, CRLF_CR_ALONE, 0);
  return p + 1;
}

/** Compares `text` (ASCII) with the line from `pos`; returns the position after it, or STOP. */
function expectWord(pos: i32, text: string, code: i32): i32 {
  const n = text.length;
  for (let k = 0; k < n; k++) {
    const c = at(pos + k);
    if (c < 0) return STOP;
    if (c != <i32>text.charCodeAt(k)) return fail(code, pos + k, F_FAMILY, 1);
  }
  return pos + n;
}

/**
 * One address token ending in exactly one space. Characters outside the family's alphabet, or a token
 * longer than the longest address text, fail at once; the full syntax is checked when the space arrives.
 */
function addressField(pos: i32, v6: bool, out: usize, field: i32): i32 {
  const start = pos;
  const maxLen = v6 ? 45 : 15; // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" / "255.255.255.255"
  let end = -1;
  // Bounded loop (rather than for(;;)): at() refuses position 108 anyway; the bound makes termination
  // obvious to readers and to the compiler.
  for (; pos < V1_MAX_LINE; pos++) {
    const c = at(pos);
    if (c < 0) return STOP;
    if (c == SP) {
      end = pos;
      break;
    }
    if (c == CR) return fail(ERR_BAD_V1_SYNTAX, pos, field, 0); // the line ends before all six fields
    const ok = <u32>(c - 0x30) < 10 || c == 0x2e ||
      (v6 && (c == 0x3a || <u32>((c | 0x20) - 0x61) < 6));
    if (!ok || pos - start >= maxLen) return fail(ERR_BAD_ADDRESS, pos, field, v6 ? 6 : 4);
  }
  if (end < 0) return fail(ERR_MISSING_CRLF, pos, CRLF_TOO_LONG, 0);
  if (end == start) return fail(ERR_BAD_V1_SYNTAX, end, field, 0); // two spaces in a row
  const valid = v6 ? parseIpv6Text(start, end, out) : parseIpv4Text(start, end, out);
  if (!valid) return fail(ERR_BAD_ADDRESS, start, field, v6 ? 6 : 4);
  return end + 1;
}

/** A decimal port 0-65535 without sign or leading zero, then a space (source) or the CRLF (destination). */
function portField(pos: i32, field: i32): i32 {
  const start = pos;
  const last = field == F_DST_PORT;
  let v = 0;
  let end = -1;
  for (; pos < V1_MAX_LINE; pos++) {
    const c = at(pos);
    if (c < 0) return STOP;
    const d = c - 0x30;
    if (<u32>d < 10) {
      if (pos > start && v == 0) return fail(ERR_BAD_PORT, pos, field, 0); // leading zero
      v = v * 10 + d;
      if (v > 65535) return fail(ERR_BAD_PORT, pos, field, 0);
      continue;
    }
    if (c == SP || c == CR) {
      if (pos == start) return fail(ERR_BAD_V1_SYNTAX, pos, field, 0); // empty field
      if (last != (c == CR)) return fail(ERR_BAD_V1_SYNTAX, pos, last ? F_END : field, 0);
      end = pos;
      break;
    }
    return fail(ERR_BAD_PORT, pos, field, 0);
  }
  if (end < 0) return fail(ERR_MISSING_CRLF, pos, CRLF_TOO_LONG, 0);
  if (last) {
    dstPort = v;
    return endOfLine(end);
  }
  srcPort = v;
  return end + 1;
}

/** After "PROXY UNKNOWN ": anything up to the first CRLF (a bare LF is still refused). */
function unknownTail(pos: i32): i32 {
  for (; pos < V1_MAX_LINE; pos++) {
    const c = at(pos);
    if (c < 0) return STOP;
    if (c == CR) {
      const p = pos + 1;
      if (p >= V1_MAX_LINE) return fail(ERR_MISSING_CRLF, p, CRLF_TOO_LONG, 0);
      if (p >= gLen) return incomplete();
      if (inputByte(p) == LF) return p + 1;
    }
  }
  return fail(ERR_MISSING_CRLF, pos, CRLF_TOO_LONG, 0);
}

/** Writes the verdict of a valid TCP4/TCP6 line whose addresses are in the V1 scratch region. */
function acceptTcpLine(v6: bool, headerLen: i32): i32 {
  if (v6) {
    const s = mappedOffset(V1_ADDR_PTR);
    const d = mappedOffset(V1_ADDR_PTR + 16);
    setAddressResult(false, V1_ADDR_PTR + s, 16 - <i32>s);
    setAddressResult(true, V1_ADDR_PTR + 16 + d, 16 - <i32>d);
  } else {
    setAddressResult(false, V1_ADDR_PTR, 4);
    setAddressResult(true, V1_ADDR_PTR + 16, 4);
  }
  setResult(R_SRC_PORT, srcPort);
  setResult(R_DST_PORT, dstPort);
  setResult(R_VERSION, 1);
  setResult(R_COMMAND, CMD_PROXY);
  setResult(R_FAMILY, v6 ? FAM_TCP6 : FAM_TCP4);
  setResult(R_HEADER_LEN, headerLen);
  setResult(R_STATUS, STATUS_OK);
  return headerLen;
}

// ---------------------------------------------------------------------------------------------------
// Fast path. Every helper returns the position after what it read, or -1 ("not the common case": the
// careful parser decides). None reads past the bytes present: fastTcpLine puts a 0 byte (no digit, dot,
// colon, hex letter or space, so every scan stops on it) just after them for the duration of the pass.

// "PROXY TC" as a little-endian u64: bytes 0-7 of a TCP line.
const PROXY_TC: u64 = 0x43542059584f5250;

@inline function digitAt(p: i32): i32 {
  return inputByte(p) - 0x30; // 0-9 for a digit; anything else is above 9 as u32
}

/** A dotted quad without leading zeros, stored as 4 bytes at `out`. */
function fastDottedQuad(p: i32, out: usize): i32 {
  for (let octet: usize = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (inputByte(p) != 0x2e) return -1;
      p++;
    }
    let v = digitAt(p);
    if (<u32>v > 9) return -1;
    p++;
    let d = digitAt(p);
    if (<u32>d <= 9) {
      if (v == 0) return -1; // leading zero
      v = v * 10 + d;
      p++;
      d = digitAt(p);
      if (<u32>d <= 9) {
        v = v * 10 + d;
        p++;
        if (v > 255) return -1; // a fourth digit fails the caller's separator test
      }
    }
    store<u8>(out + octet, <u8>v);
  }
  return p;
}

/** An IPv6 token (up to 45 characters of its alphabet), parsed by the careful path's strict routine. */
function fastIpv6(p: i32, out: usize): i32 {
  let e = p;
  for (; e - p <= 45; e++) {
    const c = inputByte(e);
    if (!(<u32>(c - 0x30) < 10 || c == 0x3a || c == 0x2e || <u32>((c | 0x20) - 0x61) < 6)) break;
  }
  if (e == p || e - p > 45) return -1;
  return parseIpv6Text(p, e, out) ? e : -1;
}

/** A port 0-65535 without sign or leading zero, into srcPort or dstPort. */
function fastPort(p: i32, dst: bool): i32 {
  let v = digitAt(p);
  if (<u32>v > 9) return -1;
  p++;
  if (v != 0) {
    for (let k = 0; k < 4; k++) {
      const d = digitAt(p);
      if (<u32>d > 9) break;
      v = v * 10 + d;
      p++;
    }
    if (v > 65535) return -1;
  }
  // A leading zero or a sixth digit leaves a digit at p, which the caller's separator test refuses.
  if (dst) dstPort = v;
  else srcPort = v;
  return p;
}

/** The fields after "PROXY TCPx " and the CRLF, within the first `n` bytes: the header length, or -1. */
function fastTcpFields(v6: bool, n: i32): i32 {
  let p = v6 ? fastIpv6(11, V1_ADDR_PTR) : fastDottedQuad(11, V1_ADDR_PTR);
  if (p < 0 || inputByte(p) != SP) return -1;
  p++;
  p = v6 ? fastIpv6(p, V1_ADDR_PTR + 16) : fastDottedQuad(p, V1_ADDR_PTR + 16);
  if (p < 0 || inputByte(p) != SP) return -1;
  p = fastPort(p + 1, false);
  if (p < 0 || inputByte(p) != SP) return -1;
  p = fastPort(p + 1, true);
  // The CR right after the last port and its LF, both within the bytes present and the 108-byte limit.
  // No bare LF can precede them: an LF is no field character, so a scan above would have stopped on it.
  if (p < 0 || p + 1 >= n || inputByte(p) != CR || inputByte(p + 1) != LF) return -1;
  return p + 2;
}

/** A complete, valid TCP4/TCP6 line: writes the verdict and returns the header length. Anything else: 0. */
function fastTcpLine(): i32 {
  const n = gLen < V1_MAX_LINE ? gLen : V1_MAX_LINE;
  // The shortest TCP line ("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n") has 32 bytes.
  if (n < 32 || load<u64>(INPUT_PTR) != PROXY_TC || inputByte(8) != 0x50 || inputByte(10) != SP) return 0;
  const fam = inputByte(9);
  if (fam != 0x34 && fam != 0x36) return 0;
  const v6 = fam == 0x36;
  // The sentinel lies inside the INPUT region (n <= 108 < INPUT_CAP); the byte it covers is put back.
  const sentinel = INPUT_PTR + <usize>n;
  const saved = load<u8>(sentinel);
  store<u8>(sentinel, 0);
  const headerLen = fastTcpFields(v6, n);
  store<u8>(sentinel, saved);
  return headerLen < 0 ? 0 : acceptTcpLine(v6, headerLen);
}

// ---------------------------------------------------------------------------------------------------
// Careful path: every other line, and every line not yet complete.

export function parseV1(): i32 {
  const fast = fastTcpLine();
  if (fast > 0) return fast;
  // "PROXY " — a mismatch here means these bytes are no PROXY header at all.
  for (let i = 0; i < 6; i++) {
    if (i >= gLen) return incomplete();
    if (inputByte(i) != <i32>"PROXY ".charCodeAt(i)) return fail(ERR_BAD_SIGNATURE, i, 1, 0);
  }
  let pos = 6;
  const c = at(pos);
  if (c < 0) return STOP;
  let headerLen = 0;
  if (c == 0x54) { // 'T'
    pos = expectWord(pos + 1, "CP", ERR_BAD_FAMILY);
    if (pos < 0) return STOP;
    const d = at(pos);
    if (d < 0) return STOP;
    if (d != 0x34 && d != 0x36) return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
    const s = at(pos + 1);
    if (s < 0) return STOP;
    if (s == CR) return fail(ERR_BAD_V1_SYNTAX, pos + 1, F_SRC_ADDR, 0);
    if (s != SP) return fail(ERR_BAD_FAMILY, pos + 1, F_FAMILY, 1);
    const v6 = d == 0x36;
    pos = addressField(pos + 2, v6, V1_ADDR_PTR, F_SRC_ADDR);
    if (pos < 0) return STOP;
    pos = addressField(pos, v6, V1_ADDR_PTR + 16, F_DST_ADDR);
    if (pos < 0) return STOP;
    pos = portField(pos, F_SRC_PORT);
    if (pos < 0) return STOP;
    headerLen = portField(pos, F_DST_PORT);
    if (headerLen < 0) return STOP;
    return acceptTcpLine(v6, headerLen);
  } else if (c == 0x55) { // 'U'
    pos = expectWord(pos + 1, "NKNOWN", ERR_BAD_FAMILY);
    if (pos < 0) return STOP;
    const s = at(pos);
    if (s < 0) return STOP;
    if (s == CR) headerLen = endOfLine(pos);
    else if (s == SP) headerLen = unknownTail(pos + 1);
    else return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
    if (headerLen < 0) return STOP;
  } else if (c == SP || c == CR) {
    return fail(ERR_BAD_V1_SYNTAX, pos, F_FAMILY, 0);
  } else {
    return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
  }
  // PROXY UNKNOWN: no addresses.
  setResult(R_VERSION, 1);
  setResult(R_COMMAND, CMD_PROXY);
  setResult(R_FAMILY, FAM_UNKNOWN);
  setResult(R_HEADER_LEN, headerLen);
  setResult(R_STATUS, STATUS_OK);
  return headerLen;
}
