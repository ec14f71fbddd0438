// Tokenising an Envoy format string into literal text and command operators, as Envoy's SubstitutionFormatParser:
// a command is `%NAME%`, `%NAME(ARG)%`, `%NAME:LEN%` or `%NAME(ARG):LEN%` with NAME in [A-Z0-9_], ARG without `)`.
// `%%` is a literal percent sign. A `%` that starts nothing valid is refused with its position.
import { ConfigError } from "../../config/errors.js";

export interface CommandToken {
  readonly kind: "command";
  readonly name: string;
  /** The text between the parentheses; undefined without parentheses. */
  readonly arg: string | undefined;
  /** `:LEN` truncation; undefined when absent. */
  readonly maxLength: number | undefined;
  /** The token as written, for error messages. */
  readonly raw: string;
}

export interface TextToken {
  readonly kind: "text";
  readonly text: string;
}

export type FormatToken = CommandToken | TextToken;

const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y;

export function tokenize(format: string, path: string): FormatToken[] {
  const tokens: FormatToken[] = [];
  let text = "";
  let i = 0;
  while (i < format.length) {
    const c = format[i];
    if (c !== "%") {
      text += c;
      i++;
      continue;
    }
    if (format[i + 1] === "%") {
      text += "%";
      i += 2;
      continue;
    }
    COMMAND.lastIndex = i;
    const m = COMMAND.exec(format);
    if (m === null) {
      throw new ConfigError(
        path,
        `Incorrect configuration: ${JSON.stringify(format)}. Couldn't find valid command at position ${i}`,
      );
    }
    if (text !== "") tokens.push({ kind: "text", text });
    text = "";
    const maxLength = m[3] === undefined ? undefined : Number(m[3]);
    tokens.push({ kind: "command", name: m[1], arg: m[2], maxLength, raw: m[0] });
    i += m[0].length;
  }
  if (text !== "") tokens.push({ kind: "text", text });
  return tokens;
}
