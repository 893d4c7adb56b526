// E-model (G.107): the default rating, published reference points for MOS and delay, the
// Ie-eff formula by hand, monotonicity in delay and loss, and the burst ratio of loss traces.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  burstRatioOf,
  estimateMos,
  ieEff,
  mosFromR,
  opusImpairment,
  rFactor,
} from '../../src-main/engine/media/e-model.ts';

const PERFECT = { ie: 0, bpl: 1 };
const close = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} not within ${tol} of ${expected}`,
  );

describe('E-model R factor', () => {
  test('default connection rates R = 93.2 and MOS 4.41', () => {
    const r = rFactor({ delayMs: 0, lossPct: 0, codec: PERFECT });
    close(r, 93.2, 0.05, 'R');
    close(mosFromR(93.2), 4.41, 0.005, 'MOS(93.2)');
    close(estimateMos({ delayMs: 0, lossPct: 0, codec: PERFECT }), 4.41, 0.01, 'MOS');
  });

  test('delay alone follows the G.107 curve (Cole & Rosenbluth fit within 3 R points)', () => {
    // The fit of the G.107 default curve: Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3).
    for (const d of [25, 100, 150, 200, 250, 300]) {
      const fit = 93.2 - (0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0));
      close(rFactor({ delayMs: d, lossPct: 0, codec: PERFECT }), fit, 3, `R at ${d} ms`);
    }
    // Below 100 ms there is no pure-delay term: the loss of rating is echo only, under 3 points.
    assert.ok(rFactor({ delayMs: 100, lossPct: 0, codec: PERFECT }) > 90);
    // Above 177 ms the Idd knee bites: 300 ms costs far more than twice what 150 ms does.
    const at150 = 93.2 - rFactor({ delayMs: 150, lossPct: 0, codec: PERFECT });
    const at300 = 93.2 - rFactor({ delayMs: 300, lossPct: 0, codec: PERFECT });
    assert.ok(at300 > 4 * at150, `${at300} vs ${at150}`);
  });

  test('Ie-eff matches the formula worked by hand', () => {
    // G.729A + VAD (G.113: Ie 11, Bpl 19) at 2 % random loss: 11 + 84 * 2 / (2 + 19) = 19.
    close(ieEff({ ie: 11, bpl: 19 }, 2, 1), 19, 1e-9, 'G.729A');
    // Bursty loss hurts more: BurstR 2 gives 11 + 84 * 2 / (1 + 19) = 19.4.
    close(ieEff({ ie: 11, bpl: 19 }, 2, 2), 19.4, 1e-9, 'G.729A bursty');
    // G.711 with PLC (Bpl 25.1) at 5 %: 95 * 5 / 30.1.
    close(ieEff({ ie: 0, bpl: 25.1 }, 5), (95 * 5) / 30.1, 1e-9, 'G.711');
    // Loss and codec subtract straight from R.
    const r0 = rFactor({ delayMs: 0, lossPct: 0, codec: PERFECT });
    const r = rFactor({ delayMs: 0, lossPct: 2, codec: { ie: 11, bpl: 19 } });
    close(r0 - r, 19, 1e-9, 'R drop');
    // Total loss gives Ie-eff = 95 whatever the codec.
    close(ieEff({ ie: 7, bpl: 20 }, 100, 1), 7 + (88 * 100) / 120, 1e-9, 'total loss, random');
  });

  test('Opus impairment estimates are ordered by bitrate and frame length', () => {
    const ies = [6000, 10000, 16000, 24000, 32000, 64000].map((b) => opusImpairment(b, 20).ie);
    for (let i = 1; i < ies.length; i++) assert.ok((ies[i] ?? 0) <= (ies[i - 1] ?? 0), `${ies}`);
    assert.equal(opusImpairment(64000, 20).ie, 0);
    assert.equal(opusImpairment(6000, 60).ie, 11);
    assert.ok(opusImpairment(13000, 20).ie > 4 && opusImpairment(13000, 20).ie < 8);
    assert.ok(opusImpairment(24000, 60).bpl < opusImpairment(24000, 20).bpl);
  });

  test('property: R never rises with more delay or more loss', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1000, noNaN: true }),
        fc.double({ min: 0, max: 1000, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 1, max: 8, noNaN: true }),
        fc.integer({ min: 6000, max: 64000 }),
        (d1, d2, l1, l2, burstRatio, bitrate) => {
          const codec = opusImpairment(bitrate, 20);
          const [dLo, dHi] = d1 <= d2 ? [d1, d2] : [d2, d1];
          const [lLo, lHi] = l1 <= l2 ? [l1, l2] : [l2, l1];
          const r = (delayMs: number, lossPct: number): number =>
            rFactor({ delayMs, lossPct, burstRatio, codec });
          assert.ok(r(dHi, lLo) <= r(dLo, lLo) + 1e-9, `delay ${dLo} -> ${dHi}`);
          assert.ok(r(dLo, lHi) <= r(dLo, lLo) + 1e-9, `loss ${lLo} -> ${lHi}`);
          assert.ok(
            mosFromR(r(dHi, lHi)) <= mosFromR(r(dLo, lLo)) + 1e-12,
            'MOS follows R downwards',
          );
        },
      ),
    );
  });
});

describe('MOS from R', () => {
  test('G.107 Annex B reference points', () => {
    // The familiar table: R 90 / 80 / 70 / 60 / 50 -> MOS 4.34 / 4.03 / 3.60 / 3.10 / 2.58.
    const table: [number, number][] = [
      [90, 4.34],
      [80, 4.03],
      [70, 3.6],
      [60, 3.1],
      [50, 2.58],
    ];
    for (const [r, mos] of table) close(mosFromR(r), mos, 0.01, `MOS(${r})`);
    assert.equal(mosFromR(-5), 1);
    assert.equal(mosFromR(0), 1);
    assert.equal(mosFromR(120), 4.5);
    assert.equal(mosFromR(Number.NaN), 1);
  });

  test('property: MOS is monotone in R and stays on the 1..4.5 scale', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -50, max: 150, noNaN: true }),
        fc.double({ min: -50, max: 150, noNaN: true }),
        (a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          assert.ok(mosFromR(lo) <= mosFromR(hi) + 1e-12, `${lo} ${hi}`);
          assert.ok(mosFromR(lo) >= 1 && mosFromR(hi) <= 4.5);
        },
      ),
    );
  });
});

describe('burst ratio of a loss trace', () => {
  test('random-looking, bursty and degenerate traces', () => {
    assert.equal(burstRatioOf([]), 1);
    assert.equal(burstRatioOf([false, false]), 1);
    assert.equal(burstRatioOf([true, true]), 1);
    // Isolated single losses at 10 %: mean burst 1, random expectation 1/0.9 -> clamped to 1.
    const isolated = Array.from({ length: 100 }, (_, i) => i % 10 === 0);
    assert.equal(burstRatioOf(isolated), 1);
    // Bursts of 5 at 10 %: mean burst 5 against 1/0.9 -> 4.5.
    const bursty = Array.from({ length: 100 }, (_, i) => i % 50 < 5);
    close(burstRatioOf(bursty), 4.5, 1e-9, 'bursts of 5');
  });

  test('a Gilbert trace gives about 1 / (p + q)', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const p = 0.05; // good -> lost
    const q = 0.3; // lost -> good
    let lost = false;
    const trace = Array.from({ length: 200_000 }, () => {
      lost = lost ? rand() >= q : rand() < p;
      return lost;
    });
    close(burstRatioOf(trace), 1 / (p + q), 0.15, 'BurstR');
  });
});
