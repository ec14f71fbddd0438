// Entry of the PROXY header parser: picks v1 or v2 from the first byte. 'P' can only begin "PROXY ",
// 0x0D only the v2 signature; any other first byte is no PROXY header, refused at once.
import { ERR_BAD_SIGNATURE, RESULT_PTR, R_STATUS, clearResult, inputByte } from "./layout";
import { beginParse, fail, incomplete } from "./parse-state";
import { parseV1 } from "./proxy-v1";
import { parseV2 } from "./proxy-v2";

export function parseProxyHeader(len: i32, maxHeader: i32): i32 {
  clearResult();
  beginParse(len, maxHeader);
  if (len <= 0) {
    incomplete();
  } else {
    const first = inputByte(0);
    if (first == 0x0d) parseV2();
    else if (first == 0x50) parseV1();
    else fail(ERR_BAD_SIGNATURE, 0, 0, 0);
  }
  return load<i32>(RESULT_PTR + (<usize>R_STATUS << 2));
}
