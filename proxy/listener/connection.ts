// One accepted downstream connection and the addresses that describe it (DESIGN.md, "The client address").
//
// `directRemote` is the TCP peer: the cloud LB or the node. The PROXY listener filter replaces `remote` (and `local`)
// with the header's addresses; v2 LOCAL and v1 UNKNOWN keep the socket's. Every later consumer reads these fields;
// nobody re-derives them.
import type { Socket } from "node:net";
import { normaliseSocketAddress } from "../net/ip.js";
import type { ProxyHeader } from "../../wasm/index.js";

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

export function formatEndpoint(e: Endpoint): string {
  return e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

let nextId = 1;

export class DownstreamConnection {
  readonly id = nextId++;
  readonly startTime = Date.now();
  readonly directRemote: Endpoint;
  readonly directLocal: Endpoint;
  remote: Endpoint;
  local: Endpoint;
  proxyHeader: ProxyHeader | null = null;
  /** Dynamic metadata by namespace (e.g. TLV rules of the PROXY filter), read by %DYNAMIC_METADATA(ns:key)%. */
  readonly dynamicMetadata = new Map<string, Record<string, unknown>>();
  /** TLVs the PROXY filter was told to pass through (for an upstream PROXY header). */
  passThroughTlvs: ReadonlyArray<{ type: number; value: Uint8Array }> = [];
  /** Set by the tls_inspector listener filter: "tls" when the client sent a ClientHello, else Envoy's "raw_buffer". */
  transportProtocol: string = "raw_buffer";
  /** The ClientHello's SNI (tls_inspector); "" when none. */
  requestedServerName: string = "";
  /** The ClientHello's ALPN protocols in the client's order (tls_inspector); empty when none. */
  applicationProtocols: readonly string[] = [];
  /** Set when the connection ends for a reason worth logging (%CONNECTION_TERMINATION_DETAILS%). */
  terminationDetails: string | undefined;

  constructor(readonly socket: Socket) {
    this.directRemote = { ip: normaliseSocketAddress(socket.remoteAddress ?? ""), port: socket.remotePort ?? 0 };
    this.directLocal = { ip: normaliseSocketAddress(socket.localAddress ?? ""), port: socket.localPort ?? 0 };
    this.remote = this.directRemote;
    this.local = this.directLocal;
  }

  setMetadata(namespace: string, key: string, value: unknown): void {
    let ns = this.dynamicMetadata.get(namespace);
    if (!ns) {
      ns = {};
      this.dynamicMetadata.set(namespace, ns);
    }
    ns[key] = value;
  }
}
