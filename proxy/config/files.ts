// Files that a configuration names (an allowlist of CIDRs, ...), read when the configuration is loaded.
//
// Parsing a bootstrap is synchronous and must never touch the disk (no synchronous I/O after start-up). So the loader
// does the I/O first: after the YAML is loaded it walks the document for the typed configs whose type registered a
// file field here, reads every named file asynchronously, and hands the parser a snapshot (path -> content or error).
// The parser then validates the content and refuses the configuration with the field's path, as for any other value.
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { Json } from "./reader.js";
import { bareTypeName } from "./registry.js";

/** What the loader found at a path: the content (and its hash, for later change detection), or why it could not read it. */
export type FileSnapshot =
  | { readonly ok: true; readonly text: string; readonly hash: string }
  | { readonly ok: false; readonly error: string };

/** Keyed by the absolute path (`path.resolve` of the configured text). */
export type FileSnapshots = ReadonlyMap<string, FileSnapshot>;

export const NO_FILES: FileSnapshots = new Map();

/** Bare type name -> the fields of that message that name a file. */
const fileFields = new Map<string, string[]>();

/**
 * Declare that `field` of the typed config `typeName` (bare, e.g. `tollgate.extensions.rbac.principals.v1.IpAllowlistFile`)
 * names a file the parser will need. Called by the extension's module when it registers itself.
 */
export function registerFileReference(typeName: string, field: string): void {
  const name = bareTypeName(typeName);
  const fields = fileFields.get(name) ?? [];
  if (!fields.includes(field)) fields.push(field);
  fileFields.set(name, fields);
}

export function contentHash(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}

/** Every file path the document names through a registered type, resolved, without duplicates. */
export function referencedFiles(doc: Json): string[] {
  const out = new Set<string>();
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item);
      return;
    }
    if (v === null || typeof v !== "object") return;
    const type = v["@type"];
    if (typeof type === "string") {
      for (const field of fileFields.get(bareTypeName(type)) ?? []) {
        const p = v[field];
        if (typeof p === "string" && p !== "") out.add(resolve(p));
      }
    }
    for (const child of Object.values(v)) walk(child);
  };
  walk(doc);
  return [...out];
}

/** Read one file into a snapshot; a failure is recorded (the parser reports it with the field's path), never thrown. */
export async function readSnapshot(path: string): Promise<FileSnapshot> {
  try {
    const buf = await readFile(path);
    return { ok: true, text: buf.toString("utf8"), hash: contentHash(buf) };
  } catch (err) {
    return { ok: false, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/** Read every file the document names (concurrently). */
export async function readReferencedFiles(doc: Json): Promise<FileSnapshots> {
  const paths = referencedFiles(doc);
  if (paths.length === 0) return NO_FILES;
  const snapshots = await Promise.all(paths.map(readSnapshot));
  return new Map(paths.map((p, i) => [p, snapshots[i]!] as const));
}
