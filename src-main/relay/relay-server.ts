// The relay: every client keeps one QUIC connection to it. It proves nothing about anyone until
// they register (a signature over a fresh challenge with the key their TLS certificate carries),
// then tells subscribers who is online, forwards call signals between the two parties of a call
// and nobody else, grants each party of an accepted call a media allocation on its UDP plane
// (beside STUN), and drops (and counts) everything malformed, unknown or misaddressed. In a cluster
// (RelayState's NATS backend) the other party may be on another relay: signals are routed to it
// through the state, and the call's media crosses between the two relays' UDP planes on a trunk.
import { randomBytes } from 'node:crypto';
import type { CallId, CallSignal, HangupReason } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import {
  PRESENCE_BATCH,
  formatHostPort,
  parseClientToRelay,
  parseHostPort,
  registrationMessage,
  type ClientToRelay,
  type RelayToClient,
} from '../../src-shared/relay-protocol.ts';
import type { Logger } from '../engine/base/logger.ts';
import { verifySignature } from '../engine/identity/ed25519.ts';
import type { Identity } from '../engine/identity/identity.ts';
import { QuicEndpoint } from '../engine/transport/endpoint.ts';
import type { PeerConnection } from '../engine/transport/peer-connection.ts';
import type { TokenBucket } from '../engine/base/token-bucket.ts';
import { InboundBudget, type InboundBudgetLimits } from '../engine/transport/inbound-budget.ts';
import { Admission, AdmissionTicket, addressKey, type AdmissionLimits } from './admission.ts';
import { IdentityRates } from './identity-rates.ts';
import { MediaForwarder } from './media-forwarder.ts';
import {
  InMemoryRelayState,
  type CallRecord,
  type ClientSession,
  type InviteOutcome,
  type RelayState,
  type RoutedCallMessage,
  type TrunkOffer,
} from './relay-state.ts';
import { ResumeClaims } from './resume-claims.ts';
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
  /** What a connection may cost before it registers, and after. */
  unregisteredBudget?: InboundBudgetLimits;
  registeredBudget?: InboundBudgetLimits;
  state?: RelayState;
  now?: () => number;
}

export const DROP_REASONS = [
  'unregistered',
  'already-registered',
  'bad-signature',
  'rate-limited',
  'unknown-call',
  'not-a-party',
  'duplicate-call',
  'offline',
  'self-call',
  'unexpected-signal',
  'relay-full',
  'too-many-calls',
] as const;
export type SignalDropReason = (typeof DROP_REASONS)[number];

export interface RelayMetrics {
  clients: number;
  registered: number;
  calls: number;
  subscriptions: number;
  signalsForwarded: number;
  callsStarted: number;
  callsAnswered: number;
  /** Answered calls taken over after both parties claimed them (fail-over, relay restart). */
  callsResumed: number;
  drops: Record<SignalDropReason, number>;
  /** Frames the transport dropped before they reached us (bad JSON, off-schema, oversized). */
  malformedSignals: number;
  oversizedSignals: number;
  refusedConnections: number;
  /** Connections refused before registering: the unregistered pool or its per-address cap. */
  refusedAdmissions: ReturnType<Admission['counts']> & Admission['refused'];
  registrationTimeouts: number;
  /** Signals sent to, and received from, parties on other relays of the cluster. */
  signalsRouted: number;
  signalsRoutedIn: number;
  /** Calls with one party on another relay, and routed messages this relay could not place. */
  crossRelayCalls: number;
  routedDropped: number;
  cluster: ReturnType<RelayState['cluster']>;
  /** Calls the relay ended because no media flowed in them. */
  idleCallsEnded: number;
  /** Clients disconnected for not reading, and pauses of clients over their inbound budget. */
  sendQueueOverflows: number;
  inboundThrottles: number;
  media: ReturnType<RelayUdpPlane['counters']>;
  stun: ReturnType<StunResponder['stats']>;
  quic: QuicEndpoint<ClientToRelay, RelayToClient>['counters'];
}

const SHUTDOWN_GRACE_MS = 300;
/** How long a claim to resume a call waits for the other party's. */
const RESUME_CLAIM_TTL_MS = 30_000;

function isPartyPair(call: CallRecord, a: Fingerprint, b: Fingerprint): boolean {
  return (call.caller === a && call.callee === b) || (call.caller === b && call.callee === a);
}
const REMOTE_GONE: CallSignal = { kind: 'hangup', reason: 'remote-gone' };
/** Signals of a call already under way: a relay that did not see it start may take it over. */
const IN_CALL_SIGNALS = new Set<CallSignal['kind']>([
  'ice-candidate',
  'direct',
  'path-switch',
  'quality',
  'report',
]);

/** Enough to say hello and register; nothing more is read from a connection that has not. */
export const UNREGISTERED_BUDGET: InboundBudgetLimits = {
  bytesPerSec: 2048,
  bytesBurst: 4096,
  framesPerSec: 2,
  framesBurst: 4,
  cpuMsPerSec: 20,
  cpuMsBurst: 100,
};

/**
 * A registered client's signals: a subscription of 1,000 contacts (65 kB) fits the burst, a
 * call's signalling is a few kB/s, and no client gets more than a small share of a core.
 */
export const REGISTERED_BUDGET: InboundBudgetLimits = {
  bytesPerSec: 32 * 1024,
  bytesBurst: 256 * 1024,
  framesPerSec: 50,
  framesBurst: 100,
  cpuMsPerSec: 25,
  cpuMsBurst: 250,
};

export const DEFAULT_MAX_QUEUED_SIGNAL_BYTES = 256 * 1024;

class Session implements ClientSession {
  fingerprint: Fingerprint;
  registered = false;
  readonly nonce = randomBytes(32).toString('base64url');
  /** The identity's signal rate bucket, shared by its reconnects. */
  readonly bucket: TokenBucket;
  registrationTimer: NodeJS.Timeout | null = null;
  /** Calls this client asked to resume (its claims are dropped when it goes). */
  readonly claimed: CallId[] = [];

  constructor(
    readonly id: number,
    readonly conn: PeerConnection<ClientToRelay, RelayToClient>,
    readonly ticket: AdmissionTicket,
    bucket: TokenBucket,
  ) {
    this.fingerprint = conn.peer.fingerprint;
    this.bucket = bucket;
  }

  deliver(message: RelayToClient): void {
    this.conn.sendSignal(message).catch(() => undefined);
  }

  close(reason: string): void {
    void this.conn.close(reason);
  }
}

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
  #sweepTimer: NodeJS.Timeout | null = null;
  #sessions = new Set<Session>();
  #nextSessionId = 1;
  #ringTimers = new Map<string, NodeJS.Timeout>();
  #closedCounters = { malformed: 0, oversized: 0 };
  #drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<SignalDropReason, number>;
  #signalsForwarded = 0;
  #callsStarted = 0;
  #callsAnswered = 0;
  #callsResumed = 0;
  #registrationTimeouts = 0;
  #signalsRouted = 0;
  #signalsRoutedIn = 0;
  #crossRelayCalls = 0;
  #routedDropped = 0;
  #idleCallsEnded = 0;
  #closedConnCounters = { sendQueueOverflows: 0, inboundThrottles: 0 };
  #stopping = false;
  #warnedTrunkAddress = false;
  readonly #resumes: ResumeClaims;

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
    this.#resumes = new ResumeClaims({ ttlMs: RESUME_CLAIM_TTL_MS, now: this.#now });
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
    await plane.bind(opts.stun.host, opts.stun.port);
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
      });
    } catch (e) {
      await plane.close();
      throw e;
    }
    const server = new RelayServer(opts, endpoint, plane, forwarder, stun, admission);
    server.#state.start(
      {
        presence: (fp, online) => server.#onPresence(fp, online),
        routed: (m, relay) => server.#onRouted(m, relay),
        invite: (m, relay) => server.#onRoutedInvite(m, relay),
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
      signalsForwarded: this.#signalsForwarded,
      callsStarted: this.#callsStarted,
      callsAnswered: this.#callsAnswered,
      callsResumed: this.#callsResumed,
      drops: { ...this.#drops },
      malformedSignals: malformed,
      oversizedSignals: oversized,
      refusedConnections: this.#endpoint.counters.refusedPeers,
      refusedAdmissions: { ...this.#admission.counts(), ...this.#admission.refused },
      registrationTimeouts: this.#registrationTimeouts,
      signalsRouted: this.#signalsRouted,
      signalsRoutedIn: this.#signalsRoutedIn,
      crossRelayCalls: this.#crossRelayCalls,
      routedDropped: this.#routedDropped,
      cluster: this.#state.cluster(),
      idleCallsEnded: this.#idleCallsEnded,
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
    for (const t of this.#ringTimers.values()) clearTimeout(t);
    this.#ringTimers.clear();
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

  #drop(reason: SignalDropReason, session: Session, detail?: Record<string, unknown>): void {
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
        this.#route(session, msg.to, msg.callId, msg.signal);
        return;
      case 'resume':
        for (const c of msg.calls) this.#claimCall(session, c.callId, c.peer);
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

  #route(session: Session, to: Fingerprint, callId: string, signal: CallSignal): void {
    const from = session.fingerprint;
    if (signal.kind === 'invite') {
      if (to === from) {
        this.#drop('self-call', session);
        session.deliver({ t: 'call-error', callId, reason: 'self-call' });
        return;
      }
      const callee = this.#state.locate(to);
      if (!callee) {
        this.#drop('offline', session);
        session.deliver({ t: 'call-error', callId, reason: 'offline' });
        return;
      }
      const maxCalls = this.#opts.maxCallsPerIdentity ?? 8;
      if (
        this.#state.callsOf(from).length >= maxCalls ||
        this.#state.callsOf(to).length >= maxCalls
      ) {
        this.#drop('too-many-calls', session);
        session.deliver({ t: 'call-error', callId, reason: 'too-many-calls' });
        return;
      }
      const call: CallRecord = {
        id: callId,
        caller: from,
        callee: to,
        state: 'ringing',
        createdAtMs: this.#now(),
      };
      if (!this.#state.createCall(call)) {
        this.#drop('duplicate-call', session);
        session.deliver({ t: 'call-error', callId, reason: 'duplicate-call' });
        return;
      }
      this.#callsStarted++;
      this.#startRingTimer(callId);
      if (callee.kind === 'local') this.#forward(callee.session, from, callId, signal);
      else this.#inviteRemote(call, signal, callee.relay);
      this.#log.info({ callId, caller: from, callee: to }, 'call invited');
      return;
    }
    const call = this.#state.getCall(callId);
    if (!call) {
      this.#drop('unknown-call', session, { kind: signal.kind });
      session.deliver({ t: 'call-error', callId, reason: 'unknown-call' });
      return;
    }
    const other = call.caller === from ? call.callee : call.callee === from ? call.caller : null;
    if (other === null || other !== to) {
      this.#drop('not-a-party', session, { kind: signal.kind });
      session.deliver({ t: 'call-error', callId, reason: 'not-a-party' });
      return;
    }
    if (signal.kind === 'accept') {
      if (from !== call.callee || call.state !== 'ringing') {
        this.#drop('unexpected-signal', session, { kind: signal.kind });
        return;
      }
      call.state = 'active';
      this.#callsAnswered++;
      this.#clearRingTimer(callId);
    }
    const target = this.#state.locate(other);
    if (target?.kind === 'local') this.#forward(target.session, from, callId, signal);
    else if (target?.kind === 'remote') {
      // The callee's relay opens its half of the media trunk and offers it with the accept.
      const trunk = signal.kind === 'accept' ? this.#openTrunk(call, other) : undefined;
      this.#signalsRouted++;
      this.#state.route({ kind: 'signal', from, to: other, callId, signal, trunk });
    }
    if (signal.kind === 'accept') this.#grantMedia(call);
    if (signal.kind === 'reject' || signal.kind === 'hangup') this.#endCall(callId, signal.kind);
  }

  /** Sends an invite to a callee on another relay; a refusal comes back as the caller's error. */
  #inviteRemote(call: CallRecord, signal: CallSignal, relay: string): void {
    this.#crossRelayCalls++;
    this.#signalsRouted++;
    void this.#state
      .routeInvite({ kind: 'signal', from: call.caller, to: call.callee, callId: call.id, signal })
      .then((outcome) => {
        if (outcome.ok) return;
        const still = this.#state.getCall(call.id);
        if (still !== call || call.state !== 'ringing') return;
        this.#log.info({ callId: call.id, relay, reason: outcome.reason }, 'routed invite refused');
        this.#state
          .sessionOf(call.caller)
          ?.deliver({ t: 'call-error', callId: call.id, reason: outcome.reason });
        this.#endCall(call.id, `remote ${outcome.reason}`);
      });
  }

  /** An invite from a caller on another relay for a client of ours. */
  #onRoutedInvite(m: RoutedCallMessage & { kind: 'signal' }, relay: string): InviteOutcome {
    const callee = this.#state.sessionOf(m.to);
    if (!callee || this.#stopping) return { ok: false, reason: 'offline' };
    if (this.#state.callsOf(m.to).length >= (this.#opts.maxCallsPerIdentity ?? 8))
      return { ok: false, reason: 'too-many-calls' };
    this.#signalsRoutedIn++;
    const call: CallRecord = {
      id: m.callId,
      caller: m.from,
      callee: m.to,
      state: 'ringing',
      createdAtMs: this.#now(),
    };
    if (!this.#state.createCall(call)) return { ok: false, reason: 'duplicate-call' };
    this.#crossRelayCalls++;
    this.#startRingTimer(m.callId);
    this.#forward(callee, m.from, m.callId, m.signal);
    this.#log.info({ callId: m.callId, caller: m.from, callee: m.to, relay }, 'call invited');
    return { ok: true };
  }

  /** A call message from another relay for a party of ours: mirror the call's state, deliver. */
  #onRouted(m: RoutedCallMessage, relay: string): void {
    const target = this.#state.sessionOf(m.to);
    let call = this.#state.getCall(m.callId);
    const parties = call ? [call.caller, call.callee] : [];
    if (call && !(parties.includes(m.from) && parties.includes(m.to))) {
      this.#routedDrop('not-a-party', m, relay);
      return;
    }
    if (m.kind === 'trunk') {
      if (!call || !this.#connectTrunk(call, m.trunk)) this.#routedDrop('unknown-call', m, relay);
      return;
    }
    if (m.kind === 'resume') {
      this.#onRoutedResume(m, call);
      return;
    }
    if (!target) {
      this.#routedDrop('offline', m, relay);
      return;
    }
    const { signal } = m;
    if (!call) {
      // The party moved here from a relay that held the call (it crashed or the client failed
      // over): the sending relay checked its own party, so take the call over mid-flight.
      if (!IN_CALL_SIGNALS.has(signal.kind)) {
        if (signal.kind === 'hangup') this.#forward(target, m.from, m.callId, signal);
        else this.#routedDrop('unknown-call', m, relay);
        return;
      }
      call = {
        id: m.callId,
        caller: m.from,
        callee: m.to,
        state: 'active',
        createdAtMs: this.#now(),
      };
      this.#state.createCall(call);
      this.#crossRelayCalls++;
      this.#log.info({ callId: m.callId, relay }, 'call taken over from another relay');
    }
    this.#signalsRoutedIn++;
    if (signal.kind === 'accept') {
      if (m.from !== call.callee || call.state !== 'ringing') {
        this.#routedDrop('unexpected-signal', m, relay);
        return;
      }
      call.state = 'active';
      this.#clearRingTimer(call.id);
    }
    this.#forward(target, m.from, m.callId, signal);
    if (signal.kind === 'accept') {
      // The caller's relay: open our half of the trunk, aim it at theirs, and tell them ours.
      const offer = this.#openTrunk(call, m.from);
      if (m.trunk) this.#connectTrunk(call, m.trunk);
      if (offer)
        this.#state.route({ kind: 'trunk', from: m.to, to: m.from, callId: call.id, trunk: offer });
      this.#grantMedia(call);
    }
    if (signal.kind === 'reject' || signal.kind === 'hangup') this.#endCall(call.id, signal.kind);
  }

  /**
   * `session` says it is in `callId` with `peer` (it registered after its relay went away). The
   * call is taken over once `peer` says the same: here, or through its relay.
   */
  #claimCall(session: Session, callId: CallId, peer: Fingerprint): void {
    const from = session.fingerprint;
    const known = this.#state.getCall(callId);
    if (known) {
      if (!isPartyPair(known, from, peer)) this.#drop('not-a-party', session, { kind: 'resume' });
      return;
    }
    if (peer === from || !this.#resumes.claim(callId, from, peer)) return;
    session.claimed.push(callId);
    this.#tryResume(callId, from, peer);
  }

  #tryResume(callId: CallId, party: Fingerprint, peer: Fingerprint): void {
    const where = this.#state.locate(peer);
    if (where?.kind === 'local') {
      if (!this.#resumes.take(callId, peer, party)) return;
      this.#resumes.take(callId, party, peer);
      this.#resumeCall(callId, party, peer, undefined);
    } else if (where?.kind === 'remote') {
      this.#signalsRouted++;
      this.#state.route({ kind: 'resume', from: party, to: peer, callId });
    }
  }

  /** The other party's relay says it claimed the call: take it if ours did too, and answer. */
  #onRoutedResume(m: RoutedCallMessage & { kind: 'resume' }, call: CallRecord | undefined): void {
    if (call) {
      if (m.trunk) this.#connectTrunk(call, m.trunk);
      return;
    }
    if (!this.#resumes.take(m.callId, m.to, m.from)) return;
    const offer = this.#resumeCall(m.callId, m.to, m.from, m.trunk);
    this.#signalsRouted++;
    this.#state.route({ kind: 'resume', from: m.to, to: m.from, callId: m.callId, trunk: offer });
  }

  /** Recreates an answered call both parties claimed, with fresh media for those here. */
  #resumeCall(
    callId: CallId,
    a: Fingerprint,
    b: Fingerprint,
    peerTrunk: TrunkOffer | undefined,
  ): TrunkOffer | undefined {
    const call: CallRecord = {
      id: callId,
      caller: a,
      callee: b,
      state: 'active',
      createdAtMs: this.#now(),
    };
    if (!this.#state.createCall(call)) return undefined;
    this.#callsResumed++;
    const remote = [a, b].find((p) => this.#state.locate(p)?.kind !== 'local');
    let offer: TrunkOffer | undefined;
    if (remote) {
      this.#crossRelayCalls++;
      offer = this.#openTrunk(call, remote);
      if (peerTrunk) this.#connectTrunk(call, peerTrunk);
    }
    this.#grantMedia(call);
    this.#log.info({ callId, parties: [a, b], crossRelay: remote !== undefined }, 'call resumed');
    return offer;
  }

  #routedDrop(reason: SignalDropReason, m: RoutedCallMessage, relay: string): void {
    this.#routedDropped++;
    this.#log.debug({ reason, callId: m.callId, kind: m.kind, relay }, 'routed message dropped');
  }

  /** Our half of a cross-relay media leg for `call`, towards the relay holding `remoteParty`. */
  #openTrunk(call: CallRecord, remoteParty: Fingerprint): TrunkOffer | undefined {
    try {
      const g = this.#forwarder.openTrunk(call.id, remoteParty);
      return {
        channelId: g.channelId,
        key: g.key.toString('base64url'),
        media: this.#trunkMedia(),
      };
    } catch (e) {
      this.#log.warn(
        { callId: call.id, err: e instanceof Error ? e.message : String(e) },
        'media trunk failed',
      );
      return undefined;
    }
  }

  #connectTrunk(call: CallRecord, offer: TrunkOffer): boolean {
    const at = parseHostPort(offer.media);
    if (!at) return false;
    return this.#forwarder.connectTrunk(call.id, {
      channelId: offer.channelId,
      key: Buffer.from(offer.key, 'base64url'),
      address: at.host,
      port: at.port,
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
    if (online) {
      // Parties of ours waiting to resume a call with this one can now reach it.
      for (const c of this.#resumes.naming(fp)) this.#tryResume(c.callId, c.party, fp);
      return;
    }
    if (this.#state.sessionOf(fp)) return;
    // A party on another relay went offline while its call was still ringing: the call cannot
    // be answered. An answered call stays (its media may be direct; the party may come back).
    for (const call of this.#state.callsOf(fp)) {
      if (call.state !== 'ringing') continue;
      const other = call.caller === fp ? call.callee : call.caller;
      this.#state.sessionOf(other)?.deliver({
        t: 'signal',
        from: fp,
        callId: call.id,
        signal: { kind: 'hangup', reason: 'remote-gone' },
      });
      this.#endCall(call.id, 'party gone');
    }
  }

  /** A newer registration of this identity on another relay: tell this one why, and let go. */
  #onEvicted(client: ClientSession, relay: string): void {
    client.deliver({ t: 'replaced', reason: `this identity registered again on relay ${relay}` });
    client.close(`replaced by a newer registration on relay ${relay}`);
    for (const call of this.#state.callsOf(client.fingerprint)) {
      const other = call.caller === client.fingerprint ? call.callee : call.caller;
      // Our other party's signals now route to the new registration; a call with no party
      // of ours left is the other relays' business.
      if (!this.#state.sessionOf(other)) this.#endCall(call.id, 'moved to another relay');
    }
  }

  #startRingTimer(callId: string): void {
    const timer = setTimeout(() => this.#ringTimeout(callId), this.#opts.ringTimeoutMs ?? 90_000);
    timer.unref();
    this.#ringTimers.set(callId, timer);
  }

  #forward(target: ClientSession, from: Fingerprint, callId: string, signal: CallSignal): void {
    this.#signalsForwarded++;
    target.deliver({ t: 'signal', from, callId, signal });
  }

  #announcedUdp(): string {
    const a = this.#opts.announceStun;
    if (a) return formatHostPort(a.host, a.port);
    const bound = this.#plane.address();
    return formatHostPort(bound.address, bound.port);
  }

  #grantMedia(call: CallRecord): void {
    for (const party of [call.caller, call.callee]) {
      const session = this.#state.sessionOf(party);
      if (!session) continue;
      try {
        const grant = this.#forwarder.grant(call.id, party);
        session.deliver({
          t: 'media-grant',
          callId: call.id,
          channelId: grant.channelId,
          key: grant.key.toString('base64url'),
          media: this.#announcedUdp(),
        });
      } catch (e) {
        this.#log.warn(
          { callId: call.id, err: e instanceof Error ? e.message : String(e) },
          'media grant failed',
        );
      }
    }
  }

  #ringTimeout(callId: string): void {
    const call = this.#state.getCall(callId);
    if (!call || call.state !== 'ringing') return;
    this.#hangUpBoth(call, 'no-answer');
    this.#endCall(callId, 'ring-timeout');
  }

  /** Tell both parties the call is over, each as if the other had hung up. */
  #hangUpBoth(call: CallRecord, reason: HangupReason): void {
    for (const party of [call.caller, call.callee]) {
      const other = party === call.caller ? call.callee : call.caller;
      this.#state.sessionOf(party)?.deliver({
        t: 'signal',
        from: other,
        callId: call.id,
        signal: { kind: 'hangup', reason },
      });
    }
  }

  #clearRingTimer(callId: string): void {
    const t = this.#ringTimers.get(callId);
    if (t) clearTimeout(t);
    this.#ringTimers.delete(callId);
  }

  #endCall(callId: string, why: string): void {
    this.#clearRingTimer(callId);
    const call = this.#state.endCall(callId);
    if (!call) return;
    const stats = this.#forwarder.callStats(callId);
    this.#forwarder.revoke(callId);
    this.#log.info(
      {
        callId,
        why,
        relayed: stats?.parties.map((p) => ({
          rxFrames: p.rxFrames,
          rxBytes: p.rxBytes,
          txFrames: p.txFrames,
          txBytes: p.txBytes,
        })),
      },
      'call ended',
    );
  }

  /**
   * Ends active calls in which no media has flowed for callIdleMs (both parties' allocations
   * idle: their binds stop only when the call is gone on their side), and forgets the rate
   * state of identities that have left.
   */
  #sweep(): void {
    const idleMs = this.#opts.callIdleMs ?? 60_000;
    for (const callId of this.#forwarder.sweepIdle(idleMs)) {
      const call = this.#state.getCall(callId);
      if (!call) continue;
      this.#idleCallsEnded++;
      this.#hangUpBoth(call, 'remote-gone');
      this.#endCall(callId, 'media idle');
    }
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
    this.#resumes.dropParty(session.fingerprint, session.claimed);
    if (!session.registered || !this.#state.unregister(session)) return;
    this.#log.info({ fingerprint: session.fingerprint, reason }, 'client gone');
    for (const call of this.#state.callsOf(session.fingerprint)) {
      const other = call.caller === session.fingerprint ? call.callee : call.caller;
      // A relay going away says nothing: its clients fail over and their calls go on.
      if (!this.#stopping) this.#sendToParty(other, session.fingerprint, call.id, REMOTE_GONE);
      this.#endCall(call.id, 'party gone');
    }
  }

  /** Delivers a signal to `to` here, or routes it to the relay that holds it. */
  #sendToParty(to: Fingerprint, from: Fingerprint, callId: string, signal: CallSignal): void {
    const where = this.#state.locate(to);
    if (where?.kind === 'local') this.#forward(where.session, from, callId, signal);
    else if (where?.kind === 'remote') {
      this.#signalsRouted++;
      this.#state.route({ kind: 'signal', from, to, callId, signal });
    }
  }
}
