// The upstream of bench/e2e.mjs: a raw TCP responder that answers every HTTP/1.1 request with the same fixed
// 200 response (16-byte body, Content-Length, keep-alive). Run as a child process (`fork`); it sends {port} over IPC
// once it listens on 127.0.0.1, port 0.
//
// It is deliberately not node:http: on a 2-core machine every microsecond the upstream spends is taken from the
// proxy under test, and node:http's parser and response objects cost several times what counting request ends
// does. So a request is recognised by its end of headers ("\r\n\r\n") only, which is exact for what the proxies
// forward here (GETs without a body, never pipelined, on keep-alive connections).
//
// Two extras, both off the hot path:
// - A connection that starts with a PROXY v2 header (the "upstream direct" row of the benchmark, where the load
//   generator talks to this server itself) has the header skipped, so every row carries the same client bytes.
// - A request for /xff (used once per row before timing) is answered with the X-Forwarded-For it carried, so the
//   benchmark can check that each proxy really forwarded the PROXY header's client address.
import { createServer } from "node:net";

const BODY = "0123456789abcdef";
const RESPONSE = Buffer.from(
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${BODY.length}\r\nconnection: keep-alive\r\n\r\n${BODY}`,
  "latin1",
);
const V2_SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const END = Buffer.from("\r\n\r\n", "latin1");

function xffResponse(head) {
  const m = /\r\nx-forwarded-for:[ \t]*([^\r]*)/i.exec(head);
  const body = m ? m[1] : "";
  return Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, "latin1");
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let first = true;
  // Bytes of a request head not yet ended (rare: a head split across reads). Null on the fast path.
  let partial = null;
  socket.on("data", (chunk) => {
    if (first) {
      first = false;
      if (chunk.length >= 16 && chunk.compare(V2_SIGNATURE, 0, 12, 0, 12) === 0) {
        chunk = chunk.subarray(16 + chunk.readUInt16BE(14));
      }
    }
    if (partial !== null) {
      chunk = Buffer.concat([partial, chunk]);
      partial = null;
    }
    // "GET /x..." is the check request: answer with its X-Forwarded-For (one per connection, never timed).
    if (chunk.length > 5 && chunk[5] === 0x78) {
      const end = chunk.indexOf(END);
      if (end < 0) {
        partial = Buffer.from(chunk);
        return;
      }
      socket.write(xffResponse(chunk.toString("latin1", 0, end)));
      chunk = chunk.subarray(end + 4);
      if (chunk.length === 0) return;
    }
    // Count the request heads that end in this read; answer each with the prebuilt response.
    let n = 0;
    let from = 0;
    let at;
    while ((at = chunk.indexOf(END, from)) >= 0) {
      n++;
      from = at + 4;
    }
    if (from < chunk.length) partial = Buffer.from(chunk.subarray(from));
    if (n === 1) socket.write(RESPONSE);
    else if (n > 1) socket.write(Buffer.concat(Array.from({ length: n }, () => RESPONSE)));
  });
  socket.on("error", () => socket.destroy());
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  if (process.send) process.send({ port });
  else process.stdout.write(`${port}\n`);
});
process.on("disconnect", () => process.exit(0));
