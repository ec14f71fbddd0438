// Textual IP address parsing over the INPUT region, for PROXY v1 lines. Strict, like inet_pton:
// IPv4 is exactly four decimal octets 0-255 without leading zeros; IPv6 is any RFC 4291 text form
// (one "::", 1-4 hex digits per group, either case, an embedded dotted quad in the last 32 bits),
// with no zone id and no brackets. Nothing here allocates.
import { inputByte } from "./layout";

@inline function isDigit(c: i32): bool {
  return <u32>(c - 0x30) < 10;
}

@inline function hexValue(c: i32): i32 {
  if (<u32>(c - 0x30) < 10) return c - 0x30;
  const l = c | 0x20;
  if (<u32>(l - 0x61) < 6) return l - 0x61 + 10;
  return -1;
}

/** Parses INPUT[s, e) as a dotted quad into 4 bytes at `out`. */
export function parseIpv4Text(s: i32, e: i32, out: usize): bool {
  let i = s;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= e || inputByte(i) != 0x2e) return false;
      i++;
    }
    if (i >= e || !isDigit(inputByte(i))) return false;
    let v = inputByte(i) - 0x30;
    i++;
    if (v == 0) {
      if (i < e && isDigit(inputByte(i))) return false; // leading zero
    } else {
      for (let k = 0; k < 2 && i < e && isDigit(inputByte(i)); k++) {
        v = v * 10 + inputByte(i) - 0x30;
        i++;
      }
      if (v > 255 || (i < e && isDigit(inputByte(i)))) return false;
    }
    store<u8>(out + <usize>octet, <u8>v);
  }
  return i == e;
}

/** Parses INPUT[s, e) as an IPv6 address into 16 bytes at `out`. */
export function parseIpv6Text(s: i32, e: i32, out: usize): bool {
  let i = s;
  let n = 0; // 16-bit groups written so far
  let gap = -1; // group index where "::" stands
  if (i < e && inputByte(i) == 0x3a) {
    if (i + 1 >= e || inputByte(i + 1) != 0x3a) return false;
    i += 2;
    gap = 0;
  }
  while (i < e) {
    if (n == 8) return false;
    const start = i;
    let v = 0;
    let digits = 0;
    while (i < e && digits < 5) {
      const h = hexValue(inputByte(i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
    }
    if (digits == 0) return false;
    if (i < e && inputByte(i) == 0x2e) {
      // Embedded IPv4: it must end the address and fill the last two groups.
      if (n > 6) return false;
      if (!parseIpv4Text(start, e, out + (<usize>n << 1))) return false;
      n += 2;
      i = e;
      break;
    }
    if (digits > 4) return false;
    store<u8>(out + (<usize>n << 1), <u8>(v >> 8));
    store<u8>(out + (<usize>n << 1) + 1, <u8>v);
    n++;
    if (i == e) break;
    if (inputByte(i) != 0x3a) return false;
    i++;
    if (i < e && inputByte(i) == 0x3a) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i == e) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) return n == 8;
  if (n > 7) return false; // "::" stands for at least one zero group
  // Move the groups written after "::" to the end and zero the gap.
  const tail = n - gap;
  const to = out + <usize>((8 - tail) << 1);
  const from = out + <usize>(gap << 1);
  memory.copy(to, from, <usize>(tail << 1));
  memory.fill(from, 0, <usize>((8 - tail - gap) << 1));
  return true;
}
