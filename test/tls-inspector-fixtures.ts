// Fixtures for the tls_inspector tests: real ClientHellos captured from node:tls, an independent ClientHello encoder
// written from RFC 8446 §4.1.2 / RFC 6066 / RFC 7301 (it shares no code with proxy/.../client-hello.ts, so a bug in
// one is not mirrored in the other), and a throwaway server certificate.
import type { ExecutionContext } from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";

// ---- encoder ---------------------------------------------------------------------------------------------------------

export const u8 = (...v: number[]): Uint8Array => Uint8Array.from(v);
export const u16 = (v: number): Uint8Array => u8(v >> 8, v & 0xff);
export const u24 = (v: number): Uint8Array => u8((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
export const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A 16-bit length prefix followed by the bytes. */
export const vec16 = (b: Uint8Array): Uint8Array => cat(u16(b.length), b);
export const vec8 = (b: Uint8Array): Uint8Array => cat(u8(b.length), b);

export type Extension = readonly [type: number, data: Uint8Array];

export const ext = (type: number, data: Uint8Array): Extension => [type, data];
/** server_name with one host_name entry. */
export const sniExt = (host: string): Extension => ext(0, vec16(cat(u8(0), vec16(latin1(host)))));
export const alpnExt = (protocols: string[]): Extension => ext(16, vec16(cat(...protocols.map((p) => vec8(latin1(p))))));
export const versionsExt = (versions: number[]): Extension => ext(43, vec8(cat(...versions.map(u16))));
/** RFC 7685 padding: `n` zero bytes of extension data. */
export const paddingExt = (n: number): Extension => ext(21, new Uint8Array(n));

export interface HelloSpec {
  legacyVersion?: number;
  sessionId?: Uint8Array;
  /** Raw cipher_suites bytes (without the length prefix). */
  cipherSuites?: Uint8Array;
  compressionMethods?: Uint8Array;
  /** null: no extension block at all. */
  extensions?: Extension[] | null;
  /** Bytes appended after the extension block (to build malformed hellos). */
  trailing?: Uint8Array;
}

export function clientHelloBody(s: HelloSpec = {}): Uint8Array {
  const exts = s.extensions === undefined ? [sniExt("example.com"), alpnExt(["h2", "http/1.1"])] : s.extensions;
  return cat(
    u16(s.legacyVersion ?? 0x0303),
    new Uint8Array(32).fill(7),
    vec8(s.sessionId ?? new Uint8Array(32).fill(9)),
    vec16(s.cipherSuites ?? cat(u16(0x1301), u16(0xc02f))),
    vec8(s.compressionMethods ?? u8(0)),
    exts === null ? new Uint8Array(0) : vec16(cat(...exts.map(([t, d]) => cat(u16(t), vec16(d))))),
    s.trailing ?? new Uint8Array(0),
  );
}

/** A handshake message: type(1) length(3) body. */
export const handshake = (type: number, body: Uint8Array): Uint8Array => cat(u8(type), u24(body.length), body);

/** Wrap `payload` in records of at most `fragment` bytes each. */
export function records(payload: Uint8Array, fragment = 16384, type = 22, version = 0x0301): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += fragment) {
    const piece = payload.subarray(at, Math.min(payload.length, at + fragment));
    parts.push(u8(type), u16(version), u16(piece.length), piece);
  }
  return cat(...parts);
}

/** A complete ClientHello in records. */
export function clientHello(spec: HelloSpec = {}, fragment = 16384): Uint8Array {
  return records(handshake(1, clientHelloBody(spec)), fragment);
}

/**
 * Re-frame a captured ClientHello (one or more records) into records of `fragment` payload bytes: the same
 * handshake message, split differently.
 */
export function reframe(hello: Uint8Array, fragment: number): Uint8Array {
  const payload: Uint8Array[] = [];
  for (let at = 0; at + 5 <= hello.length; ) {
    const len = (hello[at + 3] << 8) | hello[at + 4];
    payload.push(hello.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return records(cat(...payload), fragment);
}

// ---- node:tls ClientHellos ---------------------------------------------------------------------------------------------

/** Whether `bytes` start with complete records holding a complete first handshake message. */
function handshakeComplete(bytes: Buffer): boolean {
  let payload = 0;
  let need = -1;
  const head: number[] = [];
  for (let at = 0; at + 5 <= bytes.length; ) {
    const len = bytes.readUInt16BE(at + 3);
    if (at + 5 + len > bytes.length) return false;
    for (let i = 0; i < len && head.length < 4; i++) head.push(bytes[at + 5 + i]);
    payload += len;
    at += 5 + len;
    if (need < 0 && head.length === 4) need = 4 + ((head[1] << 16) | (head[2] << 8) | head[3]);
    if (need >= 0 && payload >= need) return true;
  }
  return false;
}

/** The first flight node:tls sends as a client with `opts` (SNI, ALPN, versions), captured by a plain TCP server. */
export async function captureClientHello(opts: ConnectionOptions = {}): Promise<Buffer> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once("connection", (s: Socket) => {
        let buf = Buffer.alloc(0);
        s.on("data", (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          if (handshakeComplete(buf)) resolve(buf);
        });
        s.on("error", reject);
      });
      const client = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...opts });
      client.on("error", () => {});
      sockets.push(client);
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- a server certificate ---------------------------------------------------------------------------------------------

// Fallback when openssl is not installed: a self-signed P-256 pair for CN=secure.example.com made only for these tests
// (clients in the tests do not verify it).
const FIXED_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgc33z8+0Jh56bir1+
6HdV696LgiGFN9anH5nG1ABB/WmhRANCAAS1oslpMjzaA5O6IEiq8OyhrMFNuRkc
c94Sz0WOo/CIbetAzzyPV9cBXsSd7DlzQ/GivRcbFPd3DVPw4qK94tPy
-----END PRIVATE KEY-----
`;
const FIXED_CERT = `-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUcJM+UPBlf3J2gT3GTPMSvv24TSQwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSc2VjdXJlLmV4YW1wbGUuY29tMCAXDTI2MTEyNjIwNTUwMFoY
DzIxMjYxMTAyMjA1NTAwWjAdMRswGQYDVQQDDBJzZWN1cmUuZXhhbXBsZS5jb20w
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAS1oslpMjzaA5O6IEiq8OyhrMFNuRkc
c94Sz0WOo/CIbetAzzyPV9cBXsSd7DlzQ/GivRcbFPd3DVPw4qK94tPyo1MwUTAd
BgNVHQ4EFgQUEzueoaNLMRlq4gwOp4D3veLvEv0wHwYDVR0jBBgwFoAUEzueoaNL
MRlq4gwOp4D3veLvEv0wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAxnX+pknE3WTqVxLBJTjjq4Dl3t2Y1nOVdhkaVmS5JjECIQCjTUpUg75ZaRNB
hhodhUsvWZWPDmdZWhZpTAZHvYYdSg==
-----END CERTIFICATE-----
`;

/** A fresh self-signed key and certificate from openssl when it is installed, else the fixed pair above. */
export function selfSignedCert(t: ExecutionContext<unknown>, cn = "secure.example.com"): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${cn}`],
    { stdio: "ignore", timeout: 10_000 },
  );
  if (r.status !== 0) return { key: FIXED_KEY, cert: FIXED_CERT };
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}
