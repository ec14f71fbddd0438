// Loading a bootstrap: read the file (YAML or JSON), merge `--config-yaml` over it as Envoy does, and hand the
// plain object to the bootstrap parser. File I/O here is asynchronous and happens only at start-up and on reload.
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.js";
import type { Json } from "./reader.js";

export class ConfigLoadError extends Error {
  readonly code = "TOLLGATE_CONFIG_LOAD";
  constructor(message: string) {
    super(message);
    this.name = "ConfigLoadError";
  }
}

/** Parse YAML (a superset of JSON). Duplicate keys are refused: a second `rules:` must never silently win. */
export function parseConfigText(text: string, origin: string): Json {
  try {
    return parseYaml(text, { uniqueKeys: true, prettyErrors: true, merge: false, schema: "core" }) as Json;
  } catch (err) {
    throw new ConfigLoadError(`${origin}: not valid YAML/JSON: ${(err as Error).message}`);
  }
}

/**
 * Envoy's --config-yaml semantics (protobuf MergeFrom): nested messages merge field by field, repeated fields are
 * appended, scalars from the overlay win.
 */
export function mergeConfig(base: Json, overlay: Json): Json {
  if (Array.isArray(base) && Array.isArray(overlay)) return [...base, ...overlay];
  if (isObject(base) && isObject(overlay)) {
    const out: { [k: string]: Json } = { ...base };
    for (const [k, v] of Object.entries(overlay)) out[k] = k in out ? mergeConfig(out[k], v) : v;
    return out;
  }
  return overlay;
}

function isObject(v: Json): v is { [k: string]: Json } {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export interface ConfigSource {
  path?: string;
  yaml?: string;
}

export async function loadConfigDocument(src: ConfigSource): Promise<Json> {
  let doc: Json = {};
  if (!src.path && !src.yaml) throw new ConfigLoadError("no configuration: pass -c FILE and/or --config-yaml STRING");
  if (src.path) {
    let text: string;
    try {
      text = await readFile(src.path, "utf8");
    } catch (err) {
      throw new ConfigLoadError(`cannot read configuration file '${src.path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    doc = parseConfigText(text, src.path);
    if (!isObject(doc)) throw new ConfigError("", `'${src.path}' must hold a bootstrap object at its top level`);
  }
  if (src.yaml) {
    const overlay = parseConfigText(src.yaml, "--config-yaml");
    if (!isObject(overlay)) throw new ConfigError("", "--config-yaml must hold a bootstrap object");
    doc = mergeConfig(doc, overlay);
  }
  return doc;
}
