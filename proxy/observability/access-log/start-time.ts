// %START_TIME% and %START_TIME(format)%, always in UTC as Envoy prints them.
//
// The format is compiled once (config time) into segments. Segments that depend only on the whole second are
// rendered once per second and cached, so a busy logger formats the date once a second, not once a line; only the
// fractional-second segments are computed per line.
//
// Specifiers: strftime's %Y %C %y %G %g %m %d %e %j %H %k %I %l %M %S %p %a %A %b %B %h %u %w %U %W %V %z %Z %T %D
// %F %R %r %c %x %X %n %t %%; Envoy's additions %s (epoch seconds), %f and %1f..%9f (fraction of the second, %f = 9
// digits), and absl's %E<n>S / %E*S (seconds with n fractional digits). Anything else is refused at config time.
import { ConfigError } from "../../config/errors.js";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];

/** Whole-second fields of a UTC time. */
interface Parts {
  epochSeconds: number;
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number; // 0 = Sunday
  yearDay: number; // 1..366
}

function partsOf(epochSeconds: number): Parts {
  const d = new Date(epochSeconds * 1000);
  const year = d.getUTCFullYear();
  const yearDay = Math.floor((Date.UTC(year, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
  return {
    epochSeconds,
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
    yearDay,
  };
}

const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const s2 = (n: number): string => (n < 10 ? ` ${n}` : String(n));
const p3 = (n: number): string => String(n).padStart(3, "0");

/** ISO-8601 week-numbering year and week (for %G %g %V). */
function isoWeek(p: Parts): { year: number; week: number } {
  const dayOfWeek = (p.weekday + 6) % 7; // Monday = 0
  const thursday = Date.UTC(p.year, p.month - 1, p.day) + (3 - dayOfWeek) * 86_400_000;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return { year, week };
}

type SecondField = (p: Parts) => string;

const hour12 = (p: Parts): number => (p.hour % 12 === 0 ? 12 : p.hour % 12);

const FIELDS: Readonly<Record<string, SecondField>> = {
  Y: (p) => String(p.year),
  C: (p) => p2(Math.floor(p.year / 100)),
  y: (p) => p2(p.year % 100),
  G: (p) => String(isoWeek(p).year),
  g: (p) => p2(isoWeek(p).year % 100),
  m: (p) => p2(p.month),
  d: (p) => p2(p.day),
  e: (p) => s2(p.day),
  j: (p) => p3(p.yearDay),
  H: (p) => p2(p.hour),
  k: (p) => s2(p.hour),
  I: (p) => p2(hour12(p)),
  l: (p) => s2(hour12(p)),
  M: (p) => p2(p.minute),
  S: (p) => p2(p.second),
  p: (p) => (p.hour < 12 ? "AM" : "PM"),
  a: (p) => DAYS[p.weekday].slice(0, 3),
  A: (p) => DAYS[p.weekday],
  b: (p) => MONTHS[p.month - 1].slice(0, 3),
  h: (p) => MONTHS[p.month - 1].slice(0, 3),
  B: (p) => MONTHS[p.month - 1],
  u: (p) => String(p.weekday === 0 ? 7 : p.weekday),
  w: (p) => String(p.weekday),
  U: (p) => p2(Math.floor((p.yearDay - 1 + 7 - p.weekday) / 7)),
  W: (p) => p2(Math.floor((p.yearDay - 1 + 7 - ((p.weekday + 6) % 7)) / 7)),
  V: (p) => p2(isoWeek(p).week),
  z: () => "+0000",
  Z: () => "UTC",
  s: (p) => String(p.epochSeconds),
  T: (p) => `${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}`,
  D: (p) => `${p2(p.month)}/${p2(p.day)}/${p2(p.year % 100)}`,
  F: (p) => `${p.year}-${p2(p.month)}-${p2(p.day)}`,
  R: (p) => `${p2(p.hour)}:${p2(p.minute)}`,
  r: (p) => `${p2(hour12(p))}:${p2(p.minute)}:${p2(p.second)} ${p.hour < 12 ? "AM" : "PM"}`,
  c: (p) => `${DAYS[p.weekday].slice(0, 3)} ${MONTHS[p.month - 1].slice(0, 3)} ${s2(p.day)} ${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)} ${p.year}`,
  x: (p) => `${p2(p.month)}/${p2(p.day)}/${p2(p.year % 100)}`,
  X: (p) => `${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}`,
  n: () => "\n",
  t: () => "\t",
};

type Segment = { kind: "second"; field: SecondField } | { kind: "fraction"; digits: number; dot: boolean } | { kind: "text"; text: string };

/** Nanoseconds within the second for an epoch-ms time (fractional ms give sub-ms digits). */
function nanosOf(ms: number): number {
  const within = ms - Math.floor(ms / 1000) * 1000;
  return Math.min(999_999_999, Math.round(within * 1e6));
}

function fraction(nanos: number, digits: number): string {
  return String(Math.floor(nanos / 10 ** (9 - digits))).padStart(digits, "0");
}

function parse(format: string, path: string): Segment[] {
  const segs: Segment[] = [];
  let text = "";
  const flush = (): void => {
    if (text !== "") segs.push({ kind: "text", text });
    text = "";
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== "%") {
      text += c;
      continue;
    }
    const next = format[i + 1];
    if (next === undefined) throw new ConfigError(path, `START_TIME format ${JSON.stringify(format)} ends with a lone %`);
    if (next === "%") {
      text += "%";
      i++;
      continue;
    }
    // %f, %1f..%9f
    if (next === "f") {
      flush();
      segs.push({ kind: "fraction", digits: 9, dot: false });
      i++;
      continue;
    }
    if (next >= "1" && next <= "9" && format[i + 2] === "f") {
      flush();
      segs.push({ kind: "fraction", digits: Number(next), dot: false });
      i += 2;
      continue;
    }
    // %E<n>S and %E*S: seconds with n (or all 9) fractional digits.
    if (next === "E") {
      const m = /^E(\d|\*)S/.exec(format.slice(i + 1));
      if (m === null) throw new ConfigError(path, `unsupported specifier in START_TIME format ${JSON.stringify(format)} at position ${i}`);
      flush();
      segs.push({ kind: "second", field: FIELDS.S });
      const digits = m[1] === "*" ? 9 : Number(m[1]);
      if (digits > 0) segs.push({ kind: "fraction", digits, dot: true });
      i += m[0].length;
      continue;
    }
    const field = FIELDS[next];
    if (field === undefined) {
      throw new ConfigError(path, `unsupported specifier %${next} in START_TIME format ${JSON.stringify(format)}`);
    }
    flush();
    segs.push({ kind: "second", field });
    i++;
  }
  flush();
  return segs;
}

export type TimeFormatter = (epochMs: number) => string;

/** Compile a START_TIME format. Throws ConfigError (with `path`) for an unsupported specifier. */
export function compileTimeFormat(format: string, path: string): TimeFormatter {
  const segs = parse(format, path);
  const hasFraction = segs.some((s) => s.kind === "fraction");
  let cachedSecond = NaN;
  let cachedParts: string[] = [];
  let cachedText = "";
  return (epochMs: number): string => {
    const second = Math.floor(epochMs / 1000);
    if (second !== cachedSecond) {
      const parts = partsOf(second);
      cachedParts = segs.map((s) => (s.kind === "second" ? s.field(parts) : s.kind === "text" ? s.text : ""));
      cachedText = cachedParts.join("");
      cachedSecond = second;
    }
    if (!hasFraction) return cachedText;
    const nanos = nanosOf(epochMs);
    let out = "";
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (s.kind === "fraction") out += (s.dot ? "." : "") + fraction(nanos, s.digits);
      else out += cachedParts[i];
    }
    return out;
  };
}

/** Envoy's default %START_TIME%: `2021-02-24T06:30:40.015Z` (absl `%Y-%m-%dT%H:%M:%E3SZ`, UTC). */
export function compileDefaultStartTime(): TimeFormatter {
  let cachedSecond = NaN;
  let prefix = "";
  return (epochMs: number): string => {
    const second = Math.floor(epochMs / 1000);
    if (second !== cachedSecond) {
      const p = partsOf(second);
      prefix = `${p.year}-${p2(p.month)}-${p2(p.day)}T${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}.`;
      cachedSecond = second;
    }
    return `${prefix}${p3(Math.floor(nanosOf(epochMs) / 1e6))}Z`;
  };
}
