// The NAT-lab bench's pure figures, on made-up PCM and samples.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  counterDelta,
  firstAudibleMs,
  markerLatencies,
  quietBlocks,
  summarize,
} from '../bench/nat-lab/analysis.ts';
import { concat, sineTone, silence } from '../support/fixtures.ts';

describe('NAT-lab bench analysis', () => {
  test('summarize ignores non-finite samples', () => {
    const s = summarize([10, 30, 20, Number.NaN, 40, 50]);
    assert.equal(s.n, 5);
    assert.equal(s.median, 30);
    assert.equal(s.min, 10);
    assert.equal(s.max, 50);
    assert.equal(summarize([]).n, 0);
  });

  test('marker latencies line up two recordings by their start offset and skip lost markers', () => {
    // Receiver started recording 30 ms after the sender started playing.
    const onsets = [1020, 2020, 4000];
    assert.deepEqual(markerLatencies(onsets, [1000, 2000, 3000], 30), [50, 50]);
    assert.deepEqual(
      markerLatencies([1020], [1000], -30),
      [],
      'an onset before its marker is not a match',
    );
    assert.deepEqual(markerLatencies([2500], [1000], 0, 1000), [], 'nor one beyond the window');
  });

  test('quiet blocks find the gap in a tone and its longest run', () => {
    const pcm = concat(
      sineTone({ freq: 400, durationMs: 500, amplitude: 0.3 }),
      silence(100),
      sineTone({ freq: 400, durationMs: 200, amplitude: 0.3 }),
      silence(40),
      sineTone({ freq: 400, durationMs: 160, amplitude: 0.3 }),
    );
    const q = quietBlocks(pcm, 48_000, 0, 1000, -40);
    assert.equal(q.quietMs, 140);
    assert.equal(q.longestMs, 100);
    assert.equal(
      firstAudibleMs(concat(silence(60), sineTone({ freq: 400, durationMs: 100 })), 48_000, -40),
      60,
    );
    assert.equal(firstAudibleMs(silence(100), 48_000, -40), null);
  });

  test('counter deltas across a window', () => {
    const samples = [
      { at: 1000, value: 0 },
      { at: 2000, value: 3 },
      { at: 3000, value: 10 },
    ];
    assert.equal(counterDelta(samples, 2000, 2500), 7);
    assert.equal(counterDelta(samples, 500, 1000), 0);
    assert.equal(counterDelta(samples, 2500, 4000), null);
  });
});
