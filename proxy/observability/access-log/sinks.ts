// Where access log lines go: one shared writer per destination (a file path, or fd 1 / fd 2), on pino's destination
// (sonic-boom) in asynchronous mode, so a log write never blocks the event loop: lines are appended to an in-memory
// buffer and written by libuv in the background, batched while a write is in flight. pino flushes what is left
// synchronously when the process exits.
//
// - Files are opened lazily, on the first line, with an asynchronous open(2) in append mode; the writer is then
//   built on the descriptor. So compiling a configuration (`--mode validate`, a hot reload that is discarded) does
//   no I/O, and a file that cannot be opened never becomes a half-open writer. Lines that arrive while the file is
//   being opened wait in a bounded queue. A file that cannot be opened is reported in the application log, its
//   lines are dropped (counted in `droppedLines`), and opening is tried again after 5 s or on reopen().
// - Buffers are bounded (MAX_BUFFER_BYTES): a destination slower than the traffic loses lines (reported, counted)
//   instead of growing memory without limit.
// - `/dev/stdout` and `/dev/stderr` are fd 1 and fd 2, shared with the stdout/stderr loggers.
// - reopenAccessLogs() (SIGUSR1, admin /reopen_logs) reopens every file by path, for log rotation: lines written
//   before it go to the old file, lines after it to the new one.
import { open } from "node:fs";
import { pino } from "pino";
import { componentLogger } from "../logger.js";

type Boom = ReturnType<typeof pino.destination>;

const MAX_BUFFER_BYTES = 16 * 1024 * 1024;
const RETRY_OPEN_MS = 5000;

const log = componentLogger("access_log");

export class AccessLogSink {
  private boom: Boom | null = null;
  private opening = false;
  /** Lines waiting for the file to be opened. */
  private queue: string[] = [];
  private queueBytes = 0;
  private failedAt = 0;
  private dirty = false;
  private waiters: Array<() => void> = [];
  /** Writers replaced by reopen() that are still writing their last lines to the old file. */
  private closing = new Set<Promise<void>>();
  private lastError: unknown = undefined;
  /** Lines dropped because the destination could not be opened or could not keep up. */
  droppedLines = 0;

  constructor(
    /** A file path, or 1 / 2 for stdout / stderr. */
    readonly target: string | 1 | 2,
  ) {}

  write(line: string): void {
    const boom = this.boom;
    if (boom !== null) {
      this.dirty = true;
      boom.write(line);
      return;
    }
    if (!this.opening) {
      if (this.failedAt !== 0 && Date.now() - this.failedAt < RETRY_OPEN_MS) {
        this.drop(1);
        return;
      }
      this.startOpen();
      if (this.boom !== null) {
        this.write(line); // fd targets attach synchronously
        return;
      }
    }
    if (this.queueBytes + line.length > MAX_BUFFER_BYTES) {
      this.drop(1);
      return;
    }
    this.queue.push(line);
    this.queueBytes += line.length;
    this.dirty = true;
  }

  private drop(n: number): void {
    if (this.droppedLines % 1000 === 0) {
      log.warn({ target: this.target, dropped: this.droppedLines + n }, "access log lines dropped");
    }
    this.droppedLines += n;
  }

  private startOpen(): void {
    if (typeof this.target === "number") {
      this.attach(this.target);
      return;
    }
    this.opening = true;
    const path = this.target;
    open(path, "a", 0o644, (err, fd) => {
      this.opening = false;
      if (err) {
        log.error({ target: path, err }, "access log file cannot be opened; its lines are dropped");
        this.failedAt = Date.now();
        this.drop(this.queue.length);
        this.queue = [];
        this.queueBytes = 0;
        this.settle();
        return;
      }
      this.attach(fd);
    });
  }

  private attach(fd: number): void {
    const boom = pino.destination({ fd, sync: false, maxLength: MAX_BUFFER_BYTES });
    boom.on("drain", () => {
      if (this.boom === boom) this.settle();
    });
    boom.on("drop", () => this.drop(1));
    boom.on("error", (err: unknown) => {
      if (err === this.lastError) return; // pino's EPIPE filter re-emits the first error
      this.lastError = err;
      log.error({ target: this.target, err }, "access log write failed");
      if (this.boom === boom) this.settle();
    });
    this.boom = boom;
    this.failedAt = 0;
    const queued = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    for (const line of queued) boom.write(line);
    if (queued.length === 0) this.settle();
  }

  private settle(): void {
    this.dirty = false;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when everything written so far has been handed to the OS (or has failed). */
  async flush(): Promise<void> {
    await Promise.all(this.closing);
    if (!this.dirty) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Reopen a file by path (log rotation); retry a file that failed to open. fd 1 and 2 are left alone. */
  reopen(): void {
    this.failedAt = 0;
    if (typeof this.target !== "string" || this.boom === null) return;
    const old = this.boom;
    this.boom = null;
    const done = endWriter(old); // writes what it holds to the old file, then closes it
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
    this.startOpen();
  }

  /** Flush, then close a file (fd 1 and 2 stay open). */
  async close(): Promise<void> {
    await this.flush();
    const boom = this.boom;
    this.boom = null;
    if (boom !== null) await endWriter(boom);
  }
}

function endWriter(boom: Boom): Promise<void> {
  return new Promise<void>((resolve) => {
    boom.once("close", () => resolve());
    boom.once("error", () => resolve());
    boom.end();
  });
}

const sinks = new Map<string, AccessLogSink>();

function keyOf(target: string | 1 | 2): string {
  return typeof target === "number" ? `fd:${target}` : `file:${target}`;
}

/** The shared sink for a path (`/dev/stdout` and `/dev/stderr` map to fd 1 and 2). */
export function sinkForPath(path: string): AccessLogSink {
  const target: string | 1 | 2 = path === "/dev/stdout" ? 1 : path === "/dev/stderr" ? 2 : path;
  return sinkFor(target);
}

export function sinkFor(target: string | 1 | 2): AccessLogSink {
  const key = keyOf(target);
  let s = sinks.get(key);
  if (s === undefined) {
    s = new AccessLogSink(target);
    sinks.set(key, s);
  }
  return s;
}

/** SIGUSR1 / admin `/reopen_logs`: reopen every access log file. */
export function reopenAccessLogs(): void {
  for (const s of sinks.values()) s.reopen();
}

/** Resolves when every line written so far has been handed to the OS. */
export async function flushAccessLogs(): Promise<void> {
  await Promise.all([...sinks.values()].map((s) => s.flush()));
}

/** Shutdown (and tests): flush everything and close the files. A later line opens its file again. */
export async function closeAccessLogs(): Promise<void> {
  await Promise.all([...sinks.values()].map((s) => s.close()));
}
