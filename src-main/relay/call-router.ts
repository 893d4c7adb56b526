// The relay's part in a call: an invite creates the call between exactly two parties, signals go
// only between them, the callee's accept grants each party a media allocation on the UDP plane,
// and a reject, a hang-up, a ring timeout, idle media or a party going away ends the call and
// revokes its grants; an answered call that both parties claim after a fail-over is resumed. In a cluster (RelayState's NATS backend) the other party may be on another
// relay: its signals are routed through the state, and the call's media crosses between the two
// relays' UDP planes on a trunk. Registration, presence and connections are RelayServer's; call
// records live in RelayState, so every relay of a cluster sees the same calls.
// Why one file of about 550 lines: a call's signals are handled the same way whether the other
// party is here or on another relay, and each handler reads across both; split by locality, the
// two halves would call into each other for every signal.
import type { CallId, CallSignal, HangupReason } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';
import type { Logger } from '../engine/base/logger.ts';
import type { MediaForwarder } from './media-forwarder.ts';
import type {
  CallRecord,
  ClientSession,
  InviteOutcome,
  RelayState,
  RoutedCallMessage,
  TrunkOffer,
} from './relay-state.ts';
import { ResumeClaims } from './resume-claims.ts';

export const SIGNAL_DROP_REASONS = [
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
export type SignalDropReason = (typeof SIGNAL_DROP_REASONS)[number];

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

export interface CallRouterOptions {
  state: RelayState;
  forwarder: MediaForwarder;
  log: Logger;
  now: () => number;
  /** A call that is not answered within this time is forgotten (the caller gives up sooner). */
  ringTimeoutMs: number;
  /** Calls at once per identity (ringing or active). */
  maxCallsPerIdentity: number;
  /** The "host:port" of this relay's media plane, as grants name it to clients. */
  mediaAddress: () => string;
  /** Where peer relays send this relay's share of cross-relay media. */
  trunkMedia: () => string;
  /** The relay is shutting down: no new routed calls, and no "remote-gone" for its clients. */
  stopping: () => boolean;
  /** Counts (and logs) a signal refused from a client of this relay. */
  drop: (reason: SignalDropReason, from: ClientSession, detail?: Record<string, unknown>) => void;
  /**
   * Tests only, never set by `wzp relay`: what a hostile relay forwards instead of `signal`
   * (test/support/hostile-relay.ts swaps, replays and reflects key shares with it).
   */
  rewriteSignal?: RewriteSignal;
}

export type RewriteSignal = (
  from: Fingerprint,
  to: Fingerprint,
  callId: string,
  signal: CallSignal,
) => CallSignal;

export interface CallRouterCounters {
  signalsForwarded: number;
  callsStarted: number;
  callsAnswered: number;
  /** Answered calls taken over after both parties claimed them (fail-over, relay restart). */
  callsResumed: number;
  /** Signals sent to, and received from, parties on other relays of the cluster. */
  signalsRouted: number;
  signalsRoutedIn: number;
  /** Calls with one party on another relay, and routed messages this relay could not place. */
  crossRelayCalls: number;
  routedDropped: number;
  /** Calls the relay ended because no media flowed in them. */
  idleCallsEnded: number;
}

export class CallRouter {
  readonly #opts: CallRouterOptions;
  readonly #state: RelayState;
  readonly #forwarder: MediaForwarder;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ringTimers = new Map<CallId, NodeJS.Timeout>();
  readonly #resumes: ResumeClaims;
  #signalsForwarded = 0;
  #callsStarted = 0;
  #callsAnswered = 0;
  #callsResumed = 0;
  #signalsRouted = 0;
  #signalsRoutedIn = 0;
  #crossRelayCalls = 0;
  #routedDropped = 0;
  #idleCallsEnded = 0;

  constructor(opts: CallRouterOptions) {
    this.#opts = opts;
    this.#state = opts.state;
    this.#forwarder = opts.forwarder;
    this.#log = opts.log;
    this.#now = opts.now;
    this.#resumes = new ResumeClaims({ ttlMs: RESUME_CLAIM_TTL_MS, now: this.#now });
  }

  counters(): CallRouterCounters {
    return {
      signalsForwarded: this.#signalsForwarded,
      callsStarted: this.#callsStarted,
      callsAnswered: this.#callsAnswered,
      callsResumed: this.#callsResumed,
      signalsRouted: this.#signalsRouted,
      signalsRoutedIn: this.#signalsRoutedIn,
      crossRelayCalls: this.#crossRelayCalls,
      routedDropped: this.#routedDropped,
      idleCallsEnded: this.#idleCallsEnded,
    };
  }

  /** One call signal from a registered client of this relay, addressed to `to`. */
  route(session: ClientSession, to: Fingerprint, callId: string, signal: CallSignal): void {
    const from = session.fingerprint;
    if (signal.kind === 'invite') {
      if (to === from) {
        this.#opts.drop('self-call', session);
        session.deliver({ t: 'call-error', callId, reason: 'self-call' });
        return;
      }
      const callee = this.#state.locate(to);
      if (!callee) {
        this.#opts.drop('offline', session);
        session.deliver({ t: 'call-error', callId, reason: 'offline' });
        return;
      }
      const maxCalls = this.#opts.maxCallsPerIdentity;
      if (
        this.#state.callsOf(from).length >= maxCalls ||
        this.#state.callsOf(to).length >= maxCalls
      ) {
        this.#opts.drop('too-many-calls', session);
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
        this.#opts.drop('duplicate-call', session);
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
      this.#opts.drop('unknown-call', session, { kind: signal.kind });
      session.deliver({ t: 'call-error', callId, reason: 'unknown-call' });
      return;
    }
    const other = call.caller === from ? call.callee : call.callee === from ? call.caller : null;
    if (other === null || other !== to) {
      this.#opts.drop('not-a-party', session, { kind: signal.kind });
      session.deliver({ t: 'call-error', callId, reason: 'not-a-party' });
      return;
    }
    if (signal.kind === 'accept') {
      if (from !== call.callee || call.state !== 'ringing') {
        this.#opts.drop('unexpected-signal', session, { kind: signal.kind });
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

  /** A registered client of this relay is gone: its calls end, and the other party hears it. */
  partyGone(fingerprint: Fingerprint): void {
    for (const call of this.#state.callsOf(fingerprint)) {
      const other = call.caller === fingerprint ? call.callee : call.caller;
      // A relay going away says nothing: its clients fail over and their calls go on.
      if (!this.#opts.stopping()) this.#sendToParty(other, fingerprint, call.id, REMOTE_GONE);
      this.#endCall(call.id, 'party gone');
    }
  }

  /**
   * A party on another relay went offline: a call of its still ringing cannot be answered. An
   * answered call stays (its media may be direct; the party may come back).
   */
  partyOffline(fp: Fingerprint): void {
    if (this.#state.sessionOf(fp)) return;
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

  /** A client of ours registered again on another relay: calls with no party here left end. */
  partyMoved(fingerprint: Fingerprint): void {
    for (const call of this.#state.callsOf(fingerprint)) {
      const other = call.caller === fingerprint ? call.callee : call.caller;
      // Our other party's signals now route to the new registration; a call with no party
      // of ours left is the other relays' business.
      if (!this.#state.sessionOf(other)) this.#endCall(call.id, 'moved to another relay');
    }
  }

  /**
   * Ends active calls in which no media has flowed for `idleMs` (both parties' allocations idle:
   * their binds stop only when the call is gone on their side).
   */
  endIdleCalls(idleMs: number): void {
    for (const callId of this.#forwarder.sweepIdle(idleMs)) {
      const call = this.#state.getCall(callId);
      if (!call) continue;
      this.#idleCallsEnded++;
      this.#hangUpBoth(call, 'remote-gone');
      this.#endCall(callId, 'media idle');
    }
  }

  /** A party came online: claims of ours naming it can now reach it. */
  partyOnline(fp: Fingerprint): void {
    for (const c of this.#resumes.naming(fp)) this.#tryResume(c.callId, c.party, fp);
  }

  /** A client's claims to resume calls end with its session. */
  dropClaims(fingerprint: Fingerprint, claimed: CallId[]): void {
    this.#resumes.dropParty(fingerprint, claimed);
  }

  /** Stops the ring timers (the relay is stopping). */
  close(): void {
    for (const t of this.#ringTimers.values()) clearTimeout(t);
    this.#ringTimers.clear();
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
  onRoutedInvite(m: RoutedCallMessage & { kind: 'signal' }, relay: string): InviteOutcome {
    const callee = this.#state.sessionOf(m.to);
    if (!callee || this.#opts.stopping()) return { ok: false, reason: 'offline' };
    if (this.#state.callsOf(m.to).length >= this.#opts.maxCallsPerIdentity)
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
  onRouted(m: RoutedCallMessage, relay: string): void {
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
   * call is taken over once `peer` says the same: here, or through its relay. True when the
   * claim is new (the session keeps it, to drop it when it goes).
   */
  claimCall(session: ClientSession, callId: CallId, peer: Fingerprint): boolean {
    const from = session.fingerprint;
    const known = this.#state.getCall(callId);
    if (known) {
      if (!isPartyPair(known, from, peer))
        this.#opts.drop('not-a-party', session, { kind: 'resume' });
      return false;
    }
    if (peer === from || !this.#resumes.claim(callId, from, peer)) return false;
    this.#tryResume(callId, from, peer);
    return true;
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
        media: this.#opts.trunkMedia(),
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

  /** Delivers a signal to `to` here, or routes it to the relay that holds it. */
  #sendToParty(to: Fingerprint, from: Fingerprint, callId: string, signal: CallSignal): void {
    const where = this.#state.locate(to);
    if (where?.kind === 'local') this.#forward(where.session, from, callId, signal);
    else if (where?.kind === 'remote') {
      this.#signalsRouted++;
      this.#state.route({ kind: 'signal', from, to, callId, signal });
    }
  }

  #startRingTimer(callId: string): void {
    const timer = setTimeout(() => this.#ringTimeout(callId), this.#opts.ringTimeoutMs);
    timer.unref();
    this.#ringTimers.set(callId, timer);
  }

  #forward(target: ClientSession, from: Fingerprint, callId: string, signal: CallSignal): void {
    this.#signalsForwarded++;
    const sent = this.#opts.rewriteSignal?.(from, target.fingerprint, callId, signal) ?? signal;
    target.deliver({ t: 'signal', from, callId, signal: sent });
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
          media: this.#opts.mediaAddress(),
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
}
