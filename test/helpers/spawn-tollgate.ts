// Run the real `tollgate` binary (dist/proxy/cli.js) as a child process, as an operator would, and find the ports it
// bound from its "tollgate is live" log line. Every process is killed by PID in the test's teardown.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExecutionContext } from "ava";

export const CLI = fileURLToPath(new URL("../../dist/proxy/cli.js", import.meta.url));

export interface RunningTollgate {
  proc: ChildProcess;
  listeners: Record<string, { address: string; port: number }>;
  admin: { address: string; port: number } | null;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stdout line matching `re` (bounded by timeoutMs). */
  waitForStdout(re: RegExp, timeoutMs?: number): Promise<string>;
  /** The same for stderr, where the application log (pino JSON) goes. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<string>;
}

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-test-"));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export async function spawnTollgate(t: ExecutionContext, args: string[], timeoutMs = 15_000, nodeArgs: string[] = []): Promise<RunningTollgate> {
  const proc = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TOLLGATE_LOG_LEVEL: "info" } });
  t.teardown(() => {
    if (proc.exitCode === null && proc.pid) process.kill(proc.pid, "SIGKILL");
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  type Waiter = { re: RegExp; resolve: (l: string) => void };
  const waiters: Waiter[] = [];
  const stderrWaiters: Waiter[] = [];
  const notify = (list: Waiter[], l: string): void => {
    for (const w of list.splice(0)) {
      if (w.re.test(l)) w.resolve(l);
      else list.push(w);
    }
  };
  const waitFor = (into: string[], list: Waiter[], name: string, re: RegExp, ms: number): Promise<string> => {
    const hit = into.find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} line matched ${re} in ${ms} ms; got:\n${into.join("\n")}`)), ms);
      list.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  };
  const lines = (stream: NodeJS.ReadableStream, into: string[], onLine?: (l: string) => void): void => {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const l of parts) {
        into.push(l);
        onLine?.(l);
      }
    });
  };
  lines(proc.stdout!, stdout, (l) => notify(waiters, l));
  const live = new Promise<{ listeners: RunningTollgate["listeners"]; admin: RunningTollgate["admin"] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tollgate did not become live in ${timeoutMs} ms:\n${stderr.join("\n")}`)), timeoutMs);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tollgate exited with ${code}:\n${stderr.join("\n")}`));
    });
    lines(proc.stderr!, stderr, (l) => {
      notify(stderrWaiters, l);
      if (!l.includes("tollgate is live")) return;
      clearTimeout(timer);
      const rec = JSON.parse(l) as { listeners: RunningTollgate["listeners"]; admin: RunningTollgate["admin"] };
      resolve({ listeners: rec.listeners, admin: rec.admin });
    });
  });
  const { listeners, admin } = await live;
  return {
    proc,
    listeners,
    admin,
    stdout,
    stderr,
    waitForStdout(re: RegExp, ms = 5000): Promise<string> {
      return waitFor(stdout, waiters, "stdout", re, ms);
    },
    waitForStderr(re: RegExp, ms = 5000): Promise<string> {
      return waitFor(stderr, stderrWaiters, "stderr", re, ms);
    },
  };
}

/** Send raw bytes (a PROXY header, then an HTTP request with Connection: close) and collect the whole reply. */
export function rawRequest(port: number, bytes: Uint8Array | string, host = "127.0.0.1"): Promise<string> {
  return import("node:net").then(
    ({ connect }) =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ port, host }, () => s.write(bytes));
        const chunks: Buffer[] = [];
        s.on("data", (c: Buffer) => chunks.push(c));
        s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(Buffer.concat(chunks).toString("latin1")) : reject(e)));
        s.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
        s.setTimeout(10_000, () => {
          s.destroy();
          reject(new Error("raw request timed out"));
        });
      }),
  );
}
