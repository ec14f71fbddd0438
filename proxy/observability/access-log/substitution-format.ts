// config.core.v3.SubstitutionFormatString -> a compiled format.
//   text_format | json_format | text_format_source {inline_string}   (exactly one)
//   omit_empty_values, content_type (no effect on access logs, as in Envoy), json_format_options {sort_properties}
//   (keys are always sorted, as in Envoy). `formatters` extensions and other DataSource kinds are refused.
import { ConfigError } from "../../config/errors.js";
import type { ConfigReader } from "../../config/reader.js";
import { compileJsonFormat, compileTextFormat, type CompiledFormat } from "./formatter.js";

export function parseSubstitutionFormat(r: ConfigReader): CompiledFormat {
  const formatters = r.list("formatters");
  if (formatters.length > 0) {
    throw new ConfigError(r.at("formatters"), "formatter extensions are not supported by Tollgate");
  }
  const omitEmptyValues = r.bool("omit_empty_values", false);
  r.str("content_type");
  const jsonOptions = r.obj("json_format_options");
  if (jsonOptions) {
    jsonOptions.bool("sort_properties", false);
    jsonOptions.done();
  }
  const which = r.oneof(["text_format", "json_format", "text_format_source"] as const, {
    required: true,
    name: "the log format",
  });
  const opts = { omitEmptyValues };
  let format: CompiledFormat;
  switch (which) {
    case "text_format":
      format = compileTextFormat(r.str("text_format", { required: true }), r.at("text_format"), opts);
      break;
    case "json_format":
      format = compileJsonFormat(r.raw("json_format") ?? null, r.at("json_format"), opts);
      break;
    default: {
      const src = r.obj("text_format_source", { required: true });
      const kind = src.oneof(["inline_string", "inline_bytes", "filename", "environment_variable"] as const, { required: true });
      if (kind !== "inline_string") {
        throw new ConfigError(src.at(kind ?? "inline_string"), "only inline_string is supported by Tollgate as a text_format_source");
      }
      format = compileTextFormat(src.str("inline_string", { required: true }), src.at("inline_string"), opts);
      src.done();
    }
  }
  r.done();
  return format;
}
