// Owns the coordinated media path switch of one call (DESIGN.md step 5), as a pure state machine:
// which path (relay or direct) each outgoing frame takes, and the `path-switch` signals that make
// both ends agree. The host feeds it signals, timer ticks and its current send sequence number,
// and acts on what it returns; it never touches a socket.
//
// Protocol:
// - propose{path, atSeq, epoch}: "I will send on `path` from my frame atSeq on, once you ack".
//   The proposer offers a few frames ahead (100 ms) and switches at max(atSeq, its seq when the
//   ack arrives). ack{path, atSeq, epoch}: "agreed; I switch my sending at my frame atSeq".
//   Sequence numbers are per direction, so each side's atSeq is in its own numbering.
// - Receiving is never switched: the relay is always received, the direct path whenever this side
//   has it up, and the jitter buffer de-duplicates by seq. So it is safe to send on a path as soon
//   as the peer has said it is up there (by proposing it or acking it).
// - Epochs order proposals. A new epoch is above every epoch seen, and its lowest bit is the
//   side's tie-break bit (1 for the tie winner), so the two sides never make the same epoch and
//   "the higher epoch wins" settles crossed proposals the same way on both ends. A stale ack or
//   proposal (lower epoch than the state it would change) is ignored.
// - A proposal for `direct` that this side cannot take (direct not up here) is refused by a
//   counter-proposal for `relay` with a higher epoch (the schema has no nack phase).
// - No ack within retryMs: resend (same epoch, idempotent); after maxRetries give up, and propose
//   our current path back with a new epoch ("abort") in case the peer did switch and only its
//   ack was lost. Proposals that keep or put us on the path we already send on (abort, fallback)
//   are retried until acked or superseded, with a backoff, since both ends must end up agreeing.
// - fallback: the direct path died. Switch our sending to the relay at once, without waiting for
//   anyone, and propose relay (reason "fallback: ...") so the peer does the same; the peer acks
//   a fallback with an immediate switch instead of a lead.
import type { CallSignal, MediaPath } from '../../../src-shared/call-signals.ts';

export type PathSwitchSignal = Extract<CallSignal, { kind: 'path-switch' }>;

export type PathSwitchOutput =
  /** Send this signal to the peer. */
  | { type: 'send'; signal: PathSwitchSignal }
  /** Our sending path changes to `path` from frame `atSeq` on (emitted only on a change). */
  | { type: 'switch'; path: MediaPath; atSeq: number; epoch: number; reason: string }
  /** Our proposal got no ack after all retries; we stay where we are. */
  | { type: 'gave-up'; path: MediaPath; epoch: number; reason: string };

export interface PathSwitcherOptions {
  /** Deterministic tie-break, the same rule on both sides (e.g. the lower fingerprint wins). */
  localIsTieWinner: boolean;
  initialPath?: MediaPath;
  /** How many frames ahead of the current send seq a switch is scheduled (5 = 100 ms). */
  leadFrames?: number;
  /** Resend an unanswered proposal after this long. */
  retryMs?: number;
  /** Resends of an ordinary proposal before giving up. */
  maxRetries?: number;
  /** Ceiling of the resend interval of abort and fallback proposals, which never give up. */
  maxRetryMs?: number;
}

export interface PathSwitchStats {
  proposals: number;
  resends: number;
  acks: number;
  gaveUp: number;
  /** Signals that did not fit the state (stale epoch, wrong parity, ...): dropped. */
  ignored: number;
}

type ProposalKind = 'switch' | 'abort' | 'fallback' | 'refusal';

interface Pending {
  kind: ProposalKind;
  signal: PathSwitchSignal;
  lastSentAt: number;
  resends: number;
}

const MAX_SEQ = 2 ** 32 - 1;
const FALLBACK_PREFIX = 'fallback';

export class PathSwitcher {
  private readonly winnerBit: 0 | 1;
  private readonly leadFrames: number;
  private readonly retryMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryMs: number;
  /** Frames below switchAt go on `from`, the rest on `to`. `to` is the agreed path. */
  private from: MediaPath;
  private to: MediaPath;
  private switchAt = 0;
  private directUp = false;
  private agreedEpoch = 0;
  private maxEpochSeen = 0;
  private pending: Pending | null = null;
  /** Our ack of the peer's proposal at agreedEpoch, repeated if the proposal is resent. */
  private lastAck: PathSwitchSignal | null = null;
  private readonly counters: PathSwitchStats = {
    proposals: 0,
    resends: 0,
    acks: 0,
    gaveUp: 0,
    ignored: 0,
  };

  constructor(options: PathSwitcherOptions) {
    this.winnerBit = options.localIsTieWinner ? 1 : 0;
    this.leadFrames = options.leadFrames ?? 5;
    this.retryMs = options.retryMs ?? 500;
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryMs = options.maxRetryMs ?? 4000;
    this.from = this.to = options.initialPath ?? 'relay';
  }

  /** The path frame `seq` is sent on. */
  sendPathFor(seq: number): MediaPath {
    return seq >= this.switchAt ? this.to : this.from;
  }

  /** Whether this side accepts media arriving on `path` (the relay always). */
  receivingOn(path: MediaPath): boolean {
    return path === 'relay' || this.directUp;
  }

  /** The path of the last agreement (or fallback): where our sending is or is going. */
  get agreedPath(): MediaPath {
    return this.to;
  }

  get epoch(): number {
    return this.agreedEpoch;
  }

  get pendingProposal(): { path: MediaPath; epoch: number; kind: ProposalKind } | null {
    const p = this.pending;
    return p === null ? null : { path: p.signal.path, epoch: p.signal.epoch, kind: p.kind };
  }

  get isDirectUp(): boolean {
    return this.directUp;
  }

  get stats(): Readonly<PathSwitchStats> {
    return { ...this.counters };
  }

  /** The direct connection is up and authenticated: we now receive on it and may propose it. */
  directReady(): void {
    this.directUp = true;
  }

  /** Ask the peer to move both directions to `path`. Returns nothing if there is nothing to do. */
  propose(path: MediaPath, reason: string, nowSeq: number, now: number): PathSwitchOutput[] {
    if (path === 'direct' && !this.directUp) return [];
    if (this.pending !== null ? this.pending.signal.path === path : this.to === path) return [];
    return this.startProposal('switch', path, reason, nowSeq + this.leadFrames, now);
  }

  /** The direct path died: send on the relay from `nowSeq` on, and tell the peer. */
  fallback(reason: string, nowSeq: number, now: number): PathSwitchOutput[] {
    this.directUp = false;
    const onRelay = this.to === 'relay' && this.sendPathFor(nowSeq) === 'relay';
    if (onRelay && (this.pending === null || this.pending.signal.path === 'relay')) return [];
    const out = this.schedule('relay', nowSeq, nowSeq, this.agreedEpoch, FALLBACK_PREFIX);
    return [
      ...out,
      ...this.startProposal('fallback', 'relay', `${FALLBACK_PREFIX}: ${reason}`, nowSeq, now),
    ];
  }

  /** Resends and give-ups; call every few tens of ms. */
  tick(nowSeq: number, now: number): PathSwitchOutput[] {
    const p = this.pending;
    if (p === null) return [];
    const persistent = p.kind !== 'switch';
    const wait = persistent
      ? Math.min(this.maxRetryMs, this.retryMs * 2 ** p.resends)
      : this.retryMs;
    if (now - p.lastSentAt < wait) return [];
    if (persistent || p.resends < this.maxRetries) {
      p.resends++;
      p.lastSentAt = now;
      this.counters.resends++;
      return [{ type: 'send', signal: p.signal }];
    }
    this.pending = null;
    this.counters.gaveUp++;
    const gaveUp: PathSwitchOutput = {
      type: 'gave-up',
      path: p.signal.path,
      epoch: p.signal.epoch,
      reason: p.signal.reason,
    };
    // The peer may have switched and only its ack was lost: bring it back to our path.
    return [gaveUp, ...this.startProposal('abort', this.to, 'abort', nowSeq, now)];
  }

  /** A `path-switch` signal from the peer (already schema-validated). */
  onSignal(sig: PathSwitchSignal, nowSeq: number, now: number): PathSwitchOutput[] {
    return sig.phase === 'propose' ? this.onPropose(sig, nowSeq, now) : this.onAck(sig, nowSeq);
  }

  private onPropose(sig: PathSwitchSignal, nowSeq: number, now: number): PathSwitchOutput[] {
    // The peer's epochs carry the other tie-break bit.
    if ((sig.epoch & 1) === this.winnerBit) return this.ignore();
    this.maxEpochSeen = Math.max(this.maxEpochSeen, sig.epoch);
    if (sig.epoch <= this.agreedEpoch) {
      if (this.lastAck !== null && this.lastAck.epoch === sig.epoch) {
        return [{ type: 'send', signal: this.lastAck }];
      }
      return this.ignore();
    }
    if (this.pending !== null) {
      // Crossed proposals: the higher epoch wins on both ends; the winner just waits for its ack.
      if (this.pending.signal.epoch > sig.epoch) return this.ignore();
      this.pending = null;
    }
    if (sig.path === 'direct' && !this.directUp) {
      return this.startProposal('refusal', 'relay', 'refused: no direct path', nowSeq, now);
    }
    const urgent = sig.path === 'relay' && sig.reason.startsWith(FALLBACK_PREFIX);
    const atSeq = urgent ? nowSeq : nowSeq + this.leadFrames;
    const ack: PathSwitchSignal = { ...sig, phase: 'ack', atSeq: clampSeq(atSeq) };
    this.lastAck = ack;
    this.counters.acks++;
    return [
      { type: 'send', signal: ack },
      ...this.schedule(sig.path, atSeq, nowSeq, sig.epoch, sig.reason),
    ];
  }

  private onAck(sig: PathSwitchSignal, nowSeq: number): PathSwitchOutput[] {
    const p = this.pending;
    if (p === null || p.signal.epoch !== sig.epoch || p.signal.path !== sig.path) {
      return this.ignore();
    }
    this.pending = null;
    return this.schedule(
      sig.path,
      Math.max(p.signal.atSeq, nowSeq),
      nowSeq,
      sig.epoch,
      p.signal.reason,
    );
  }

  private startProposal(
    kind: ProposalKind,
    path: MediaPath,
    reason: string,
    atSeq: number,
    now: number,
  ): PathSwitchOutput[] {
    // 2^30 proposals in one call would be needed to leave the schema's epoch range.
    const epoch = (Math.floor(this.maxEpochSeen / 2) + 1) * 2 + this.winnerBit;
    this.maxEpochSeen = Math.max(this.maxEpochSeen, epoch);
    const signal: PathSwitchSignal = {
      kind: 'path-switch',
      phase: 'propose',
      path,
      atSeq: clampSeq(atSeq),
      epoch,
      reason: reason.slice(0, 64),
    };
    this.pending = { kind, signal, lastSentAt: now, resends: 0 };
    this.counters.proposals++;
    return [{ type: 'send', signal }];
  }

  /** Agree on `path` (epoch) and send on it from `atSeq` on. */
  private schedule(
    path: MediaPath,
    atSeq: number,
    nowSeq: number,
    epoch: number,
    reason: string,
  ): PathSwitchOutput[] {
    this.agreedEpoch = Math.max(this.agreedEpoch, epoch);
    const current = this.sendPathFor(nowSeq);
    const changed = path !== this.to;
    this.from = current;
    this.to = path;
    this.switchAt = atSeq;
    return changed ? [{ type: 'switch', path, atSeq, epoch, reason }] : [];
  }

  private ignore(): PathSwitchOutput[] {
    this.counters.ignored++;
    return [];
  }
}

function clampSeq(seq: number): number {
  return Math.min(MAX_SEQ, Math.max(0, Math.floor(seq)));
}
