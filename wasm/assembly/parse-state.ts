// Shared state and verdict helpers of one parse call. A parse is a pure function of (bytes, length,
// limit): the host re-parses everything received so far on every read, so nothing survives a call
// except the RESULT block it writes.
//
// Convention for the parser functions: they return the next byte position (>= 0) to continue, or STOP
// (-1) once a verdict (incomplete or error) is written. Every check reads only bytes below the position
// it tests and happens in the same order whatever the byte count, so a verdict reached on a prefix of
// the input is the verdict for the whole input: the answer never depends on how reads were split.
import {
  R_CODE, R_ERR_AUX, R_ERR_AUX2, R_ERR_OFFSET, R_STATUS, STATUS_ERROR, STATUS_INCOMPLETE, setResult,
} from "./layout";

export const STOP: i32 = -1;

/** Bytes available in the INPUT region for this call (already clamped to INPUT_CAP). */
export let gLen: i32 = 0;
/** Largest v2 header (16 + length field) accepted for this call. */
export let gMaxHeader: i32 = 0;

export function beginParse(len: i32, maxHeader: i32): void {
  gLen = len;
  gMaxHeader = maxHeader;
}

export function fail(code: i32, offset: i32, aux: i32, aux2: i32): i32 {
  setResult(R_STATUS, STATUS_ERROR);
  setResult(R_CODE, code);
  setResult(R_ERR_OFFSET, offset);
  setResult(R_ERR_AUX, aux);
  setResult(R_ERR_AUX2, aux2);
  return STOP;
}

export function incomplete(): i32 {
  setResult(R_STATUS, STATUS_INCOMPLETE);
  return STOP;
}
