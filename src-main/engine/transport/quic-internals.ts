// Every reach below @matrixai/quic's public API lives here, and only here (FINDINGS.md):
// - DATAGRAM frames: the native `conn.dgramSend/dgramRecvVec` plus the connection's `send()` and
//   `recv()`, none of which the shipped types expose;
// - QUIC statistics from the native connection (`stats`, `pathStats`);
// - the UDP socket under `QUICSocket`, to demultiplex STUN and relay media from QUIC by first
//   byte before the library parses anything, to catch the library's rejected promises (its
//   message handler rethrows unexpected parser errors), and to set the IP TTL of punch packets.
// When the library changes, this is the one file to re-check against its sources.
import type dgram from 'node:dgram';
import { errors as quicErrors } from '@matrixai/quic';
import type { QUICConnection, QUICSocket, QUICStream } from '@matrixai/quic';

/** The slice of quiche's native connection that we use. */
interface NativeConnection {
  dgramSend(data: Uint8Array): void | null;
  dgramRecvVec(): Uint8Array | null;
  stats(): NativeStats;
  pathStats(): NativePathStats[];
  isEstablished(): boolean;
}

export interface NativeStats {
  recv: number;
  sent: number;
  lost: number;
  retrans: number;
  sentBytes: number;
  recvBytes: number;
  lostBytes: number;
}

export interface NativePathStats {
  active: boolean;
  rtt: number;
  cwnd: number;
  pmtu: number;
  deliveryRate: number;
  lost: number;
  sent: number;
}

interface ConnectionInternals {
  conn: NativeConnection;
  send(): Promise<void>;
  recv(data: Uint8Array, remoteInfo: { host: string; port: number }): Promise<void>;
}

interface SocketInternals {
  socket: dgram.Socket;
  handleSocketMessage: (data: Buffer, rinfo: dgram.RemoteInfo) => Promise<void>;
}

function internalsOf(connection: QUICConnection): ConnectionInternals {
  return connection as unknown as ConnectionInternals;
}

/**
 * Queue one DATAGRAM frame and flush. Returns false when quiche refused it (queue full, too big,
 * connection closing): media is loss-tolerant, so the caller counts and moves on.
 */
export async function sendDatagram(
  connection: QUICConnection,
  payload: Uint8Array,
): Promise<boolean> {
  const internals = internalsOf(connection);
  try {
    internals.conn.dgramSend(payload);
  } catch {
    return false;
  }
  try {
    await internals.send();
  } catch {
    return false;
  }
  return true;
}

/**
 * Deliver every DATAGRAM frame that arrives on the connection to `onDatagram`. quiche queues them
 * inside `recv`, so we drain the queue right after each `recv` the library makes.
 */
export function interceptDatagrams(
  connection: QUICConnection,
  onDatagram: (payload: Uint8Array) => void,
): void {
  const internals = internalsOf(connection);
  const originalRecv = internals.recv.bind(connection);
  internals.recv = async (data, remoteInfo) => {
    await originalRecv(data, remoteInfo);
    for (;;) {
      let d: Uint8Array | null;
      try {
        d = internals.conn.dgramRecvVec();
      } catch {
        return;
      }
      if (d === null) return;
      onDatagram(d);
    }
  };
}

export function connectionStats(
  connection: QUICConnection,
): { stats: NativeStats; path: NativePathStats | undefined } | null {
  const native = internalsOf(connection).conn;
  try {
    const stats = native.stats();
    const paths = native.pathStats();
    return { stats, path: paths.find((p) => p.active) ?? paths[0] };
  } catch {
    return null;
  }
}

export interface SocketTap {
  /** Datagrams whose first byte cannot start a QUIC packet (STUN, relay media). */
  onNonQuic: (data: Buffer, rinfo: dgram.RemoteInfo) => void;
  /** The library's handler failed on a datagram (hostile or unexpected input); counted, not fatal. */
  onQuicHandlerError: (error: unknown) => void;
}

/**
 * Take over the socket's 'message' event: QUIC v1 packets always have the fixed bit (0x40) set,
 * so anything without it goes to `onNonQuic` and never reaches the QUIC parser. Must be called
 * after the QUICSocket has started (that is when the library registers its own listener).
 */
export function tapSocket(quicSocket: QUICSocket, tap: SocketTap): void {
  const internals = quicSocket as unknown as SocketInternals;
  const udp = internals.socket;
  const libraryHandler = internals.handleSocketMessage;
  udp.off('message', libraryHandler);
  udp.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => {
    const first = data[0];
    if (first === undefined) return;
    if ((first & 0x40) === 0) {
      tap.onNonQuic(data, rinfo);
      return;
    }
    libraryHandler(data, rinfo).catch(tap.onQuicHandlerError);
  });
}

/** The UDP socket under a QUICSocket, for TTL control of hole-punch packets. */
export function underlyingUdpSocket(quicSocket: QUICSocket): dgram.Socket {
  return (quicSocket as unknown as SocketInternals).socket;
}

/**
 * Streams the peer opened before we could attach a listener (the library dispatches the stream
 * event from inside `recv`, possibly before the server has announced the connection).
 */
export function existingPeerStreams(connection: QUICConnection): QUICStream[] {
  const map = (connection as unknown as { streamMap: Map<number, QUICStream> }).streamMap;
  return [...map.values()];
}

/**
 * The library turns some per-connection failures ("internal" errors while parsing or processing
 * one connection's packets) into exceptions thrown from its event handlers, which Node reports
 * as uncaught. They concern one connection, not the process: hosts that serve the network (the
 * relay, the CLI) absorb these, count them, and let the connection time out, instead of letting
 * one hostile peer take the process down. Anything else stays fatal.
 */
export function isPerConnectionQuicFailure(e: unknown): boolean {
  return (
    e instanceof quicErrors.ErrorQUICConnectionInternal ||
    e instanceof quicErrors.ErrorQUICStreamInternal ||
    e instanceof quicErrors.ErrorQUICClientInternal
  );
}
