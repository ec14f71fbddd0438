// The allowlist file format: one CIDR per line; `#` starts a comment (a whole line or the rest of one); blank lines
// and surrounding spaces are ignored; IPv4 and IPv6; a bare address means /32 or /128; host bits are cleared
// (`10.1.2.3/8` is 10.0.0.0/8); an IPv4-mapped IPv6 address or prefix (>= /96) is the IPv4 one (net/ip.ts parseCidr).
// Windows line ends and a UTF-8 byte order mark are accepted. Any other line refuses the whole file, naming the line.
import { parseCidr, type Cidr } from "../../../../net/ip.js";

export type AllowlistErrorCode = "BAD_LINE" | "UNREADABLE" | "BUILD_FAILED";

/** An allowlist file that cannot be put in force. `code` is stable; `line` is 1-based, null when no line is at fault. */
export class AllowlistFileError extends Error {
  readonly code: AllowlistErrorCode;
  readonly path: string;
  readonly line: number | null;

  constructor(code: AllowlistErrorCode, path: string, line: number | null, detail: string) {
    super(line === null ? `${path}: ${detail}` : `${path} line ${line}: ${detail}`);
    this.name = "AllowlistFileError";
    this.code = code;
    this.path = path;
    this.line = line;
  }
}

/** At most this much of a bad line is quoted in an error (a stray binary file must not make a megabyte log line). */
const QUOTE_LIMIT = 80;

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}…` : text);
}

/** The ranges of an allowlist file's text, in file order (duplicates kept). `path` only names the file in errors. */
export function parseAllowlist(text: string, path: string): Cidr[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split("\n");
  const out: Cidr[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf("#");
    const entry = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (entry === "") continue;
    const cidr = parseCidr(entry);
    if (cidr === null) throw new AllowlistFileError("BAD_LINE", path, i + 1, `invalid CIDR ${quote(entry)}`);
    out.push(cidr);
  }
  return out;
}
