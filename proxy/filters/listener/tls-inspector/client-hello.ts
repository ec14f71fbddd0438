// Recognising a TLS ClientHello and reading its SNI and ALPN, without terminating TLS.
//
// Envoy's tls_inspector hands the peeked bytes to BoringSSL and stops the handshake in the SNI callback; what it
// reports depends on where BoringSSL fails. This parser reproduces the checks that decide the outcome:
//   record layer (RFC 8446 §5.1): type 22 (handshake), major version 3, length ≤ 2^14, ≤ 32 empty records in a row;
//     a record of any other type before the ClientHello is complete is not TLS.
//   handshake: the first message is a ClientHello (type 1) of at most 16384 bytes (BoringSSL's limit for a server),
//     possibly spanning several records, and nothing follows it in its last record ("end of the flight").
//   ClientHello body (RFC 8446 §4.1.2): session id ≤ 32 bytes, a non-empty even-length cipher suite list, at least one
//     compression method, then either nothing or exactly one well-formed extension block without duplicates.
//   server_name (RFC 6066 §3): exactly one host_name entry of 1..255 bytes without NUL; anything else fails the
//     handshake before BoringSSL's SNI callback runs, so the connection is not TLS for Envoy.
//   version negotiation: supported_versions (or, without it, legacy_version) must offer TLS 1.0..1.3.
//   ALPN (RFC 7301 §3.1): read as Envoy's onALPN does; a malformed list is ignored, not an error.
// The contents of other extensions are not validated (BoringSSL checks some; see docs/tls-inspector.md).
//
// Incremental by design: the listener calls again with a longer prefix of the same stream after `need_more`; the
// scanner keeps the offset of the next record and the payload ranges it has seen, so each call only looks at new
// record headers. Only when the ClientHello is complete are its fragments copied together (once). Every read is
// bounds-checked against the bytes present; nothing here throws on any input.

/** Envoy's default and maximum for `max_client_hello_size` (BoringSSL's SSL3_RT_MAX_PLAIN_LENGTH). */
export const TLS_MAX_CLIENT_HELLO = 16384;

const RECORD_HEADER = 5;
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const MAX_RECORD_PLAINTEXT = 16384;
/** BoringSSL's kMaxMessageLen: a server never accepts a longer handshake message while it reads the ClientHello. */
const MAX_HANDSHAKE_BODY = 16384;
/** BoringSSL's kMaxEmptyRecords. */
const MAX_EMPTY_RECORDS = 32;
const MAX_SESSION_ID = 32;
const MAX_HOST_NAME = 255;

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const TLS1_0 = 0x0301;
const TLS1_3 = 0x0304;

export interface ClientHello {
  /** legacy_version of the ClientHello (0x0303 for TLS 1.2 and 1.3 clients). */
  readonly legacyVersion: number;
  /** The host_name of the server_name extension; "" when the client sent none. */
  readonly serverName: string;
  /** ALPN protocol names in the client's order; empty when absent or malformed (Envoy ignores a malformed list). */
  readonly alpn: readonly string[];
}

export type ClientHelloResult =
  /** The bytes so far are a valid prefix of a ClientHello that fits within the limit. */
  | { readonly status: "need_more" }
  /** A complete ClientHello; `bytesProcessed` is where its last record ends. */
  | { readonly status: "tls"; readonly hello: ClientHello; readonly bytesProcessed: number }
  /** Not a TLS ClientHello (plaintext, or TLS BoringSSL would refuse before reading the SNI). */
  | { readonly status: "not_tls"; readonly reason: string; readonly bytesProcessed: number }
  /** `maxBytes` were read and the ClientHello is still not complete. */
  | { readonly status: "too_large"; readonly bytesProcessed: number };

const NEED_MORE: ClientHelloResult = { status: "need_more" };

/**
 * One connection's scan. Feed it every byte received so far (a growing prefix of the same stream, as the listener
 * passes them); it answers as soon as the outcome is known. Not reusable across connections.
 */
export class ClientHelloScanner {
  /** Offset of the next record header. */
  private next = 0;
  /** Handshake payload ranges [start, end) in stream offsets, in order; valid because the stream only grows. */
  private readonly fragments: number[] = [];
  private collected = 0;
  /** The ClientHello body length once the 4-byte handshake header has arrived, else -1. */
  private messageLength = -1;
  private emptyRun = 0;
  private result: ClientHelloResult | null = null;

  /** @param maxBytes Envoy's max_client_hello_size: bytes beyond it are never looked at. */
  constructor(private readonly maxBytes: number = TLS_MAX_CLIENT_HELLO) {}

  feed(bytes: Uint8Array): ClientHelloResult {
    if (this.result) return this.result;
    // Envoy peeks at most max_client_hello_size bytes: a verdict must not depend on anything after them.
    const window = bytes.length < this.maxBytes ? bytes.length : this.maxBytes;
    while (this.next < window) {
      const at = this.next;
      // The type byte alone decides "not TLS" (plain HTTP, SSH, a PROXY header the PROXY filter did not take...).
      if (bytes[at] !== CONTENT_TYPE_HANDSHAKE) {
        return this.finish(notTls(at === 0 ? "not a TLS handshake record" : "a non-handshake record interrupts the ClientHello", at + 1));
      }
      if (window - at < RECORD_HEADER) break;
      if (bytes[at + 1] !== 3) return this.finish(notTls("record version is not 3.x", at + RECORD_HEADER));
      const length = (bytes[at + 3] << 8) | bytes[at + 4];
      if (length > MAX_RECORD_PLAINTEXT) return this.finish(notTls("record longer than 2^14 bytes", at + RECORD_HEADER));
      const start = at + RECORD_HEADER;
      const end = start + length;
      if (end > window) break;
      this.next = end;
      if (length === 0) {
        if (++this.emptyRun > MAX_EMPTY_RECORDS) return this.finish(notTls("too many empty records", end));
        continue;
      }
      this.emptyRun = 0;
      this.fragments.push(start, end);
      this.collected += length;

      if (this.messageLength < 0) {
        if (this.payloadByte(bytes, 0) !== HANDSHAKE_CLIENT_HELLO) {
          return this.finish(notTls("the first handshake message is not a ClientHello", end));
        }
        if (this.collected >= 4) {
          const len = (this.payloadByte(bytes, 1) << 16) | (this.payloadByte(bytes, 2) << 8) | this.payloadByte(bytes, 3);
          if (len > MAX_HANDSHAKE_BODY) return this.finish(notTls("ClientHello longer than 16384 bytes", end));
          this.messageLength = len;
        }
      }
      if (this.messageLength >= 0 && this.collected >= 4 + this.messageLength) {
        if (this.collected > 4 + this.messageLength) {
          return this.finish(notTls("handshake data after the ClientHello", end));
        }
        const body = this.assemble(bytes, 4, this.messageLength);
        const parsed = parseClientHelloBody(body);
        if (typeof parsed === "string") return this.finish(notTls(parsed, end));
        return this.finish({ status: "tls", hello: parsed, bytesProcessed: end });
      }
    }
    if (window >= this.maxBytes) return this.finish({ status: "too_large", bytesProcessed: window });
    return NEED_MORE;
  }

  private finish(r: ClientHelloResult): ClientHelloResult {
    this.result = r;
    return r;
  }

  /** The byte at handshake-payload offset `i` (callers ensure `i < collected`). */
  private payloadByte(bytes: Uint8Array, i: number): number {
    const f = this.fragments;
    for (let k = 0; k < f.length; k += 2) {
      const size = f[k + 1] - f[k];
      if (i < size) return bytes[f[k] + i];
      i -= size;
    }
    return -1;
  }

  /** Copy `length` payload bytes from payload offset `from` into one contiguous array. */
  private assemble(bytes: Uint8Array, from: number, length: number): Uint8Array {
    const f = this.fragments;
    // The common case, one record: a view, no copy.
    if (f.length === 2) return bytes.subarray(f[0] + from, f[0] + from + length);
    const out = new Uint8Array(length);
    let skip = from;
    let filled = 0;
    for (let k = 0; k < f.length && filled < length; k += 2) {
      let start = f[k];
      const end = f[k + 1];
      if (skip >= end - start) {
        skip -= end - start;
        continue;
      }
      start += skip;
      skip = 0;
      const take = Math.min(end - start, length - filled);
      out.set(bytes.subarray(start, start + take), filled);
      filled += take;
    }
    return out;
  }
}

function notTls(reason: string, bytesProcessed: number): ClientHelloResult {
  return { status: "not_tls", reason, bytesProcessed };
}

/** One-shot convenience: scan `bytes` as the first bytes of a connection. */
export function scanClientHello(bytes: Uint8Array, maxBytes: number = TLS_MAX_CLIENT_HELLO): ClientHelloResult {
  return new ClientHelloScanner(maxBytes).feed(bytes);
}

/** A bounds-checked cursor over a byte range; every read reports failure instead of reading past `end`. */
class Reader {
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
    public readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos + 1 > this.end) return -1;
    return this.b[this.pos++];
  }

  u16(): number {
    if (this.pos + 2 > this.end) return -1;
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }

  /** Skip `n` bytes; false when fewer remain. */
  skip(n: number): boolean {
    if (n < 0 || this.pos + n > this.end) return false;
    this.pos += n;
    return true;
  }

  /** A sub-reader over the next `n` bytes, or null when fewer remain. */
  sub(n: number): Reader | null {
    if (n < 0 || this.pos + n > this.end) return null;
    const r = new Reader(this.b, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  latin1(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.b[this.pos + i]);
    this.pos += n;
    return s;
  }
}

/**
 * Parse a ClientHello body (after the 4-byte handshake header). Returns the hello, or why BoringSSL would refuse it
 * before the SNI callback (Envoy then sees no TLS).
 */
export function parseClientHelloBody(body: Uint8Array): ClientHello | string {
  const r = new Reader(body, 0, body.length);
  const legacyVersion = r.u16();
  if (legacyVersion < 0 || !r.skip(32)) return "ClientHello truncated before the session id";
  const sessionIdLength = r.u8();
  if (sessionIdLength < 0 || sessionIdLength > MAX_SESSION_ID || !r.skip(sessionIdLength)) return "bad session id";
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0 || !r.skip(suites)) return "bad cipher suite list";
  const compressions = r.u8();
  if (compressions < 1 || !r.skip(compressions)) return "bad compression method list";

  let serverName = "";
  let alpn: readonly string[] = [];
  let versions: Reader | null = null;
  if (r.remaining > 0) {
    const blockLength = r.u16();
    if (blockLength < 0 || blockLength !== r.remaining) return "bad extension block length";
    const seen = new Set<number>();
    while (r.remaining > 0) {
      const type = r.u16();
      const length = r.u16();
      const ext = length < 0 ? null : r.sub(length);
      if (type < 0 || ext === null) return "truncated extension";
      if (seen.has(type)) return "duplicate extension";
      seen.add(type);
      if (type === EXT_SERVER_NAME) {
        const name = parseServerName(ext);
        if (name === null) return "bad server_name extension";
        serverName = name;
      } else if (type === EXT_ALPN) {
        alpn = parseAlpn(ext);
      } else if (type === EXT_SUPPORTED_VERSIONS) {
        versions = ext;
      }
    }
  }
  if (!offersSupportedVersion(legacyVersion, versions)) return "no supported TLS version offered";
  return Object.freeze({ legacyVersion, serverName, alpn });
}

/** RFC 6066 server_name as BoringSSL accepts it: exactly one host_name entry, 1..255 bytes, no NUL. */
function parseServerName(ext: Reader): string | null {
  const listLength = ext.u16();
  const list = listLength < 0 ? null : ext.sub(listLength);
  if (list === null || ext.remaining !== 0) return null;
  const nameType = list.u8();
  const hostLength = list.u16();
  if (nameType !== 0 || hostLength < 1 || hostLength > MAX_HOST_NAME || list.remaining !== hostLength) return null;
  const name = list.latin1(hostLength);
  return name.includes("\0") ? null : name;
}

/** RFC 7301 ProtocolNameList, read as Envoy's onALPN: any defect yields no protocols (the real TLS stack would object). */
function parseAlpn(ext: Reader): readonly string[] {
  const listLength = ext.u16();
  const list = listLength < 0 ? null : ext.sub(listLength);
  if (list === null || ext.remaining !== 0 || list.remaining < 2) return [];
  const out: string[] = [];
  while (list.remaining > 0) {
    const n = list.u8();
    if (n < 1 || n > list.remaining) return [];
    out.push(list.latin1(n));
  }
  return Object.freeze(out);
}

/** BoringSSL's version negotiation with Envoy's range (TLS 1.0 to 1.3). */
function offersSupportedVersion(legacyVersion: number, versions: Reader | null): boolean {
  if (versions === null) return legacyVersion >= TLS1_0;
  const listLength = versions.u8();
  const list = listLength < 0 ? null : versions.sub(listLength);
  if (list === null || versions.remaining !== 0 || list.remaining === 0 || list.remaining % 2 !== 0) return false;
  while (list.remaining > 0) {
    const v = list.u16();
    if (v >= TLS1_0 && v <= TLS1_3) return true;
  }
  return false;
}
