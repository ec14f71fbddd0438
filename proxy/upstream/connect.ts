// One TCP connection attempt with Envoy's connect_timeout, failing with Envoy's reasons. Shared by the HTTP pool,
// tcp_proxy (`Host.connect`) and the health checkers.
import { connect as netConnect, type Socket } from "node:net";
import { connectFailure, connectTimeout, UpstreamError } from "./errors.js";

/** Opens a connected socket or fails with an UpstreamError (CONNECT_FAILURE / CONNECT_TIMEOUT / LOCAL_RESET). */
export type Connector = (address: string, port: number, timeoutMs: number, signal?: AbortSignal) => Promise<Socket>;

export const tcpConnect: Connector = (address, port, timeoutMs, signal) =>
  new Promise<Socket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new UpstreamError("LOCAL_RESET"));
      return;
    }
    // Envoy sets TCP_NODELAY on upstream connections; the address is an IP literal, so no lookup happens here.
    const socket = netConnect({ host: address, port, noDelay: true });
    let settled = false;
    const finish = (err: UpstreamError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = (): void => finish(null);
    const onError = (e: NodeJS.ErrnoException): void => finish(connectFailure(e));
    const onAbort = (): void => finish(new UpstreamError("LOCAL_RESET"));
    // A connect attempt holds the event loop open on purpose (the caller is waiting), so the timer is not unref'd.
    const timer = setTimeout(() => finish(connectTimeout()), timeoutMs);
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
