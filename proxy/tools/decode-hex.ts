// Turns what an operator pastes into `tollgate decode` into bytes.
//
// Accepted shapes:
//   - plain hex, with optional whitespace, ':' ',' '-' separators, "0x" prefixes and "\x" escapes
//     ("0d0a0d0a...", "0d:0a:0d:0a", "0x0d 0x0a", "\x0d\x0a");
//   - hex dumps, one packet spread over several lines, each line starting with an offset:
//       tcpdump -X   "\t0x0000:  4500 0034 0000 4000 4006 3cc2 7f00 0001  E..4..@.@.<....."
//       xxd          "00000000: 0d0a 0d0a 000d 0a51 5549 540a 2111 000c  .......QUIT.!..."
//       hexdump -C   "00000000  0d 0a 0d 0a 00 0d 0a 51  55 49 54 0a 21 11 00 0c  |.......QUIT.!...|"
//     The ASCII column is dropped; a line whose offset is 0 starts a new packet. tcpdump's one-line
//     packet summary in front of a dump is skipped (see InputSplitter).
// This is operator tooling, not a hot path: clarity over speed.

/** Input that is not hex. `code` is what `tollgate decode` prints. */
export class BadHexError extends Error {
  readonly code = "BAD_HEX";
  constructor(message: string) {
    super(message);
    this.name = "BadHexError";
  }
}

const SEPARATORS = /[\s:,\-]+/g;

/** Plain hex (see the file comment) to bytes. Throws BadHexError. */
export function parsePlainHex(text: string): Uint8Array {
  const digits = text
    .replace(/\\x/gi, " ")
    .replace(/(^|[\s:,\-])0x/gi, "$1")
    .replace(SEPARATORS, "");
  if (digits.length === 0) throw new BadHexError("no hex digits");
  const bad = /[^0-9a-fA-F]/.exec(digits);
  if (bad !== null) {
    const hint = /^\s*PROXY /.test(text) ? " (a v1 line as text: give it as hex, e.g. printf 'PROXY ...\\r\\n' | xxd -p)" : "";
    throw new BadHexError(`not a hex digit: ${JSON.stringify(bad[0])}${hint}`);
  }
  if (digits.length % 2 !== 0) throw new BadHexError(`odd number of hex digits (${digits.length})`);
  return Uint8Array.from(Buffer.from(digits, "hex"));
}

/** One line of a hex dump: where it says it starts, and the bytes on it (or why they could not be read). */
export interface DumpLine {
  style: "tcpdump" | "xxd" | "hexdump";
  offset: number;
  bytes: Uint8Array;
  error: BadHexError | null;
}

// tcpdump -X ("0x0010:") and xxd ("00000010:") put a colon after the offset, then the hex in groups of
// 2 or 4 digits separated by single spaces, then two or more spaces, then the ASCII column.
const COLON_DUMP = /^\s*(0x)?([0-9a-fA-F]{4,8}):[ \t]+(.*)$/;
// hexdump -C: 8-digit offset, two spaces, single bytes (an extra space after the 8th), "|ascii|".
const CANONICAL_DUMP = /^([0-9a-fA-F]{8}) {2}((?:[0-9a-fA-F]{2} {1,2})+)\s*\|.*\|\s*$/;

/** Recognises one hex-dump line, or returns null when the line is not one. A line that starts like a
 *  dump line but whose hex part is damaged comes back with `error` set. */
export function parseDumpLine(line: string): DumpLine | null {
  const canonical = CANONICAL_DUMP.exec(line);
  if (canonical !== null) {
    const hex = canonical[2]!.trim().split(/ +/).join("");
    return { style: "hexdump", offset: Number.parseInt(canonical[1]!, 16), bytes: Uint8Array.from(Buffer.from(hex, "hex")), error: null };
  }
  const colon = COLON_DUMP.exec(line);
  if (colon === null) return null;
  const style = colon[1] !== undefined ? "tcpdump" : "xxd";
  // The hex part ends where the ASCII column begins: the first run of two or more blanks.
  const hexPart = colon[3]!.split(/\s{2,}/)[0]!.trim();
  const groups = hexPart.length === 0 ? [] : hexPart.split(/[ \t]/);
  const offset = Number.parseInt(colon[2]!, 16);
  for (const group of groups) {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(group)) {
      const error = new BadHexError(`${style} dump line has a damaged hex group ${JSON.stringify(group)}: ${JSON.stringify(line.trim())}`);
      return { style, offset, bytes: new Uint8Array(0), error };
    }
  }
  return { style, offset, bytes: Uint8Array.from(Buffer.from(groups.join(""), "hex")), error: null };
}

// tcpdump's summary line: "[time] [iface dir] IP 10.0.0.1.5555 > 10.0.0.2.10000: Flags [P.], ..." (IP6 for v6).
const TCPDUMP_SUMMARY = /\bIP6? \S+ > \S+: /;

/** One thing to decode, or the reason a piece of input could not become bytes. */
export type HexItem = { ok: true; bytes: Uint8Array } | { ok: false; error: BadHexError };

/**
 * Splits a stream of input lines into things to decode, in order:
 *  - each non-dump line is one item (plain hex); blank lines and lines starting with '#' are skipped;
 *  - consecutive dump lines form one item, a line at offset 0 (or a change of dump style) starting the next;
 *  - tcpdump's one-line packet summary ("12:00:00.000 IP a.b > c.d: Flags [P.], ...") directly above a
 *    dump is skipped; one that is not followed by a dump is reported (tcpdump was run without -X).
 */
export class InputSplitter {
  private dump: { style: DumpLine["style"]; chunks: Uint8Array[]; length: number; error: BadHexError | null } | null = null;
  private caption: BadHexError | null = null;

  /** Feeds one line; returns the items it completed. */
  push(rawLine: string): HexItem[] {
    const out: HexItem[] = [];
    const line = rawLine.replace(/\r$/, "");
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      this.flushDump(out);
      this.flushCaption(out);
      return out;
    }
    if (this.dump !== null && this.dump.style === "hexdump") {
      // hexdump -C ends with a line holding just the total length, and writes "*" for repeated lines.
      if (/^[0-9a-fA-F]{8}$/.test(trimmed)) {
        if (Number.parseInt(trimmed, 16) !== this.dump.length) {
          this.dump.error ??= new BadHexError(`hexdump says 0x${trimmed} bytes, its lines hold 0x${this.dump.length.toString(16)}`);
        }
        this.flushDump(out);
        return out;
      }
      if (trimmed === "*") {
        this.dump.error ??= new BadHexError("hexdump collapsed repeated lines into '*': run it with -v");
        return out;
      }
    }
    const dumpLine = parseDumpLine(line);
    if (dumpLine !== null) {
      if (this.dump === null || dumpLine.offset === 0 || dumpLine.style !== this.dump.style) {
        this.flushDump(out);
        this.caption = null; // the line above was this dump's caption
        this.startDump(dumpLine.style);
      }
      const dump = this.dump!;
      if (dumpLine.error !== null) {
        dump.error ??= dumpLine.error;
      } else if (dumpLine.offset !== dump.length) {
        dump.error ??= new BadHexError(`dump offsets are not contiguous: expected 0x${dump.length.toString(16)}, got 0x${dumpLine.offset.toString(16)}`);
      }
      dump.chunks.push(dumpLine.bytes);
      dump.length += dumpLine.bytes.length;
      return out;
    }
    this.flushDump(out);
    this.flushCaption(out);
    if (TCPDUMP_SUMMARY.test(trimmed)) {
      this.caption = new BadHexError("a tcpdump packet summary without its hex dump: run tcpdump with -X");
      return out;
    }
    try {
      out.push({ ok: true, bytes: parsePlainHex(trimmed) });
    } catch (e) {
      if (!(e instanceof BadHexError)) throw e;
      out.push({ ok: false, error: e });
    }
    return out;
  }

  /** Ends the input; returns what was still pending. */
  end(): HexItem[] {
    const out: HexItem[] = [];
    this.flushDump(out);
    this.flushCaption(out);
    return out;
  }

  private startDump(style: DumpLine["style"]): void {
    this.dump = { style, chunks: [], length: 0, error: null };
  }

  private flushDump(out: HexItem[]): void {
    const dump = this.dump;
    if (dump === null) return;
    this.dump = null;
    if (dump.error !== null) {
      out.push({ ok: false, error: dump.error });
    } else if (dump.length === 0) {
      out.push({ ok: false, error: new BadHexError("hex dump holds no bytes") });
    } else {
      out.push({ ok: true, bytes: Uint8Array.from(Buffer.concat(dump.chunks)) });
    }
  }

  private flushCaption(out: HexItem[]): void {
    if (this.caption === null) return;
    out.push({ ok: false, error: this.caption });
    this.caption = null;
  }
}

/** The command-line argument form: the whole text is one item, unless it holds hex-dump lines, in which
 *  case it is split like stdin (so a quoted `$(tcpdump -X ...)` works, caption line included). */
export function splitArgument(text: string): HexItem[] {
  const lines = text.split(/\r?\n/);
  const hasDump = lines.some((l) => parseDumpLine(l) !== null);
  if (!hasDump) {
    try {
      return [{ ok: true, bytes: parsePlainHex(text) }];
    } catch (e) {
      if (e instanceof BadHexError) return [{ ok: false, error: e }];
      throw e;
    }
  }
  const splitter = new InputSplitter();
  const items = lines.flatMap((l) => splitter.push(l));
  return items.concat(splitter.end());
}
