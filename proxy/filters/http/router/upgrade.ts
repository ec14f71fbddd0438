// Upgrade requests (WebSocket): once the HTTP filters have allowed the request, the router opens a TCP connection to
// the chosen host, replays the (mutated) request head, and then splices bytes both ways. Both directions are piped
// with backpressure; either side closing ends the tunnel.
import type { Socket } from "node:net";
import type { Host } from "../../../upstream/host.js";
import type { HttpStream } from "../../network/http-connection-manager/stream.js";

function requestHead(stream: HttpStream, path: string): string {
  let head = `${stream.method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of stream.headers.entries) head += `${name}: ${value}\r\n`;
  if (!stream.headers.has("connection")) head += "connection: upgrade\r\n";
  if (!stream.headers.has("upgrade")) head += `upgrade: ${stream.req.headers.upgrade ?? "websocket"}\r\n`;
  return `${head}\r\n`;
}

/** Resolves when the upstream connection is made and the head written; rejects with an UpstreamError otherwise. */
export async function tunnelUpgrade(stream: HttpStream, host: Host, path: string): Promise<void> {
  const upstream: Socket = await host.connect();
  const downstream = stream.req.socket;
  stream.res.detachSocket(downstream);
  const tunnel = { status: 0, bytesReceived: 0, bytesSent: 0 };
  stream.tunnel = tunnel;
  upstream.setNoDelay(true);
  upstream.write(requestHead(stream, path));
  if (stream.upgradeHead && stream.upgradeHead.length > 0) upstream.write(stream.upgradeHead);
  let sawStatus = false;
  upstream.on("data", (chunk: Buffer) => {
    if (!sawStatus) {
      sawStatus = true;
      // "HTTP/1.1 101 Switching Protocols": the access log reports the upstream's status.
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.subarray(0, 16).toString("latin1"));
      tunnel.status = m ? Number(m[1]) : 0;
    }
    tunnel.bytesSent += chunk.length;
  });
  downstream.on("data", (chunk: Buffer) => {
    tunnel.bytesReceived += chunk.length;
  });
  upstream.pipe(downstream);
  downstream.pipe(upstream);
  const end = (): void => {
    upstream.destroy();
    downstream.destroy();
    stream.finish();
  };
  upstream.once("close", end);
  downstream.once("close", end);
  upstream.on("error", () => {});
  downstream.resume();
}
