// `npm start`: the demo. Starts an echo upstream on 127.0.0.1:10080 and Tollgate with examples/quickstart.yaml,
// then prints how to try it. Ctrl-C drains and stops both.
import { fileURLToPath } from "node:url";
import { startEchoServer } from "./tools/echo-server.js";
import { TollgateServer } from "./server.js";

const config = fileURLToPath(new URL("../../examples/quickstart.yaml", import.meta.url));

async function main(): Promise<void> {
  let echo;
  try {
    echo = await startEchoServer(10080);
  } catch (err) {
    process.stderr.write(`demo: cannot start the echo upstream on 127.0.0.1:10080: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const server = new TollgateServer({ source: { path: config }, drainTimeS: 2, argv: ["-c", config] });
  try {
    await server.start();
  } catch (err) {
    process.stderr.write(`demo: Tollgate did not start: ${(err as Error).message}\n`);
    echo.close();
    process.exit(1);
  }
  server.installSignalHandlers();
  process.stdout.write(`
Tollgate is running (config: examples/quickstart.yaml).

  Proxy (PROXY protocol required)  127.0.0.1:10000  ->  echo upstream 127.0.0.1:10080
  Admin                            http://127.0.0.1:9901/

Try it:
  curl --haproxy-protocol http://127.0.0.1:10000/
      # curl's header carries 127.0.0.1; for a loopback peer Envoy (and so Tollgate) appends the host's own address.
  bash -c 'exec 3<>/dev/tcp/127.0.0.1/10000; printf "PROXY TCP4 203.0.113.7 127.0.0.1 5555 10000\\r\\nGET / HTTP/1.1\\r\\nHost: demo\\r\\nConnection: close\\r\\n\\r\\n" >&3; cat <&3'
      # a header as a cloud LB sends it: the upstream sees X-Forwarded-For: 203.0.113.7
  curl http://127.0.0.1:10000/                             # no PROXY header: the connection is closed
  curl http://127.0.0.1:9901/stats/prometheus               # Envoy-named metrics
  node dist/proxy/cli.js decode 50524f58592054435034203230332e302e3131332e372031302e302e302e35203531323334203434330d0a

Access log lines (Envoy's default format) follow below. Ctrl-C to stop.

`);
  const code = await server.closed;
  echo.close();
  process.exit(code);
}

void main();
