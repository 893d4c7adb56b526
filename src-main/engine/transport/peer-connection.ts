// One authenticated QUIC connection as the call engine sees it: a reliable ordered channel of
// schema-checked signals, an unreliable channel of media frames (QUIC DATAGRAM), and live path
// statistics. The peer's identity is fixed at construction (checked during the TLS handshake by
// the endpoint); nothing here trusts what arrives on the wire before it is validated.
//
// Wire use of the connection:
// - stream 0 (opened by the dialer): length-prefixed JSON frames (signal-framing.ts). The first
//   frame each way is our hello; the dialer counts the connection as authenticated only once the
//   acceptor's hello arrives, because in TLS 1.3 the dialer's handshake completes before the
//   acceptor has checked the dialer's certificate (FINDINGS.md).
// - DATAGRAM frames: first byte 0x01 media, 0x02 ping, 0x03 pong.
// Why one file of about 500 lines: the hello, the signal stream, the datagrams and the path
// statistics are one connection's life, opened, throttled, counted and closed together.
import type { QUICConnection, QUICStream } from '@matrixai/quic';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import {
  ConnectionClosedError,
  SendQueueFullError,
  SignalTooLargeError,
  type Address,
} from './errors.ts';
import type { InboundBudget } from './inbound-budget.ts';
import { PathMetrics, type PathMetricsSnapshot } from './path-metrics.ts';
import { connectionStats, interceptDatagrams, sendDatagram } from './quic-internals.ts';
import { DEFAULT_MAX_SIGNAL_BYTES, FrameDecoder, encodeFrame } from './signal-framing.ts';

export const PROTOCOL_VERSION = 1;

const DGRAM_MEDIA = 0x01;
const DGRAM_PING = 0x02;
const DGRAM_PONG = 0x03;

/** Turns parsed JSON into a typed signal, or null when it does not match the schema. */
export type SignalParser<S> = (json: unknown) => S | null;

export interface PeerIdentity {
  fingerprint: Fingerprint;
  publicKey: Uint8Array;
}

export interface CloseInfo {
  reason: string;
  /** True when the peer (or the network) ended it, false when we called close(). */
  remote: boolean;
}

export interface PeerConnectionCounters {
  signalsSent: number;
  signalsReceived: number;
  signalsMalformed: number;
  signalsOversized: number;
  mediaSent: number;
  mediaReceived: number;
  mediaSendRefused: number;
  datagramsMalformed: number;
  /** The peer stopped taking our signals and the connection was closed for it. */
  sendQueueOverflows: number;
  /** Times reading paused because the peer was over its inbound budget. */
  inboundThrottles: number;
}

export interface PathStats extends PathMetricsSnapshot {
  /** Packet loss seen by QUIC over the last few seconds, %. */
  lossPct: number;
  cwndBytes: number | null;
  pmtuBytes: number | null;
  deliveryRateBps: number | null;
  quicRttMs: number | null;
  packetsSent: number;
  packetsLost: number;
}

export type PeerConnectionEvents<S> = {
  signal: [S];
  media: [Uint8Array];
  closed: [CloseInfo];
};

/** What an admission policy hands out for an accepted connection; released once it ends. */
export interface ConnectionTicket {
  release(): void;
}

export interface PeerConnectionOptions<S> {
  connection: QUICConnection;
  role: 'dialer' | 'acceptor';
  peer: PeerIdentity;
  parseSignal: SignalParser<S>;
  /** Ends the QUIC side (client destroy or connection stop). */
  shutdown: (reason: string) => Promise<void>;
  now?: () => number;
  pingIntervalMs?: number;
  maxSignalBytes?: number;
  /** After this many malformed or oversized frames, the peer is abusive and the connection ends. */
  maxBadSignals?: number;
  /**
   * Signal bytes written but not yet taken by the stream (QUIC flow control stalls writes when the
   * peer does not read). Beyond this the peer is not reading: the connection is closed.
   */
  maxQueuedSignalBytes?: number;
  /** Charged for every byte and frame before parsing; reading pauses while it is in debt. */
  inboundBudget?: InboundBudget;
  /**
   * A peer kept waiting on its inbound budget for this long, counted with a 10 s decay (so a
   * peer over budget most of the time, not a burst now and then), is cut off.
   */
  throttleCutoffMs?: number;
  /** The admission ticket the endpoint got for this (accepted) connection. */
  ticket?: ConnectionTicket | null;
}

export const DEFAULT_THROTTLE_CUTOFF_MS = 5_000;
const THROTTLE_DECAY_MS = 10_000;

export const DEFAULT_MAX_QUEUED_SIGNAL_BYTES = 1024 * 1024;

interface Hello {
  $wzp: 'hello';
  v: number;
}

function isHello(json: unknown): json is Hello {
  return (
    typeof json === 'object' &&
    json !== null &&
    (json as { $wzp?: unknown }).$wzp === 'hello' &&
    typeof (json as { v?: unknown }).v === 'number'
  );
}

const LOSS_SAMPLES = 5;

/** `S` is what the peer sends us, `Out` what we send it (they differ for client and relay). */
export class PeerConnection<S, Out = S> extends TypedEmitter<PeerConnectionEvents<S>> {
  readonly role: 'dialer' | 'acceptor';
  readonly peer: PeerIdentity;
  readonly ticket: ConnectionTicket | null;
  readonly counters: PeerConnectionCounters = {
    signalsSent: 0,
    signalsReceived: 0,
    signalsMalformed: 0,
    signalsOversized: 0,
    mediaSent: 0,
    mediaReceived: 0,
    mediaSendRefused: 0,
    datagramsMalformed: 0,
    sendQueueOverflows: 0,
    inboundThrottles: 0,
  };
  readonly closed: Promise<CloseInfo>;

  readonly #connection: QUICConnection;
  readonly #parseSignal: SignalParser<S>;
  readonly #shutdown: (reason: string) => Promise<void>;
  readonly #now: () => number;
  readonly #metrics: PathMetrics;
  readonly #decoder: FrameDecoder;
  readonly #maxBadSignals: number;
  readonly #maxQueuedBytes: number;
  #queuedBytes = 0;
  #budget: InboundBudget | null;
  readonly #throttleCutoffMs: number;
  #throttledScore = 0;
  #throttledAt = 0;
  readonly #encoder = new TextEncoder();
  readonly #textDecoder = new TextDecoder('utf-8', { fatal: true });
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #pingTimer: NodeJS.Timeout | null = null;
  #helloResolve: ((v: number) => void) | null = null;
  #helloSeen = false;
  #closeInfo: CloseInfo | null = null;
  #resolveClosed!: (info: CloseInfo) => void;
  #lastHeardAt: number;
  #lossSamples: { sent: number; lost: number }[] = [];
  #pendingSignals: S[] = [];

  constructor(opts: PeerConnectionOptions<S>) {
    super();
    this.#connection = opts.connection;
    this.role = opts.role;
    this.peer = opts.peer;
    this.ticket = opts.ticket ?? null;
    this.#parseSignal = opts.parseSignal;
    this.#shutdown = opts.shutdown;
    this.#now = opts.now ?? (() => performance.now());
    this.#metrics = new PathMetrics();
    this.#decoder = new FrameDecoder(opts.maxSignalBytes ?? DEFAULT_MAX_SIGNAL_BYTES);
    this.#maxBadSignals = opts.maxBadSignals ?? 100;
    this.#maxQueuedBytes = opts.maxQueuedSignalBytes ?? DEFAULT_MAX_QUEUED_SIGNAL_BYTES;
    this.#budget = opts.inboundBudget ?? null;
    this.#throttleCutoffMs = opts.throttleCutoffMs ?? DEFAULT_THROTTLE_CUTOFF_MS;
    this.#lastHeardAt = this.#now();
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    interceptDatagrams(this.#connection, (d) => this.#onDatagram(d));
    this.#connection.closedP.then(
      () => this.#finish(this.#describeRemoteClose(), true),
      () => this.#finish(this.#describeRemoteClose(), true),
    );
    const pingIntervalMs = opts.pingIntervalMs ?? 500;
    if (pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => this.#tick(), pingIntervalMs);
      this.#pingTimer.unref();
    }
  }

  get remote(): Address {
    return { host: this.#connection.remoteHost, port: this.#connection.remotePort };
  }

  get local(): Address {
    return { host: this.#connection.localHost, port: this.#connection.localPort };
  }

  /** From now on charge inbound signals to `budget` (e.g. a larger one once the peer registered). */
  setInboundBudget(budget: InboundBudget | null): void {
    this.#budget = budget;
  }

  /** Signal bytes handed to the stream that it has not yet taken. */
  get queuedSignalBytes(): number {
    return this.#queuedBytes;
  }

  get isClosed(): boolean {
    return this.#closeInfo !== null;
  }

  /** Milliseconds since anything (signal, media, ping, pong) last arrived from the peer. */
  silenceMs(): number {
    return this.#now() - this.#lastHeardAt;
  }

  /**
   * Attach the signal stream and run the hello exchange. Called once by the endpoint; resolves
   * when the peer's hello has arrived (the dialer's proof that the acceptor accepted it).
   */
  async attachSignalStream(stream: QUICStream, timeoutMs: number): Promise<void> {
    this.#writer = stream.writable.getWriter();
    const helloSeen = new Promise<number>((resolve) => (this.#helloResolve = resolve));
    void this.#readLoop(stream);
    if (this.role === 'dialer') await this.#writeJson({ $wzp: 'hello', v: PROTOCOL_VERSION });
    let timer: NodeJS.Timeout | undefined;
    const version = await Promise.race([
      helloSeen,
      this.closed.then((info) => {
        throw new ConnectionClosedErrorWithReason(info.reason);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no hello within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (version !== PROTOCOL_VERSION) {
      await this.close(`incompatible protocol version ${version}`);
      throw new Error(`peer speaks protocol version ${version}, we speak ${PROTOCOL_VERSION}`);
    }
    if (this.role === 'acceptor') await this.#writeJson({ $wzp: 'hello', v: PROTOCOL_VERSION });
  }

  /**
   * Signals that arrived during the hello exchange are held until the owner has attached its
   * handlers; call this once they are in place.
   */
  startDelivery(): void {
    const held = this.#pendingSignals;
    this.#pendingSignals = [];
    for (const s of held) this.emit('signal', s);
  }

  async sendSignal(signal: Out): Promise<void> {
    if (this.#closeInfo) throw new ConnectionClosedError();
    await this.#writeJson(signal);
    this.counters.signalsSent++;
  }

  /** Queue a media frame as a DATAGRAM. False when it could not be sent (counted, never thrown). */
  async sendMedia(frame: Uint8Array): Promise<boolean> {
    if (this.#closeInfo) return false;
    const d = new Uint8Array(frame.length + 1);
    d[0] = DGRAM_MEDIA;
    d.set(frame, 1);
    const ok = await sendDatagram(this.#connection, d);
    if (ok) this.counters.mediaSent++;
    else this.counters.mediaSendRefused++;
    return ok;
  }

  stats(): PathStats {
    const snap = this.#metrics.snapshot(this.#now());
    const q = connectionStats(this.#connection);
    const first = this.#lossSamples[0];
    const last = q ? { sent: q.stats.sent, lost: q.stats.lost } : undefined;
    let lossPct = snap.pingLossPct;
    if (first && last && last.sent > first.sent) {
      lossPct = (100 * (last.lost - first.lost)) / (last.sent - first.sent);
    }
    return {
      ...snap,
      lossPct,
      cwndBytes: q?.path?.cwnd ?? null,
      pmtuBytes: q?.path?.pmtu ?? null,
      deliveryRateBps: q?.path?.deliveryRate ?? null,
      quicRttMs: q?.path?.rtt ?? null,
      packetsSent: q?.stats.sent ?? 0,
      packetsLost: q?.stats.lost ?? 0,
    };
  }

  async close(reason = 'closed'): Promise<void> {
    if (this.#closeInfo) return;
    this.#finish(reason, false);
    try {
      await this.#shutdown(reason);
    } catch {
      // Already gone: nothing more to tell the peer.
    }
  }

  #finish(reason: string, remote: boolean): void {
    if (this.#closeInfo) return;
    this.#closeInfo = { reason, remote };
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    this.#resolveClosed(this.#closeInfo);
    this.emit('closed', this.#closeInfo);
  }

  #describeRemoteClose(): string {
    const err = this.#connection.getConnectionError();
    if (!err) return 'connection closed';
    const reason = new TextDecoder().decode(err.reason);
    if (err.isApp) return reason.length > 0 ? reason : `closed by peer (code ${err.errorCode})`;
    return reason.length > 0 ? reason : `transport error ${err.errorCode}`;
  }

  async #writeJson(value: unknown): Promise<void> {
    const bytes = this.#encoder.encode(JSON.stringify(value));
    if (bytes.length > this.#decoder.maxFrameBytes) {
      throw new SignalTooLargeError(bytes.length, this.#decoder.maxFrameBytes);
    }
    if (!this.#writer) throw new ConnectionClosedError();
    const frame = encodeFrame(bytes);
    // Each write() waits for the stream to take the previous ones; unawaited writes pile up in
    // the stream's queue, so they are counted here and capped.
    if (this.#queuedBytes + frame.length > this.#maxQueuedBytes) {
      const error = new SendQueueFullError(this.#queuedBytes + frame.length, this.#maxQueuedBytes);
      this.counters.sendQueueOverflows++;
      void this.close('peer is not reading its signals (send queue full)');
      throw error;
    }
    this.#queuedBytes += frame.length;
    try {
      await this.#writer.write(frame);
    } catch {
      throw new ConnectionClosedError();
    } finally {
      this.#queuedBytes -= frame.length;
    }
  }

  async #readLoop(stream: QUICStream): Promise<void> {
    const reader = stream.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#lastHeardAt = this.#now();
        this.#budget?.chargeBytes(value.length);
        for (const frame of this.#decoder.push(value)) {
          if (frame.kind === 'oversized') {
            this.counters.signalsOversized++;
            this.#badSignal();
            continue;
          }
          this.#budget?.chargeFrame();
          if (!(await this.#withinBudget())) return;
          const budget = this.#budget;
          const started = performance.now();
          this.#onFrame(frame.payload);
          budget?.chargeCpu(performance.now() - started);
        }
        if (!(await this.#withinBudget())) return;
      }
    } catch {
      // The stream ended with an error: the connection close handler reports why.
    }
    if (this.#closeInfo) return;
    // The peer ended the stream; its connection close (with the reason) normally follows at once.
    const closedSoon = await Promise.race([
      this.#connection.closedP.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => setTimeout(() => r(false), 500).unref()),
    ]);
    if (this.#closeInfo) return;
    this.#finish(closedSoon ? this.#describeRemoteClose() : 'signal stream ended by peer', true);
    await this.#shutdown('signal stream ended').catch(() => undefined);
  }

  /**
   * Waits until the inbound budget is out of debt (not reading meanwhile, so flow control holds
   * the peer back). False when the connection closed meanwhile or was cut off for being kept
   * waiting most of the time.
   */
  async #withinBudget(): Promise<boolean> {
    if (this.#closeInfo) return false;
    const wait = this.#budget?.waitMs() ?? 0;
    if (wait <= 0) return true;
    this.counters.inboundThrottles++;
    const now = this.#now();
    const decay = Math.exp(-Math.max(0, now - this.#throttledAt) / THROTTLE_DECAY_MS);
    this.#throttledScore = this.#throttledScore * decay + wait;
    this.#throttledAt = now;
    if (this.#throttledScore > this.#throttleCutoffMs) {
      await this.close('over its signal budget for too long');
      return false;
    }
    await new Promise((r) => setTimeout(r, wait).unref());
    return this.#closeInfo === null;
  }

  #onFrame(payload: Uint8Array): void {
    let json: unknown;
    try {
      json = JSON.parse(this.#textDecoder.decode(payload));
    } catch {
      this.counters.signalsMalformed++;
      this.#badSignal();
      return;
    }
    if (isHello(json)) {
      if (!this.#helloSeen) {
        this.#helloSeen = true;
        this.#helloResolve?.(json.v);
      }
      return;
    }
    if (!this.#helloSeen) {
      this.counters.signalsMalformed++;
      this.#badSignal();
      return;
    }
    const signal = this.#parseSignal(json);
    if (signal === null) {
      this.counters.signalsMalformed++;
      this.#badSignal();
      return;
    }
    this.counters.signalsReceived++;
    if (this.listenerCount('signal') === 0) {
      this.#pendingSignals.push(signal);
      return;
    }
    this.emit('signal', signal);
  }

  #badSignal(): void {
    const bad = this.counters.signalsMalformed + this.counters.signalsOversized;
    if (bad >= this.#maxBadSignals) void this.close('too many malformed signals');
  }

  #onDatagram(d: Uint8Array): void {
    this.#lastHeardAt = this.#now();
    const kind = d[0];
    if (kind === DGRAM_MEDIA) {
      this.counters.mediaReceived++;
      this.emit('media', d.subarray(1));
      return;
    }
    if ((kind === DGRAM_PING || kind === DGRAM_PONG) && d.length === 5) {
      const id = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(1);
      if (kind === DGRAM_PING) {
        const pong = Uint8Array.from(d);
        pong[0] = DGRAM_PONG;
        void sendDatagram(this.#connection, pong);
      } else {
        this.#metrics.pongReceived(id, this.#now());
      }
      return;
    }
    this.counters.datagramsMalformed++;
  }

  #tick(): void {
    if (this.#closeInfo) return;
    const id = this.#metrics.pingSent(this.#now());
    const ping = new Uint8Array(5);
    ping[0] = DGRAM_PING;
    new DataView(ping.buffer).setUint32(1, id);
    void sendDatagram(this.#connection, ping);
    const q = connectionStats(this.#connection);
    if (q) {
      this.#lossSamples.push({ sent: q.stats.sent, lost: q.stats.lost });
      if (this.#lossSamples.length > LOSS_SAMPLES) this.#lossSamples.shift();
    }
  }
}

class ConnectionClosedErrorWithReason extends Error {
  constructor(reason: string) {
    super(`connection closed during hello: ${reason}`);
    this.name = 'ConnectionClosedError';
  }
}
