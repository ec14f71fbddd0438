// The filter's two header lists, both repeated config.core.v3.HeaderValueOption (at most 10 each):
//   response_headers_to_add                     added to the local reply of a limited request (enforced);
//   request_headers_to_add_when_not_enforced    added to a limited request forwarded upstream (not enforced).
// They are read with the route table's own HeaderValueOption reader (header-mutations.ts), so values, append
// actions and their validation are exactly those of route-level header mutations (static values for now).
import { ConfigError } from "../../../config/errors.js";
import { ConfigReader } from "../../../config/reader.js";
import { readHeaderMutation, type HeaderMutation } from "../../network/http-connection-manager/header-mutations.js";

const MAX_ITEMS = 10;

/**
 * readHeaderMutation reads `<prefix>_headers_to_add`; this reader presents the filter's field under that name
 * while every error path keeps the field's real name.
 */
class RenamedFieldReader extends ConfigReader {
  constructor(
    value: unknown,
    path: string,
    private readonly shownAs: string,
    private readonly realName: string,
  ) {
    super(value, path);
  }

  override at(key: string): string {
    return super.at(key === this.shownAs ? this.realName : key);
  }
}

export function readHeaderOptions(r: ConfigReader, field: "response_headers_to_add" | "request_headers_to_add_when_not_enforced"): HeaderMutation | null {
  const raw = r.raw(field);
  if (raw === undefined) return null;
  if (Array.isArray(raw) && raw.length > MAX_ITEMS) throw new ConfigError(r.at(field), `must have at most ${MAX_ITEMS} items`);
  const prefix = field.startsWith("response") ? "response" : "request";
  const shownAs = `${prefix}_headers_to_add`;
  return readHeaderMutation(new RenamedFieldReader({ [shownAs]: raw }, r.path, shownAs, field), prefix);
}
