// Tests the resampler: exact output lengths, tones kept clean (SNR against the ideal signal),
// aliasing removed when downsampling, no time shift, streaming in any chunking equal to one-shot,
// and the frame rechunker that turns resampler output into Opus frames.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FrameRechunker,
  StreamingResampler,
  resample,
} from '../../src-main/engine/media/resampler.ts';
import { concat, sineTone, whiteNoise } from '../support/fixtures.ts';
import { rmsDbfs } from '../support/audio-analysis.ts';

/** SNR (dB) of `out` against an ideal sine of `freq` at `rate`, over the middle 80 %. */
function snrAgainstSine(out: Int16Array, freq: number, rate: number, amp: number): number {
  let sig = 0;
  let err = 0;
  for (let i = Math.floor(out.length * 0.1); i < Math.floor(out.length * 0.9); i++) {
    const ideal = amp * 32767 * Math.sin((2 * Math.PI * freq * i) / rate);
    sig += ideal * ideal;
    err += ((out[i] as number) - ideal) ** 2;
  }
  return 10 * Math.log10(sig / err);
}

const PAIRS: [number, number][] = [
  [44100, 48000],
  [48000, 44100],
  [8000, 48000],
  [48000, 8000],
  [16000, 48000],
  [22050, 48000],
  [32000, 48000],
  [48000, 16000],
  [96000, 48000],
  [48000, 44056], // a rate pair with a huge common period, where phases are rounded
];

describe('resample', () => {
  for (const [inRate, outRate] of PAIRS) {
    test(`${inRate} -> ${outRate}: a tone comes out clean (SNR > 60 dB) and the length is exact`, () => {
      const freq = Math.min(inRate, outRate) / 12;
      const input = sineTone({ freq, durationMs: 500, amplitude: 0.5, rate: inRate });
      const out = resample(input, inRate, outRate);
      assert.equal(out.length, Math.ceil((input.length * outRate) / inRate));
      const snr = snrAgainstSine(out, freq, outRate, 0.5);
      assert.ok(snr > 60, `SNR ${snr.toFixed(1)} dB`);
    });
  }

  test('frequencies above the new Nyquist are removed, not folded back', () => {
    // 12 kHz at 48 kHz would alias to 4 kHz at 16 kHz.
    const input = sineTone({ freq: 12000, durationMs: 500, amplitude: 0.5 });
    const out = resample(input, 48000, 16000);
    const level = rmsDbfs(out, 800, out.length - 800);
    assert.ok(level < -70, `alias residue at ${level} dBFS`);
    // 44.1 -> 8 kHz with full-band noise: what is left is band-limited, about 8/44.1 of the power.
    const noise = whiteNoise(1000, 0.5, 3, 44100);
    const down = resample(noise, 44100, 8000);
    const ratioDb = rmsDbfs(down, 400, down.length - 400) - rmsDbfs(noise);
    const expected = 10 * Math.log10((0.92 * 4000) / 22050);
    assert.ok(
      Math.abs(ratioDb - expected) < 1,
      `noise power ratio ${ratioDb} dB, expected ${expected}`,
    );
  });

  test('no time shift: an impulse lands where its time says', () => {
    for (const [inRate, outRate] of PAIRS) {
      const input = new Int16Array(inRate / 10);
      const at = Math.floor(input.length / 2);
      input[at] = 30000;
      const out = resample(input, inRate, outRate);
      let peak = 0;
      for (let i = 1; i < out.length; i++)
        if (Math.abs(out[i] as number) > Math.abs(out[peak] as number)) peak = i;
      const expected = (at * outRate) / inRate;
      assert.ok(
        Math.abs(peak - expected) <= 1,
        `${inRate}->${outRate}: peak ${peak}, expected ${expected}`,
      );
    }
  });

  test('a constant stays constant (unity gain at DC, no ripple between phases)', () => {
    const input = new Int16Array(4410).fill(10000);
    const out = resample(input, 44100, 48000);
    for (let i = 100; i < out.length - 100; i++)
      assert.ok(Math.abs((out[i] as number) - 10000) <= 1);
  });

  test('equal rates copy; impossible rates throw', () => {
    const x = sineTone({ freq: 100, durationMs: 10 });
    const y = resample(x, 48000, 48000);
    assert.deepEqual(y, x);
    assert.notEqual(y, x);
    assert.throws(() => resample(x, 0, 48000), RangeError);
    assert.throws(() => new StreamingResampler(44100.5, 48000), RangeError);
  });
});

describe('StreamingResampler', () => {
  test('any chunking gives the same output as one call', () => {
    const input = concat(
      sineTone({ freq: 440, durationMs: 150, rate: 44100 }),
      whiteNoise(100, 0.3, 5, 44100),
    );
    const oneShot = resample(input, 44100, 48000);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 30 }),
        (sizes) => {
          const r = new StreamingResampler(44100, 48000);
          const parts: Int16Array[] = [];
          let off = 0;
          for (const s of sizes) {
            if (off >= input.length) break;
            parts.push(r.process(input.subarray(off, off + s)));
            off += s;
          }
          parts.push(r.process(input.subarray(off)));
          parts.push(r.flush());
          assert.deepEqual(concat(...parts), oneShot);
        },
      ),
      { numRuns: 60, seed: 3 },
    );
  });

  test('10 ms microphone buffers at 44.1 kHz become 480 samples each once primed, lagging 16 input samples', () => {
    const r = new StreamingResampler(44100, 48000);
    assert.equal(r.latencyInputSamples, 16);
    const lens: number[] = [];
    for (let k = 0; k < 100; k++)
      lens.push(r.process(sineTone({ freq: 300, durationMs: 10, rate: 44100 })).length);
    const total = lens.reduce((a, b) => a + b, 0);
    // Everything except the look-ahead has come out.
    const expected = Math.ceil(((441 * 100 - 16) * 48000) / 44100);
    assert.ok(Math.abs(total - expected) <= 1, `${total} vs ${expected}`);
    assert.ok(lens.slice(1).every((n) => n === 480 || n === 481 || n === 479));
  });

  test('reset() starts a new stream', () => {
    const input = sineTone({ freq: 440, durationMs: 50, rate: 8000 });
    const r = new StreamingResampler(8000, 48000);
    const a = concat(r.process(input), r.flush());
    r.process(whiteNoise(30, 0.5, 9, 8000));
    r.reset();
    const b = concat(r.process(input), r.flush());
    assert.deepEqual(b, a);
  });
});

describe('FrameRechunker', () => {
  test('cuts any chunk sequence into whole frames in order, keeping the remainder', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2500 }), { maxLength: 40 }),
        fc.constantFrom(480, 960, 1920),
        (sizes, frame) => {
          const rc = new FrameRechunker(frame);
          let next = 0;
          const pushed: number[] = [];
          const got: number[] = [];
          for (const s of sizes) {
            const chunk = Int16Array.from({ length: s }, () => next++ % 30000);
            pushed.push(...chunk);
            for (const f of rc.push(chunk)) {
              assert.equal(f.length, frame);
              got.push(...f);
            }
          }
          assert.equal(got.length, Math.floor(pushed.length / frame) * frame);
          assert.equal(rc.buffered, pushed.length - got.length);
          assert.deepEqual(got, pushed.slice(0, got.length));
        },
      ),
      { numRuns: 100, seed: 11 },
    );
    assert.throws(() => new FrameRechunker(0), RangeError);
  });
});
