// A small HTTP upstream that answers every request with what it received, as JSON: the demo's and the tests'
// backend. It shows what Tollgate forwarded (X-Forwarded-For, X-Request-Id, the path after rewrites).
import { createServer, type Server } from "node:http";

export interface EchoReply {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
  peer: string;
}

export function startEchoServer(port: number, host = "127.0.0.1"): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const reply: EchoReply = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString("utf8"),
        peer: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      };
      const body = `${JSON.stringify(reply, null, 2)}\n`;
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
