// Child processes for bench/e2e.mjs: start them tracked, wait for their ports, read their CPU time from /proc,
// and kill every one of them by PID at the end, on an error, on SIGINT/SIGTERM, or when the benchmark exits.
import { execFileSync, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";

const children = new Set();

function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
}

let installed = false;
/** Kill every tracked child when this process exits or is interrupted; `cleanup` runs first (e.g. rm the temp dir). */
export function installCleanup(cleanup) {
  if (installed) return;
  installed = true;
  const onExit = () => {
    killAll();
    cleanup();
  };
  process.on("exit", onExit);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      process.stderr.write(`\ne2e: ${sig}, stopping the processes it started\n`);
      process.exit(130);
    });
  }
}

export function stopAll() {
  killAll();
}

/** A tracked child whose stderr (and stdout) tail is kept for error messages. */
export function spawnTracked(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.add(child);
  let tail = "";
  const keep = (c) => {
    tail = (tail + c.toString()).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("error", (e) => keep(`spawn error: ${e.message}\n`));
  return { child, pid: child.pid, output: () => tail };
}

/** bench/lib/fixed-upstream.mjs in its own process; resolves with its port. */
export async function startUpstream() {
  const child = fork(new URL("./fixed-upstream.mjs", import.meta.url), [], { execArgv: [], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  children.add(child);
  const [{ port }] = await once(child, "message");
  return { child, pid: child.pid, port };
}

/** A port that was free a moment ago (for nginx and HAProxy, which cannot report a port-0 bind). */
export async function freePort() {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address();
  s.close();
  await once(s, "close");
  return port;
}

export async function waitForPort(port, proc, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`process exited (${proc.child.exitCode}) before listening on ${port}:\n${proc.output()}`);
    const ok = await new Promise((resolve) => {
      const s = connect({ port, host: "127.0.0.1" }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function hasBinary(name) {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

let clkTck = 0;
/**
 * User + system CPU seconds of a process, all its threads. From /proc/<pid>/task/<tid>/schedstat (nanoseconds on the
 * CPU, summed over threads) where the kernel has schedstats, else from /proc/<pid>/stat (clock ticks, usually 10 ms:
 * too coarse for a few seconds of a shared core).
 */
export function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "latin1").split(" ", 1)[0]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    // No schedstat: fall back to /proc/<pid>/stat.
  }
  if (clkTck === 0) clkTck = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  const text = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / clkTck; // fields 14 (utime) and 15 (stime), counted from 1
}

/** Machine-wide busy and total jiffies, from the first line of /proc/stat. */
export function machineTicks() {
  const f = readFileSync("/proc/stat", "latin1").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  const idle = f[3] + f[4];
  return { busy: total - idle, total };
}
