// Request headers as an ordered list of [lower-case name, value] pairs: duplicates are kept (Set-Cookie, repeated
// X-Forwarded-For), order is kept, and the list converts to Node's flat raw form for the upstream without copies of
// names. Built once per request from `req.rawHeaders`.
export class HeaderList {
  readonly entries: Array<[string, string]>;

  constructor(entries: Array<[string, string]> = []) {
    this.entries = entries;
  }

  static fromRaw(raw: readonly string[]): HeaderList {
    const entries: Array<[string, string]> = new Array(raw.length >> 1);
    for (let i = 0, j = 0; i < raw.length; i += 2, j++) entries[j] = [raw[i].toLowerCase(), raw[i + 1]];
    return new HeaderList(entries);
  }

  /** First value of a header (names are lower-case). */
  get(name: string): string | undefined {
    for (const e of this.entries) if (e[0] === name) return e[1];
    return undefined;
  }

  /** All values joined as one header would be (", "); undefined when absent. */
  getJoined(name: string): string | undefined {
    let out: string | undefined;
    for (const e of this.entries) if (e[0] === name) out = out === undefined ? e[1] : `${out}, ${e[1]}`;
    return out;
  }

  has(name: string): boolean {
    for (const e of this.entries) if (e[0] === name) return true;
    return false;
  }

  set(name: string, value: string): void {
    this.remove(name);
    this.entries.push([name, value]);
  }

  add(name: string, value: string): void {
    this.entries.push([name, value]);
  }

  remove(name: string): void {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i][0] === name) this.entries.splice(i, 1);
  }

  /** Flat [name, value, name, value, ...] for node:http / undici. */
  toFlat(): string[] {
    const out: string[] = new Array(this.entries.length * 2);
    for (let i = 0; i < this.entries.length; i++) {
      out[2 * i] = this.entries[i][0];
      out[2 * i + 1] = this.entries[i][1];
    }
    return out;
  }
}
