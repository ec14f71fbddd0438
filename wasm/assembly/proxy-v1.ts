// PROXY protocol v1: one US-ASCII line, "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n".
// The line may take 108 bytes including the CRLF: the spec's worst case is 107, Envoy accepts 108
// (MAX_PROXY_PROTO_LEN_V1) and Tollgate follows Envoy. Every byte is checked as soon as it is present, so
// a line that cannot become valid is refused without waiting for its end.
import {
  CMD_PROXY, ERR_BAD_ADDRESS, ERR_BAD_FAMILY, ERR_BAD_PORT, ERR_BAD_SIGNATURE, ERR_BAD_V1_SYNTAX,
  ERR_MISSING_CRLF, FAM_TCP4, FAM_TCP6, FAM_UNKNOWN, R_COMMAND, R_DST_LEN, R_DST_PORT, R_DST_PTR,
  R_FAMILY, R_HEADER_LEN, R_SRC_LEN, R_SRC_PORT, R_SRC_PTR, R_STATUS, R_VERSION, STATUS_OK, V1_ADDR_PTR,
  inputByte, setResult,
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

let family: i32 = 0;
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

function setAddress(ptrField: i32, lenField: i32, ptr: usize, v6: bool): void {
  if (v6) {
    const skip = mappedOffset(ptr);
    setResult(ptrField, <i32>(ptr + skip));
    setResult(lenField, 16 - <i32>skip);
  } else {
    setResult(ptrField, <i32>ptr);
    setResult(lenField, 4);
  }
}

export function parseV1(): i32 {
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
    if (d == 0x34) family = FAM_TCP4;
    else if (d == 0x36) family = FAM_TCP6;
    else return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
    const s = at(pos + 1);
    if (s < 0) return STOP;
    if (s == CR) return fail(ERR_BAD_V1_SYNTAX, pos + 1, F_SRC_ADDR, 0);
    if (s != SP) return fail(ERR_BAD_FAMILY, pos + 1, F_FAMILY, 1);
    const v6 = family == FAM_TCP6;
    pos = addressField(pos + 2, v6, V1_ADDR_PTR, F_SRC_ADDR);
    if (pos < 0) return STOP;
    pos = addressField(pos, v6, V1_ADDR_PTR + 16, F_DST_ADDR);
    if (pos < 0) return STOP;
    pos = portField(pos, F_SRC_PORT);
    if (pos < 0) return STOP;
    headerLen = portField(pos, F_DST_PORT);
    if (headerLen < 0) return STOP;
    setAddress(R_SRC_PTR, R_SRC_LEN, V1_ADDR_PTR, v6);
    setAddress(R_DST_PTR, R_DST_LEN, V1_ADDR_PTR + 16, v6);
    setResult(R_SRC_PORT, srcPort);
    setResult(R_DST_PORT, dstPort);
  } else if (c == 0x55) { // 'U'
    pos = expectWord(pos + 1, "NKNOWN", ERR_BAD_FAMILY);
    if (pos < 0) return STOP;
    const s = at(pos);
    if (s < 0) return STOP;
    if (s == CR) headerLen = endOfLine(pos);
    else if (s == SP) headerLen = unknownTail(pos + 1);
    else return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
    if (headerLen < 0) return STOP;
    family = FAM_UNKNOWN;
  } else if (c == SP || c == CR) {
    return fail(ERR_BAD_V1_SYNTAX, pos, F_FAMILY, 0);
  } else {
    return fail(ERR_BAD_FAMILY, pos, F_FAMILY, 1);
  }
  setResult(R_VERSION, 1);
  setResult(R_COMMAND, CMD_PROXY);
  setResult(R_FAMILY, family);
  setResult(R_HEADER_LEN, headerLen);
  setResult(R_STATUS, STATUS_OK);
  return headerLen;
}
