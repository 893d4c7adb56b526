// Tests the measuring tools themselves on synthetic signals with known answers: levels, the FFT,
// dominant frequency, delay recovery (within 1 ms, through gain, noise and the Opus codec),
// correlation scores and marker onsets. A wrong ruler would make every benchmark wrong.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  alignedCorrelation,
  correlationAt,
  detectOnset,
  detectOnsets,
  dominantFrequency,
  fft,
  findDelay,
  frequencyTrack,
  goertzelDb,
  rms,
  rmsDbfs,
} from '../support/audio-analysis.ts';
import {
  RATE,
  concat,
  frames,
  hasEspeak,
  pattern,
  silence,
  sineAmplitudeForDbfs,
  sineTone,
  spokenPhrase,
  toneWithMarkers,
  voiceLike,
  whiteNoise,
} from '../support/fixtures.ts';
import { OpusDecoderStage, OpusEncoderStage } from '../../src-main/engine/media/opus-codec.ts';

/** `x` delayed by `d` samples, scaled, with optional added noise. */
function delayed(x: Int16Array, d: number, gain = 1, noise?: Int16Array): Int16Array {
  const out = new Int16Array(x.length + d);
  for (let i = 0; i < x.length; i++) out[i + d] = Math.round((x[i] as number) * gain);
  if (noise)
    for (let i = 0; i < out.length; i++)
      out[i] = (out[i] as number) + ((noise[i % noise.length] as number) | 0);
  return out;
}

describe('levels', () => {
  test('a sine made for a dBFS level measures at it', () => {
    for (const db of [-3, -20, -45]) {
      const x = sineTone({ freq: 1000, durationMs: 200, amplitude: sineAmplitudeForDbfs(db) });
      assert.ok(Math.abs(rmsDbfs(x) - db) < 0.05, `${rmsDbfs(x)} vs ${db}`);
    }
    assert.equal(rmsDbfs(silence(10)), -Infinity);
    assert.equal(rms(new Int16Array(0)), 0);
  });

  test('Goertzel sees the tone that is there and not one that is not', () => {
    const x = sineTone({ freq: 1000, durationMs: 100, amplitude: 0.5 });
    assert.ok(Math.abs(goertzelDb(x, RATE, 1000) - 20 * Math.log10(0.5)) < 0.5);
    assert.ok(goertzelDb(x, RATE, 3000) < -60);
  });
});

describe('spectrum', () => {
  test('fft matches a direct DFT', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }),
        (xs) => {
          const re = Float64Array.from(xs);
          const im = new Float64Array(16);
          fft(re, im);
          for (let k = 0; k < 16; k++) {
            let sr = 0;
            let si = 0;
            xs.forEach((v, n) => {
              sr += v * Math.cos((-2 * Math.PI * k * n) / 16);
              si += v * Math.sin((-2 * Math.PI * k * n) / 16);
            });
            assert.ok(
              Math.abs((re[k] as number) - sr) < 1e-9 && Math.abs((im[k] as number) - si) < 1e-9,
            );
          }
        },
      ),
      { numRuns: 50, seed: 1 },
    );
  });

  test('dominantFrequency finds any tone within 1 Hz, also under noise', () => {
    fc.assert(
      fc.property(fc.double({ min: 80, max: 12000, noNaN: true }), (freq) => {
        const x = concat(sineTone({ freq, durationMs: 300, amplitude: 0.3 }));
        const n = whiteNoise(300, 0.05, 2);
        for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + (n[i] as number);
        const f = dominantFrequency(x, RATE);
        assert.ok(Math.abs(f - freq) < 1, `${f} for ${freq}`);
      }),
      { numRuns: 25, seed: 5 },
    );
  });

  test('frequencyTrack follows a tone sequence', () => {
    const x = pattern([
      { kind: 'tone', ms: 200, freq: 300 },
      { kind: 'tone', ms: 200, freq: 2000 },
    ]);
    const track = frequencyTrack(x, RATE, 100);
    assert.equal(track.length, 4);
    assert.ok(
      Math.abs((track[0] as number) - 300) < 3 && Math.abs((track[3] as number) - 2000) < 3,
    );
  });
});

describe('alignment', () => {
  test('a known delay is recovered within 1 ms through gain and noise', () => {
    const ref = voiceLike(1000);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 24000 }),
        fc.double({ min: 0.5, max: 2, noNaN: true }),
        (d, gain) => {
          const rec = delayed(ref, d, gain, whiteNoise(500, 0.02, d + 1));
          const r = findDelay(ref, rec, RATE, { maxDelayMs: 600 });
          assert.ok(r);
          assert.ok(
            Math.abs(r.delayMs - (d * 1000) / RATE) < 1,
            `${r.delayMs} ms for ${d} samples`,
          );
          assert.ok(r.peak > 0.9);
        },
      ),
      { numRuns: 20, seed: 9 },
    );
  });

  test('a recording that starts early (negative delay) is found when allowed', () => {
    const ref = whiteNoise(500, 0.3, 4);
    const rec = ref.slice(480);
    const r = findDelay(ref, rec, RATE, { maxAdvanceMs: 50 });
    assert.ok(r && Math.abs(r.delayMs + 10) < 0.1, `${r?.delayMs}`);
    assert.ok(
      Math.abs((findDelay(ref, rec, RATE)?.delayMs ?? 0) + 10) > 1,
      'not found when not allowed',
    );
  });

  test('correlation scores: same 1, inverted -1, unrelated about 0', () => {
    const a = whiteNoise(200, 0.5, 1);
    const b = whiteNoise(200, 0.5, 2);
    assert.ok(correlationAt(a, a, 0) > 0.999);
    assert.ok(
      correlationAt(
        a,
        a.map((v) => -v),
        0,
      ) < -0.999,
    );
    assert.ok(Math.abs(correlationAt(a, b, 0)) < 0.05);
  });

  test('through the Opus codec the delay is found and the aligned score is high', () => {
    const ref = voiceLike(1500);
    const enc = new OpusEncoderStage({ dtx: false });
    const dec = new OpusDecoderStage();
    const out = concat(
      silence(100),
      ...frames(ref, 960).map((f) => {
        const e = enc.encode(f);
        return e.kind === 'suppressed' ? new Int16Array(960) : dec.decode(e.payload).pcm;
      }),
    );
    enc.close();
    dec.close();
    const r = alignedCorrelation(ref, out, RATE);
    assert.ok(r);
    // 100 ms of silence plus Opus's own 6.5 ms algorithmic delay.
    assert.ok(r.delayMs > 100 && r.delayMs < 110, `${r.delayMs} ms`);
    assert.ok(r.score > 0.8, `score ${r.score}`);
  });
});

describe('onsets', () => {
  test('markers on a tone are found within 1 ms of where they were put', () => {
    const { pcm, markersMs } = toneWithMarkers({
      durationMs: 3000,
      markersMs: [250, 1000, 1730.5, 2600],
    });
    const found = detectOnsets(pcm, RATE, { minGapMs: 200 });
    assert.equal(found.length, markersMs.length);
    found.forEach((t, i) =>
      assert.ok(Math.abs(t - (markersMs[i] as number)) < 1, `${t} vs ${markersMs[i]}`),
    );
    const after = detectOnset(pcm, RATE, { afterMs: 1100 });
    assert.ok(after !== null && Math.abs(after - 1730.5) < 1);
  });

  test('markers survive a delay: latency is the difference of onsets', () => {
    const { pcm } = toneWithMarkers({ durationMs: 1000, markersMs: [300], carrierFreq: 0 });
    const rec = delayed(pcm, 3456, 0.5, whiteNoise(100, 0.001, 8));
    const tIn = detectOnset(pcm, RATE);
    const tOut = detectOnset(rec, RATE);
    assert.ok(tIn !== null && tOut !== null);
    assert.ok(Math.abs(tOut - tIn - 72) < 1, `${tOut - tIn} ms`);
  });

  test('nothing loud means no onset', () => {
    assert.equal(
      detectOnset(sineTone({ freq: 440, durationMs: 500, amplitude: 0.01 }), RATE, {
        thresholdDbfs: -20,
      }),
      null,
    );
  });
});

describe('fixtures', () => {
  test('spokenPhrase is speech when espeak-ng exists and null when it does not', () => {
    const phrase = spokenPhrase('testing one two three');
    if (hasEspeak()) {
      assert.ok(phrase && phrase.length > RATE / 2 && rmsDbfs(phrase) > -40);
    } else {
      assert.equal(phrase, null);
    }
  });
});
