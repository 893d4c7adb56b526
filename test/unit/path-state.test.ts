// The state kept for one network path (PathState): outages, suspicion, recovery, abandonment and
// the retry backoff, on a fake clock: worked examples with the direct path's timing, then
// properties over arbitrary silence traces (fast-check).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DIRECT_PATH_TIMING,
  PathState,
  type PathVerdict,
} from '../../src-main/engine/call/path-state.ts';

const T = DIRECT_PATH_TIMING;
const STEP = 100;

/** Feed `state` the silence of a path last heard at the times in `heardAt`, one step at a time. */
function run(
  state: PathState,
  until: number,
  heardAt: (t: number) => boolean,
  from = 0,
): { at: number; verdict: PathVerdict }[] {
  const out: { at: number; verdict: PathVerdict }[] = [];
  let lastHeard = from;
  for (let t = from + STEP; t <= until; t += STEP) {
    if (heardAt(t)) lastHeard = t;
    const verdict = state.observe(t - lastHeard, t);
    if (verdict) out.push({ at: t, verdict });
  }
  return out;
}

describe('PathState on the direct path timing', () => {
  test('a path that answers every step is never suspect and gives no verdict', () => {
    const s = new PathState();
    s.up();
    assert.deepEqual(
      run(s, 10_000, () => true),
      [],
    );
    assert.equal(s.healthy, true);
    assert.equal(s.isSuspect(0), false);
  });

  test('suspect after 300 ms of silence, an outage after 1 s, back after answering for 1 s', () => {
    const s = new PathState();
    s.up();
    assert.equal(s.isSuspect(T.suspectMs), false);
    assert.equal(s.isSuspect(T.suspectMs + 1), true);
    // Silent from t=0 to t=1500, then answering every step again.
    const verdicts = run(s, 4000, (t) => t > 1500);
    assert.deepEqual(verdicts, [
      { at: 1100, verdict: { type: 'outage', silenceMs: 1100 } },
      { at: 2600, verdict: { type: 'recovered' } },
    ]);
    assert.equal(s.healthy, true);
    assert.equal(s.isSuspect(T.suspectMs + 1), true, 'a recovered path can be suspect again');
  });

  test('an unhealthy path is never suspect (its packets already go over the relay)', () => {
    const s = new PathState();
    assert.equal(s.isSuspect(5000), false);
    s.up();
    s.observe(1500, 0);
    assert.equal(s.healthy, false);
    assert.equal(s.isSuspect(1500), false);
  });

  test('silent over 3 s after an outage: abandoned, and the next retry comes within 1 s', () => {
    const s = new PathState();
    s.up();
    assert.equal(s.retryDelayMs, T.retryFirstMs);
    const verdicts = run(s, 3500, () => false);
    assert.deepEqual(
      verdicts.map((v) => v.verdict.type),
      // The supervisor drops the connection at the first abandonment; a path left in place keeps
      // being reported abandoned.
      ['outage', 'abandoned', 'abandoned', 'abandoned', 'abandoned', 'abandoned'],
    );
    assert.equal(verdicts[1]?.at, 3100);
    assert.equal(s.takeRetryDelay(), T.retryAfterOutageMs);
    assert.equal(s.retryDelayMs, 2 * T.retryAfterOutageMs);
  });

  test('answering unsteadily after an outage restarts the recovery wait', () => {
    const s = new PathState();
    s.up();
    // Silent to 1500; then answering, except for a 500 ms gap from 2000 to 2500.
    const verdicts = run(s, 5000, (t) => t > 1500 && (t <= 2000 || t > 2500));
    assert.deepEqual(verdicts, [
      { at: 1100, verdict: { type: 'outage', silenceMs: 1100 } },
      { at: 3600, verdict: { type: 'recovered' } },
    ]);
  });

  test('retry backoff: 2 s, doubling, at most 60 s; a fresh connection starts it over', () => {
    const s = new PathState();
    const delays = Array.from({ length: 8 }, () => s.takeRetryDelay());
    assert.deepEqual(delays, [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    s.up();
    assert.equal(s.takeRetryDelay(), 2000);
  });

  test('down() reports whether the path was carrying media', () => {
    const s = new PathState();
    assert.equal(s.down(), false);
    s.up();
    assert.equal(s.down(), true);
    assert.equal(s.healthy, false);
  });
});

describe('PathState properties', () => {
  // A trace: for each 100 ms step, whether the peer was heard in it; and where the path starts.
  const traces = fc.record({
    heard: fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }),
    startHealthy: fc.boolean(),
  });

  function replay(heard: boolean[], startHealthy: boolean) {
    const s = new PathState();
    if (startHealthy) s.up();
    let lastHeard = 0;
    const steps: {
      t: number;
      silence: number;
      before: boolean;
      after: boolean;
      verdict: PathVerdict | null;
    }[] = [];
    heard.forEach((h, i) => {
      const t = (i + 1) * STEP;
      if (h) lastHeard = t;
      const silence = t - lastHeard;
      const before = s.healthy;
      const verdict = s.observe(silence, t);
      steps.push({ t, silence, before, after: s.healthy, verdict });
    });
    return { s, steps };
  }

  test('each verdict happens only in the state and silence it names', () => {
    fc.assert(
      fc.property(traces, ({ heard, startHealthy }) => {
        for (const st of replay(heard, startHealthy).steps) {
          const v = st.verdict;
          if (v?.type === 'outage') {
            assert.ok(st.before && !st.after && st.silence > T.outageMs);
          } else if (v?.type === 'recovered') {
            assert.ok(!st.before && st.after && st.silence < T.aliveMs);
          } else if (v?.type === 'abandoned') {
            assert.ok(!st.before && !st.after && st.silence > T.abandonMs);
          } else {
            assert.equal(st.after, st.before, 'health changes only with a verdict');
          }
        }
      }),
    );
  });

  test('a healthy path stays healthy while silences stay within the outage limit', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: T.outageMs }), { maxLength: 200 }), (ss) => {
        const s = new PathState();
        s.up();
        ss.forEach((silence, i) => assert.equal(s.observe(silence, i * STEP), null));
        assert.equal(s.healthy, true);
      }),
    );
  });

  test('recovery needs the path to have answered at every step for the recovery time', () => {
    fc.assert(
      fc.property(traces, ({ heard, startHealthy }) => {
        const { steps } = replay(heard, startHealthy);
        steps.forEach((st, i) => {
          if (st.verdict?.type !== 'recovered') return;
          const window = steps.filter((o) => o.t > st.t - T.recoveryMs - STEP && o.t <= st.t);
          assert.ok(window.length * STEP > T.recoveryMs, `step ${i}`);
          assert.ok(window.every((o) => o.silence < T.aliveMs && !o.before));
        });
      }),
    );
  });

  test('retry delays never exceed the maximum, and after an abandonment the next is short', () => {
    fc.assert(
      fc.property(traces, fc.integer({ min: 0, max: 10 }), ({ heard, startHealthy }, taken) => {
        const s = new PathState();
        for (let i = 0; i < taken; i++) s.takeRetryDelay();
        if (startHealthy) s.up();
        let lastHeard = 0;
        let abandoned = false;
        heard.forEach((h, i) => {
          const t = (i + 1) * STEP;
          if (h) lastHeard = t;
          if (s.observe(t - lastHeard, t)?.type === 'abandoned') abandoned = true;
        });
        const next = s.takeRetryDelay();
        assert.ok(next <= T.retryMaxMs);
        if (abandoned) assert.ok(next <= T.retryAfterOutageMs);
      }),
    );
  });
});
