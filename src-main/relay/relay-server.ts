// The relay: every client keeps one QUIC connection to it. It proves nothing about anyone until
// they register (a signature over a fresh challenge with the key their TLS certificate carries),
// then tells subscribers who is online and hands each call signal to the CallRouter
// (call-router.ts: signals only between the two parties of a call, media grants on the UDP plane
// beside STUN, routing and trunks to other relays of a cluster). It admits and budgets
// connections before they register, and drops (and counts) everything malformed, unknown or
// misaddressed.
// Why one file of about 470 lines: admission, registration, presence and the budgets act on the
// same per-connection state; calls are CallRouter's already.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import {
  PRESENCE_BATCH,
  formatHostPort,
  parseClientToRelay,
  registrationMessage,
  type ClientToRelay,
  type RelayToClient,
} from '../../src-shared/relay-protocol.ts';
import type { Logger } from '../engine/base/logger.ts';
import { verifySignature } from '../engine/identity/ed25519.ts';
import type { Identity } from '../engine/identity/identity.ts';
import { QuicEndpoint } from '../engine/transport/endpoint.ts';
import type { PeerConnection } from '../engine/transport/peer-connection.ts';
import { InboundBudget, type InboundBudgetLimits } from '../engine/transport/inbound-budget.ts';
import { Admission, AdmissionTicket, addressKey, type AdmissionLimits } from './admission.ts';
import { IdentityRates } from './identity-rates.ts';
import {
  CallRouter,
  SIGNAL_DROP_REASONS,
  type CallRouterCounters,
  type RewriteSignal,
  type SignalDropReason,
} from './call-router.ts';
import {
  DEFAULT_MAX_QUEUED_SIGNAL_BYTES,
  REGISTERED_BUDGET,
  Session,
  UNREGISTERED_BUDGET,
} from './client-session.ts';
import { MediaForwarder } from './media-forwarder.ts';
import { InMemoryRelayState, type ClientSession, type RelayState } from './relay-state.ts';
import { StunResponder } from './stun-responder.ts';
import { RelayUdpPlane } from './udp-plane.ts';

export interface RelayServerOptions {
  identity: Identity;
  listen: { host: string; port: number };
  /** STUN and relayed media (one UDP socket). */
  stun: { host: string; port: number };
  /** The STUN/media address clients are told, when they reach the UDP port through a forward. */
  announceStun?: { host: string; port: number };
  logger: Logger;
  /** Registered clients; connections still registering have their own pool (admission.ts). */
  maxClients?: number;
  maxUnregistered?: number;
  maxUnregisteredPerAddress?: number;
  registrationTimeoutMs?: number;
  /** A call that is not answered within this time is forgotten (the caller gives up sooner). */
  ringTimeoutMs?: number;
  signalRatePerSec?: number;
  signalBurst?: number;
  mediaRateBytesPerSec?: number;
  mediaRatePacketsPerSec?: number;
  /** Calls at once per identity (ringing or active). */
  maxCallsPerIdentity?: number;
  /** An active call whose media allocations saw no authentic frame for this long is ended. */
  callIdleMs?: number;
  /** How often idle calls and stale rate state are swept. */
  sweepIntervalMs?: number;
  /** Signal bytes queued for a client that does not read before it is disconnected. */
  maxQueuedSignalBytes?: number;
  /** Tests only (a hostile relay built from this one): see CallRouterOptions.rewriteSignal. */
  rewriteSignal?: RewriteSignal;
  /** What a connection may cost before it registers, and after. */
  unregisteredBudget?: InboundBudgetLimits;
  registeredBudget?: InboundBudgetLimits;
  state?: RelayState;
  now?: () => number;
}

/** The relay's counters (the CallRouter's among them), served by --metrics and SIGUSR1. */
export interface RelayMetrics extends CallRouterCounters {
  clients: number;
  registered: number;
  calls: number;
  subscriptions: number;
  drops: Record<SignalDropReason, number>;
  /** Frames the transport dropped before they reached us (bad JSON, off-schema, oversized). */
  malformedSignals: number;
  oversizedSignals: number;
  refusedConnections: number;
  /** Connections refused before registering: the unregistered pool or its per-address cap. */
  refusedAdmissions: ReturnType<Admission['counts']> & Admission['refused'];
  registrationTimeouts: number;
  cluster: ReturnType<RelayState['cluster']>;
  /** Clients disconnected for not reading, and pauses of clients over their inbound budget. */
  sendQueueOverflows: number;
  inboundThrottles: number;
  media: ReturnType<RelayUdpPlane['counters']>;
  stun: ReturnType<StunResponder['stats']>;
  quic: QuicEndpoint<ClientToRelay, RelayToClient>['counters'];
}

const SHUTDOWN_GRACE_MS = 300;

export class RelayServer {
  readonly fingerprint: Fingerprint;
  readonly #opts: RelayServerOptions;
  readonly #endpoint: QuicEndpoint<ClientToRelay, RelayToClient>;
  readonly #plane: RelayUdpPlane;
  readonly #forwarder: MediaForwarder;
  readonly #stun: StunResponder;
  readonly #state: RelayState;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #admission: Admission;
  readonly #rates: IdentityRates;
  readonly #calls: CallRouter;
  #sweepTimer: NodeJS.Timeout | null = null;
  #sessions = new Set<Session>();
  #nextSessionId = 1;
  #closedCounters = { malformed: 0, oversized: 0 };
  #drops = Object.fromEntries(SIGNAL_DROP_REASONS.map((r) => [r, 0])) as Record<
    SignalDropReason,
    number
  >;
  #registrationTimeouts = 0;
  #closedConnCounters = { sendQueueOverflows: 0, inboundThrottles: 0 };
  #stopping = false;
  #warnedTrunkAddress = false;

  private constructor(
    opts: RelayServerOptions,
    endpoint: QuicEndpoint<ClientToRelay, RelayToClient>,
    plane: RelayUdpPlane,
    forwarder: MediaForwarder,
    stun: StunResponder,
    admission: Admission,
  ) {
    this.#opts = opts;
    this.fingerprint = opts.identity.fingerprint;
    this.#endpoint = endpoint;
    this.#plane = plane;
    this.#forwarder = forwarder;
    this.#stun = stun;
    this.#state = opts.state ?? new InMemoryRelayState();
    this.#log = opts.logger;
    this.#now = opts.now ?? (() => performance.now());
    this.#admission = admission;
    this.#rates = new IdentityRates(opts.signalRatePerSec ?? 30, opts.signalBurst ?? 60, this.#now);
    this.#calls = new CallRouter({
      state: this.#state,
      forwarder,
      log: this.#log,
      now: this.#now,
      ringTimeoutMs: opts.ringTimeoutMs ?? 90_000,
      maxCallsPerIdentity: opts.maxCallsPerIdentity ?? 8,
      mediaAddress: () => this.#announcedUdp(),
      trunkMedia: () => this.#trunkMedia(),
      stopping: () => this.#stopping,
      drop: (reason, session, detail) => this.#drop(reason, session, detail),
      rewriteSignal: opts.rewriteSignal,
    });
  }

  static async start(opts: RelayServerOptions): Promise<RelayServer> {
    const forwarder = new MediaForwarder({
      rateBytesPerSec: opts.mediaRateBytesPerSec,
      ratePacketsPerSec: opts.mediaRatePacketsPerSec,
    });
    const stun = new StunResponder();
    const plane = new RelayUdpPlane({
      forwarder,
      stun: (buf, rinfo) => stun.handle(buf, rinfo),
      type: opts.stun.host.includes(':') ? 'udp6' : 'udp4',
    });
    const bound = await plane.bind(opts.stun.host, opts.stun.port);
    // The alternate STUN port for clients' NAT-depth probes (stun-message.ts CHANGE-REQUEST).
    if (bound.port < 65535) await plane.bindAlternate(opts.stun.host, bound.port + 1);
    const limits: Partial<AdmissionLimits> = {};
    if (opts.maxClients !== undefined) limits.maxClients = opts.maxClients;
    if (opts.maxUnregistered !== undefined) limits.maxUnregistered = opts.maxUnregistered;
    if (opts.maxUnregisteredPerAddress !== undefined)
      limits.maxUnregisteredPerAddress = opts.maxUnregisteredPerAddress;
    const admission = new Admission(limits);
    const unregisteredBudget = opts.unregisteredBudget ?? UNREGISTERED_BUDGET;
    let endpoint: QuicEndpoint<ClientToRelay, RelayToClient>;
    try {
      endpoint = await QuicEndpoint.create<ClientToRelay, RelayToClient>({
        identity: opts.identity,
        host: opts.listen.host,
        port: opts.listen.port,
        parseAcceptedSignal: parseClientToRelay,
        acceptPeer: () => true,
        pingIntervalMs: 2000,
        idleTimeoutMs: 20000,
        maxQueuedSignalBytes: opts.maxQueuedSignalBytes ?? DEFAULT_MAX_QUEUED_SIGNAL_BYTES,
        admitConnection: (remote) => admission.admit(addressKey(remote.host)),
        newInboundBudget: () => new InboundBudget(unregisteredBudget),
        logger: opts.logger,
      });
    } catch (e) {
      await plane.close();
      throw e;
    }
    const server = new RelayServer(opts, endpoint, plane, forwarder, stun, admission);
    server.#state.start(
      {
        presence: (fp, online) => server.#onPresence(fp, online),
        routed: (m, relay) => server.#calls.onRouted(m, relay),
        invite: (m, relay) => server.#calls.onRoutedInvite(m, relay),
        evicted: (session, relay) => server.#onEvicted(session, relay),
      },
      { media: server.#trunkMedia() },
    );
    endpoint.on('connection', (conn) => server.#onConnection(conn));
    server.#sweepTimer = setInterval(() => server.#sweep(), opts.sweepIntervalMs ?? 10_000);
    server.#sweepTimer.unref();
    endpoint.on('peer-refused', ({ reason }) => server.#log.debug({ reason }, 'handshake refused'));
    server.#log.info(
      { quic: server.quicAddress, stun: server.stunAddress, fingerprint: server.fingerprint },
      'relay listening',
    );
    return server;
  }

  get quicAddress(): string {
    const a = this.#endpoint.address;
    return formatHostPort(a.host, a.port);
  }

  get stunAddress(): string {
    const a = this.#plane.address();
    return formatHostPort(a.address, a.port);
  }

  metrics(): RelayMetrics {
    let malformed = this.#closedCounters.malformed;
    let oversized = this.#closedCounters.oversized;
    let { sendQueueOverflows, inboundThrottles } = this.#closedConnCounters;
    for (const s of this.#sessions) {
      malformed += s.conn.counters.signalsMalformed;
      oversized += s.conn.counters.signalsOversized;
      sendQueueOverflows += s.conn.counters.sendQueueOverflows;
      inboundThrottles += s.conn.counters.inboundThrottles;
    }
    return {
      clients: this.#sessions.size,
      ...this.#state.counts(),
      ...this.#calls.counters(),
      drops: { ...this.#drops },
      malformedSignals: malformed,
      oversizedSignals: oversized,
      refusedConnections: this.#endpoint.counters.refusedPeers,
      refusedAdmissions: { ...this.#admission.counts(), ...this.#admission.refused },
      registrationTimeouts: this.#registrationTimeouts,
      cluster: this.#state.cluster(),
      sendQueueOverflows,
      inboundThrottles,
      media: this.#plane.counters(),
      stun: this.#stun.stats(),
      quic: { ...this.#endpoint.counters },
    };
  }

  /** Tell every client we are going, give the messages a moment to leave, then close. */
  async shutdown(reason = 'relay shutting down'): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#log.info({ reason, clients: this.#sessions.size }, 'relay shutting down');
    for (const s of this.#sessions) s.deliver({ t: 'shutdown', reason });
    if (this.#sessions.size > 0) await new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS));
    this.#calls.close();
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    await this.#endpoint.close();
    await this.#state.close();
    await this.#plane.close();
  }

  #onConnection(conn: PeerConnection<ClientToRelay, RelayToClient>): void {
    const ticket = conn.ticket;
    if (this.#stopping || !(ticket instanceof AdmissionTicket)) {
      void conn
        .sendSignal({ t: 'error', code: 'relay-full', message: 'relay shutting down' })
        .catch(() => undefined)
        .finally(() => conn.close('relay shutting down'));
      return;
    }
    const session = new Session(
      this.#nextSessionId++,
      conn,
      ticket,
      this.#rates.bucket(conn.peer.fingerprint),
    );
    this.#sessions.add(session);
    session.registrationTimer = setTimeout(() => {
      if (!session.registered) {
        this.#registrationTimeouts++;
        session.deliver({ t: 'error', code: 'registration-timeout', message: 'register first' });
        session.close('registration timeout');
      }
    }, this.#opts.registrationTimeoutMs ?? 5000);
    session.registrationTimer.unref();
    conn.on('signal', (msg) => this.#onMessage(session, msg));
    conn.on('closed', (info) => this.#onClosed(session, info.reason));
    conn.startDelivery();
    session.deliver({ t: 'challenge', nonce: session.nonce, relay: this.fingerprint });
  }

  #drop(reason: SignalDropReason, session: ClientSession, detail?: Record<string, unknown>): void {
    this.#drops[reason]++;
    this.#log.debug({ reason, session: session.id, ...detail }, 'signal dropped');
  }

  #onMessage(session: Session, msg: ClientToRelay): void {
    if (msg.t === 'register') {
      this.#register(session, msg.signature);
      return;
    }
    if (!session.registered) {
      this.#drop('unregistered', session);
      return;
    }
    if (!session.bucket.take()) {
      this.#drop('rate-limited', session);
      if (msg.t === 'signal') {
        session.deliver({ t: 'call-error', callId: msg.callId, reason: 'rate-limited' });
      }
      return;
    }
    switch (msg.t) {
      case 'subscribe': {
        const wanted = [...new Set(msg.fingerprints)];
        this.#state.setSubscriptions(session, wanted);
        for (let i = 0; i < wanted.length; i += PRESENCE_BATCH) {
          const batch = wanted.slice(i, i + PRESENCE_BATCH);
          const isOnline = (fp: Fingerprint) => this.#state.locate(fp) !== undefined;
          session.deliver({
            t: 'presence',
            online: batch.filter(isOnline),
            offline: batch.filter((fp) => !isOnline(fp)),
          });
        }
        return;
      }
      case 'signal':
        this.#calls.route(session, msg.to, msg.callId, msg.signal);
        return;
      case 'resume':
        for (const c of msg.calls) {
          if (this.#calls.claimCall(session, c.callId, c.peer)) session.claimed.push(c.callId);
        }
        return;
    }
  }

  #register(session: Session, signature: string): void {
    if (session.registered) {
      this.#drop('already-registered', session);
      return;
    }
    const message = registrationMessage(this.fingerprint, session.nonce, session.fingerprint);
    if (
      !verifySignature(Buffer.from(signature, 'base64url'), message, session.conn.peer.publicKey)
    ) {
      this.#drop('bad-signature', session);
      session.deliver({
        t: 'error',
        code: 'bad-signature',
        message: 'registration signature does not verify',
      });
      session.close('bad registration signature');
      return;
    }
    const replacing = this.#state.sessionOf(session.fingerprint) !== undefined;
    if (!session.ticket.register(replacing)) {
      this.#drop('relay-full', session);
      session.deliver({ t: 'error', code: 'relay-full', message: 'relay full' });
      session.close('relay full');
      return;
    }
    session.registered = true;
    session.conn.setInboundBudget(
      new InboundBudget(this.#opts.registeredBudget ?? REGISTERED_BUDGET),
    );
    if (session.registrationTimer) clearTimeout(session.registrationTimer);
    const replaced = this.#state.register(session);
    if (replaced) {
      replaced.deliver({ t: 'replaced', reason: 'this identity registered again on this relay' });
      replaced.close('replaced by a newer registration');
      this.#log.info({ fingerprint: session.fingerprint }, 'registration replaced');
    }
    const stun = this.#plane.address();
    session.deliver({
      t: 'registered',
      you: session.fingerprint,
      stun: formatHostPort(stun.address, stun.port),
    });
    this.#log.info({ fingerprint: session.fingerprint, session: session.id }, 'client registered');
  }

  #announce(fingerprint: Fingerprint, online: boolean): void {
    for (const w of this.#state.watchersOf(fingerprint))
      w.deliver({
        t: 'presence',
        online: online ? [fingerprint] : [],
        offline: online ? [] : [fingerprint],
      });
  }

  /** Where peer relays send this relay's share of cross-relay media. */
  #trunkMedia(): string {
    const a = this.#opts.announceStun ?? {
      host: this.#plane.address().address,
      port: this.#plane.address().port,
    };
    const unspecified = a.host === '0.0.0.0' || a.host === '::';
    if (!unspecified) return formatHostPort(a.host, a.port);
    const listen = this.#opts.listen.host;
    if (listen !== '0.0.0.0' && listen !== '::') return formatHostPort(listen, a.port);
    if (!this.#warnedTrunkAddress) {
      this.#warnedTrunkAddress = true;
      this.#log.warn(
        'cross-relay media needs a reachable UDP address: pass --announce-stun HOST:PORT',
      );
    }
    return formatHostPort('127.0.0.1', a.port);
  }

  #onPresence(fp: Fingerprint, online: boolean): void {
    this.#announce(fp, online);
    if (online) this.#calls.partyOnline(fp);
    else this.#calls.partyOffline(fp);
  }

  /** A newer registration of this identity on another relay: tell this one why, and let go. */
  #onEvicted(client: ClientSession, relay: string): void {
    client.deliver({ t: 'replaced', reason: `this identity registered again on relay ${relay}` });
    client.close(`replaced by a newer registration on relay ${relay}`);
    this.#calls.partyMoved(client.fingerprint);
  }

  #announcedUdp(): string {
    const a = this.#opts.announceStun;
    if (a) return formatHostPort(a.host, a.port);
    const bound = this.#plane.address();
    return formatHostPort(bound.address, bound.port);
  }

  /**
   * Ends active calls in which no media has flowed for callIdleMs (both parties' allocations
   * idle: their binds stop only when the call is gone on their side), and forgets the rate
   * state of identities that have left.
   */
  #sweep(): void {
    this.#calls.endIdleCalls(this.#opts.callIdleMs ?? 60_000);
    this.#rates.sweep((fp) => this.#state.sessionOf(fp) !== undefined);
  }

  #onClosed(session: Session, reason: string): void {
    if (!this.#sessions.delete(session)) return;
    if (session.registrationTimer) clearTimeout(session.registrationTimer);
    this.#closedCounters.malformed += session.conn.counters.signalsMalformed;
    this.#closedCounters.oversized += session.conn.counters.signalsOversized;
    this.#closedConnCounters.sendQueueOverflows += session.conn.counters.sendQueueOverflows;
    this.#closedConnCounters.inboundThrottles += session.conn.counters.inboundThrottles;
    this.#state.dropSubscriptions(session);
    this.#calls.dropClaims(session.fingerprint, session.claimed);
    if (!session.registered || !this.#state.unregister(session)) return;
    this.#log.info({ fingerprint: session.fingerprint, reason }, 'client gone');
    this.#calls.partyGone(session.fingerprint);
  }
}
