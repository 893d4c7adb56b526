// The engine behind the Softphone interface (hosts reach it only through softphone-api.ts's
// startSoftphone): one QUIC endpoint, one relay link, and the calls in progress. It routes relay
// events to the right call, answers a second invite with "busy", gives each accepted call its
// relayed media path when the relay grants it and builds its direct-path attempts.
import type { CallId, CallSignal } from '../../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { prewarmMediaCodecs } from '../media/media-pipeline.ts';
import { RelayLink, type MediaGrantInfo } from '../signaling/relay-link.ts';
import { QuicEndpoint } from '../transport/endpoint.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import { Call, newCallId } from './call.ts';
import { RelayMediaPath } from './relay-media-path.ts';
import { DirectAttempt } from '../nat/direct-connector.ts';
import { isLoopbackOrLinkLocal } from '../nat/candidates.ts';
import { PortMapper } from '../nat/port-mapping/port-mapper.ts';
import type {
  RelayConnectionState,
  RelayRegistration,
  Softphone,
  SoftphoneEvents,
  SoftphoneOptions,
} from './softphone-api.ts';

/**
 * A mapping that arrives later than this into a direct attempt is left for the next attempt.
 * Waiting delays nothing: the attempt trickles the mapped candidate whenever it comes.
 */
const PORT_MAPPING_WAIT_MS = 2000;

export class SoftphoneEngine extends TypedEmitter<SoftphoneEvents> implements Softphone {
  readonly #endpoint: QuicEndpoint<unknown, unknown>;
  readonly #link: RelayLink;
  readonly #opts: SoftphoneOptions;
  #calls = new Map<CallId, Call>();
  #grants = new Map<CallId, MediaGrantInfo>();
  #relayState: RelayConnectionState = 'connecting';
  #directCalls: boolean;
  #portMapper: PortMapper | null = null;

  private constructor(
    opts: SoftphoneOptions,
    endpoint: QuicEndpoint<unknown, unknown>,
    link: RelayLink,
  ) {
    super();
    this.#opts = opts;
    this.#endpoint = endpoint;
    this.#link = link;
    this.#directCalls = opts.directCalls ?? true;
    let registrations = 0;
    link.on('registered', () => {
      this.#setRelayState('registered');
      // Registered again (this relay came back, or another took over): the relay may not know
      // our calls in progress; name them, so it takes them over once the peers do too.
      if (registrations++ > 0) this.#resumeCalls();
    });
    link.on('disconnected', ({ reason, willRetry }) => {
      this.#setRelayState(willRetry ? 'reconnecting' : 'failed', reason);
      // Signals cannot reach the peer any more; calls still ringing cannot complete.
      for (const call of this.#calls.values()) if (call.state !== 'connected') call.relayLost();
    });
    link.on('trust-failure', (e) => this.#setRelayState('failed', e.message));
    link.on('presence', (p) => this.emit('presence', p));
    link.on('signal', ({ from, callId, signal }) => this.#onSignal(from, callId, signal));
    link.on('call-error', ({ callId, reason }) => this.#calls.get(callId)?.onCallError(reason));
    link.on('media-grant', (grant) => this.#onGrant(grant));
    // Only the peer of a call with a direct attempt under way may connect to us directly.
    endpoint.setAcceptPeer((fp) => this.#attemptAwaiting(fp) !== undefined);
    endpoint.on('connection', (conn) => {
      if (!this.#attemptAwaiting(conn.peer.fingerprint)?.acceptConnection(conn))
        void conn.close('no direct attempt for this peer');
    });
  }

  /** Bind the endpoint, connect to the relay and register; resolves once registered. */
  static async start(opts: SoftphoneOptions): Promise<SoftphoneEngine> {
    prewarmMediaCodecs();
    const endpoint = await QuicEndpoint.create<unknown, unknown>({
      identity: opts.identity,
      host: opts.bindHost ?? '0.0.0.0',
      port: opts.bindPort ?? 0,
      parseAcceptedSignal: () => null,
      pingIntervalMs: 200,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const link = new RelayLink({
      endpoint,
      relay: opts.relay,
      trust: opts.relayTrust,
      fallbacks: opts.fallbackRelays,
    });
    const phone = new SoftphoneEngine(opts, endpoint, link);
    try {
      await link.start();
    } catch (e) {
      await endpoint.close();
      throw e;
    }
    // After registration, so a host that subscribes once `start` resolves sees the outcome.
    if ((opts.portMapping ?? true) && !isLoopbackOrLinkLocal(opts.relay.host))
      phone.#startPortMapping();
    return phone;
  }

  #resumeCalls(): void {
    const calls = [...this.#calls.values()]
      .filter((c) => c.state === 'connected')
      .map((c) => ({ callId: c.id, peer: c.peer }));
    void this.#link.resume(calls).catch(() => undefined);
  }

  #startPortMapping(): void {
    const mapper = new PortMapper({ internalPort: this.#endpoint.address.port });
    this.#portMapper = mapper;
    mapper.on('mapped', (m) =>
      this.emit('port-mapping', {
        ok: true,
        protocol: m.protocol,
        external: `${m.ip}:${m.port}`,
        gateway: m.gateway,
        lifetimeS: m.lifetimeS,
        elapsedMs: m.elapsedMs,
      }),
    );
    mapper.on('unavailable', (u) => this.emit('port-mapping', { ok: false, ...u }));
    mapper.start();
  }

  /** The current port mapping, if any (after `port-mapping` said ok). */
  get portMapping(): PortMapper | null {
    return this.#portMapper;
  }

  get fingerprint(): Fingerprint {
    return this.#opts.identity.fingerprint;
  }

  get relayState(): RelayConnectionState {
    return this.#relayState;
  }

  get registration(): RelayRegistration | null {
    return this.#link.registration;
  }

  get directCalls(): boolean {
    return this.#directCalls;
  }

  setDirectCalls(enabled: boolean): void {
    this.#directCalls = enabled;
  }

  async watchPresence(fingerprints: readonly Fingerprint[]): Promise<void> {
    await this.#link.subscribe(fingerprints);
  }

  async call(
    peer: Fingerprint,
    opts: { direct?: boolean; displayName?: string } = {},
  ): Promise<Call> {
    if (peer === this.fingerprint) throw new Error('cannot call yourself');
    const call = this.#newCall(newCallId(), peer, 'outgoing');
    await call.start({ direct: opts.direct ?? this.#directCalls, displayName: opts.displayName });
    return call;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#calls.values()].map((c) => c.hangup('normal')));
    this.#setRelayState('stopped');
    await this.#link.stop();
    await this.#portMapper?.close();
    await this.#endpoint.close();
  }

  #newCall(id: CallId, peer: Fingerprint, direction: 'outgoing' | 'incoming'): Call {
    const call = new Call({
      id,
      peer,
      direction,
      ctx: {
        identity: this.#opts.identity,
        localIsTieWinner: this.fingerprint < peer,
        directCalls: () => this.#directCalls,
        createDirectAttempt: () => (this.#directCalls ? this.#directAttemptFor(peer, id) : null),
        signal: (signal) => this.#link.sendSignal(peer, id, signal),
        ringTimeoutMs: this.#opts.ringTimeoutMs ?? 45_000,
      },
    });
    this.#calls.set(id, call);
    call.on('state', (s) => {
      if (s !== 'connected') return;
      this.#attachRelayPath(call);
      this.#maybeStartDirect(call);
    });
    call.on('ended', () => {
      this.#calls.delete(id);
      this.#grants.delete(id);
    });
    return call;
  }

  #onSignal(from: Fingerprint, callId: CallId, signal: CallSignal): void {
    const call = this.#calls.get(callId);
    if (call) {
      if (call.peer !== from) return; // the relay should never do this; we do not trust it to
      void call.onSignal(signal);
      return;
    }
    if (signal.kind !== 'invite') return;
    const busy = [...this.#calls.values()].some((c) => c.state !== 'ended');
    if (busy) {
      void this.#link
        .sendSignal(from, callId, { kind: 'reject', reason: 'busy' })
        .catch(() => undefined);
      this.emit('rejected-busy', { peer: from, callId, displayName: signal.displayName ?? null });
      return;
    }
    const incoming = this.#newCall(callId, from, 'incoming');
    incoming.setPeerWantsDirect(signal.direct);
    incoming.setDisplayName(signal.displayName ?? null);
    void this.#link.sendSignal(from, callId, { kind: 'ringing' }).catch(() => undefined);
    this.emit('incoming', incoming);
  }

  /** The unfinished direct attempt of our call with `peer`, if there is one. */
  #attemptAwaiting(peer: Fingerprint): DirectAttempt | undefined {
    for (const c of this.#calls.values()) {
      if (c.peer === peer && c.directAttempt?.result === null) return c.directAttempt;
    }
    return undefined;
  }

  #maybeStartDirect(call: Call): void {
    if (!this.#directCalls || !call.peerWantsDirect) return;
    call.startDirect(this.#directAttemptFor(call.peer, call.id));
  }

  #directAttemptFor(peer: Fingerprint, callId: CallId): DirectAttempt {
    const stun = this.#opts.stunServers?.[0] ?? this.#link.registration?.stun ?? null;
    return new DirectAttempt({
      endpoint: this.#endpoint,
      peer,
      role: this.fingerprint < peer ? 'dialer' : 'responder',
      stun,
      includeLocal: isLoopbackOrLinkLocal(this.#opts.relay.host),
      signal: (s) => this.#link.sendSignal(peer, callId, s),
      portMapping: async () => {
        const m = await this.#portMapper?.current(
          this.#opts.portMappingWaitMs ?? PORT_MAPPING_WAIT_MS,
        );
        return m ? { ip: m.ip, port: m.port } : null;
      },
    });
  }

  #onGrant(grant: MediaGrantInfo): void {
    const call = this.#calls.get(grant.callId);
    if (!call) return;
    this.#grants.set(grant.callId, grant);
    if (call.state === 'connected') this.#attachRelayPath(call);
  }

  #attachRelayPath(call: Call): void {
    const grant = this.#grants.get(call.id);
    if (!grant) return;
    this.#grants.delete(call.id);
    const path = new RelayMediaPath({
      endpoint: this.#endpoint,
      grant,
      onPacket: (p) => call.receivePacket(p),
    });
    call.attachPath(path, 'call start');
  }

  #setRelayState(state: RelayConnectionState, detail?: string): void {
    if (state === this.#relayState && detail === undefined) return;
    this.#relayState = state;
    this.emit('relay', detail === undefined ? { state } : { state, detail });
  }
}
