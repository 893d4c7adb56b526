// Every reach below @matrixai/quic's public API lives here, and only here (FINDINGS.md):
// - DATAGRAM frames: the native `conn.dgramSend/dgramRecvVec` plus the connection's `send()` and
//   `recv()`, none of which the shipped types expose;
// - QUIC statistics from the native connection (`stats`, `pathStats`);
// - the UDP socket under `QUICSocket`, to demultiplex STUN and relay media from QUIC by first
//   byte before the library parses anything, to catch the library's rejected promises (its
//   message handler rethrows unexpected parser errors), and to set the IP TTL of punch packets.
// - the error handlers of connections, streams and clients, which rethrow "internal" failures of
//   one connection as uncaught exceptions (absorbed here for every host: see the end of the file).
// When the library changes, this is the one file to re-check against its sources.
import type dgram from 'node:dgram';
import {
  QUICClient,
  QUICConnection,
  QUICStream,
  errors as quicErrors,
  events as quicEvents,
} from '@matrixai/quic';
import type { QUICSocket } from '@matrixai/quic';

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
 * as uncaught. They concern one connection, not the process. Anything else stays fatal.
 */
export function isPerConnectionQuicFailure(e: unknown): boolean {
  return (
    e instanceof quicErrors.ErrorQUICConnectionInternal ||
    e instanceof quicErrors.ErrorQUICStreamInternal ||
    e instanceof quicErrors.ErrorQUICClientInternal
  );
}

/** RFC 9000 transport error INTERNAL_ERROR, sent to the peer of a connection closed for one. */
const QUIC_INTERNAL_ERROR = 0x1;
let absorbedFailures = 0;
const seenFailures = new WeakSet<Error>();
const failureListeners = new Set<(e: Error) => void>();

/** How many per-connection failures this process has absorbed (for metrics lines). */
export function perConnectionQuicFailuresAbsorbed(): number {
  return absorbedFailures;
}

/** Hears every absorbed failure, e.g. to log it; returns the unsubscribe function. */
export function onPerConnectionQuicFailure(listener: (e: Error) => void): () => void {
  failureListeners.add(listener);
  return () => failureListeners.delete(listener);
}

type Listener = (evt: Event) => void;
interface EventedPrototype {
  addEventListener(type: string, callback: unknown, options?: unknown): void;
  removeEventListener(type: string, callback: unknown, options?: unknown): void;
}

/**
 * Every host (CLI, relay, Electron, web host) runs the engine, so the guard lives where the
 * library is wrapped rather than in each host. The library registers its error handler on each
 * connection, stream and client from inside its own constructors and start(), before we ever
 * hold the object, so the handler is wrapped at registration: an internal failure is counted and
 * the connection is closed with INTERNAL_ERROR through the public stop(), which ends the call on
 * that path at once instead of waiting for the idle timeout; a stream's failure is left to its
 * connection. Importing this module installs the guard once per process.
 */
function guardErrorHandler(
  proto: EventedPrototype,
  handlerName: string,
  errorEvent: string,
  closeAfter: ((target: never) => Promise<void>) | null,
): void {
  const add = proto.addEventListener;
  const remove = proto.removeEventListener;
  const wrappers = new WeakMap<object, Listener>();
  proto.addEventListener = function (this: EventedPrototype & EventTarget, type, cb, options) {
    const own = (this as unknown as Record<string, unknown>)[handlerName];
    if (type !== errorEvent || typeof cb !== 'function' || cb !== own) {
      add.call(this, type, cb, options);
      return;
    }
    const handler = cb as Listener;
    const wrapped: Listener = (evt) => {
      try {
        handler(evt);
      } catch (e) {
        if (!isPerConnectionQuicFailure(e)) throw e;
        // A client re-raises its connection's failure as its own: one failure, counted once.
        if (!seenFailures.has(e as Error)) {
          seenFailures.add(e as Error);
          absorbedFailures++;
          for (const l of failureListeners) l(e as Error);
        }
        closeAfter?.(this as never).catch(() => undefined);
      }
    };
    wrappers.set(handler, wrapped);
    add.call(this, type, wrapped, options);
  };
  proto.removeEventListener = function (this: EventedPrototype, type, cb, options) {
    const wrapped = typeof cb === 'function' ? wrappers.get(cb) : undefined;
    remove.call(this, type, wrapped ?? cb, options);
  };
}

guardErrorHandler(
  QUICConnection.prototype as unknown as EventedPrototype,
  'handleEventQUICConnectionError',
  quicEvents.EventQUICConnectionError.name,
  (conn: QUICConnection) =>
    conn.stop({ isApp: false, errorCode: QUIC_INTERNAL_ERROR, force: true }),
);
guardErrorHandler(
  QUICClient.prototype as unknown as EventedPrototype,
  'handleEventQUICClientError',
  quicEvents.EventQUICClientError.name,
  (client: QUICClient) =>
    client.destroy({ isApp: false, errorCode: QUIC_INTERNAL_ERROR, force: true }),
);
guardErrorHandler(
  QUICStream.prototype as unknown as EventedPrototype,
  'handleEventQUICStreamError',
  quicEvents.EventQUICStreamError.name,
  null,
);
