// Replay window: checked against a plain Set-based model of what "seen" and "too old" mean.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayWindow, type ReplayCheck } from '../../src-main/engine/media/replay-window.ts';

class Model {
  seen = new Set<number>();
  top = -1;
  constructor(readonly size: number) {}
  verdict(seq: number): ReplayCheck {
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.size) return 'too-old';
    return this.seen.has(seq) ? 'duplicate' : 'ok';
  }
  accept(seq: number): ReplayCheck {
    const v = this.verdict(seq);
    if (v === 'ok') {
      this.seen.add(seq);
      if (seq > this.top) this.top = seq;
    }
    return v;
  }
}

describe('ReplayWindow', () => {
  test('accepts new, rejects duplicates and too-old', () => {
    const w = new ReplayWindow(1024);
    assert.equal(w.size, 992);
    assert.equal(w.accept(5), 'ok');
    assert.equal(w.accept(5), 'duplicate');
    assert.equal(w.accept(3), 'ok');
    assert.equal(w.accept(3), 'duplicate');
    assert.equal(w.accept(2000), 'ok');
    assert.equal(w.check(2000 - 992), 'too-old');
    assert.equal(w.check(2000 - 991), 'ok');
    assert.equal(w.highest, 2000);
  });

  test('check never changes state', () => {
    const w = new ReplayWindow(64);
    assert.equal(w.check(10), 'ok');
    assert.equal(w.check(10), 'ok');
    assert.equal(w.highest, -1);
    w.accept(10);
    assert.equal(w.check(10), 'duplicate');
  });

  test('handles the top of the u32 range and rejects non-u32 input', () => {
    const w = new ReplayWindow(64);
    assert.equal(w.accept(0xffffffff), 'ok');
    assert.equal(w.accept(0xffffffff), 'duplicate');
    assert.equal(w.accept(0xffffffff - 1), 'ok');
    for (const bad of [-1, 0x100000000, 1.5, Number.NaN]) assert.equal(w.check(bad), 'invalid');
  });

  test('rejects window sizes that are not powers of two >= 64', () => {
    for (const bits of [0, 32, 100, 1000, 63.5])
      assert.throws(() => new ReplayWindow(bits), RangeError);
  });

  test('matches the model for arbitrary arrival orders, including big jumps', () => {
    const seqArb = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 300 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 5000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0xffffff00, max: 0xffffffff }) },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(64, 128, 256),
        fc.array(seqArb, { maxLength: 400 }),
        (bits, seqs) => {
          const w = new ReplayWindow(bits);
          const m = new Model(w.size);
          for (const s of seqs) {
            assert.equal(w.check(s), m.verdict(s), `check ${s}`);
            assert.equal(w.accept(s), m.accept(s), `accept ${s}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('after any jump, every slot inside the window is judged like the model', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 128, 256),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 1, max: 2000 }),
        (bits, filled, jump) => {
          const w = new ReplayWindow(bits);
          const m = new Model(w.size);
          for (let s = 0; s < filled; s++) {
            w.accept(s);
            m.accept(s);
          }
          const top = filled + jump;
          w.accept(top);
          m.accept(top);
          for (let s = Math.max(0, top - bits); s <= top; s++)
            assert.equal(w.check(s), m.verdict(s), `seq ${s}`);
        },
      ),
    );
  });

  test('every frame of a reordered stream within the window is accepted exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 600 }),
        fc.integer({ min: 1, max: 500 }),
        (base, n) => {
          const w = new ReplayWindow(1024);
          // Deterministic reorder: reverse blocks of 7, then deliver everything twice.
          const order: number[] = [];
          for (let i = 0; i < n; i += 7) {
            for (let j = Math.min(n, i + 7) - 1; j >= i; j--) order.push(base + j);
          }
          let oks = 0;
          for (const s of [...order, ...order]) if (w.accept(s) === 'ok') oks++;
          assert.equal(oks, n);
        },
      ),
    );
  });
});
