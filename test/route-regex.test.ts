// RE2 (Envoy's safe_regex) to JavaScript: full-match semantics, faithful translation, and refusal of what differs.
import test from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import { compileFullMatch, compileGlobal, captureGroupCount, translateSubstitution } from "../proxy/filters/network/http-connection-manager/re2.js";

const full = (re: string) => compileFullMatch(re, "p");

test("safe_regex is a full match, never a search", (t) => {
  const r = full("/api/v[0-9]+");
  t.true(r.test("/api/v12"));
  t.false(r.test("/api/v12/x"));
  t.false(r.test("x/api/v1"));
  t.true(full("a|b").test("b"));
  t.false(full("a|b").test("ab")); // the alternation is grouped before anchoring
  t.false(full("abc").test("abc\n"));
});

test("RE2 syntax that JS reads differently is translated", (t) => {
  t.true(full("[[:digit:]]+").test("123"));
  t.false(full("[[:digit:]]+").test(":"));
  t.true(full("[[:alpha:][:digit:]_]+").test("a1_"));
  t.true(full("\\Qa.b*c\\E").test("a.b*c"));
  t.false(full("\\Qa.b*c\\E").test("axbbc"));
  t.true(full("\\x{41}").test("A"));
  t.true(full("\\x41").test("A"));
  t.true(full("\\a").test("\x07"));
  t.true(full("[]a]+").test("]a]"));
  t.true(full("[^]a]").test("b"));
  t.false(full("[^]a]").test("]"));
  t.true(full("(?P<id>[0-9]+)").test("42"));
  t.true(full("\\Afoo\\z").test("foo"));
  t.true(full("\\010").test("\x08"));
});

test("leading (?i) and (?s) become flags", (t) => {
  t.true(full("(?i)abc").test("AbC"));
  t.false(full("abc").test("AbC"));
  t.true(full("(?s)a.b").test("a\nb"));
  t.false(full("a.b").test("a\nb"));
});

function refuses(t: import("ava").ExecutionContext, re: string, why: RegExp): void {
  const e = t.throws(() => full(re), { instanceOf: ConfigError });
  t.is(e!.path, "p");
  t.regex(e!.detail, why);
}

test("constructs RE2 does not support, or that cannot be translated faithfully, are refused", (t) => {
  refuses(t, "(a)\\1", /backreference/);
  refuses(t, "(?<n>a)\\k<n>", /backreference/);
  refuses(t, "(?P=n)", /backreference/);
  refuses(t, "a(?=b)", /lookaround/);
  refuses(t, "a(?!b)", /lookaround/);
  refuses(t, "(?<=a)b", /lookaround/);
  refuses(t, "(?<!a)b", /lookaround/);
  refuses(t, "\\pL", /Unicode class/);
  refuses(t, "\\p{Greek}", /Unicode class/);
  refuses(t, "a(?i)b", /inline flags/);
  refuses(t, "(?m)^a$", /inline flags/);
  refuses(t, "\\e", /invalid escape/);
  refuses(t, "\\C", /any byte/);
  refuses(t, "[[:^alpha:]]", /negated POSIX/);
  refuses(t, "[[:nope:]]", /unknown POSIX/);
  refuses(t, "[\\b]", /inside a character class/);
  refuses(t, "a(", /invalid regex/);
  refuses(t, "\\x{110000}", /above U\+FFFF/);
});

test("regex_rewrite: global replacement with RE2 \\N groups", (t) => {
  const re = compileGlobal("/(\\w+)", "p");
  t.is(captureGroupCount(re), 1);
  const sub = translateSubstitution("/x\\1", 1, "p");
  t.is("/a/b".replace(re, sub), "/xa/xb");
  t.is("/a".replace(compileGlobal("a", "p"), translateSubstitution("$\\\\", 0, "p")), "/$\\");
  t.is("ab".replace(compileGlobal("(a)", "p"), translateSubstitution("\\15", 1, "p")), "a5b");
  t.is("ab".replace(compileGlobal("a", "p"), translateSubstitution("[\\0]", 0, "p")), "[a]b");
  t.throws(() => translateSubstitution("\\2", 1, "p"), { instanceOf: ConfigError });
  t.throws(() => translateSubstitution("\\x", 1, "p"), { instanceOf: ConfigError });
});
