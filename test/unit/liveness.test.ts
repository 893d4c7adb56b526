// Call liveness on a fake clock: heard packets keep it live; 2 s of nothing is "reconnecting",
// once; a packet recovers it; 15 s of nothing is lost, once and for good; keep-alives go out
// whenever nothing was sent for 500 ms; any packet schedule with gaps under 2 s never alarms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CallLiveness, type LivenessOutput } from '../../src-main/engine/call/liveness.ts';

const types = (o: LivenessOutput[]) => o.map((x) => x.type);

test('live, reconnecting after 2 s, recovered by a packet, lost after 15 s', () => {
  const l = new CallLiveness(0);
  for (let t = 100; t < 1900; t += 100) {
    l.heard(t - 50);
    l.sent(t);
    assert.deepEqual(types(l.tick(t)), []);
  }
  let t = 1900;
  const seen: string[] = [];
  for (; t <= 3900; t += 100) {
    l.sent(t);
    seen.push(...types(l.tick(t)));
  }
  assert.deepEqual(seen, ['reconnecting'], 'said once');
  assert.equal(l.state, 'reconnecting');
  assert.deepEqual(l.heard(t), [{ type: 'recovered', silentMs: t - 1750 }]);
  assert.equal(l.state, 'live');
  const lostAt = t + 15_000;
  const later: string[] = [];
  for (t += 100; t <= lostAt + 1000; t += 100) {
    l.sent(t);
    later.push(...types(l.tick(t)));
  }
  assert.deepEqual(later, ['reconnecting', 'lost']);
  assert.equal(l.state, 'lost');
  assert.deepEqual(l.heard(t), [], 'a late packet does not bring a lost call back');
  assert.deepEqual(l.tick(t + 1000), []);
});

test('keep-alives whenever we sent nothing for 500 ms', () => {
  const l = new CallLiveness(0);
  const at: number[] = [];
  for (let t = 0; t <= 3000; t += 100) {
    l.heard(t);
    if (t < 1000) l.sent(t);
    if (types(l.tick(t)).includes('keepalive')) {
      at.push(t);
      l.sent(t);
    }
  }
  assert.deepEqual(at, [1400, 1900, 2400, 2900]);
});

test('gaps shorter than 2 s never raise the alarm', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 1999 }), { minLength: 1, maxLength: 200 }),
      (gaps) => {
        const l = new CallLiveness(0);
        let t = 0;
        for (const g of gaps) {
          for (let s = t + 100; s < t + g; s += 100)
            assert.ok(!types(l.tick(s)).includes('reconnecting'));
          t += g;
          l.heard(t);
        }
        assert.equal(l.state, 'live');
      },
    ),
  );
});

test('bad thresholds are refused', () => {
  assert.throws(
    () => new CallLiveness(0, { reconnectAfterMs: 5000, giveUpAfterMs: 1000 }),
    RangeError,
  );
});
