// The QUIC endpoint: one UDP socket that listens for peers, dials the relay and dials peers at
// the same time, with mutual TLS where every certificate is derived from an Ed25519 identity and
// checked against the fingerprint we expect. Datagrams that are not QUIC (STUN answers, relayed
// media) are handed to `onNonQuic` listeners instead of being dropped, so NAT traversal and the
// relay media plane share this socket's NAT mapping with the QUIC connections.
// Why one file of about 470 lines: dialing and accepting share the socket, the credentials, the
// identity checks and the connection tracking; the library's configuration is quic-config.ts's
// and every reach below its API quic-internals.ts's.
import type dgram from 'node:dgram';
import type QuicLogger from '@matrixai/logger';
import { QUICClient, QUICServer, QUICSocket, events as quicEvents } from '@matrixai/quic';
import type { QUICConnection, QUICStream } from '@matrixai/quic';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { identifyPeerCertificate, tlsCredentialsFor } from '../identity/certificate.ts';
import type { Identity } from '../identity/identity.ts';
import { silentLogger, type Logger } from '../base/logger.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import {
  DialAbortedError,
  DialTimeoutError,
  PeerCertificateInvalidError,
  PeerIdentityMismatchError,
  PeerRefusedError,
  type Address,
} from './errors.ts';
import type { InboundBudget } from './inbound-budget.ts';
import {
  PeerConnection,
  type ConnectionTicket,
  type PeerIdentity,
  type SignalParser,
} from './peer-connection.ts';
import { baseQuicConfig, clientCrypto, quicLogger, serverCrypto } from './quic-config.ts';
import { existingPeerStreams, tapSocket, underlyingUdpSocket } from './quic-internals.ts';

/** TLS alert numbers as quiche's CryptoError range (0x100 + alert). */
const ALERT_BAD_CERTIFICATE = 298;
const ALERT_ACCESS_DENIED = 305;
const DEFAULT_TTL = 64;

/**
 * What a dial accepts as the peer: an exact fingerprint, or a decision made when the key is seen
 * (trust on first use of a relay: the pin store answers, and pins a first sighting).
 */
export type ExpectedPeer =
  | { fingerprint: Fingerprint }
  | { decide: (seen: Fingerprint) => { ok: true } | { ok: false; expected: Fingerprint } };

export interface DialOptions<T> {
  host: string;
  port: number;
  expect: ExpectedPeer;
  parseSignal: SignalParser<T>;
  timeoutMs?: number;
  signal?: AbortSignal;
  pingIntervalMs?: number;
}

export interface EndpointOptions<S> {
  identity: Identity;
  host?: string;
  port?: number;
  /** Parser for signals on connections that peers open to us. */
  parseAcceptedSignal: SignalParser<S>;
  /** Which identities may connect to us; default: nobody (a dial-only endpoint). */
  acceptPeer?: (fingerprint: Fingerprint) => boolean;
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  pingIntervalMs?: number;
  maxSignalBytes?: number;
  /** Per connection: signal bytes queued for a peer that does not read before it is dropped. */
  maxQueuedSignalBytes?: number;
  /**
   * Asked for every accepted connection before anything else happens on it; null refuses it
   * (closed at once). The ticket travels with the connection and is released once when it ends.
   */
  admitConnection?: (remote: Address) => ConnectionTicket | null;
  /** The inbound budget each accepted connection starts with (its owner may change it later). */
  newInboundBudget?: () => InboundBudget;
  /** Where the QUIC library's own lines go, at debug level; default: nowhere. */
  logger?: Logger;
}

export interface EndpointCounters {
  nonQuicDatagrams: number;
  quicHandlerErrors: number;
  acceptedConnections: number;
  refusedPeers: number;
  failedAccepts: number;
  /** Connections the admission policy refused (too many from one address, or overall). */
  refusedAdmissions: number;
}

export type EndpointEvents<S, Out = S> = {
  connection: [PeerConnection<S, Out>];
  /** Someone tried to connect with an identity we do not accept (or a bad certificate). */
  'peer-refused': [{ fingerprint: Fingerprint | null; reason: string }];
};

/** `S` is what accepted peers send us, `Out` what we send them. */
export class QuicEndpoint<S, Out = S> extends TypedEmitter<EndpointEvents<S, Out>> {
  readonly identity: Identity;
  readonly counters: EndpointCounters = {
    nonQuicDatagrams: 0,
    quicHandlerErrors: 0,
    acceptedConnections: 0,
    refusedPeers: 0,
    failedAccepts: 0,
    refusedAdmissions: 0,
  };

  readonly #socket: QUICSocket;
  readonly #server: QUICServer;
  readonly #opts: EndpointOptions<S>;
  readonly #logger: QuicLogger;
  readonly #clientConfig: { key: string; cert: string };
  #acceptPeer: (fingerprint: Fingerprint) => boolean;
  #nonQuicListeners = new Set<(data: Buffer, rinfo: dgram.RemoteInfo) => void>();
  #connections = new Set<Closable>();
  #closed = false;

  private constructor(
    opts: EndpointOptions<S>,
    socket: QUICSocket,
    server: QUICServer,
    logger: QuicLogger,
    creds: { key: string; cert: string },
  ) {
    super();
    this.identity = opts.identity;
    this.#opts = opts;
    this.#socket = socket;
    this.#server = server;
    this.#logger = logger;
    this.#clientConfig = creds;
    this.#acceptPeer = opts.acceptPeer ?? (() => false);
  }

  static async create<S, Out = S>(opts: EndpointOptions<S>): Promise<QuicEndpoint<S, Out>> {
    const logger = quicLogger(opts.logger ?? silentLogger);
    const creds = await tlsCredentialsFor(opts.identity);
    const socket = new QUICSocket({ logger: logger.getChild('socket') });
    await socket.start({ host: opts.host ?? '0.0.0.0', port: opts.port ?? 0 });
    // The endpoint object must exist before the server's verify callback can consult it.
    const holder: { endpoint?: QuicEndpoint<S, Out> } = {};
    const server = new QUICServer({
      socket,
      logger: logger.getChild('server'),
      minIdleTimeout: opts.handshakeTimeoutMs ?? 5000,
      crypto: serverCrypto(),
      config: {
        ...baseQuicConfig(opts.idleTimeoutMs),
        key: creds.keyPem,
        cert: creds.certPem,
        verifyPeer: true,
        verifyCallback: async (certs: Uint8Array[]) => holder.endpoint?.verifyAcceptedPeer(certs),
      },
    });
    await server.start();
    const endpoint = new QuicEndpoint(opts, socket, server, logger, {
      key: creds.keyPem,
      cert: creds.certPem,
    });
    holder.endpoint = endpoint;
    tapSocket(socket, {
      onNonQuic: (data, rinfo) => endpoint.#onNonQuic(data, rinfo),
      onQuicHandlerError: () => endpoint.counters.quicHandlerErrors++,
    });
    server.addEventListener(quicEvents.EventQUICServerConnection.name, (evt: Event) => {
      const connection = (evt as quicEvents.EventQUICServerConnection).detail;
      endpoint.#onAccepted(connection).catch(() => endpoint.counters.failedAccepts++);
    });
    return endpoint;
  }

  get address(): Address {
    return { host: this.#socket.host, port: this.#socket.port };
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  setAcceptPeer(policy: (fingerprint: Fingerprint) => boolean): void {
    this.#acceptPeer = policy;
  }

  /** Receive datagrams that are not QUIC (first byte without the QUIC fixed bit). */
  onNonQuic(listener: (data: Buffer, rinfo: dgram.RemoteInfo) => void): () => void {
    this.#nonQuicListeners.add(listener);
    return () => this.#nonQuicListeners.delete(listener);
  }

  /** Send a raw UDP datagram from the endpoint's socket (STUN, relay media, punch packets). */
  async sendRaw(data: Uint8Array, port: number, host: string): Promise<void> {
    await this.#socket.send(data, port, host);
  }

  /**
   * Send raw datagrams with a temporary IP TTL: hole-punch packets that open our own NAT but die
   * before they reach the peer's (FINDINGS.md, the conntrack race), and TTL-limited STUN probes.
   * Node applies the socket's TTL when the datagram actually leaves, a tick after `send` (address
   * lookup), so the TTL is restored only once every datagram of the burst has been sent; other
   * traffic in that tick leaves with the low TTL too, which QUIC and the jitter buffer absorb.
   */
  sendRawWithTtl(
    packets: readonly { data: Uint8Array; port: number; host: string }[],
    ttl: number,
  ): Promise<void> {
    const udp = underlyingUdpSocket(this.#socket);
    if (packets.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = packets.length;
      const done = () => {
        if (--left > 0) return;
        try {
          udp.setTTL(DEFAULT_TTL);
        } catch {
          // socket closed meanwhile
        }
        resolve();
      };
      try {
        udp.setTTL(ttl);
      } catch {
        resolve();
        return;
      }
      for (const p of packets) {
        try {
          udp.send(p.data, p.port, p.host, done);
        } catch {
          done();
        }
      }
    });
  }

  /** Dial a peer; each dial brings its own signal parser (a relay speaks another protocol than a peer). */
  async dial<T, U = T>(opts: DialOptions<T>): Promise<PeerConnection<T, U>> {
    const remote = { host: opts.host, port: opts.port };
    const timeoutMs = opts.timeoutMs ?? 5000;
    const started = performance.now();
    let seen: { fingerprint: Fingerprint; publicKey: Uint8Array } | null = null;
    let verifyFailure: Error | null = null;
    const verifyCallback = async (certs: Uint8Array[]) => {
      const first = certs[0];
      if (!first) {
        verifyFailure = new PeerCertificateInvalidError('no certificate', remote);
        return ALERT_BAD_CERTIFICATE;
      }
      const check = identifyPeerCertificate(first);
      if (!check.ok) {
        verifyFailure = new PeerCertificateInvalidError(check.reason, remote);
        return ALERT_BAD_CERTIFICATE;
      }
      const expected = opts.expect;
      if ('fingerprint' in expected) {
        if (check.fingerprint !== expected.fingerprint) {
          verifyFailure = new PeerIdentityMismatchError(
            expected.fingerprint,
            check.fingerprint,
            remote,
          );
          return ALERT_BAD_CERTIFICATE;
        }
      } else {
        const decision = expected.decide(check.fingerprint);
        if (!decision.ok) {
          verifyFailure = new PeerIdentityMismatchError(
            decision.expected,
            check.fingerprint,
            remote,
          );
          return ALERT_BAD_CERTIFICATE;
        }
      }
      seen = { fingerprint: check.fingerprint, publicKey: check.publicKey };
      return undefined;
    };
    const abort = new AbortController();
    const onAbort = () => abort.abort(new DialAbortedError(remote));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let client: QUICClient;
    try {
      client = await QUICClient.createQUICClient(
        {
          host: opts.host,
          port: opts.port,
          socket: this.#socket,
          logger: this.#logger.getChild('client'),
          crypto: clientCrypto(),
          config: {
            ...baseQuicConfig(this.#opts.idleTimeoutMs),
            key: this.#clientConfig.key,
            cert: this.#clientConfig.cert,
            verifyPeer: true,
            verifyCallback,
          },
        },
        { timer: timeoutMs, signal: abort.signal },
      );
    } catch (e) {
      opts.signal?.removeEventListener('abort', onAbort);
      if (verifyFailure) throw verifyFailure;
      if (opts.signal?.aborted) throw new DialAbortedError(remote);
      if (performance.now() - started >= timeoutMs - 5)
        throw new DialTimeoutError(remote, timeoutMs);
      throw new PeerRefusedError(remote, describe(e));
    }
    opts.signal?.removeEventListener('abort', onAbort);
    const peer = seen as { fingerprint: Fingerprint; publicKey: Uint8Array } | null;
    if (!peer) {
      await client.destroy({ force: true }).catch(() => undefined);
      throw (
        verifyFailure ?? new PeerCertificateInvalidError('handshake finished unverified', remote)
      );
    }
    const conn = new PeerConnection<T, U>({
      connection: client.connection,
      role: 'dialer',
      peer,
      parseSignal: opts.parseSignal,
      pingIntervalMs: opts.pingIntervalMs ?? this.#opts.pingIntervalMs,
      maxSignalBytes: this.#opts.maxSignalBytes,
      maxQueuedSignalBytes: this.#opts.maxQueuedSignalBytes,
      shutdown: (reason) =>
        client.destroy({ isApp: true, errorCode: 0, reason: new TextEncoder().encode(reason) }),
    });
    const remaining = Math.max(100, timeoutMs - (performance.now() - started));
    try {
      await conn.attachSignalStream(client.connection.newStream('bidi'), remaining);
    } catch (e) {
      await conn.close('handshake failed');
      // The acceptor closes with a TLS alert when it refuses our certificate.
      throw new PeerRefusedError(remote, describe(e));
    }
    this.#track(conn);
    return conn;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#connections].map((c) => c.close('endpoint closing')));
    await this.#server.stop({ force: true }).catch(() => undefined);
    await this.#socket.stop({ force: true }).catch(() => undefined);
  }

  /** Server-side TLS check, run for every incoming handshake. Public only for the callback. */
  async verifyAcceptedPeer(certs: Uint8Array[]): Promise<number | undefined> {
    const first = certs[0];
    if (!first) {
      this.#refuse(null, 'no certificate');
      return ALERT_BAD_CERTIFICATE;
    }
    const check = identifyPeerCertificate(first);
    if (!check.ok) {
      this.#refuse(null, check.reason);
      return ALERT_BAD_CERTIFICATE;
    }
    if (!this.#acceptPeer(check.fingerprint)) {
      this.#refuse(check.fingerprint, 'identity not expected');
      return ALERT_ACCESS_DENIED;
    }
    return undefined;
  }

  #refuse(fingerprint: Fingerprint | null, reason: string): void {
    this.counters.refusedPeers++;
    this.emit('peer-refused', { fingerprint, reason });
  }

  async #onAccepted(connection: QUICConnection): Promise<void> {
    let ticket: ConnectionTicket | null = null;
    const admit = this.#opts.admitConnection;
    if (admit) {
      ticket = admit({ host: connection.remoteHost, port: connection.remotePort });
      if (ticket === null) {
        this.counters.refusedAdmissions++;
        await connection.stop({
          isApp: true,
          errorCode: 2,
          reason: new TextEncoder().encode('too many connections'),
        });
        return;
      }
      const admitted = ticket;
      connection.closedP.then(
        () => admitted.release(),
        () => admitted.release(),
      );
    }
    const certs = connection.getRemoteCertsChain();
    const first = certs[0];
    const check = first ? identifyPeerCertificate(first) : null;
    if (!check || !check.ok) {
      await connection.stop({
        isApp: true,
        errorCode: 1,
        reason: new TextEncoder().encode('bad certificate'),
      });
      throw new Error('accepted connection without a valid certificate');
    }
    const peer: PeerIdentity = { fingerprint: check.fingerprint, publicKey: check.publicKey };
    const conn = new PeerConnection<S, Out>({
      connection,
      role: 'acceptor',
      peer,
      parseSignal: this.#opts.parseAcceptedSignal,
      pingIntervalMs: this.#opts.pingIntervalMs,
      maxSignalBytes: this.#opts.maxSignalBytes,
      maxQueuedSignalBytes: this.#opts.maxQueuedSignalBytes,
      inboundBudget: this.#opts.newInboundBudget?.(),
      ticket,
      shutdown: (reason) =>
        connection.stop({ isApp: true, errorCode: 0, reason: new TextEncoder().encode(reason) }),
    });
    const timeoutMs = this.#opts.handshakeTimeoutMs ?? 5000;
    try {
      const stream = await firstPeerStream(connection, timeoutMs);
      await conn.attachSignalStream(stream, timeoutMs);
    } catch (e) {
      await conn.close('handshake failed');
      throw e;
    }
    this.counters.acceptedConnections++;
    this.#track(conn);
    this.emit('connection', conn);
  }

  #track(conn: Closable): void {
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
  }

  #onNonQuic(data: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.nonQuicDatagrams++;
    for (const l of this.#nonQuicListeners) {
      try {
        l(data, rinfo);
      } catch {
        // A listener's failure on one datagram must not stop the socket.
      }
    }
  }
}

interface Closable {
  close(reason?: string): Promise<void>;
  readonly closed: Promise<unknown>;
}

function firstPeerStream(connection: QUICConnection, timeoutMs: number): Promise<QUICStream> {
  const existing = existingPeerStreams(connection)[0];
  if (existing) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.removeEventListener(quicEvents.EventQUICConnectionStream.name, onStream);
      reject(new Error(`peer opened no signal stream within ${timeoutMs} ms`));
    }, timeoutMs);
    const onStream = (evt: Event) => {
      clearTimeout(timer);
      connection.removeEventListener(quicEvents.EventQUICConnectionStream.name, onStream);
      resolve((evt as quicEvents.EventQUICConnectionStream).detail);
    };
    connection.addEventListener(quicEvents.EventQUICConnectionStream.name, onStream);
  });
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
  }
  return String(e);
}
