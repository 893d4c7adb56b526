// Adaptive quality on a fake clock: immediate downgrades, upgrades only after a backed-off hold
// and the peer's ack, signal handling, two controllers talking to each other, and properties over
// arbitrary loss traces (no flapping, bounded downgrade latency).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  QualityController,
  TIER_CEILINGS,
  fitsTier,
  settleTier,
} from '../../src-main/engine/media/quality-controller.ts';
import type {
  PathReport,
  QualityAction,
  QualitySignal,
} from '../../src-main/engine/media/quality-controller.ts';
import { DEFAULT_TIER_ID, MAX_TIER_ID } from '../../src-main/engine/media/quality-tiers.ts';

const REPORT_MS = 1000;
const FRAMES_PER_REPORT = 50;
const rep = (lossPct: number, rttMs = 40, jitterMs = 5): PathReport => ({
  lossPct,
  rttMs,
  jitterMs,
});
const q = (phase: QualitySignal['phase'], tier: number, atSeq = 0): QualitySignal => ({
  kind: 'quality',
  phase,
  tier,
  atSeq,
  reason: 'test',
});
const sent = (acts: QualityAction[]): QualitySignal[] =>
  acts.flatMap((a) => (a.type === 'send' ? [a.signal] : []));
const changes = (acts: QualityAction[]): QualityAction[] =>
  acts.filter((a) => a.type === 'downgrade' || a.type === 'upgrade');

interface Change {
  at: number;
  tier: number;
}

/**
 * Feeds one report per second; the fake peer answers every proposal with `answer` 100 ms later.
 * Returns the tier changes and checks after every report that the tier fits that report.
 */
function drive(
  qc: QualityController,
  trace: readonly PathReport[],
  answer: 'ack' | 'nack' | 'none' = 'ack',
): Change[] {
  const out: Change[] = [];
  trace.forEach((r, i) => {
    const now = i * REPORT_MS;
    const seq = i * FRAMES_PER_REPORT;
    const acts = qc.onReport(r, now, seq);
    for (const a of changes(acts)) out.push({ at: now, tier: a.type === 'send' ? -1 : a.tier });
    assert.ok(
      fitsTier(r, qc.currentTier),
      `t=${now}: tier ${qc.currentTier} does not fit ${JSON.stringify(r)}`,
    );
    for (const s of sent(acts)) {
      if (s.phase !== 'propose' || answer === 'none') continue;
      const reply = answer === 'ack' ? q('ack', s.tier, seq + 15) : q('nack', qc.currentTier);
      for (const a of changes(qc.onSignal(reply, now + 100, seq + 5))) {
        out.push({ at: now + 100, tier: a.type === 'send' ? -1 : a.tier });
      }
    }
  });
  return out;
}

/** The most tier changes inside any window of `windowMs`. */
function maxChangesInWindow(cs: readonly Change[], windowMs: number): number {
  let best = 0;
  for (let i = 0; i < cs.length; i++) {
    let n = 0;
    for (let j = i; j < cs.length && (cs[j]?.at ?? Infinity) < (cs[i]?.at ?? 0) + windowMs; j++) {
      n++;
    }
    best = Math.max(best, n);
  }
  return best;
}

describe('QualityController, one end against a scripted peer', () => {
  test('starts at the default tier and drops at once when loss appears', () => {
    const qc = new QualityController();
    assert.equal(qc.currentTier, DEFAULT_TIER_ID);
    assert.deepEqual(qc.onReport(rep(0.5), 0, 100), []);
    const acts = qc.onReport(rep(12), 1000, 150);
    // 12 % breaks tier 3 (5 %); it must land where 12 % fits with margin: tier 0 or 1.
    assert.ok(qc.currentTier <= 1, `tier ${qc.currentTier}`);
    assert.deepEqual(changes(acts), [
      { type: 'downgrade', tier: qc.currentTier, atSeq: 150, reason: 'loss 12.0%' },
    ]);
    assert.deepEqual(
      sent(acts),
      [q('down', qc.currentTier, 150)].map((s) => ({ ...s, reason: 'loss 12.0%' })),
    );
    assert.equal(qc.stats.downgrades, 1);
  });

  test('the loss bands map to tiers, and jitter or RTT alone push down too', () => {
    assert.equal(settleTier(rep(0.5), MAX_TIER_ID), MAX_TIER_ID);
    assert.equal(settleTier(rep(3), MAX_TIER_ID), 2); // needs a 6 % ceiling with margin
    assert.equal(settleTier(rep(7), MAX_TIER_ID), 1);
    assert.equal(settleTier(rep(25), MAX_TIER_ID), 0);
    assert.ok(settleTier(rep(0, 40, 70), MAX_TIER_ID) <= 1, 'jitter 70 ms');
    assert.ok(settleTier(rep(0, 700, 5), MAX_TIER_ID) <= 1, 'rtt 700 ms');
    for (let t = 1; t <= MAX_TIER_ID; t++) {
      const c = TIER_CEILINGS[t];
      assert.ok(c !== undefined && c.maxLossPct <= (TIER_CEILINGS[t - 1]?.maxLossPct ?? 0));
    }
    const qc = new QualityController({ initialTier: 6 });
    qc.onReport(rep(0, 40, 45), 0, 0);
    assert.ok(qc.currentTier < 6);
  });

  test('recovers only after the hold time and the peer ack, one step at a time', () => {
    const qc = new QualityController();
    qc.onReport(rep(12), 0, 0); // down, backoff level 1
    const low = qc.currentTier;
    const hold = qc.holdMs(0);
    assert.ok(hold > 8000, `hold grows after a downgrade: ${hold}`);
    let proposedAt = -1;
    for (let i = 1; i <= 40 && proposedAt < 0; i++) {
      const acts = qc.onReport(rep(0), i * 1000, i * 50);
      assert.equal(qc.currentTier, low, 'no upgrade without an ack');
      if (sent(acts).some((s) => s.phase === 'propose')) proposedAt = i * 1000;
    }
    // The good streak starts at t=1 s; the proposal comes at the hold, not before.
    assert.equal(proposedAt, 1000 + hold);
    assert.equal(qc.pendingTier, low + 1);
    // Without an answer nothing changes; the proposal times out and is made again.
    const again: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const now = proposedAt + i * 1000;
      if (sent(qc.onReport(rep(0), now, 5000 + i * 50)).length > 0) again.push(now);
    }
    assert.equal(qc.currentTier, low);
    assert.deepEqual(again, [proposedAt + 3000]);
    // The ack arrives: switch at the proposal's atSeq if it is still ahead, else at once.
    const acts = qc.onSignal(q('ack', low + 1, 9999), proposedAt + 3100, 5160);
    assert.deepEqual(changes(acts), [
      { type: 'upgrade', tier: low + 1, atSeq: 5160, reason: 'agreed' },
    ]);
    assert.equal(qc.currentTier, low + 1);
    assert.equal(qc.pendingTier, null);
  });

  test('a nack leaves the tier alone and restarts the hold; a nack from a lower peer pulls us down', () => {
    const qc = new QualityController({ initialTier: 2 });
    const cs = drive(
      qc,
      Array.from({ length: 30 }, () => rep(0)),
      'nack',
    );
    assert.deepEqual(cs, []);
    assert.equal(qc.currentTier, 2);
    assert.ok(qc.stats.proposals >= 2 && qc.stats.proposals <= 4, `${qc.stats.proposals}`);
    const acts = qc.onSignal(q('nack', 1), 31_000, 1550);
    assert.equal(qc.currentTier, 1);
    assert.equal(changes(acts)[0]?.type, 'downgrade');
  });

  test('with an acking peer it climbs to the top, one step per hold, and then stays', () => {
    const qc = new QualityController({ initialTier: 0 });
    const cs = drive(
      qc,
      Array.from({ length: 200 }, () => rep(0)),
    );
    assert.deepEqual(
      cs.map((c) => c.tier),
      [1, 2, 3, 4, 5, 6],
    );
    for (let i = 1; i < cs.length; i++) {
      assert.ok((cs[i]?.at ?? 0) - (cs[i - 1]?.at ?? 0) >= 8000, 'one step per hold');
    }
    assert.ok(maxChangesInWindow(cs, 60_000) <= 3, 'upgrade rate limit');
    assert.equal(qc.currentTier, MAX_TIER_ID);
  });

  test('repeated loss backs the hold off exponentially', () => {
    const qc = new QualityController({ initialTier: 6 });
    assert.equal(qc.holdMs(0), 8000);
    const holds: number[] = [];
    qc.onReport(rep(1.8), 0, 0); // 6 -> below, level 1
    holds.push(qc.holdMs(0));
    for (let k = 1; k <= 3; k++) {
      qc.onSignal(q('down', qc.currentTier - 1), k * 1000, k * 50);
      holds.push(qc.holdMs(k * 1000));
    }
    assert.deepEqual(holds, [16_000, 32_000, 64_000, 64_000]);
    // Each quiet minute halves it again.
    assert.equal(qc.holdMs(3000 + 60_000), 64_000); // level 4 -> 3: still at the cap
    assert.equal(qc.holdMs(3000 + 120_000), 32_000);
    assert.equal(qc.holdMs(3000 + 240_000), 8000);
  });
});

describe('QualityController, peer signals', () => {
  test('adopts a lower tier from the peer at once, ignores a higher one', () => {
    const qc = new QualityController({ initialTier: 4 });
    assert.deepEqual(qc.onSignal(q('down', 5), 0, 10), []);
    assert.equal(qc.currentTier, 4);
    const acts = qc.onSignal(q('down', 2), 0, 10);
    assert.deepEqual(acts, [{ type: 'downgrade', tier: 2, atSeq: 10, reason: 'peer: test' }]);
    assert.equal(qc.stats.ignoredSignals, 1);
  });

  test('acks a proposal only when its own reports have been good, with atSeq ahead', () => {
    const qc = new QualityController({ initialTier: 2 });
    qc.onReport(rep(0), 0, 0);
    qc.onReport(rep(0), 1000, 50);
    assert.deepEqual(sent(qc.onSignal(q('propose', 3), 1500, 75)), [
      { ...q('nack', 2, 75), reason: 'not good here' },
    ]);
    qc.onReport(rep(0), 2000, 100);
    qc.onReport(rep(0), 3000, 150);
    const acts = qc.onSignal(q('propose', 3), 3500, 175);
    assert.deepEqual(sent(acts), [{ ...q('ack', 3, 185), reason: 'agreed' }]);
    assert.deepEqual(changes(acts), [{ type: 'upgrade', tier: 3, atSeq: 185, reason: 'peer' }]);
    // A proposal that skips a step is refused with our tier.
    assert.deepEqual(sent(qc.onSignal(q('propose', 5), 3600, 180)), [
      { ...q('nack', 3, 180), reason: 'tier mismatch' },
    ]);
    // Bad reports here: refuse.
    qc.onReport(rep(4), 4000, 200);
    assert.equal(sent(qc.onSignal(q('propose', 4), 4100, 205))[0]?.phase, 'nack');
  });

  test('an ack for a withdrawn proposal is answered with our tier', () => {
    const qc = new QualityController({ initialTier: 5 });
    drive(
      qc,
      Array.from({ length: 9 }, () => rep(0)),
      'none',
    );
    assert.equal(qc.pendingTier, 6);
    qc.onReport(rep(1.2), 9000, 450); // fits 5 but not "good for 6": proposal withdrawn
    assert.equal(qc.currentTier, 5);
    const acts = qc.onSignal(q('ack', 6), 9100, 455);
    assert.deepEqual(changes(acts), []);
    assert.deepEqual(sent(acts), [{ ...q('down', 5, 455), reason: 'stale ack' }]);
  });

  test('drops malformed reports and unknown tiers', () => {
    const qc = new QualityController();
    assert.deepEqual(qc.onReport(rep(Number.NaN), 0, 0), []);
    assert.deepEqual(qc.onReport(rep(-1), 0, 0), []);
    assert.deepEqual(qc.onReport({ lossPct: 1, rttMs: Infinity, jitterMs: 0 }, 0, 0), []);
    assert.deepEqual(qc.onSignal(q('down', 12), 0, 0), []);
    assert.equal(qc.currentTier, DEFAULT_TIER_ID);
    assert.equal(qc.stats.malformedReports, 3);
    assert.equal(qc.stats.ignoredSignals, 1);
  });
});

/** Two ends on one path: each sees the path with its own noise; signals arrive 400 ms later. */
function duo(
  lossTrace: readonly number[],
  noise: readonly number[],
): { a: Change[]; b: Change[]; diverged: number } {
  const ends = [new QualityController(), new QualityController()] as const;
  const log: [Change[], Change[]] = [[], []];
  let inFlight: { to: 0 | 1; sig: QualitySignal }[] = [];
  let diverged = 0;
  const absorb = (who: 0 | 1, acts: QualityAction[], at: number): void => {
    for (const a of acts) {
      if (a.type === 'send') inFlight.push({ to: who === 0 ? 1 : 0, sig: a.signal });
      else log[who].push({ at, tier: a.tier });
    }
  };
  lossTrace.forEach((loss, i) => {
    const now = i * REPORT_MS;
    for (const who of [0, 1] as const) {
      const n = noise[(i * 2 + who) % noise.length] ?? 0;
      absorb(who, ends[who].onReport(rep(Math.max(0, loss + n)), now, i * 50), now);
    }
    // Deliver in order, and whatever those provoke, until quiet.
    for (let round = 0; inFlight.length > 0 && round < 10; round++) {
      const batch = inFlight;
      inFlight = [];
      for (const m of batch) {
        absorb(m.to, ends[m.to].onSignal(m.sig, now + 400, i * 50 + 20), now + 400);
      }
    }
    if (ends[0].currentTier !== ends[1].currentTier) diverged++;
  });
  return { a: log[0], b: log[1], diverged };
}

const lossTraces = fc.oneof(
  // Random walk.
  fc
    .array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: 60, maxLength: 240 })
    .map((steps) => {
      let x = 0;
      return steps.map((s) => (x = Math.min(40, Math.max(0, x + s))));
    }),
  // Square wave of any period and levels.
  fc
    .record({
      period: fc.integer({ min: 2, max: 90 }),
      duty: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      lo: fc.double({ min: 0, max: 5, noNaN: true }),
      hi: fc.double({ min: 0, max: 40, noNaN: true }),
      len: fc.integer({ min: 60, max: 240 }),
    })
    .map(({ period, duty, lo, hi, len }) =>
      Array.from({ length: len }, (_, i) => ((i % period) / period < duty ? hi : lo)),
    ),
  // Noise around a level.
  fc
    .record({
      level: fc.double({ min: 0, max: 25, noNaN: true }),
      spread: fc.double({ min: 0, max: 20, noNaN: true }),
      draws: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
        minLength: 60,
        maxLength: 240,
      }),
    })
    .map(({ level, spread, draws }) => draws.map((d) => Math.max(0, level + (d - 0.5) * spread))),
  // Anything at all, second by second.
  fc.array(fc.double({ min: 0, max: 60, noNaN: true }), { minLength: 60, maxLength: 240 }),
);

describe('QualityController properties', () => {
  test('any loss trace: at most 6 tier changes in any 60 s, and every report is met at once', () => {
    fc.assert(
      fc.property(lossTraces, fc.integer({ min: 0, max: MAX_TIER_ID }), (trace, start) => {
        const qc = new QualityController({ initialTier: start });
        // drive() asserts after each report that the tier fits it: downgrade latency 1 report.
        const cs = drive(
          qc,
          trace.map((l) => rep(l)),
        );
        const worst = maxChangesInWindow(cs, 60_000);
        assert.ok(worst <= 6, `${worst} changes in 60 s: ${JSON.stringify(cs)}`);
      }),
      { numRuns: 300 },
    );
  });

  test('hand-picked worst cases stay within the bound', () => {
    // Climb from the bottom, then a loss staircase that steps down tier by tier.
    const climbThenStairs = [
      ...Array.from({ length: 150 }, () => 25),
      ...Array.from({ length: 130 }, () => 0),
      ...[1.6, 2.1, 3.6, 5.1, 10.1, 20.1, 30],
      ...Array.from({ length: 100 }, (_, i) => (i % 20 < 10 ? 0 : 30)),
    ];
    const cs = drive(
      new QualityController({ initialTier: 0 }),
      climbThenStairs.map((l) => rep(l)),
    );
    assert.ok(maxChangesInWindow(cs, 60_000) <= 6, JSON.stringify(cs));
    assert.ok(cs.length >= 6, 'it did adapt');
  });

  test('two ends stay on the same tier and neither flaps', () => {
    fc.assert(
      fc.property(
        lossTraces,
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 50 }),
        (trace, noise) => {
          const { a, b, diverged } = duo(trace, noise);
          assert.equal(diverged, 0, 'tiers differ after a round of signals');
          assert.ok(maxChangesInWindow(a, 60_000) <= 6, `A: ${JSON.stringify(a)}`);
          assert.ok(maxChangesInWindow(b, 60_000) <= 6, `B: ${JSON.stringify(b)}`);
        },
      ),
      { numRuns: 150 },
    );
  });
});
