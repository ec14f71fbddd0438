// Watching a configuration file for changes, the way Kubernetes changes a mounted ConfigMap.
//
// kubelet never edits a mounted ConfigMap file in place: the directory holds `..data -> ..2026_11_26_20_00_00.123`
// and `tollgate.yaml -> ..data/tollgate.yaml`; an update writes a new timestamped directory and renames a new
// `..data` symlink over the old one. A watch on the file itself would keep watching the old inode, so we watch the
// DIRECTORY, debounce the burst of events, read the file again through its path (following the symlinks) and compare
// a hash of its content: only a real change triggers `onChange`. Editors that write a temp file and rename it, and
// plain in-place writes, are caught the same way.
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { basename, dirname, resolve } from "node:path";

export interface FileWatcher {
  close(): void;
}

function hash(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}

async function readHash(path: string): Promise<string | null> {
  try {
    return hash(await readFile(path));
  } catch {
    return null; // mid-swap or removed: wait for the next event
  }
}

/** Call `onChange` (at most once per `debounceMs` burst) when the content of `path` changes from what it is now. */
export async function watchFile(path: string, onChange: () => void, debounceMs = 250): Promise<FileWatcher> {
  const file = resolve(path);
  const dir = dirname(file);
  const name = basename(file);
  let last = await readHash(file);
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const check = async (): Promise<void> => {
    timer = null;
    const h = await readHash(file);
    if (closed || h === null || h === last) return;
    last = h;
    onChange();
  };
  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, changed) => {
    // Only events that can change what `path` resolves to: the file itself, or ConfigMap's `..data` swap.
    if (changed !== null && changed !== name && !String(changed).startsWith("..")) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void check(), debounceMs);
  });
  watcher.on("error", () => {
    // The directory went away (a volume remount): keep running on the configuration we have.
  });
  return {
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}

export { hash as contentHash };
