// The impairment model's statistics against theory (Bernoulli and Gilbert-Elliott loss,
// jitter spread, reordering, duplication), its reproducibility, and runtime changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImpairmentModel, mulberry32 } from '../support/impairment-model.ts';
import type { ImpairmentParamsInput, PacketFate } from '../support/impairment-model.ts';

function run(model: ImpairmentModel, n: number, spacingMs = 20, t0 = 0): PacketFate[] {
  const out: PacketFate[] = [];
  for (let i = 0; i < n; i++) out.push(model.decide(t0 + i * spacingMs));
  return out;
}

function lossRuns(fates: PacketFate[]): number[] {
  const runs: number[] = [];
  let cur = 0;
  for (const f of fates) {
    if (f.drop) cur++;
    else if (cur > 0) {
      runs.push(cur);
      cur = 0;
    }
  }
  if (cur > 0) runs.push(cur);
  return runs;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('mulberry32', () => {
  test('is deterministic and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    assert.deepEqual(
      xs.slice(0, 5),
      Array.from({ length: 5 }, () => b()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.ok(Math.abs(mean(xs) - 0.5) < 0.02);
    assert.notEqual(mulberry32(43)(), mulberry32(42)());
  });
});

describe('ImpairmentModel', () => {
  const everything: ImpairmentParamsInput = {
    lossPct: 5,
    burst: { enterPct: 2, exitPct: 30 },
    delayMs: 30,
    jitterMs: 15,
    jitterDist: 'normal',
    reorderPct: 3,
    reorderDelayMs: 25,
    duplicatePct: 2,
  };

  test('same seed gives the same decisions; another seed does not', () => {
    const a = run(new ImpairmentModel(everything, 7), 5000);
    const b = run(new ImpairmentModel(everything, 7), 5000);
    const c = run(new ImpairmentModel(everything, 8), 5000);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('independent loss of 10 % measures 10 % ± 1 % over 100k packets, for several seeds', () => {
    for (const seed of [1, 2, 3]) {
      const m = new ImpairmentModel({ lossPct: 10 }, seed);
      const fates = run(m, 100_000);
      const lost = fates.filter((f) => f.drop).length / fates.length;
      assert.ok(Math.abs(lost - 0.1) < 0.01, `seed ${seed}: loss ${lost}`);
      assert.equal(m.counters().droppedRandom, m.counters().dropped);
      assert.ok(fates.every((f) => f.drop === (f.deliverAtMs.length === 0)));
    }
  });

  test('Gilbert-Elliott: mean burst length 100/r and loss rate p/(p+r)', () => {
    for (const [enterPct, exitPct] of [
      [2, 25],
      [1, 50],
    ] as const) {
      const m = new ImpairmentModel({ burst: { enterPct, exitPct } }, 11);
      const fates = run(m, 200_000);
      const runs = lossRuns(fates);
      const meanBurst = mean(runs);
      const theoryBurst = 100 / exitPct;
      assert.ok(
        Math.abs(meanBurst - theoryBurst) / theoryBurst < 0.05,
        `burst ${meanBurst} vs ${theoryBurst}`,
      );
      const lost = fates.filter((f) => f.drop).length / fates.length;
      const theoryLoss = enterPct / (enterPct + exitPct);
      assert.ok(Math.abs(lost - theoryLoss) / theoryLoss < 0.08, `loss ${lost} vs ${theoryLoss}`);
      const c = m.counters();
      assert.equal(c.droppedBurst, c.dropped);
      assert.equal(c.badStatePackets, c.dropped, 'bad state loses everything by default');
      assert.equal(c.badStateEntries, runs.length);
    }
  });

  test('bursty loss is burstier than independent loss at the same rate', () => {
    const ge = lossRuns(
      run(new ImpairmentModel({ burst: { enterPct: 2.5, exitPct: 22.5 } }, 5), 100_000),
    );
    const bern = lossRuns(run(new ImpairmentModel({ lossPct: 10 }, 5), 100_000));
    assert.ok(mean(ge) > 3 * mean(bern));
  });

  test('Gilbert-Elliott partial loss in the bad state scales the loss', () => {
    const m = new ImpairmentModel({ burst: { enterPct: 5, exitPct: 20, badLossPct: 50 } }, 3);
    const fates = run(m, 100_000);
    const lost = fates.filter((f) => f.drop).length / fates.length;
    const theory = 0.5 * (5 / 25);
    assert.ok(Math.abs(lost - theory) / theory < 0.08, `loss ${lost} vs ${theory}`);
  });

  test('fixed delay is exact and keeps order', () => {
    const fates = run(new ImpairmentModel({ delayMs: 40 }, 1), 100, 20, 1000);
    fates.forEach((f, i) =>
      assert.deepEqual(f, { drop: false, deliverAtMs: [1000 + i * 20 + 40] }),
    );
  });

  test('uniform jitter stays within delay ± jitter, never reorders, averages near the delay', () => {
    const m = new ImpairmentModel({ delayMs: 50, jitterMs: 30 }, 9);
    const fates = run(m, 20_000, 20);
    const delays = fates.map((f, i) => (f.deliverAtMs[0] ?? NaN) - i * 20);
    assert.ok(delays.every((d) => d >= 20 && d <= 80));
    const at = fates.map((f) => f.deliverAtMs[0] ?? NaN);
    assert.ok(
      at.every((t, i) => i === 0 || t >= (at[i - 1] ?? Infinity)),
      'FIFO',
    );
    // The FIFO floor pushes the mean up a little; it cannot push it below the delay.
    const d = mean(delays);
    assert.ok(d >= 49 && d < 62, `mean delay ${d}`);
    const spread = Math.max(...delays) - Math.min(...delays);
    assert.ok(spread > 50, 'the jitter is actually there');
  });

  test('normal jitter has standard deviation ≈ jitterMs when packets are far apart', () => {
    const m = new ImpairmentModel({ delayMs: 1000, jitterMs: 20, jitterDist: 'normal' }, 4);
    const delays = run(m, 20_000, 1000).map((f, i) => (f.deliverAtMs[0] ?? NaN) - i * 1000);
    const mu = mean(delays);
    const sd = Math.sqrt(mean(delays.map((x) => (x - mu) ** 2)));
    assert.ok(Math.abs(mu - 1000) < 1, `mean ${mu}`);
    assert.ok(Math.abs(sd - 20) < 1, `sd ${sd}`);
  });

  test('reordering holds about reorderPct of packets back past their successor', () => {
    const m = new ImpairmentModel({ delayMs: 10, reorderPct: 5, reorderDelayMs: 50 }, 2);
    const fates = run(m, 20_000, 20);
    const at = fates.map((f) => f.deliverAtMs[0] ?? NaN);
    let overtaken = 0;
    for (let i = 0; i + 1 < at.length; i++) if ((at[i] ?? 0) > (at[i + 1] ?? 0)) overtaken++;
    const frac = m.counters().reordered / fates.length;
    assert.ok(Math.abs(frac - 0.05) < 0.006, `reordered ${frac}`);
    // 50 ms extra at 20 ms spacing: each held packet lands after its successor.
    assert.ok(overtaken >= m.counters().reordered * 0.9, `${overtaken} overtaken`);
  });

  test('duplication delivers two copies at about duplicatePct', () => {
    const m = new ImpairmentModel({ duplicatePct: 10, jitterMs: 5 }, 6);
    const fates = run(m, 50_000);
    const dups = fates.filter((f) => f.deliverAtMs.length === 2);
    assert.ok(Math.abs(dups.length / fates.length - 0.1) < 0.01);
    assert.equal(m.counters().duplicated, dups.length);
    assert.ok(dups.every((f) => (f.deliverAtMs[1] ?? -1) >= (f.deliverAtMs[0] ?? Infinity)));
  });

  test('each effect has its own random stream: changing jitter leaves the loss pattern alone', () => {
    const a = run(new ImpairmentModel({ lossPct: 20 }, 12), 3000).map((f) => f.drop);
    const b = run(
      new ImpairmentModel({ lossPct: 20, jitterMs: 40, duplicatePct: 10 }, 12),
      3000,
    ).map((f) => f.drop);
    assert.deepEqual(a, b);
  });

  test('loss raised and lowered mid-stream takes effect at once; a patch changes only its keys', () => {
    const m = new ImpairmentModel({ delayMs: 25 }, 21);
    const seg = (n: number): number => run(m, n).filter((f) => f.drop).length / n;
    assert.equal(seg(10_000), 0);
    m.setParams({ lossPct: 30 });
    assert.equal(m.params.delayMs, 25, 'delay untouched by a loss patch');
    const high = seg(20_000);
    assert.ok(Math.abs(high - 0.3) < 0.015, `high ${high}`);
    m.setParams({ lossPct: 0 });
    assert.equal(seg(10_000), 0);
    m.setParams({ burst: { enterPct: 1, exitPct: 10 } });
    assert.ok(seg(20_000) > 0.04);
    m.setParams({ burst: null });
    assert.equal(seg(5000), 0);
  });

  test('invalid parameters are refused and the old ones stay in force', () => {
    const m = new ImpairmentModel({ lossPct: 10 }, 1);
    assert.throws(() => m.setParams({ lossPct: 150 }));
    assert.throws(() => m.setParams({ burst: { enterPct: 5, exitPct: 0 } }));
    assert.throws(() => m.setParams({ loss: 5 } as never));
    assert.throws(() => new ImpairmentModel({ delayMs: -1 }));
    assert.equal(m.params.lossPct, 10);
  });

  test('property: for any valid parameters, fates are well-formed and counters add up', () => {
    const params = fc.record({
      lossPct: fc.double({ min: 0, max: 100, noNaN: true }),
      burst: fc.option(
        fc.record({
          enterPct: fc.double({ min: 0, max: 100, noNaN: true }),
          exitPct: fc.double({ min: 0.1, max: 100, noNaN: true }),
          badLossPct: fc.double({ min: 0, max: 100, noNaN: true }),
          goodLossPct: fc.double({ min: 0, max: 100, noNaN: true }),
        }),
      ),
      delayMs: fc.double({ min: 0, max: 500, noNaN: true }),
      jitterMs: fc.double({ min: 0, max: 500, noNaN: true }),
      jitterDist: fc.constantFrom('uniform' as const, 'normal' as const),
      reorderPct: fc.double({ min: 0, max: 100, noNaN: true }),
      reorderDelayMs: fc.double({ min: 0, max: 500, noNaN: true }),
      duplicatePct: fc.double({ min: 0, max: 100, noNaN: true }),
    });
    fc.assert(
      fc.property(params, fc.integer(), (p, seed) => {
        const m = new ImpairmentModel(p, seed);
        let dupEntries = 0;
        for (let i = 0; i < 200; i++) {
          const now = i * 7;
          const f = m.decide(now);
          assert.equal(f.drop, f.deliverAtMs.length === 0);
          assert.ok(f.deliverAtMs.length <= 2);
          for (const t of f.deliverAtMs) assert.ok(Number.isFinite(t) && t >= now);
          if (f.deliverAtMs.length === 2) dupEntries++;
        }
        const c = m.counters();
        assert.equal(c.packets, 200);
        assert.equal(c.dropped + c.delivered, 200);
        assert.equal(c.droppedBurst + c.droppedRandom, c.dropped);
        assert.equal(c.duplicated, dupEntries);
      }),
      { numRuns: 200 },
    );
  });
});
