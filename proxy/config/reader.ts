// Strict, path-aware reading of configuration objects.
//
// Every field of an Envoy message that Tollgate understands is read through a ConfigReader; when a message has been
// read, `done()` refuses any field that nobody asked for. That is how "never silently ignore configuration" holds:
// a field we do not support cannot slip through, because no code consumed it. Errors carry the full field path,
// e.g. `static_resources.listeners[0].filter_chains[1].filters[0].typed_config.rules`.
import { ConfigError } from "./errors.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Envoy's Duration as written in YAML/JSON: "5s", "0.25s", "1.5s", or {seconds, nanos}. Returns milliseconds. */
export function parseDuration(value: unknown, path: string): number {
  if (typeof value === "string") {
    const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (!m) throw new ConfigError(path, `invalid duration ${JSON.stringify(value)}: expected a number of seconds such as "5s" or "0.25s"`);
    if (m[1] === "-") throw new ConfigError(path, `duration must not be negative: ${JSON.stringify(value)}`);
    const seconds = Number(m[2]);
    const frac = m[3] ? Number(`0.${m[3]}`) : 0;
    return seconds * 1000 + frac * 1000;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const r = new ConfigReader(value as { [k: string]: Json }, path);
    const seconds = r.int("seconds", { default: 0, min: 0 });
    const nanos = r.int("nanos", { default: 0, min: 0, max: 999_999_999 });
    r.done();
    return seconds * 1000 + nanos / 1e6;
  }
  throw new ConfigError(path, `invalid duration: expected a string such as "5s"`);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

interface Opt<T> { default?: T; required?: boolean }

/**
 * Reads one configuration object. Each accessor marks its key as consumed; `done()` throws for the rest.
 * Absent and null are treated alike (as in proto3 JSON).
 */
export class ConfigReader {
  readonly path: string;
  private readonly fields: { [key: string]: Json };
  private readonly seen = new Set<string>();

  constructor(value: unknown, path: string) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(path, `expected an object, got ${describe(value)}`);
    }
    this.fields = value as { [key: string]: Json };
    this.path = path;
  }

  /** The path of a child field, for error messages and nested readers. */
  at(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    const v = this.fields[key];
    return v !== undefined && v !== null;
  }

  keys(): string[] {
    return Object.keys(this.fields);
  }

  /** The raw value, marked consumed. Use only when a field's shape is checked by the caller. */
  raw(key: string): Json | undefined {
    this.seen.add(key);
    const v = this.fields[key];
    return v === null ? undefined : v;
  }

  private take<T>(key: string, opt: Opt<T> | undefined): Json | undefined {
    const v = this.raw(key);
    if (v === undefined && opt?.required) throw new ConfigError(this.at(key), "is required");
    return v;
  }

  str(key: string, opt: Opt<string> & { required: true }): string;
  str(key: string, opt?: Opt<string>): string | undefined;
  str(key: string, opt?: Opt<string>): string | undefined {
    const v = this.take(key, opt);
    if (v === undefined) return opt?.default;
    if (typeof v !== "string") throw new ConfigError(this.at(key), `expected a string, got ${describe(v)}`);
    if (opt?.required && v === "") throw new ConfigError(this.at(key), "must not be empty");
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (typeof v !== "boolean") throw new ConfigError(this.at(key), `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** An integer; proto3 JSON also allows 64-bit integers as strings. Also accepts wrapper form {value: n}. */
  int(key: string, opt: Opt<number> & { min?: number; max?: number } & { required: true }): number;
  int(key: string, opt: Opt<number> & { min?: number; max?: number } & { default: number }): number;
  int(key: string, opt?: Opt<number> & { min?: number; max?: number }): number | undefined;
  int(key: string, opt?: Opt<number> & { min?: number; max?: number }): number | undefined {
    let v = this.take(key, opt);
    if (v === undefined) return opt?.default;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      // google.protobuf.UInt32Value and friends: {value: n}
      const w = new ConfigReader(v, this.at(key));
      v = w.raw("value") ?? 0;
      w.done();
    }
    if (typeof v === "string" && /^-?\d+$/.test(v)) v = Number(v);
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw new ConfigError(this.at(key), `expected an integer, got ${describe(v)}`);
    }
    if (opt?.min !== undefined && v < opt.min) throw new ConfigError(this.at(key), `must be at least ${opt.min}, got ${v}`);
    if (opt?.max !== undefined && v > opt.max) throw new ConfigError(this.at(key), `must be at most ${opt.max}, got ${v}`);
    return v;
  }

  num(key: string, opt?: Opt<number> & { min?: number; max?: number }): number | undefined {
    let v = this.take(key, opt);
    if (v === undefined) return opt?.default;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const w = new ConfigReader(v, this.at(key));
      v = w.raw("value") ?? 0;
      w.done();
    }
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(this.at(key), `expected a number, got ${describe(v)}`);
    if (opt?.min !== undefined && v < opt.min) throw new ConfigError(this.at(key), `must be at least ${opt.min}, got ${v}`);
    if (opt?.max !== undefined && v > opt.max) throw new ConfigError(this.at(key), `must be at most ${opt.max}, got ${v}`);
    return v;
  }

  /** A Duration field, in milliseconds. */
  duration(key: string, opt: Opt<number> & { required: true }): number;
  duration(key: string, opt: Opt<number> & { default: number }): number;
  duration(key: string, opt?: Opt<number>): number | undefined;
  duration(key: string, opt?: Opt<number>): number | undefined {
    const v = this.take(key, opt);
    if (v === undefined) return opt?.default;
    return parseDuration(v, this.at(key));
  }

  /** A proto enum, by name (numbers are accepted as in proto3 JSON and mapped to names by index). */
  enum<T extends string>(key: string, values: readonly T[], def: T): T;
  enum<T extends string>(key: string, values: readonly T[]): T | undefined;
  enum<T extends string>(key: string, values: readonly T[], def?: T): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < values.length) return values[v];
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return v as T;
    throw new ConfigError(this.at(key), `expected one of ${values.join(", ")}, got ${describe(v)}`);
  }

  /** A nested message. */
  obj(key: string, opt: { required: true }): ConfigReader;
  obj(key: string, opt?: { required?: boolean }): ConfigReader | undefined;
  obj(key: string, opt?: { required?: boolean }): ConfigReader | undefined {
    const v = this.take(key, opt);
    if (v === undefined) return undefined;
    return new ConfigReader(v, this.at(key));
  }

  /** A repeated field; absent means empty. */
  list(key: string, opt?: { required?: boolean; minItems?: number }): Json[] {
    const v = this.take(key, opt);
    if (v === undefined) {
      if (opt?.minItems) throw new ConfigError(this.at(key), `must have at least ${opt.minItems} item(s)`);
      return [];
    }
    if (!Array.isArray(v)) throw new ConfigError(this.at(key), `expected a list, got ${describe(v)}`);
    if (opt?.minItems !== undefined && v.length < opt.minItems) {
      throw new ConfigError(this.at(key), `must have at least ${opt.minItems} item(s)`);
    }
    return v;
  }

  /** A repeated message field: one reader per item, with `[i]` in its path. */
  objList(key: string, opt?: { required?: boolean; minItems?: number }): ConfigReader[] {
    return this.list(key, opt).map((item, i) => new ConfigReader(item, `${this.at(key)}[${i}]`));
  }

  /** A repeated string field. */
  strList(key: string, opt?: { required?: boolean; minItems?: number }): string[] {
    return this.list(key, opt).map((item, i) => {
      if (typeof item !== "string") throw new ConfigError(`${this.at(key)}[${i}]`, `expected a string, got ${describe(item)}`);
      return item;
    });
  }

  /** A map<string, message> field (e.g. RBAC policies). */
  objMap(key: string): Map<string, ConfigReader> {
    const v = this.raw(key);
    const out = new Map<string, ConfigReader>();
    if (v === undefined) return out;
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(this.at(key), `expected a map, got ${describe(v)}`);
    for (const [k, item] of Object.entries(v)) out.set(k, new ConfigReader(item, `${this.at(key)}.${k}`));
    return out;
  }

  /** Exactly one of the given keys (a proto oneof); returns the key present, or undefined when none is and none is required. */
  oneof<K extends string>(keys: readonly K[], opt?: { required?: boolean; name?: string }): K | undefined {
    const present = keys.filter((k) => this.has(k));
    if (present.length > 1) {
      throw new ConfigError(this.path, `only one of ${present.join(", ")} may be set`);
    }
    if (present.length === 0 && opt?.required) {
      throw new ConfigError(this.path, `one of ${keys.join(", ")} is required${opt.name ? ` (${opt.name})` : ""}`);
    }
    return present[0];
  }

  /** Mark keys as deliberately accepted without effect (e.g. pure labels). Use sparingly and document why. */
  accept(...keys: string[]): void {
    for (const k of keys) this.seen.add(k);
  }

  /** Refuse every field that was not read: an unknown or unsupported field must never be silently ignored. */
  done(): void {
    for (const k of Object.keys(this.fields)) {
      if (!this.seen.has(k)) {
        throw new ConfigError(this.at(k), "unknown or unsupported field (Tollgate refuses configuration it would not honour)");
      }
    }
  }
}
