// What a parse of one configuration can reach besides the document: the files the loader read for it (files.ts), and
// a list of the live resources its extensions create (a watched allowlist file). Extensions are parsed through the
// registry's `parse(reader)`, which carries no context; since parsing is synchronous from start to end, the context is
// installed for exactly the duration of parseBootstrap (withParseContext) and read by the few extensions that need it.
//
// Resource lifecycle (server.ts): a configuration's resources are started when it is about to go live (watchers,
// stats), and closed when it is retired by a reload, when a reload that built it fails, and at shutdown. `--mode
// validate` never starts them.
import { resolve } from "node:path";
import type { StatsStore } from "../observability/stats.js";
import { logger } from "../observability/logger.js";
import { NO_FILES, type FileSnapshot, type FileSnapshots } from "./files.js";

export interface ConfigResource {
  /** Start what runs while the configuration is live (e.g. a file watcher) and declare its stats. */
  start(stats: StatsStore): Promise<void>;
  /** Stop it. Idempotent; may be called before or during start(). */
  close(): void;
}

/** The live resources of one configuration. */
export class ConfigResources {
  private readonly items: ConfigResource[] = [];
  private closed = false;

  add(resource: ConfigResource): void {
    this.items.push(resource);
  }

  get size(): number {
    return this.items.length;
  }

  /** Start every resource; if one fails, close them all and rethrow (the configuration does not go live). */
  async start(stats: StatsStore): Promise<void> {
    try {
      for (const r of this.items) {
        if (this.closed) return;
        await r.start(stats);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.items) {
      try {
        r.close();
      } catch (err) {
        logger.error({ err }, "closing a configuration resource failed");
      }
    }
  }
}

export class ParseContext {
  readonly resources = new ConfigResources();

  constructor(readonly files: FileSnapshots = NO_FILES) {}

  /** The content the loader read for a path named in the configuration; undefined when it did not read it. */
  file(path: string): FileSnapshot | undefined {
    return this.files.get(resolve(path));
  }
}

let current: ParseContext | null = null;

/** Run a (synchronous) parse with `ctx` as the current context. */
export function withParseContext<T>(ctx: ParseContext, parse: () => T): T {
  const previous = current;
  current = ctx;
  try {
    return parse();
  } finally {
    current = previous;
  }
}

/** The context of the parse in progress; null outside parseBootstrap (e.g. a unit test parsing RBAC rules alone). */
export function currentParseContext(): ParseContext | null {
  return current;
}
