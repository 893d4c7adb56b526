// The relay's one token bucket (signals per identity; media packets and bytes per identity): a
// burst up to its depth, then no more than the rate on average, on an injected clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenBucket } from '../../src-main/engine/base/token-bucket.ts';

describe('TokenBucket', () => {
  test('a full burst at once, then the rate', () => {
    let now = 1000;
    const b = new TokenBucket(10, 5, () => now);
    for (let i = 0; i < 5; i++) assert.equal(b.take(), true);
    assert.equal(b.take(), false);
    now += 100; // 0.1 s at 10/s: one token
    assert.equal(b.take(), true);
    assert.equal(b.take(), false);
    now += 10_000; // refills to the depth, never past it
    assert.equal(b.available(), 5);
  });

  test('a cost larger than what is there takes nothing', () => {
    const b = new TokenBucket(100, 10, () => 0);
    assert.equal(b.take(11), false);
    assert.equal(b.available(), 10);
    assert.equal(b.take(10), true);
    assert.equal(b.available(), 0);
  });

  test('a clock that steps back mints nothing', () => {
    let now = 5000;
    const b = new TokenBucket(10, 2, () => now);
    assert.equal(b.take(2), true);
    now = 1000;
    assert.equal(b.take(), false);
    now = 5050; // still short of the 100 ms one token needs since the latest time seen
    assert.equal(b.take(), false);
    now = 5100;
    assert.equal(b.take(), true);
  });

  test('refuses a rate or depth that is not above zero', () => {
    assert.throws(() => new TokenBucket(0, 1, () => 0), RangeError);
    assert.throws(() => new TokenBucket(1, Number.NaN, () => 0), RangeError);
  });

  test('over any schedule, what passes is at most depth + rate × elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({ dt: fc.integer({ min: 0, max: 200 }), cost: fc.integer({ min: 1, max: 5 }) }),
          {
            maxLength: 200,
          },
        ),
        (rate, burst, steps) => {
          let now = 0;
          const b = new TokenBucket(rate, burst, () => now);
          let passed = 0;
          for (const { dt, cost } of steps) {
            now += dt;
            if (b.take(cost)) passed += cost;
            assert.ok(passed <= burst + (rate * now) / 1000 + 1e-9);
          }
        },
      ),
    );
  });
});
