/** A configuration that Tollgate refuses. `path` names the field, e.g. `static_resources.listeners[0].address`. */
export class ConfigError extends Error {
  readonly code = "TOLLGATE_CONFIG_INVALID";
  readonly path: string;
  readonly detail: string;

  constructor(path: string, detail: string) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = "ConfigError";
    this.path = path;
    this.detail = detail;
  }
}
