// A closed-loop HTTP/1.1 load generator for bench/e2e.mjs: N keep-alive connections, each opened with its own
// PROXY v2 header (a distinct client address per connection) and then one GET in flight at a time (pipelining
// depth 1): the next request is written the moment the previous response is complete.
//
// It shares a 2-core machine with the proxy under test, so it is built to be cheap per response:
// - the PROXY header + first request and the request itself are prebuilt Buffers, written as they are;
// - a response is recognised by its end of headers, its status code (three bytes at a fixed offset) and its
//   Content-Length; nothing else is parsed, no objects are allocated per response;
// - latencies go into one preallocated Float64Array.
// Chunked responses are refused (no proxy here produces one: the upstream sends Content-Length).
import { connect } from "node:net";

const END = Buffer.from("\r\n\r\n", "latin1");
const V2_SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const LATENCY_CAPACITY = 1 << 20;

/** PROXY protocol v2, PROXY command, TCP over IPv4, no TLVs (28 bytes). */
export function proxyV2Tcp4(src, dst, srcPort, dstPort) {
  const b = Buffer.alloc(28);
  V2_SIGNATURE.copy(b, 0);
  b[12] = 0x21; // version 2, PROXY
  b[13] = 0x11; // AF_INET, STREAM
  b.writeUInt16BE(12, 14);
  src.split(".").forEach((o, i) => (b[16 + i] = Number(o)));
  dst.split(".").forEach((o, i) => (b[20 + i] = Number(o)));
  b.writeUInt16BE(srcPort, 24);
  b.writeUInt16BE(dstPort, 26);
  return b;
}

export function getRequest(path, host = "bench.example") {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: tollgate-bench\r\nAccept: */*\r\n\r\n`, "latin1");
}

/** Reads the Content-Length in a response head (latin1 text); -1 when absent, -2 when the body is chunked. */
function contentLength(head) {
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (m) return Number(m[1]);
  return /\r\ntransfer-encoding:[^\r]*chunked/i.test(head) ? -2 : -1;
}

/**
 * One request on a fresh connection carrying `proxyHeader`; resolves with {status, head, body} (text).
 * Used before timing to check a row end to end (the upstream echoes X-Forwarded-For on /xff).
 */
export function oneRequest(port, proxyHeader, path, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" }, () => s.write(Buffer.concat([proxyHeader ?? Buffer.alloc(0), getRequest(path)])));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete response from 127.0.0.1:${port}${path} within ${timeoutMs} ms; got ${JSON.stringify(buf.toString("latin1"))}`));
    }, timeoutMs);
    const done = (err, value) => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    s.on("data", (c) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf(END);
      if (end < 0) return;
      const head = buf.toString("latin1", 0, end);
      const len = contentLength(head);
      if (len < 0) return done(new Error(`response without Content-Length: ${head}`));
      if (buf.length < end + 4 + len) return;
      done(null, { status: Number(head.slice(9, 12)), head, body: buf.toString("latin1", end + 4, end + 4 + len) });
    });
    s.on("error", (e) => done(e));
    s.on("close", () => done(new Error(`connection closed before a complete response; got ${JSON.stringify(buf.toString("latin1"))}`)));
  });
}

/**
 * Runs the load for `seconds`. `clients` are IPv4 addresses: connection i speaks for clients[i % clients.length].
 * `proxy: false` sends no PROXY header. Resolves with counts, elapsed seconds and latency percentiles (ms).
 */
export function runLoad({ port, connections, seconds, clients, proxy = true, path = "/" }) {
  const request = getRequest(path);
  const latencies = new Float64Array(LATENCY_CAPACITY);
  let recorded = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let reconnects = 0;
  let running = true;
  let open = 0;
  let fatal = null;
  let t0 = 0;
  let tEnd = 0;

  return new Promise((resolve, reject) => {
    let finishTimer = null;
    const sockets = new Set();
    const finish = () => {
      if (finishTimer) clearTimeout(finishTimer);
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (fatal) return reject(fatal);
      const elapsed = (tEnd - t0) / 1000;
      const lat = latencies.subarray(0, recorded).sort();
      const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
      resolve({ ok, non2xx, errors, reconnects, elapsed, rps: ok / elapsed, p50: pct(0.5), p99: pct(0.99) });
    };

    const abort = (err) => {
      if (fatal === null) fatal = err;
      running = false;
      for (const x of sockets) x.destroy();
    };

    const startConnection = (i, firstRound) => {
      const header = proxy ? proxyV2Tcp4(clients[i % clients.length], "192.0.2.10", 20000 + ((i * 7 + reconnects) % 40000), 443) : null;
      const opening = header ? Buffer.concat([header, request]) : request;
      const s = connect({ port, host: "127.0.0.1" });
      s.setNoDelay(true);
      sockets.add(s);
      open++;
      let sentAt = 0;
      let inFlight = false;
      let bodyLeft = 0; // body bytes of the current response still to come
      let partial = null; // a response head split across reads (rare)
      let status = 0;

      const send = (bytes) => {
        inFlight = true;
        sentAt = performance.now();
        s.write(bytes);
      };
      const complete = (status) => {
        inFlight = false;
        const now = performance.now();
        if (status >= 200 && status < 300) ok++;
        else non2xx++;
        if (recorded < LATENCY_CAPACITY) latencies[recorded++] = now - sentAt;
        if (running) send(request);
        else {
          tEnd = Math.max(tEnd, now);
          s.destroy();
        }
      };
      s.on("connect", () => {
        if (firstRound) s.emit("bench-ready");
        else send(opening);
      });
      s.once("bench-go", () => send(opening));
      s.on("data", (chunk) => {
        let off = 0;
        while (off < chunk.length) {
          if (bodyLeft > 0) {
            const take = Math.min(bodyLeft, chunk.length - off);
            bodyLeft -= take;
            off += take;
            if (bodyLeft === 0) complete(status);
            continue;
          }
          if (partial !== null) {
            chunk = Buffer.concat([partial, chunk.subarray(off)]);
            off = 0;
            partial = null;
          }
          const end = chunk.indexOf(END, off);
          if (end < 0) {
            partial = Buffer.from(chunk.subarray(off));
            return;
          }
          // "HTTP/1.1 200": the status code is at a fixed offset from the start of the head.
          status = (chunk[off + 9] - 48) * 100 + (chunk[off + 10] - 48) * 10 + (chunk[off + 11] - 48);
          const len = contentLength(chunk.toString("latin1", off, end));
          if (len < 0) {
            abort(new Error(`response without Content-Length (${len === -2 ? "chunked" : "none"}): ${chunk.toString("latin1", off, end)}`));
            return;
          }
          off = end + 4;
          bodyLeft = len;
          if (len === 0) complete(status);
        }
      });
      s.on("error", () => {
        // Counted on close.
      });
      s.on("close", () => {
        sockets.delete(s);
        open--;
        if (inFlight) {
          errors++;
          if (!running) tEnd = Math.max(tEnd, performance.now());
        }
        if (t0 === 0) abort(new Error(`could not connect to 127.0.0.1:${port} (or it closed the connection before the run began)`));
        if (running && fatal === null) {
          // The proxy closed a keep-alive connection (or refused it): open another with a fresh PROXY header.
          reconnects++;
          if (reconnects > 10_000) {
            abort(new Error(`more than 10,000 reconnects to port ${port}: the proxy keeps closing connections`));
          } else {
            startConnection(i, false);
            return;
          }
        }
        if (open === 0) finish();
      });
      return s;
    };

    // Connect everything first, then start the clock and send the first requests together.
    let ready = 0;
    const first = [];
    for (let i = 0; i < connections; i++) {
      const s = startConnection(i, true);
      first.push(s);
      s.once("bench-ready", () => {
        if (++ready < connections) return;
        t0 = performance.now();
        for (const f of first) f.emit("bench-go");
        setTimeout(() => {
          running = false;
          tEnd = performance.now();
          // Responses still in flight end the run when they arrive; a proxy that stalls cannot hold it longer than 5 s.
          finishTimer = setTimeout(() => {
            for (const x of sockets) x.destroy();
          }, 5000);
        }, seconds * 1000);
      });
    }
  });
}
