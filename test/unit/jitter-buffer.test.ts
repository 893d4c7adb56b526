// Adaptive jitter buffer on a fake clock: ordering, duplicates, lateness, delay adaptation,
// wrap-around, resync, DTX, and a property over arbitrary arrival patterns.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JitterBuffer } from '../../src-main/engine/media/jitter-buffer.ts';
import type {
  JitterBufferOptions,
  PlayoutItem,
} from '../../src-main/engine/media/jitter-buffer.ts';
import type { MediaFrame } from '../../src-main/engine/media/media-packet.ts';
import { mulberry32 } from '../support/impairment-model.ts';

const rng = mulberry32;

const FRAME = 960; // 20 ms at 48 kHz

function mk(seq: number, over: Partial<MediaFrame> = {}, seq0 = 0, ts0 = 0): MediaFrame {
  return {
    seq: (seq0 + seq) >>> 0,
    timestamp: (ts0 + seq * FRAME) >>> 0,
    durationSamples: FRAME,
    payload: Uint8Array.of(seq & 0xff),
    ...over,
  };
}

interface Arrival {
  at: number;
  frame: MediaFrame;
}

interface Tick {
  now: number;
  item: PlayoutItem;
  /** The buffer's delay right after this pull. */
  delayMs: number;
}

/** Pushes every arrival due by each tick, then pulls once; returns what was played when. */
function run(
  jb: JitterBuffer,
  arrivals: Arrival[],
  endMs: number,
  opts: { startMs?: number; tickMs?: number; onTick?: (now: number) => void } = {},
): Tick[] {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const ticks: Tick[] = [];
  let i = 0;
  for (let now = opts.startMs ?? 3; now < endMs; now += opts.tickMs ?? 20) {
    while (i < sorted.length && (sorted[i]?.at ?? Infinity) <= now) {
      const a = sorted[i++];
      if (a !== undefined) jb.push(a.frame, a.at);
    }
    const item = jb.pull(now);
    ticks.push({ now, item, delayMs: jb.stats.currentDelayMs });
    opts.onTick?.(now);
  }
  return ticks;
}

const playedSeqs = (ticks: Tick[]): number[] =>
  ticks.flatMap((t) => (t.item.kind === 'frame' ? [t.item.frame.seq] : []));

/** The delay at which the last frame played (after it the stream is over and gaps grow). */
const lastFrameDelay = (ticks: Tick[]): number =>
  ticks.findLast((t) => t.item.kind === 'frame')?.delayMs ?? Number.NaN;

const afterStart = (ticks: Tick[]): Tick[] => {
  const i = ticks.findIndex((t) => t.item.kind !== 'silence');
  return i < 0 ? [] : ticks.slice(i);
};

/** Frames sent every 20 ms from t=0, each delayed by `delay(seq)`. */
function stream(n: number, delay: (seq: number) => number, seq0 = 0, ts0 = 0): Arrival[] {
  return Array.from({ length: n }, (_, s) => ({
    at: s * 20 + delay(s),
    frame: mk(s, {}, seq0, ts0),
  }));
}

describe('JitterBuffer basics', () => {
  test('an in-order stream plays every frame in order without concealment, target at the floor', () => {
    const jb = new JitterBuffer();
    const ticks = run(
      jb,
      stream(500, () => 30),
      500 * 20 + 200,
    );
    assert.equal(ticks[0]?.item.kind, 'silence', 'silence before anything arrives');
    const live = afterStart(ticks);
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.equal(
      live.filter((t) => t.item.kind === 'conceal').length,
      // After the last frame the stream is over and the buffer conceals: only those ticks.
      live.length - 500,
    );
    const s = jb.stats;
    assert.equal(s.played, 500);
    assert.equal(s.late, 0);
    assert.equal(s.duplicates, 0);
    assert.ok(s.targetDelayMs <= 25, `target ${s.targetDelayMs}`);
  });

  test('uniform ±30 ms jitter: under 1 % late after the warm-up second, and target follows it', () => {
    const r = rng(11);
    const n = 1500;
    const jb = new JitterBuffer();
    let lateAt1s = -1;
    const ticks = run(
      jb,
      stream(n, () => 50 + (r() * 60 - 30)),
      n * 20 + 400,
      {
        onTick: (now) => {
          if (lateAt1s < 0 && now >= 1000) lateAt1s = jb.stats.late;
        },
      },
    );
    const lateAfter = jb.stats.late - lateAt1s;
    assert.ok(lateAfter / (n - 50) < 0.01, `late after warm-up: ${lateAfter}`);
    const seqs = playedSeqs(ticks);
    for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] ?? 0) > (seqs[i - 1] ?? 0));
    // The target follows the spread (about 60 ms), not the floor.
    assert.ok(jb.stats.targetDelayMs >= 45, `target ${jb.stats.targetDelayMs}`);
    assert.ok(jb.stats.targetDelayMs <= 120, `target ${jb.stats.targetDelayMs}`);
    assert.ok(jb.stats.played >= n * 0.98, `played ${jb.stats.played}`);
  });

  test('a burst raises the target at once; it decays later and the delay shrinks by dropping', () => {
    const r = rng(5);
    const n = 2500; // 50 s
    const jb = new JitterBuffer();
    // A 200 ms stall at t = 10 s: everything sent during it arrives together at its end.
    const arrivals = stream(n, (s) => {
      const sent = s * 20;
      const base = 20 + r() * 4;
      return sent >= 10_000 && sent < 10_200 ? 10_200 - sent + base : base;
    });
    const samples = new Map<number, { target: number; current: number }>();
    run(jb, arrivals, n * 20, {
      onTick: (now) =>
        samples.set(now, { target: jb.stats.targetDelayMs, current: jb.stats.currentDelayMs }),
    });
    const at = (ms: number) => {
      const k = ms - ((ms - 3) % 20);
      const v = samples.get(k);
      assert.ok(v, `no sample at ${ms}`);
      return v;
    };
    assert.ok(at(9_900).target <= 30, `before: ${at(9_900).target}`);
    assert.ok(at(10_260).target >= 150, `right after the burst: ${at(10_260).target}`);
    assert.ok(at(10_260).current >= 100, `the buffer grew with it: ${at(10_260).current}`);
    assert.ok(at(12_000).target >= 80, `still high 2 s later: ${at(12_000).target}`);
    assert.ok(at(45_000).target <= 35, `decayed: ${at(45_000).target}`);
    assert.ok(at(45_000).current <= 80, `delay shrank: ${at(45_000).current}`);
    // The stalled frames were waited for, not thrown away as late.
    assert.ok(jb.stats.late <= 2, `late ${jb.stats.late}`);
    assert.equal(jb.stats.resyncs, 0, 'a 200 ms stall is ridden out, not a restart');
    assert.ok(jb.stats.droppedShrink >= 2, `shrink drops ${jb.stats.droppedShrink}`);
    assert.ok(jb.stats.droppedShrink <= 12, `shrink drops ${jb.stats.droppedShrink}`);
  });

  test('reordering within the target is played in order without concealment', () => {
    const jb = new JitterBuffer();
    // Each even frame arrives 15 ms after the odd frame that follows it.
    const arrivals = stream(300, (s) => (s % 2 === 0 ? 30 + 35 : 30));
    const ticks = run(jb, arrivals, 300 * 20 + 200);
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 300 }, (_, i) => i),
    );
    const live = afterStart(ticks);
    const concealedBeforeEnd = live.slice(0, 300).filter((t) => t.item.kind === 'conceal');
    assert.equal(concealedBeforeEnd.length, 0);
    assert.equal(jb.stats.late, 0);
  });

  test('a frame reordered beyond the current delay but within the target is waited for', () => {
    const jb = new JitterBuffer();
    // Steady 30 ms path; at 2 s the engine raises the floor (say FEC got deeper), so the
    // target jumps while the buffer still holds about 40 ms.
    const arrivals = stream(200, (s) => (s === 150 ? 30 + 70 : 30));
    const ticks = run(jb, arrivals, 200 * 20 + 300, {
      onTick: (now) => {
        if (now >= 2000 && now < 2020) jb.setMinimumDelay(150);
      },
    });
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.equal(jb.stats.late, 0);
  });

  test('duplicates, including redundant copies of held or played frames, are counted not played', () => {
    const jb = new JitterBuffer();
    const base = stream(100, () => 30);
    const dupes = base.map((a) => ({ at: a.at + 1, frame: { ...a.frame } }));
    // Redundant copies arriving a frame and two frames later (already held or played).
    const copies = base.flatMap((a) => [
      { at: a.at + 20, frame: { ...a.frame, recovered: true } },
      { at: a.at + 40, frame: { ...a.frame, recovered: true } },
    ]);
    const ticks = run(jb, [...base, ...dupes, ...copies], 100 * 20 + 200);
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.equal(jb.stats.duplicates, 300);
    assert.equal(jb.stats.recovered, 0);
    assert.equal(jb.stats.late, 0);
    assert.equal(jb.push(mk(5), 5000), 'duplicate');
  });

  test('a frame arriving after its slot is dropped and counted as late', () => {
    const jb = new JitterBuffer();
    const arrivals = stream(50, (s) => (s === 20 ? 1000 : 30));
    const ticks = run(jb, arrivals, 2000);
    const seqs = playedSeqs(ticks);
    assert.ok(!seqs.includes(20));
    assert.equal(seqs.length, 49);
    assert.equal(jb.stats.late, 1);
    assert.equal(jb.push(mk(3), 3000), 'duplicate', 'played long ago: duplicate');
    assert.equal(jb.push(mk(20, { recovered: true }), 3000), 'late');
    assert.equal(jb.stats.recoveredLate, 1);
  });

  test('a recovered copy fills a hole', () => {
    const jb = new JitterBuffer();
    const arrivals = stream(60, () => 30).filter((a) => a.frame.seq !== 30);
    // The copy of 30 rides in packet 31.
    arrivals.push({ at: 31 * 20 + 30, frame: mk(30, { recovered: true }) });
    const ticks = run(jb, arrivals, 60 * 20 + 200);
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 60 }, (_, i) => i),
    );
    assert.equal(jb.stats.recovered, 1);
  });

  test('rejects invalid frames without throwing', () => {
    const jb = new JitterBuffer();
    assert.equal(jb.push({ ...mk(1), seq: -1 }, 0), 'invalid');
    assert.equal(jb.push({ ...mk(1), seq: 2 ** 32 }, 0), 'invalid');
    assert.equal(jb.push({ ...mk(1), timestamp: 1.5 }, 0), 'invalid');
    assert.equal(jb.push({ ...mk(1), durationSamples: 0 }, 0), 'invalid');
    assert.equal(jb.push({ ...mk(1), durationSamples: 100_000 }, 0), 'invalid');
    assert.equal(jb.push(mk(1), Number.NaN), 'invalid');
    assert.equal(jb.stats.invalid, 6);
    assert.equal(jb.pull(0).kind, 'silence');
  });

  test('overflow drops the oldest frames and counts them', () => {
    const jb = new JitterBuffer({ maxFrames: 10 });
    for (let s = 0; s < 30; s++) jb.push(mk(s), 0);
    assert.equal(jb.stats.droppedOverflow, 20);
    assert.equal(jb.stats.bufferedFrames, 10);
    assert.equal(jb.push(mk(3), 1), 'late');
  });
});

describe('JitterBuffer wrap, gaps and resync', () => {
  test('sequence numbers and timestamps wrap around u32 seamlessly', () => {
    const jb = new JitterBuffer();
    const seq0 = 0xffffffff - 40;
    const ts0 = 0xffffffff - 40 * FRAME + 17;
    const ticks = run(
      jb,
      stream(100, () => 30, seq0, ts0),
      100 * 20 + 200,
    );
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 100 }, (_, i) => (seq0 + i) >>> 0),
    );
    assert.equal(
      afterStart(ticks)
        .slice(0, 100)
        .filter((t) => t.item.kind === 'conceal').length,
      0,
    );
  });

  test('a timestamp jump resyncs and keeps playing', () => {
    const jb = new JitterBuffer();
    const arrivals = stream(200, () => 30).map((a) =>
      a.frame.seq >= 100
        ? { ...a, frame: { ...a.frame, timestamp: (a.frame.timestamp + 48_000 * 3600) >>> 0 } }
        : a,
    );
    const ticks = run(jb, arrivals, 200 * 20 + 200);
    // The audio is continuous across the jump, so playback is too.
    assert.deepEqual(
      playedSeqs(ticks),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.equal(
      afterStart(ticks)
        .slice(0, 200)
        .filter((t) => t.item.kind === 'conceal').length,
      0,
    );
    assert.ok(jb.stats.resyncs >= 1);
    assert.ok(lastFrameDelay(ticks) < 100, `delay ${lastFrameDelay(ticks)}`);
  });

  test('after a long outage playback resumes near the target delay', () => {
    const jb = new JitterBuffer();
    // Frames 100..199 (2 s) are lost.
    const arrivals = stream(400, () => 30).filter((a) => a.frame.seq < 100 || a.frame.seq >= 200);
    const ticks = run(jb, arrivals, 400 * 20 + 100);
    const seqs = playedSeqs(ticks);
    assert.equal(seqs.length, 300);
    assert.ok(jb.stats.concealed >= 90 && jb.stats.concealed <= 110, `${jb.stats.concealed}`);
    assert.ok(lastFrameDelay(ticks) < 80, `delay ${lastFrameDelay(ticks)}`);
  });

  test('a 1.5 s stall: waits up to the ceiling, resumes from fresh frames, then settles', () => {
    const jb = new JitterBuffer();
    const n = 2000;
    const arrivals = stream(n, (s) => {
      const sent = s * 20;
      return sent >= 10_000 && sent < 11_500 ? 11_500 - sent + 20 : 20;
    });
    const ticks = run(jb, arrivals, n * 20 + 200);
    const seqs = playedSeqs(ticks);
    const reported = new Set(ticks.flatMap((t) => (t.item.kind === 'frame' ? t.item.dropped : [])));
    // Stale audio from the stall is skipped, not played 1.5 s late; all later audio plays, but
    // for the few frames dropped (and reported) to bring the delay back down.
    assert.ok(!seqs.includes(510));
    for (let s = 600; s < n; s++) assert.ok(seqs.includes(s) || reported.has(s), `missing ${s}`);
    assert.equal(reported.size, jb.stats.droppedShrink);
    assert.ok(reported.size >= 3 && reported.size <= 20, `dropped ${reported.size}`);
    assert.ok(jb.stats.resyncs >= 1);
    const during = ticks.filter((t) => t.now > 10_400 && t.now < 11_500);
    assert.ok(during.every((t) => t.item.kind === 'conceal'));
    assert.ok(lastFrameDelay(ticks) < 80, `delay ${lastFrameDelay(ticks)}`);
    assert.ok(jb.stats.targetDelayMs < 40, `target ${jb.stats.targetDelayMs}`);
  });

  test('a sender restart (new sequence space) is followed', () => {
    const jb = new JitterBuffer();
    const first = stream(100, () => 30);
    const second = stream(100, () => 30, 5_000_000, 777).map((a) => ({ ...a, at: a.at + 2000 }));
    const ticks = run(jb, [...first, ...second], 4200);
    const seqs = playedSeqs(ticks);
    assert.ok(seqs.includes(97), 'the old stream played up to the restart');
    assert.ok(seqs.includes(5_000_099));
    assert.ok(jb.stats.resyncs >= 1);
  });

  test('DTX: silence, not concealment, while the sender is quiet', () => {
    const jb = new JitterBuffer();
    const arrivals: Arrival[] = [];
    for (let s = 0; s < 50; s++)
      arrivals.push({ at: s * 20 + 30, frame: mk(s, s === 49 ? { dtx: true } : {}) });
    // One second of DTX: the next frame has the next seq but a timestamp 1 s later.
    for (let s = 50; s < 100; s++) {
      const sent = (s + 50) * 20;
      arrivals.push({ at: sent + 30, frame: { ...mk(s), timestamp: (s + 50) * FRAME } });
    }
    const ticks = run(jb, arrivals, 100 * 20 + 1000 + 60);
    assert.equal(playedSeqs(ticks).length, 100);
    const live = afterStart(ticks);
    const lastFrame = live.findLastIndex((t) => t.item.kind === 'frame');
    const inCall = live.slice(0, lastFrame + 1);
    assert.equal(inCall.filter((t) => t.item.kind === 'conceal').length, 0);
    assert.ok(inCall.filter((t) => t.item.kind === 'silence').length >= 45);
  });

  test('setMinimumDelay raises the target', () => {
    const jb = new JitterBuffer();
    run(
      jb,
      stream(100, () => 30),
      2100,
    );
    assert.ok(jb.stats.targetDelayMs < 30);
    jb.setMinimumDelay(80);
    assert.equal(jb.stats.targetDelayMs, 80);
    jb.setMinimumDelay(10_000);
    assert.equal(jb.stats.targetDelayMs, 300, 'never above the ceiling');
  });
});

describe('JitterBuffer property', () => {
  const opts: JitterBufferOptions[] = [{}, { maxFrames: 8 }, { minDelayMs: 0, maxDelayMs: 60 }];

  test('any arrival pattern: strictly increasing seqs, each at most once, one outcome per tick', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0xffffffff - 20, 123456789),
        fc.array(
          fc.record({
            copies: fc.integer({ min: 0, max: 3 }),
            delays: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 3, maxLength: 3 }),
            recovered: fc.boolean(),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        fc.integer({ min: 0, max: 19 }),
        fc.constantFrom(...opts),
        (seq0, pattern, phase, o) => {
          const arrivals: Arrival[] = [];
          pattern.forEach((p, s) => {
            for (let c = 0; c < p.copies; c++) {
              arrivals.push({
                at: s * 20 + (p.delays[c] ?? 0),
                frame: mk(s, c > 0 && p.recovered ? { recovered: true } : {}, seq0, seq0 * 7),
              });
            }
          });
          const jb = new JitterBuffer(o);
          const ticks = run(jb, arrivals, pattern.length * 20 + 1000, { startMs: phase });
          const seqs = playedSeqs(ticks).map((s) => (s - seq0) >>> 0);
          for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] ?? 0) > (seqs[i - 1] ?? 0));
          assert.equal(new Set(seqs).size, seqs.length);
          for (const s of seqs) assert.ok(s < pattern.length);
          const live = afterStart(ticks);
          const st = jb.stats;
          assert.equal(st.played + st.concealed, live.length);
          assert.equal(st.played, seqs.length);
          assert.ok(live.every((t) => t.item.kind !== 'silence'));
        },
      ),
      { numRuns: 300 },
    );
  });
});
