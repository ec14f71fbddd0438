// Envoy's `safe_regex` is RE2. JavaScript's RegExp is a different dialect: some RE2 syntax means something else in JS
// (`\Q..\E`, `[[:alpha:]]`, `\x{41}`, `\a`, `[]a]` all compile in JS and silently match other text), and JS accepts
// constructs RE2 refuses (backreferences, lookaround). This module translates the common RE2 subset to an equivalent
// JS pattern at config time and refuses, with the field path, everything it cannot translate faithfully.
//
// Known remaining differences (documented in docs/http.md): RE2's program-size limit (Envoy refuses patterns whose
// compiled program exceeds 100 instructions by default) is not enforced; `\s` in JS also matches \v and Unicode
// spaces, RE2's only [\t\n\f\r ]; `.` works on UTF-16 code units, RE2 on code points.
import { ConfigError } from "../../../config/errors.js";

export class Re2TranslationError extends Error {
  readonly code = "TOLLGATE_RE2_UNSUPPORTED";
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-/:-@[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

const SIMPLE_ESCAPES = new Set(["d", "D", "s", "S", "w", "W", "f", "n", "r", "t", "v"]);

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function codeEscape(code: number): string {
  if (code <= 0xff) return `\\x${hex2(code)}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
  throw new Re2TranslationError(`code point U+${code.toString(16).toUpperCase()} above U+FFFF is not supported`);
}

/** Escape a literal character for use in a JS pattern (inside or outside a class). */
function literal(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

interface Translated {
  source: string;
  flags: string;
}

/** Translate an RE2 pattern to a JS RegExp source and flags; throws Re2TranslationError when it cannot. */
export function translateRe2(pattern: string): Translated {
  let out = "";
  let flags = "";
  let i = 0;
  const n = pattern.length;

  // Leading inline flags `(?i)`, `(?s)`, `(?is)`: RE2 applies them to the rest of the pattern, which at the very
  // start is the whole pattern, i.e. a RegExp flag.
  const lead = /^\(\?([is]+)\)/.exec(pattern);
  if (lead) {
    for (const f of lead[1]) if (!flags.includes(f)) flags += f;
    i = lead[0].length;
  }

  // Parses one escape at pattern[i] === "\\"; returns the JS text and advances i.
  const escape = (inClass: boolean): string => {
    if (i + 1 >= n) throw new Re2TranslationError("trailing backslash");
    const c = pattern[i + 1];
    i += 2;
    if (c >= "1" && c <= "9") throw new Re2TranslationError(`backreference \\${c} is not supported by RE2`);
    if (c === "0") {
      // RE2: \0 followed by up to two more octal digits.
      let j = i;
      let v = 0;
      while (j < n && j < i + 2 && pattern[j] >= "0" && pattern[j] <= "7") v = v * 8 + (pattern.charCodeAt(j++) - 48);
      i = j;
      return codeEscape(v);
    }
    if (SIMPLE_ESCAPES.has(c)) return `\\${c}`;
    switch (c) {
      case "a":
        return "\\x07";
      case "b":
      case "B":
        if (inClass) throw new Re2TranslationError(`\\${c} is not allowed inside a character class in RE2`);
        return `\\${c}`;
      case "A":
        if (inClass) throw new Re2TranslationError("\\A is not allowed inside a character class");
        return "^";
      case "z":
        if (inClass) throw new Re2TranslationError("\\z is not allowed inside a character class");
        return "$";
      case "x": {
        if (pattern[i] === "{") {
          const close = pattern.indexOf("}", i);
          const digits = close < 0 ? "" : pattern.slice(i + 1, close);
          if (!/^[0-9A-Fa-f]{1,6}$/.test(digits)) throw new Re2TranslationError("malformed \\x{...} escape");
          i = close + 1;
          return codeEscape(parseInt(digits, 16));
        }
        const two = pattern.slice(i, i + 2);
        if (!/^[0-9A-Fa-f]{2}$/.test(two)) throw new Re2TranslationError("\\x needs two hex digits");
        i += 2;
        return `\\x${two}`;
      }
      case "Q": {
        // \Q...\E quotes literally (to the end of the pattern when there is no \E).
        const end = pattern.indexOf("\\E", i);
        const text = end < 0 ? pattern.slice(i) : pattern.slice(i, end);
        i = end < 0 ? n : end + 2;
        let s = "";
        for (const ch of text) s += literal(ch);
        return s;
      }
      case "p":
      case "P":
        throw new Re2TranslationError(`Unicode class \\${c} is not supported by Tollgate's RE2 translation`);
      case "C":
        throw new Re2TranslationError("\\C (any byte) is not supported");
      case "k":
        throw new Re2TranslationError("named backreference \\k is not supported by RE2");
      default:
        // RE2 accepts an escaped punctuation character as itself; an escaped letter or digit it does not know is an
        // error there, so it is one here too (JS would silently take `\e` as `e`).
        if (/[A-Za-z0-9]/.test(c) || c.charCodeAt(0) > 0x7e) {
          throw new Re2TranslationError(`invalid escape sequence \\${c}`);
        }
        return `\\${c}`;
    }
  };

  while (i < n) {
    const ch = pattern[i];
    if (ch === "\\") {
      out += escape(false);
      continue;
    }
    if (ch === "[") {
      // Character class. RE2: a `]` right after `[` or `[^` is a literal; JS would read `[]` as an empty class.
      let cls = "[";
      i++;
      if (pattern[i] === "^") {
        cls += "^";
        i++;
      }
      if (pattern[i] === "]") {
        cls += "\\]";
        i++;
      }
      let closed = false;
      while (i < n) {
        const c = pattern[i];
        if (c === "]") {
          closed = true;
          i++;
          break;
        }
        if (c === "\\") {
          cls += escape(true);
          continue;
        }
        if (c === "[" && pattern[i + 1] === ":") {
          const end = pattern.indexOf(":]", i + 2);
          const name = end < 0 ? "" : pattern.slice(i + 2, end);
          if (name.startsWith("^")) throw new Re2TranslationError(`negated POSIX class [:${name}:] is not supported`);
          const expansion = POSIX_CLASSES[name];
          if (expansion === undefined) throw new Re2TranslationError(`unknown POSIX class [:${name}:]`);
          cls += expansion;
          i = end + 2;
          continue;
        }
        cls += c === "[" ? "\\[" : c;
        i++;
      }
      if (!closed) throw new Re2TranslationError("missing ] in character class");
      out += `${cls}]`;
      continue;
    }
    if (ch === "(" && pattern[i + 1] === "?") {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith(":")) {
        out += "(?:";
        i += 3;
        continue;
      }
      if (rest.startsWith("=") || rest.startsWith("!") || rest === "<=" || rest === "<!") {
        throw new Re2TranslationError("lookaround assertions are not supported by RE2");
      }
      if (pattern.startsWith("P=", i + 2) || pattern.startsWith("P>", i + 2)) {
        throw new Re2TranslationError("named backreferences are not supported by RE2");
      }
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(pattern.slice(i));
      if (named) {
        out += `(?<${named[1]}>`;
        i += named[0].length;
        continue;
      }
      throw new Re2TranslationError(
        "inline flags are supported only as a leading (?i) or (?s) applying to the whole pattern",
      );
    }
    out += ch;
    i++;
  }
  return { source: out, flags };
}

function compile(source: string, flags: string, path: string, pattern: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new ConfigError(path, `invalid regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
}

function translateAt(pattern: string, path: string): Translated {
  try {
    return translateRe2(pattern);
  } catch (e) {
    if (e instanceof Re2TranslationError) throw new ConfigError(path, `regex ${JSON.stringify(pattern)}: ${e.message}`);
    throw e;
  }
}

/** A regex that must match the whole input (RE2::FullMatch, as Envoy's safe_regex matchers do). */
export function compileFullMatch(pattern: string, path: string): RegExp {
  const t = translateAt(pattern, path);
  return compile(`^(?:${t.source})$`, t.flags, path, pattern);
}

/** A regex for RE2::GlobalReplace (regex_rewrite): unanchored, global. */
export function compileGlobal(pattern: string, path: string): RegExp {
  const t = translateAt(pattern, path);
  return compile(t.source, `${t.flags}g`, path, pattern);
}

/** Number of capturing groups of a compiled regex (for validating `\N` in substitutions at config time). */
export function captureGroupCount(re: RegExp): number {
  const m = new RegExp(`${re.source}|`, re.flags.replace("g", "")).exec("");
  return m ? m.length - 1 : 0;
}

/**
 * RE2 rewrite string (`\1`, `\\`) to a JS replacement string (`$1`, `\`), refusing `\N` beyond the group count
 * as RE2::CheckRewriteString does.
 */
export function translateSubstitution(substitution: string, groups: number, path: string): string {
  let out = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    if (c === "\\") {
      const d = substitution[i + 1];
      if (d === "\\") {
        out += "\\";
        i++;
        continue;
      }
      if (d !== undefined && d >= "0" && d <= "9") {
        const g = d.charCodeAt(0) - 48;
        if (g > groups) {
          throw new ConfigError(path, `substitution refers to group \\${g} but the pattern has ${groups} capturing group(s)`);
        }
        // Two-digit `$0N` so that a digit after `\\N` stays literal (RE2 groups are single-digit); group 0 is `$&`.
        out += g === 0 ? "$&" : `$0${g}`;
        i++;
        continue;
      }
      throw new ConfigError(path, "invalid rewrite string: a backslash must be followed by a digit or a backslash");
    }
    out += c === "$" ? "$$" : c;
  }
  return out;
}
