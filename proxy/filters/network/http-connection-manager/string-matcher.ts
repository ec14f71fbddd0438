// Envoy's type.matcher.v3.StringMatcher: exact | prefix | suffix | contains | safe_regex, with ignore_case.
// Compiled once at config time into a closure-free object whose `match` does one comparison per request.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { compileFullMatch } from "./re2.js";

/** ASCII-only lower-casing, as absl::AsciiStrToLower (Envoy never folds non-ASCII letters). */
export function asciiLower(s: string): string {
  // Fast path: most header values and paths are already lower-case; avoid allocating then.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }
  return s;
}

export type StringMatchKind = "exact" | "prefix" | "suffix" | "contains" | "safe_regex";

export interface StringMatcher {
  readonly kind: StringMatchKind;
  /** The configured text (lower-cased when ignoreCase), or the regex source. */
  readonly value: string;
  readonly ignoreCase: boolean;
  readonly regex: RegExp | null;
}

export function matchString(m: StringMatcher, input: string): boolean {
  if (m.regex !== null) return m.regex.test(input);
  const v = m.ignoreCase ? asciiLower(input) : input;
  switch (m.kind) {
    case "exact":
      return v === m.value;
    case "prefix":
      return v.startsWith(m.value);
    case "suffix":
      return v.endsWith(m.value);
    default:
      return v.includes(m.value);
  }
}

/** Envoy's RegexMatcher {regex, google_re2 (deprecated; accepted only empty)}. */
export function readRegexMatcher(r: ConfigReader): RegExp {
  const g = r.obj("google_re2");
  if (g) {
    if (g.has("max_program_size")) {
      throw new ConfigError(g.at("max_program_size"), "is not supported (Tollgate does not measure RE2 program size)");
    }
    g.done();
  }
  const regex = r.str("regex", { required: true });
  r.done();
  return compileFullMatch(regex, r.at("regex"));
}

export function readStringMatcher(r: ConfigReader): StringMatcher {
  const kind = r.oneof(["exact", "prefix", "suffix", "contains", "safe_regex", "custom"] as const, {
    required: true,
    name: "match_pattern",
  }) as "exact" | "prefix" | "suffix" | "contains" | "safe_regex" | "custom";
  const ignoreCase = r.bool("ignore_case", false);
  let out: StringMatcher;
  if (kind === "custom") {
    throw new ConfigError(r.at("custom"), "custom string matcher extensions are not supported");
  } else if (kind === "safe_regex") {
    if (ignoreCase) throw new ConfigError(r.at("ignore_case"), "ignore_case has no effect for safe_regex");
    const regex = readRegexMatcher(r.obj("safe_regex", { required: true }));
    out = { kind, value: regex.source, ignoreCase: false, regex };
  } else {
    // exact may be empty; prefix, suffix and contains have min_len 1 in the proto.
    const text = kind === "exact" ? (r.str(kind) ?? "") : r.str(kind, { required: true });
    out = { kind, value: ignoreCase ? asciiLower(text) : text, ignoreCase, regex: null };
  }
  r.done();
  return Object.freeze(out);
}
