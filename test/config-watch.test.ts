import test from "ava";
import { mkdtempSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchFile } from "../proxy/config/watch.js";

function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = (): void => {
      if (pred()) resolve();
      else if (Date.now() - start > ms) reject(new Error("condition not met in time"));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

test("a Kubernetes ConfigMap update (the ..data symlink swap) is seen as one change", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-cm-"));
  mkdirSync(join(dir, "..v1"));
  writeFileSync(join(dir, "..v1", "tollgate.yaml"), "version: 1\n");
  symlinkSync("..v1", join(dir, "..data"));
  symlinkSync("..data/tollgate.yaml", join(dir, "tollgate.yaml"));
  let changes = 0;
  const w = await watchFile(join(dir, "tollgate.yaml"), () => changes++, 50);
  t.teardown(() => w.close());
  // kubelet: write the new version in a new directory, then atomically rename a new ..data link over the old one.
  mkdirSync(join(dir, "..v2"));
  writeFileSync(join(dir, "..v2", "tollgate.yaml"), "version: 2\n");
  symlinkSync("..v2", join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  await waitFor(() => changes === 1);
  t.is(changes, 1);
});

test("writing the same content again is not a change; a real edit is", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-watch-"));
  const file = join(dir, "tollgate.yaml");
  writeFileSync(file, "a: 1\n");
  let changes = 0;
  const w = await watchFile(file, () => changes++, 50);
  t.teardown(() => w.close());
  writeFileSync(file, "a: 1\n");
  writeFileSync(join(dir, "unrelated.txt"), "x");
  // Give the watcher a debounce window for the no-op write, then make a real edit and wait for it.
  writeFileSync(file, "a: 2\n");
  await waitFor(() => changes >= 1);
  t.is(changes, 1);
});
