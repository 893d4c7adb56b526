// The client's side of the relay: one QUIC connection from the shared endpoint, registration by
// signing the relay's challenge, presence subscriptions, and call signals as typed events. When
// the connection drops (relay restart, network change) it reconnects with jittered exponential
// backoff and re-registers and re-subscribes by itself; a relay whose identity changed is an
// error that stops the link, never something to reconnect through.
//
// With several relays (the relays of one cluster) the link holds one at a time and fails over:
// a relay that stops answering (3 s without a packet, pings every second), closes, or says it
// is shutting down is left for the next one in the list at once; backoff applies only after a
// whole round of them failed.
import type { CallId, CallSignal } from '../../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import {
  MAX_RESUMED_CALLS,
  parseHostPort,
  parseRelayToClient,
  registrationMessage,
  type CallErrorReason,
  type ClientToRelay,
  type RelayToClient,
} from '../../../src-shared/relay-protocol.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import type { ExpectedPeer, QuicEndpoint } from '../transport/endpoint.ts';
import { PeerIdentityMismatchError, type Address } from '../transport/errors.ts';
import type { PeerConnection } from '../transport/peer-connection.ts';

export interface RegisteredInfo {
  relay: Fingerprint;
  /** The address of the relay this registration is with (one of the list). */
  address: Address;
  /** The relay's STUN / relay-media UDP address, as reachable from here. */
  stun: Address;
}

export interface MediaGrantInfo {
  callId: CallId;
  channelId: number;
  key: Uint8Array;
  media: Address;
}

export type RelayLinkEvents = {
  registered: [RegisteredInfo];
  disconnected: [{ reason: string; willRetry: boolean }];
  presence: [{ fingerprint: Fingerprint; online: boolean }];
  signal: [{ from: Fingerprint; callId: CallId; signal: CallSignal }];
  'call-error': [{ callId: CallId; reason: CallErrorReason }];
  'media-grant': [MediaGrantInfo];
  /** The relay presented another identity than the pinned one: the link has stopped. */
  'trust-failure': [PeerIdentityMismatchError];
};

export type RelayLinkState = 'idle' | 'connecting' | 'registered' | 'backoff' | 'stopped';

/** One relay a client may register with. */
export interface RelayTarget {
  address: Address;
  /** The relay's fingerprint (given), or a TOFU decision backed by a pin store. */
  trust: ExpectedPeer;
}

export interface RelayLinkOptions {
  endpoint: QuicEndpoint<unknown, unknown>;
  relay: Address;
  /** The relay's fingerprint (given), or a TOFU decision backed by a pin store. */
  trust: ExpectedPeer;
  /** Further relays of the same cluster to fail over to, in order. */
  fallbacks?: readonly RelayTarget[];
  /** A relay silent this long is taken for dead and left. Default 3000 ms. */
  silenceTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  dialTimeoutMs?: number;
  random?: () => number;
}

type RelayConnection = PeerConnection<RelayToClient, ClientToRelay>;

export class RelayLink extends TypedEmitter<RelayLinkEvents> {
  readonly #opts: RelayLinkOptions;
  #state: RelayLinkState = 'idle';
  #conn: RelayConnection | null = null;
  #registered: RegisteredInfo | null = null;
  #subscriptions: Fingerprint[] = [];
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #firstRegistration: { resolve: (i: RegisteredInfo) => void; reject: (e: Error) => void } | null =
    null;
  #lastError: string | null = null;
  #giveUpAfter = 5;
  readonly #targets: RelayTarget[];
  /** Which of #targets the next (or current) connection is to. */
  #current = 0;
  /** Failures since the last registration, across the list. */
  #failuresInRound = 0;
  #watchdog: NodeJS.Timeout | null = null;

  constructor(opts: RelayLinkOptions) {
    super();
    this.#opts = opts;
    this.#targets = [{ address: opts.relay, trust: opts.trust }, ...(opts.fallbacks ?? [])];
  }

  /** The relay the link is on (or trying next). */
  get target(): RelayTarget {
    return this.#targets[this.#current] as RelayTarget;
  }

  get state(): RelayLinkState {
    return this.#state;
  }

  get registration(): RegisteredInfo | null {
    return this.#registered;
  }

  get connection(): RelayConnection | null {
    return this.#conn;
  }

  /**
   * Connect and register. Resolves on the first registration; rejects when the relay's identity
   * is wrong or when `giveUpAfter` attempts failed (the link keeps trying only after a success).
   */
  start(giveUpAfter = 5): Promise<RegisteredInfo> {
    if (this.#state !== 'idle') throw new Error('relay link already started');
    return new Promise((resolve, reject) => {
      this.#firstRegistration = { resolve, reject };
      this.#giveUpAfter = giveUpAfter;
      void this.#connect();
    });
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#stopWatchdog();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const conn = this.#conn;
    this.#conn = null;
    this.#registered = null;
    if (conn) await conn.close('client leaving');
  }

  /** Watch these identities' presence; remembered across reconnects. */
  async subscribe(fingerprints: readonly Fingerprint[]): Promise<void> {
    this.#subscriptions = [...new Set(fingerprints)];
    if (this.#state === 'registered')
      await this.#send({ t: 'subscribe', fingerprints: this.#subscriptions });
  }

  /** Ask the relay to take over these calls (after registering again, or on another relay). */
  async resume(calls: readonly { callId: CallId; peer: Fingerprint }[]): Promise<void> {
    if (this.#state !== 'registered' || calls.length === 0) return;
    await this.#send({ t: 'resume', calls: calls.slice(0, MAX_RESUMED_CALLS) });
  }

  async sendSignal(to: Fingerprint, callId: CallId, signal: CallSignal): Promise<void> {
    if (this.#state !== 'registered')
      throw new Error(`relay link is ${this.#state}, not registered`);
    await this.#send({ t: 'signal', to, callId, signal });
  }

  async #send(msg: ClientToRelay): Promise<void> {
    const conn = this.#conn;
    if (!conn) throw new Error('not connected to the relay');
    await conn.sendSignal(msg);
  }

  async #connect(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'connecting';
    const target = this.target;
    let conn: RelayConnection;
    try {
      conn = await this.#opts.endpoint.dial<RelayToClient, ClientToRelay>({
        host: target.address.host,
        port: target.address.port,
        expect: target.trust,
        parseSignal: parseRelayToClient,
        // With somewhere to fail over to, a relay that does not answer is left sooner.
        timeoutMs: this.#opts.dialTimeoutMs ?? (this.#targets.length > 1 ? 2000 : 4000),
        pingIntervalMs: 1000,
      });
    } catch (e) {
      if (e instanceof PeerIdentityMismatchError) {
        this.#fail(e);
        this.emit('trust-failure', e);
        return;
      }
      this.#retry(e instanceof Error ? e.message : String(e));
      return;
    }
    if (this.#stopped()) {
      await conn.close('client leaving');
      return;
    }
    this.#conn = conn;
    this.#startWatchdog(conn);
    conn.on('signal', (msg) => this.#onMessage(conn, msg));
    conn.on('closed', (info) => {
      if (this.#conn !== conn) return;
      this.#stopWatchdog();
      this.#conn = null;
      const wasRegistered = this.#registered !== null;
      this.#registered = null;
      if (this.#state === 'stopped') return;
      this.#retry(this.#lastError ?? info.reason, wasRegistered);
    });
    conn.startDelivery();
  }

  #onMessage(conn: RelayConnection, msg: RelayToClient): void {
    switch (msg.t) {
      case 'challenge': {
        if (msg.relay !== conn.peer.fingerprint) {
          // The challenge names a relay other than the one we authenticated: do not sign for it.
          void conn.close('challenge for another relay');
          return;
        }
        const endpoint = this.#opts.endpoint;
        const sig = endpoint.identity.sign(
          registrationMessage(msg.relay, msg.nonce, endpoint.identity.fingerprint),
        );
        conn
          .sendSignal({ t: 'register', signature: Buffer.from(sig).toString('base64url') })
          .catch(() => undefined);
        return;
      }
      case 'registered': {
        const announced = parseHostPort(msg.stun);
        if (!announced) return;
        const unspecified = announced.host === '0.0.0.0' || announced.host === '::';
        const address = this.target.address;
        const info: RegisteredInfo = {
          relay: conn.peer.fingerprint,
          address,
          stun: {
            host: unspecified ? address.host : announced.host,
            port: announced.port,
          },
        };
        this.#registered = info;
        this.#state = 'registered';
        this.#attempt = 0;
        this.#failuresInRound = 0;
        this.#lastError = null;
        if (this.#subscriptions.length > 0) {
          conn
            .sendSignal({ t: 'subscribe', fingerprints: this.#subscriptions })
            .catch(() => undefined);
        }
        this.#firstRegistration?.resolve(info);
        this.#firstRegistration = null;
        this.emit('registered', info);
        return;
      }
      case 'presence':
        for (const fingerprint of msg.online) this.emit('presence', { fingerprint, online: true });
        for (const fingerprint of msg.offline)
          this.emit('presence', { fingerprint, online: false });
        return;
      case 'signal':
        this.emit('signal', { from: msg.from, callId: msg.callId, signal: msg.signal });
        return;
      case 'call-error':
        this.emit('call-error', { callId: msg.callId, reason: msg.reason });
        return;
      case 'media-grant': {
        const media = parseHostPort(msg.media);
        if (!media) return;
        const unspecified = media.host === '0.0.0.0' || media.host === '::';
        this.emit('media-grant', {
          callId: msg.callId,
          channelId: msg.channelId,
          key: new Uint8Array(Buffer.from(msg.key, 'base64url')),
          media: { host: unspecified ? this.target.address.host : media.host, port: media.port },
        });
        return;
      }
      case 'replaced':
        // Another instance of this identity registered: reconnecting would only evict it in turn.
        this.#lastError = `replaced by another registration of this identity${msg.reason ? ` (${msg.reason})` : ''}`;
        this.#state = 'stopped';
        this.emit('disconnected', { reason: this.#lastError, willRetry: false });
        return;
      case 'shutdown':
        this.#lastError = `relay shutting down: ${msg.reason}`;
        // Do not wait for it to close: the next relay of the list can take us now.
        if (this.#targets.length > 1) void conn.close('relay shutting down');
        return;
      case 'error':
        this.#lastError = `relay error ${msg.code}: ${msg.message}`;
        return;
    }
  }

  #retry(reason: string, wasRegistered = false): void {
    if (this.#state === 'stopped') return;
    this.#attempt++;
    this.#failuresInRound++;
    if (this.#targets.length > 1) {
      // Fail over: the next relay of the list, at once while the round is not through.
      this.#current = (this.#current + 1) % this.#targets.length;
      if (this.#failuresInRound < this.#targets.length && !this.#firstRegistration) {
        this.#state = 'backoff';
        if (wasRegistered) this.emit('disconnected', { reason, willRetry: true });
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          void this.#connect();
        }, 0);
        return;
      }
      this.#failuresInRound = 0;
    }
    if (this.#firstRegistration && this.#attempt >= this.#giveUpAfter) {
      this.#fail(
        new Error(
          `cannot register with relay ${this.#targets
            .map((t) => `${t.address.host}:${t.address.port}`)
            .join(' or ')}: ${reason}`,
        ),
      );
      return;
    }
    const base = this.#opts.initialBackoffMs ?? 250;
    const max = this.#opts.maxBackoffMs ?? 10_000;
    const exp = Math.min(max, base * 2 ** Math.min(this.#attempt - 1, 16));
    const delay = exp / 2 + (this.#opts.random ?? Math.random)() * (exp / 2);
    this.#state = 'backoff';
    if (wasRegistered || this.#attempt === 1)
      this.emit('disconnected', { reason, willRetry: true });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#connect();
    }, delay);
    this.#retryTimer.unref();
  }

  /** Leaves a relay that has gone silent (crashed, cut off) instead of waiting for QUIC's idle. */
  #startWatchdog(conn: RelayConnection): void {
    this.#stopWatchdog();
    const limit = this.#opts.silenceTimeoutMs ?? 3000;
    this.#watchdog = setInterval(() => {
      if (this.#conn !== conn || conn.silenceMs() <= limit) return;
      this.#lastError = `relay silent for ${Math.round(conn.silenceMs())} ms`;
      void conn.close('relay silent');
    }, 500);
    this.#watchdog.unref();
  }

  #stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  #stopped(): boolean {
    return this.#state === 'stopped';
  }

  #fail(error: Error): void {
    this.#state = 'stopped';
    this.#firstRegistration?.reject(error);
    this.#firstRegistration = null;
  }
}
