// Tests WAV in and out: every common encoding reads back as 48 kHz mono at the right level and
// pitch, channels are averaged, bad files fail with one-line typed errors, and the streaming
// writer produces a valid file (also when flushed midway).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import {
  WavError,
  WavStreamWriter,
  decodeWav,
  encodeWav,
  readWav,
  writeWav,
} from '../../src-main/engine/media/wav.ts';
import { dominantFrequency, rmsDbfs } from '../support/audio-analysis.ts';
import { RATE, frames, sineTone } from '../support/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'wzp-wav-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A float sine per channel at `rate`, amplitude `amp` of full scale. */
function channelsOf(
  rate: number,
  seconds: number,
  specs: { freq: number; amp: number }[],
): Float64Array[] {
  return specs.map(({ freq, amp }) => {
    const a = new Float64Array(Math.round(rate * seconds));
    for (let i = 0; i < a.length; i++) a[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
    return a;
  });
}

/** wavefile-made file bytes; integer depths take samples scaled to their range. */
function makeWav(rate: number, depth: string, chans: Float64Array[]): Uint8Array {
  const scaleFor: Record<string, (v: number) => number> = {
    '8': (v) => Math.round(v * 127 + 128),
    '16': (v) => Math.round(v * 32767),
    '24': (v) => Math.round(v * 8388607),
    '32': (v) => Math.round(v * 2147483647),
    '32f': (v) => v,
    '64': (v) => v,
  };
  const scale = scaleFor[depth];
  assert.ok(scale);
  const w = new wavefile.WaveFile();
  const scaled = chans.map((c) => Float64Array.from(c, scale));
  w.fromScratch(
    chans.length,
    rate,
    depth,
    chans.length === 1 ? (scaled[0] as Float64Array) : scaled,
  );
  return w.toBuffer();
}

/** A WAVE_FORMAT_EXTENSIBLE float file, which wavefile alone misreads as integers. */
function extensibleFloatWav(rate: number, samples: Float32Array): Uint8Array {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const h = Buffer.alloc(68);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(60 + data.length, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(40, 16);
  h.writeUInt16LE(0xfffe, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(32, 34);
  h.writeUInt16LE(22, 36); // cbSize
  h.writeUInt16LE(32, 38); // valid bits
  h.writeUInt32LE(4, 40); // channel mask
  // KSDATAFORMAT_SUBTYPE_IEEE_FLOAT: 00000003-0000-0010-8000-00aa00389b71
  Buffer.from('0300000000001000800000aa00389b71', 'hex').copy(h, 44);
  h.write('data', 60, 'ascii');
  h.writeUInt32LE(data.length, 64);
  return Buffer.concat([h, data]);
}

function assertTone(pcm: Int16Array, freq: number, dbfs: number, tolDb = 0.5): void {
  const f = dominantFrequency(pcm, RATE, { start: RATE / 10 });
  assert.ok(Math.abs(f - freq) < 1, `frequency ${f}, expected ${freq}`);
  const level = rmsDbfs(pcm, RATE / 10, pcm.length - RATE / 10);
  assert.ok(Math.abs(level - dbfs) < tolDb, `level ${level} dBFS, expected ${dbfs}`);
}

describe('decodeWav', () => {
  test('48 kHz mono 16-bit round-trips sample-exact', () => {
    const pcm = sineTone({ freq: 1234, durationMs: 250, amplitude: 0.9 });
    pcm[0] = -32768;
    pcm[1] = 32767;
    const d = decodeWav(encodeWav(pcm));
    assert.deepEqual(d.samples, pcm);
    assert.equal(d.sourceRate, 48000);
    assert.equal(d.sourceChannels, 1);
  });

  const sineDbfs = 20 * Math.log10(0.5 / Math.SQRT2);
  for (const depth of ['8', '16', '24', '32', '32f', '64']) {
    for (const rate of [8000, 16000, 22050, 44100, 48000, 96000]) {
      test(`${depth}-bit at ${rate} Hz reads as a 48 kHz tone of the same pitch and level`, () => {
        const d = decodeWav(makeWav(rate, depth, channelsOf(rate, 0.6, [{ freq: 700, amp: 0.5 }])));
        assert.equal(d.samples.length, Math.ceil(0.6 * RATE));
        assert.equal(d.sourceRate, rate);
        assertTone(d.samples, 700, sineDbfs, depth === '8' ? 0.8 : 0.2);
      });
    }
  }

  test('stereo is averaged to mono', () => {
    const left = new Float64Array(4800).fill(0.5);
    const right = new Float64Array(4800).fill(-0.25);
    const d = decodeWav(makeWav(48000, '32f', [left, right]));
    assert.equal(d.sourceChannels, 2);
    assert.ok(d.samples.every((v) => v === Math.round(0.125 * 32768)));
    // A tone on one side only arrives at half its amplitude (-6 dB).
    const one = decodeWav(
      makeWav(
        44100,
        '16',
        channelsOf(44100, 0.6, [
          { freq: 440, amp: 0.5 },
          { freq: 0, amp: 0 },
        ]),
      ),
    );
    assertTone(one.samples, 440, sineDbfs - 6.02, 0.2);
  });

  test('mu-law, A-law and WAVE_FORMAT_EXTENSIBLE float are decoded', () => {
    for (const conv of ['toMuLaw', 'toALaw'] as const) {
      const w = new wavefile.WaveFile(
        makeWav(8000, '16', channelsOf(8000, 0.6, [{ freq: 500, amp: 0.5 }])),
      );
      w[conv]();
      const d = decodeWav(w.toBuffer());
      assertTone(d.samples, 500, sineDbfs, 0.5);
    }
    const f = Float32Array.from(
      { length: 24000 },
      (_, i) => 0.5 * Math.sin((2 * Math.PI * 900 * i) / 48000),
    );
    assertTone(decodeWav(extensibleFloatWav(48000, f)).samples, 900, sineDbfs, 0.1);
  });

  test('garbage, truncated and unsupported files fail with one-line WavErrors', () => {
    const cases: [Uint8Array, string][] = [
      [Uint8Array.of(1, 2, 3), 'corrupt'],
      [Buffer.from('RIFF\x10\x00\x00\x00WAVEjunk', 'latin1'), 'corrupt'],
      [encodeWav(new Int16Array(100)).subarray(0, 30), 'corrupt'],
    ];
    // MPEG layer 3 inside a WAV: a real format we do not decode.
    const mp3 = Buffer.from(encodeWav(new Int16Array(100)));
    mp3.writeUInt16LE(0x55, 20);
    cases.push([mp3, 'unsupported']);
    for (const [bytes, code] of cases) {
      assert.throws(
        () => decodeWav(bytes, 'in.wav'),
        (e: unknown) =>
          e instanceof WavError &&
          e.code === code &&
          !e.message.includes('\n') &&
          e.message.includes('in.wav'),
      );
    }
  });
});

describe('readWav / writeWav', () => {
  test('missing file, directory and bad file each give their own code', () => {
    assert.throws(
      () => readWav(join(dir, 'nope.wav')),
      (e: unknown) => e instanceof WavError && e.code === 'not-found',
    );
    const sub = join(dir, 'a-dir.wav');
    mkdirSync(sub);
    assert.throws(
      () => readWav(sub),
      (e: unknown) => e instanceof WavError && e.code === 'unreadable',
    );
    const bad = join(dir, 'bad.wav');
    writeFileSync(bad, 'not a wav at all');
    assert.throws(
      () => readWav(bad),
      (e: unknown) => e instanceof WavError && e.code === 'corrupt',
    );
    assert.throws(
      () => writeWav(join(dir, 'no-such-dir', 'x.wav'), new Int16Array(10)),
      (e: unknown) => e instanceof WavError && e.code === 'write-failed',
    );
  });

  test('writeWav writes a standard 48 kHz mono 16-bit file that wavefile agrees with', () => {
    const pcm = sineTone({ freq: 300, durationMs: 100 });
    const path = join(dir, 'out.wav');
    writeWav(path, pcm);
    const w = new wavefile.WaveFile(readFileSync(path));
    assert.equal(w.bitDepth, '16');
    const fmt = w.fmt as { numChannels: number; sampleRate: number };
    assert.equal(fmt.numChannels, 1);
    assert.equal(fmt.sampleRate, 48000);
    assert.deepEqual(readWav(path).samples, pcm);
  });
});

describe('WavStreamWriter', () => {
  test('frames appended over a long recording read back exactly', () => {
    const path = join(dir, 'stream.wav');
    const pcm = sineTone({ freq: 440, durationMs: 5000, amplitude: 0.4 });
    const w = new WavStreamWriter(path);
    for (const f of frames(pcm, 960)) w.write(f);
    assert.equal(w.samplesWritten, pcm.length);
    w.close();
    w.close();
    const back = readWav(path);
    assert.deepEqual(back.samples, pcm);
    assert.throws(() => w.write(new Int16Array(960)), WavError);
  });

  test('flush() leaves a complete file while recording continues', () => {
    const path = join(dir, 'partial.wav');
    const w = new WavStreamWriter(path);
    const a = sineTone({ freq: 200, durationMs: 100 });
    w.write(a);
    w.flush();
    assert.deepEqual(readWav(path).samples, a);
    const b = sineTone({ freq: 800, durationMs: 100 });
    w.write(b);
    w.close();
    assert.equal(readWav(path).samples.length, a.length + b.length);
  });

  test('at the size limit further frames are counted as dropped, not written', () => {
    const path = join(dir, 'limited.wav');
    const w = new WavStreamWriter(path, RATE, { maxDataBytes: 2 * 1500 });
    w.write(new Int16Array(960).fill(1));
    w.write(new Int16Array(960).fill(2));
    w.write(new Int16Array(960).fill(3));
    w.close();
    assert.equal(w.samplesDropped, 3 * 960 - 1500);
    const back = readWav(path).samples;
    assert.equal(back.length, 1500);
    assert.equal(back[1499], 2);
  });

  test('an empty recording is still a valid (empty) WAV', () => {
    const path = join(dir, 'empty.wav');
    new WavStreamWriter(path).close();
    assert.equal(readWav(path).samples.length, 0);
  });
});
