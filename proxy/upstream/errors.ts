// Upstream failures as values with Envoy's names: the reset reason the router prints after
// "upstream connect error or disconnect/reset before headers. reset reason: ", the transport failure reason, and the
// response flag the access log shows.

export type UpstreamErrorCode =
  | "CONNECT_FAILURE"
  | "CONNECT_TIMEOUT"
  | "REMOTE_RESET"
  | "LOCAL_RESET"
  | "TERMINATION"
  | "OVERFLOW"
  | "PROTOCOL_ERROR"
  | "TIMEOUT";

export type UpstreamResponseFlag = "UF" | "UC" | "LR" | "UR" | "UO" | "UPE" | "UT";

const FLAGS: Readonly<Record<UpstreamErrorCode, UpstreamResponseFlag>> = {
  CONNECT_FAILURE: "UF",
  CONNECT_TIMEOUT: "UF",
  REMOTE_RESET: "UR",
  LOCAL_RESET: "LR",
  TERMINATION: "UC",
  OVERFLOW: "UO",
  PROTOCOL_ERROR: "UPE",
  TIMEOUT: "UT",
};

/** Envoy's reset-reason strings (StreamResetReason / PoolFailureReason as printed by the router). */
const REASONS: Readonly<Record<UpstreamErrorCode, string>> = {
  CONNECT_FAILURE: "remote connection failure",
  CONNECT_TIMEOUT: "connection timeout",
  REMOTE_RESET: "remote reset",
  LOCAL_RESET: "local reset",
  TERMINATION: "connection termination",
  OVERFLOW: "overflow",
  PROTOCOL_ERROR: "protocol error",
  // Not a reset reason: Envoy answers a route timeout with 504 and this body.
  TIMEOUT: "upstream request timeout",
};

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  /** e.g. `remote connection failure`; for TIMEOUT the whole local-reply body (`upstream request timeout`). */
  readonly envoyReason: string;
  /** e.g. `delayed connect error: Connection refused`. */
  readonly transportFailureReason?: string;
  readonly responseFlag: UpstreamResponseFlag;

  constructor(code: UpstreamErrorCode, opts?: { envoyReason?: string; transportFailureReason?: string; cause?: unknown }) {
    const envoyReason = opts?.envoyReason ?? REASONS[code];
    const tfr = opts?.transportFailureReason;
    super(tfr ? `${envoyReason}, transport failure reason: ${tfr}` : envoyReason, opts?.cause ? { cause: opts.cause } : undefined);
    this.name = "UpstreamError";
    this.code = code;
    this.envoyReason = envoyReason;
    if (tfr !== undefined) this.transportFailureReason = tfr;
    this.responseFlag = FLAGS[code];
  }
}

// glibc's strerror() texts, which Envoy prints in transport failure reasons ("delayed connect error: Connection
// refused"). Node only exposes libuv's lower-case variants, so the common connect errors are spelled out here.
const STRERROR: Readonly<Record<string, string>> = {
  ECONNREFUSED: "Connection refused",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  ETIMEDOUT: "Connection timed out",
  ECONNRESET: "Connection reset by peer",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EADDRINUSE: "Address already in use",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  ENETDOWN: "Network is down",
  EHOSTDOWN: "Host is down",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
  ENOBUFS: "No buffer space available",
  EAFNOSUPPORT: "Address family not supported by protocol",
  EINVAL: "Invalid argument",
  EPIPE: "Broken pipe",
};

export function strerror(code: string | undefined, fallback: string): string {
  return (code && STRERROR[code]) || fallback;
}

/** A failed TCP connect, as Envoy's connection pool reports it. */
export function connectFailure(err: NodeJS.ErrnoException): UpstreamError {
  return new UpstreamError("CONNECT_FAILURE", {
    transportFailureReason: `delayed connect error: ${strerror(err.code, err.message)}`,
    cause: err,
  });
}

export function connectTimeout(): UpstreamError {
  return new UpstreamError("CONNECT_TIMEOUT");
}

export function overflow(): UpstreamError {
  return new UpstreamError("OVERFLOW");
}

interface CodedError {
  code?: string;
  name?: string;
  message?: string;
}

/**
 * Classify an error from the HTTP/1 codec (undici) on an established connection. On HTTP/1 a peer close or RST is
 * "connection termination" in Envoy, whatever the TCP detail; a malformed response is "protocol error".
 */
export function classifyStreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = (err ?? {}) as CodedError;
  const code = e.code ?? "";
  if (
    code.startsWith("HPE_") ||
    e.name === "HTTPParserError" ||
    code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" ||
    code === "UND_ERR_HEADERS_OVERFLOW" ||
    code === "UND_ERR_RES_EXCEEDED_MAX_SIZE"
  ) {
    return new UpstreamError("PROTOCOL_ERROR", { cause: err });
  }
  if (
    code === "UND_ERR_SOCKET" ||
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "UND_ERR_CLOSED" ||
    code === "UND_ERR_INFO" ||
    code === "ETIMEDOUT"
  ) {
    return new UpstreamError("TERMINATION", { cause: err });
  }
  // Anything else (an invalid header value, a failing request body, a destroyed client) is our side giving up.
  return new UpstreamError("LOCAL_RESET", { cause: err });
}
