// Owns the adaptive quality decision for one call (pure logic, clock and sequence numbers passed
// in): which quality tier both ends encode at, given what the active path measures. The same
// logic runs on the relay and the direct path. It emits actions; the host applies tier changes to
// its encoder and sends the `quality` signals to the peer.
//
// Protocol (both ends run this class; the tier is shared by both directions):
// - Downgrade: local and immediate as soon as one report breaks the current tier's ceiling. The
//   new tier is announced with `quality{phase:'down', tier, atSeq}`; the peer adopts any lower
//   tier at once (the shared tier is the minimum of what the two ends want). No ack.
// - Upgrade: one step at a time, only after the reports have been good (with margin) for the next
//   tier for a hold time that doubles with each recent downgrade, and at most a few per minute.
//   The proposer sends `quality{phase:'propose', tier, atSeq}`; the peer answers
//   `ack{tier, atSeq}` if its own reports are good for that tier too, else `nack{tier: its tier}`.
//   Each end switches its own sending at its own atSeq (sequence numbers are per direction):
//   the acker at the atSeq it put in its ack, the proposer at the atSeq of its proposal, or at
//   once if the ack came after that frame. Opus packets describe themselves, so a receiver needs
//   no switch point; atSeq gives encoders a clean frame boundary and logs a traceable one.
// Anti-flapping: downgrades land on a tier that the triggering report fits *with* the upgrade
// margin (so no report can be both "too bad for this tier" and "good enough to go up"), the hold
// backs off exponentially, and upgrades are rate-limited per minute.
// Signals are assumed to arrive in order (they travel on reliable streams): `quality` has no
// epoch, so a stale ack is recognised only by its tier; an unexpected ack for a tier above ours
// is answered with a `down` to pull the peer back to our tier.
import type { CallSignal } from '../../../src-shared/call-signals.ts';
import { DEFAULT_TIER_ID, MAX_TIER_ID, MIN_TIER_ID, isTierId } from './quality-tiers.ts';

export type QualitySignal = Extract<CallSignal, { kind: 'quality' }>;

/** One report interval's measurements of the active path (both directions folded in). */
export interface PathReport {
  lossPct: number;
  rttMs: number;
  jitterMs: number;
}

export type QualityAction =
  /** Encode at `tier` from frame `atSeq` on (a downgrade: atSeq is the current frame). */
  | { type: 'downgrade'; tier: number; atSeq: number; reason: string }
  /** Encode at `tier` from frame `atSeq` on (agreed with the peer). */
  | { type: 'upgrade'; tier: number; atSeq: number; reason: string }
  /** Send this signal to the peer. */
  | { type: 'send'; signal: QualitySignal };

/** The worst path a tier is meant for; one report beyond any of these forces a downgrade. */
export interface TierCeiling {
  maxLossPct: number;
  maxJitterMs: number;
  maxRttMs: number;
}

// Loss bands follow what each tier's FEC depth and bitrate can carry: the top tiers have no FEC
// and want < 2 %, tiers 3-4 (FEC depth 1) take up to 5 %, tier 2 (depth 2) 10 %, tier 1 (40 ms,
// depth 3) 20 %, tier 0 anything. High jitter or RTT (often our own queueing) also pushes down to
// the long-frame tiers, which send fewer, smaller-overhead packets.
export const TIER_CEILINGS: readonly TierCeiling[] = Object.freeze([
  { maxLossPct: Infinity, maxJitterMs: Infinity, maxRttMs: Infinity },
  { maxLossPct: 20, maxJitterMs: 150, maxRttMs: 1000 },
  { maxLossPct: 10, maxJitterMs: 80, maxRttMs: 600 },
  { maxLossPct: 5, maxJitterMs: 60, maxRttMs: 500 },
  { maxLossPct: 3.5, maxJitterMs: 50, maxRttMs: 400 },
  { maxLossPct: 2, maxJitterMs: 40, maxRttMs: 350 },
  { maxLossPct: 1.5, maxJitterMs: 30, maxRttMs: 300 },
]);

/** The hysteresis: to go up to (or settle on) a tier a report must be this far inside it. */
export const UPGRADE_MARGIN: Readonly<TierCeiling> = Object.freeze({
  maxLossPct: 0.5,
  maxJitterMs: 0.7,
  maxRttMs: 0.8,
});

export interface QualityControllerOptions {
  initialTier?: number;
  /** Good reports needed before proposing an upgrade, with no recent downgrade. */
  baseHoldMs?: number;
  /** Ceiling of the backed-off hold. */
  maxHoldMs?: number;
  /** Each downgrade doubles the hold; each this long without one halves it again. */
  backoffDecayMs?: number;
  /** At most this many upgrades in any upgradeWindowMs. */
  maxUpgradesPerWindow?: number;
  upgradeWindowMs?: number;
  /** A proposal without an answer for this long is dropped (and may be made again). */
  proposeTimeoutMs?: number;
  /** How far ahead of the current send seq an upgrade is scheduled (10 frames = 200 ms). */
  switchLeadFrames?: number;
  /** How long our own reports must have been good before we ack a peer's proposal. */
  ackGoodMs?: number;
}

const DEFAULTS: Required<QualityControllerOptions> = {
  initialTier: DEFAULT_TIER_ID,
  baseHoldMs: 8000,
  maxHoldMs: 64_000,
  backoffDecayMs: 60_000,
  maxUpgradesPerWindow: 3,
  upgradeWindowMs: 60_000,
  proposeTimeoutMs: 3000,
  switchLeadFrames: 10,
  ackGoodMs: 3000,
};

const MAX_BACKOFF_LEVEL = 8;

/** Does the report fit the tier, each ceiling scaled by `margin` (1 = the plain ceiling)? */
export function fitsTier(r: PathReport, tier: number, margin?: TierCeiling): boolean {
  const c = TIER_CEILINGS[tier];
  if (c === undefined) return false;
  const m = margin ?? { maxLossPct: 1, maxJitterMs: 1, maxRttMs: 1 };
  return (
    r.lossPct <= c.maxLossPct * m.maxLossPct &&
    r.jitterMs <= c.maxJitterMs * m.maxJitterMs &&
    r.rttMs <= c.maxRttMs * m.maxRttMs
  );
}

/** The highest tier not above `ceilingTier` that the report fits with the upgrade margin. */
export function settleTier(r: PathReport, ceilingTier: number): number {
  for (let t = ceilingTier; t > MIN_TIER_ID; t--) if (fitsTier(r, t, UPGRADE_MARGIN)) return t;
  return MIN_TIER_ID;
}

function validReport(r: PathReport): boolean {
  const ok = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return ok(r.lossPct) && r.lossPct <= 100 && ok(r.rttMs) && ok(r.jitterMs);
}

export interface QualityStats {
  downgrades: number;
  upgrades: number;
  proposals: number;
  acksSent: number;
  nacksSent: number;
  /** Signals that did not fit the state (stale ack, unknown tier, ...): dropped. */
  ignoredSignals: number;
  /** Reports with non-finite or negative numbers: dropped. */
  malformedReports: number;
}

interface Pending {
  tier: number;
  atSeq: number;
  sentAt: number;
}

export class QualityController {
  private readonly o: Required<QualityControllerOptions>;
  private tier: number;
  /** When the current streak of reports good (with margin) for tier + 1 began. */
  private goodSince: number | null = null;
  private pending: Pending | null = null;
  private backoffLevel = 0;
  private lastDowngradeAt = -Infinity;
  private readonly upgradeTimes: number[] = [];
  private readonly counters: QualityStats = {
    downgrades: 0,
    upgrades: 0,
    proposals: 0,
    acksSent: 0,
    nacksSent: 0,
    ignoredSignals: 0,
    malformedReports: 0,
  };

  constructor(options: QualityControllerOptions = {}) {
    this.o = { ...DEFAULTS, ...options };
    this.tier = isTierId(this.o.initialTier) ? this.o.initialTier : DEFAULT_TIER_ID;
  }

  /** The tier this end encodes at (from the atSeq of the last tier action on). */
  get currentTier(): number {
    return this.tier;
  }

  /** The tier of our unanswered upgrade proposal, if any. */
  get pendingTier(): number | null {
    return this.pending?.tier ?? null;
  }

  get stats(): Readonly<QualityStats> {
    return { ...this.counters };
  }

  /** The hold an upgrade needs right now (grows with recent downgrades). */
  holdMs(now: number): number {
    return Math.min(this.o.maxHoldMs, this.o.baseHoldMs * 2 ** this.level(now));
  }

  /** One report interval's measurements of the active path. */
  onReport(report: PathReport, now: number, currentSeq: number): QualityAction[] {
    if (!validReport(report)) {
      this.counters.malformedReports++;
      return [];
    }
    if (!fitsTier(report, this.tier)) {
      const why = describe(report, this.tier);
      const to = settleTier(report, this.tier - 1);
      return [...this.downgrade(to, now, currentSeq, why), this.send('down', to, currentSeq, why)];
    }
    const next = this.tier + 1;
    if (next > MAX_TIER_ID || !fitsTier(report, next, UPGRADE_MARGIN)) {
      // Not good enough to go up: the streak restarts, and a proposal in flight is withdrawn
      // (a late ack for it is then answered with a `down`).
      this.goodSince = null;
      this.pending = null;
      return [];
    }
    this.goodSince ??= now;
    if (this.pending !== null && now - this.pending.sentAt >= this.o.proposeTimeoutMs) {
      this.pending = null;
    }
    if (
      this.pending === null &&
      now - this.goodSince >= this.holdMs(now) &&
      this.upgradesAllowed(now)
    ) {
      const atSeq = currentSeq + this.o.switchLeadFrames;
      this.pending = { tier: next, atSeq, sentAt: now };
      this.counters.proposals++;
      return [this.send('propose', next, atSeq, `good for ${now - this.goodSince} ms`)];
    }
    return [];
  }

  /** A `quality` signal from the peer (already schema-validated). */
  onSignal(sig: QualitySignal, now: number, currentSeq: number): QualityAction[] {
    if (!isTierId(sig.tier)) {
      this.counters.ignoredSignals++;
      return [];
    }
    switch (sig.phase) {
      case 'down':
        if (sig.tier >= this.tier) {
          this.counters.ignoredSignals++;
          return [];
        }
        return this.downgrade(sig.tier, now, currentSeq, 'peer: ' + sig.reason);
      case 'propose':
        return this.onPropose(sig.tier, now, currentSeq);
      case 'ack': {
        const p = this.pending;
        if (p !== null && p.tier === sig.tier && p.tier === this.tier + 1) {
          return this.upgrade(p.tier, Math.max(p.atSeq, currentSeq), now, 'agreed');
        }
        this.counters.ignoredSignals++;
        // The peer switched up to a tier we no longer want: pull it back to ours.
        if (sig.tier > this.tier) return [this.send('down', this.tier, currentSeq, 'stale ack')];
        return [];
      }
      case 'nack':
        this.pending = null;
        this.goodSince = null;
        // A nack carries the peer's tier: if it is below ours we drifted apart; meet at the lower.
        if (sig.tier < this.tier) return this.downgrade(sig.tier, now, currentSeq, 'peer tier');
        return [];
    }
  }

  private onPropose(tier: number, now: number, currentSeq: number): QualityAction[] {
    if (tier === this.tier) {
      // Both proposed the same step and we already took it on the peer's ack: agree again.
      this.counters.acksSent++;
      return [this.send('ack', tier, currentSeq, 'already')];
    }
    const mine = this.pending;
    const crossing = mine !== null && mine.tier === tier;
    const goodLongEnough = this.goodSince !== null && now - this.goodSince >= this.o.ackGoodMs;
    if (tier === this.tier + 1 && (crossing || (goodLongEnough && this.upgradesAllowed(now)))) {
      const atSeq = currentSeq + this.o.switchLeadFrames;
      this.counters.acksSent++;
      return [this.send('ack', tier, atSeq, 'agreed'), ...this.upgrade(tier, atSeq, now, 'peer')];
    }
    this.counters.nacksSent++;
    const why =
      tier !== this.tier + 1 ? 'tier mismatch' : goodLongEnough ? 'rate' : 'not good here';
    return [this.send('nack', this.tier, currentSeq, why)];
  }

  private downgrade(to: number, now: number, atSeq: number, reason: string): QualityAction[] {
    this.backoffLevel = Math.min(MAX_BACKOFF_LEVEL, this.level(now) + 1);
    this.lastDowngradeAt = now;
    this.tier = to;
    this.goodSince = null;
    this.pending = null;
    this.counters.downgrades++;
    return [{ type: 'downgrade', tier: to, atSeq, reason }];
  }

  private upgrade(to: number, atSeq: number, now: number, reason: string): QualityAction[] {
    this.tier = to;
    this.goodSince = null;
    this.pending = null;
    this.upgradeTimes.push(now);
    this.counters.upgrades++;
    return [{ type: 'upgrade', tier: to, atSeq, reason }];
  }

  private level(now: number): number {
    // Never downgraded: (now - -Infinity) decays everything away.
    const decayed = Math.floor((now - this.lastDowngradeAt) / this.o.backoffDecayMs);
    return Math.max(0, this.backoffLevel - decayed);
  }

  private upgradesAllowed(now: number): boolean {
    while ((this.upgradeTimes[0] ?? Infinity) <= now - this.o.upgradeWindowMs) {
      this.upgradeTimes.shift();
    }
    return this.upgradeTimes.length < this.o.maxUpgradesPerWindow;
  }

  private send(
    phase: QualitySignal['phase'],
    tier: number,
    atSeq: number,
    reason: string,
  ): QualityAction {
    const signal: QualitySignal = {
      kind: 'quality',
      phase,
      tier,
      atSeq: Math.min(2 ** 32 - 1, Math.max(0, Math.floor(atSeq))),
      reason: reason.slice(0, 64),
    };
    return { type: 'send', signal };
  }
}

function describe(r: PathReport, tier: number): string {
  const c = TIER_CEILINGS[tier];
  if (c === undefined) return 'report';
  if (r.lossPct > c.maxLossPct) return `loss ${r.lossPct.toFixed(1)}%`;
  if (r.jitterMs > c.maxJitterMs) return `jitter ${Math.round(r.jitterMs)} ms`;
  return `rtt ${Math.round(r.rttMs)} ms`;
}
