// One allowlist file of a live configuration: the CIDR set in force, the watcher that replaces it when the file
// changes, and its stats. Every principal of the configuration that names the file shares this object.
//
// A reload is a swap (DESIGN.md principle 3): the new file is read asynchronously, parsed and built into a new
// CidrMatcher beside the old one; only if all of that succeeds is `current` replaced. A lookup reads `current` once
// and finishes synchronously, so a request is decided entirely by the set it read, and the old set can be disposed
// (its WebAssembly memory released) right after the swap: no request holds it across an await. A file that does
// not parse changes nothing: the error (with its line number) is logged and `reload_failure` counted.
//
// Stats (`<name>`: the principal's stat_prefix, default the file's base name without extension):
//   tollgate.ip_allowlist.<name>.reload_success   counter  a changed file was put in force
//   tollgate.ip_allowlist.<name>.reload_failure   counter  a changed file was refused (bad line, unreadable, build failed)
//   tollgate.ip_allowlist.<name>.entries          gauge    ranges in the set in force
import { readFile } from "node:fs/promises";
import type { Cidr } from "../../../../net/ip.js";
import { contentHash } from "../../../../config/files.js";
import type { ConfigResource } from "../../../../config/parse-context.js";
import { watchFile, type FileWatcher } from "../../../../config/watch.js";
import { componentLogger } from "../../../../observability/logger.js";
import type { Counter, Gauge, StatsStore } from "../../../../observability/stats.js";
import { buildCidrMatcher, type CidrMatcher } from "../../cidr-matcher.js";
import { AllowlistFileError, parseAllowlist } from "./allowlist-text.js";

const log = componentLogger("rbac");

/** Watchers opened and closed in this process, for tests and diagnostics (a leak shows as open - closed growing). */
const watcherCounts = { opened: 0, closed: 0 };

export function allowlistWatcherCounts(): { opened: number; closed: number; open: number } {
  return { ...watcherCounts, open: watcherCounts.opened - watcherCounts.closed };
}

function disposeMatcher(m: CidrMatcher): void {
  const d = (m as { dispose?: unknown }).dispose;
  if (typeof d === "function") (d as () => void).call(m);
}

interface AllowlistStats {
  readonly reloadSuccess: Counter;
  readonly reloadFailure: Counter;
  readonly entries: Gauge;
}

export class AllowlistFile implements ConfigResource {
  /**
   * The set in force. Replaced by a reload, never mutated: the request path reads it once per lookup
   * (AllowlistFileMatcher.match), which is what makes the swap atomic for every request.
   */
  current: CidrMatcher;
  /** Number of ranges in `current`. */
  entries: number;

  private hash: string;
  private stats: AllowlistStats | null = null;
  private watcher: FileWatcher | null = null;
  private closed = false;
  /** Incremented by each reload; a reload whose read was overtaken by a newer one drops its result. */
  private generation = 0;

  constructor(
    /** As configured (messages, explain). */
    readonly path: string,
    /** Absolute, as read and watched. */
    readonly resolvedPath: string,
    readonly statName: string,
    cidrs: readonly Cidr[],
    /** Content hash of the text `cidrs` came from (the loader's read). */
    hash: string,
    private readonly debounceMs = 250,
  ) {
    this.current = buildCidrMatcher(cidrs);
    this.entries = cidrs.length;
    this.hash = hash;
  }

  async start(stats: StatsStore): Promise<void> {
    if (this.closed || this.watcher !== null) return;
    const prefix = `tollgate.ip_allowlist.${this.statName}.`;
    this.stats = {
      reloadSuccess: stats.counter(`${prefix}reload_success`),
      reloadFailure: stats.counter(`${prefix}reload_failure`),
      entries: stats.gauge(`${prefix}entries`, { importMode: "never" }),
    };
    this.stats.entries.set(this.entries);
    const watcher = await watchFile(this.resolvedPath, () => void this.reload(false), this.debounceMs);
    watcherCounts.opened++;
    if (this.closed) {
      watcher.close();
      watcherCounts.closed++;
      return;
    }
    this.watcher = watcher;
    // The file may have changed between the loader's read and the watcher's first look at it (which the watcher takes
    // as its baseline): compare once more, so such an edit is not missed until the next one.
    void this.reload(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.watcher !== null) {
      this.watcher.close();
      this.watcher = null;
      watcherCounts.closed++;
    }
  }

  /** Read the file again and swap it in if it is valid. `onlyIfChanged`: do nothing when its content is the one in force. */
  private async reload(onlyIfChanged: boolean): Promise<void> {
    const generation = ++this.generation;
    let buf: Buffer;
    try {
      buf = await readFile(this.resolvedPath);
    } catch (err) {
      if (this.isStale(generation) || onlyIfChanged) return;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.refuse(new AllowlistFileError("UNREADABLE", this.path, null, `cannot read: ${code}`));
      return;
    }
    if (this.isStale(generation)) return;
    const hash = contentHash(buf);
    if (onlyIfChanged && hash === this.hash) return;
    let next: CidrMatcher;
    let entries: number;
    try {
      const cidrs = parseAllowlist(buf.toString("utf8"), this.path);
      // Building the set is synchronous: nothing can interleave between here and the swap below.
      next = buildCidrMatcher(cidrs);
      entries = cidrs.length;
    } catch (err) {
      this.refuse(
        err instanceof AllowlistFileError ? err : new AllowlistFileError("BUILD_FAILED", this.path, null, `building the CIDR set failed: ${(err as Error).message}`),
      );
      return;
    }
    const previous = this.current;
    this.current = next;
    this.entries = entries;
    this.hash = hash;
    disposeMatcher(previous);
    this.stats?.reloadSuccess.inc();
    this.stats?.entries.set(entries);
    log.info({ path: this.path, entries }, "ip allowlist file reloaded");
  }

  private isStale(generation: number): boolean {
    return this.closed || generation !== this.generation;
  }

  private refuse(err: AllowlistFileError): void {
    this.stats?.reloadFailure.inc();
    log.error(
      { path: this.path, line: err.line, code: err.code, err: err.message, entries: this.entries },
      "ip allowlist file refused; the entries already in force stay",
    );
  }
}
