// Number printing as Envoy's fmt calls print them, so `/stats` text diffs cleanly against Envoy's.

/** fmt's `{}` for a double: the shortest round-trip form; `nan`, `inf`, `-inf` for the specials. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const s = String(x);
  // JS writes 1e-7 and 1e+21; fmt writes the exponent with at least two digits.
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

/** printf's `%g` (precision 6), e.g. 0.5 -> "0.5", 1800000 -> "1.8e+06". */
export function formatG(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const [mant, expText] = x.toExponential(5).split("e");
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const m = mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant;
    const sign = exp < 0 ? "-" : "+";
    const digits = String(Math.abs(exp)).padStart(2, "0");
    return `${m}e${sign}${digits}`;
  }
  const fixed = x.toFixed(Math.max(0, 5 - exp));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}
