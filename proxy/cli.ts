#!/usr/bin/env node
// tollgate -c FILE [--config-yaml S] [--mode serve|validate] [-l LEVEL] [--drain-time-s N]
// tollgate decode [HEX]       decode a captured PROXY header (docs/decode.md)
// tollgate explain -c FILE --peer ADDR ...   explain a decision (docs/explain.md)
import { parseArgs } from "node:util";

const USAGE = `Usage:
  tollgate -c FILE [--config-yaml YAML] [--mode serve|validate] [-l LEVEL] [--drain-time-s N]
  tollgate decode [HEX]                 decode a PROXY protocol header given as hex (or one per line on stdin)
  tollgate explain -c FILE --peer ADDR  explain what the proxy would do with one request (tollgate explain -h)

Options:
  -c, --config-path FILE   Envoy v3 bootstrap (YAML or JSON)
      --config-yaml YAML   bootstrap fragment merged over the file, as Envoy does
      --mode MODE          serve (default) or validate: check the configuration and exit
  -l, --log-level LEVEL    trace|debug|info|warning|warn|error|critical|off (default info)
      --drain-time-s N     seconds to drain connections on SIGTERM/SIGINT (default 600, as Envoy)
      --version            print the version
  -h, --help               this text
`;


async function main(argv: string[]): Promise<number> {
  if (argv[0] === "decode") {
    const { runDecode } = await import("./tools/decode.js");
    return runDecode(argv.slice(1), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  }
  if (argv[0] === "explain") {
    const { runExplain } = await import("./tools/explain.js");
    return runExplain(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "config-path": { type: "string", short: "c" },
        "config-yaml": { type: "string" },
        mode: { type: "string", default: "serve" },
        "log-level": { type: "string", short: "l" },
        "drain-time-s": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`tollgate: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    const { VERSION } = await import("./version.js");
    process.stdout.write(`tollgate ${VERSION}\n`);
    return 0;
  }
  const mode = values.mode;
  if (mode !== "serve" && mode !== "validate") {
    process.stderr.write(`tollgate: --mode must be serve or validate, got '${mode}'\n\n${USAGE}`);
    return 2;
  }
  let drainTimeS = 600;
  if (values["drain-time-s"] !== undefined) {
    drainTimeS = Number(values["drain-time-s"]);
    if (!Number.isInteger(drainTimeS) || drainTimeS < 0) {
      process.stderr.write(`tollgate: --drain-time-s must be a whole number of seconds, got '${values["drain-time-s"]}'\n`);
      return 2;
    }
  }
  const { setLogLevel } = await import("./observability/logger.js");
  if (values["log-level"]) {
    try {
      setLogLevel(values["log-level"]);
    } catch (err) {
      process.stderr.write(`tollgate: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const source = { path: values["config-path"], yaml: values["config-yaml"] };
  if (!source.path && !source.yaml) {
    process.stderr.write(`tollgate: a configuration is required (-c FILE or --config-yaml)\n\n${USAGE}`);
    return 2;
  }
  const { validateConfig, TollgateServer } = await import("./server.js");
  if (mode === "validate") {
    const err = await validateConfig(source);
    if (err) {
      process.stderr.write(`error initializing configuration '${source.path ?? "--config-yaml"}': ${err.message}\n`);
      return 1;
    }
    process.stdout.write(`configuration '${source.path ?? "--config-yaml"}' OK\n`);
    return 0;
  }
  const server = new TollgateServer({ source, drainTimeS, argv });
  try {
    await server.start();
  } catch (err) {
    process.stderr.write(`error initializing configuration '${source.path ?? "--config-yaml"}': ${(err as Error).message}\n`);
    return 1;
  }
  server.installSignalHandlers();
  return await server.closed;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tollgate: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
