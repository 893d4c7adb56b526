// The call sounds in assets/sounds are exactly what scripts/make-sounds.ts makes (so they are
// ours, and can be remade), and each is what it should be: the ringtone's notes, the ringback's
// and busy tones' frequencies and cadence, a short hang-up cue, none clipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeWav, makeSounds } from '../../scripts/make-sounds.ts';
import { dominantFrequency } from '../support/audio-analysis.ts';

const sounds = makeSounds();
const get = (name: string) => {
  const s = sounds.find((x) => x.name === name);
  assert.ok(s, name);
  return s;
};
const pcm = (x: Float64Array, from: number, to: number) =>
  Int16Array.from(x.subarray(from, to), (v) => Math.round(v * 32767));

test('the committed sound files are what the script makes', () => {
  for (const s of sounds) {
    const committed = readFileSync(new URL(`../../assets/sounds/${s.name}.wav`, import.meta.url));
    assert.ok(committed.equals(encodeWav(s)), `${s.name}.wav is stale: run scripts/make-sounds.ts`);
  }
});

test('each sound is what it should be', () => {
  for (const s of sounds) {
    const peak = Math.max(...s.samples.map(Math.abs));
    assert.ok(peak > 0.2 && peak < 1, `${s.name} peak ${peak}`);
  }
  const ring = get('ringtone');
  const note = (at: number) =>
    dominantFrequency(
      pcm(ring.samples, Math.round(at * ring.rate), Math.round((at + 0.1) * ring.rate)),
      ring.rate,
    );
  for (const [at, hz] of [
    [0.01, 659.26],
    [0.15, 830.61],
    [0.29, 987.77],
  ] as const) {
    assert.ok(Math.abs(note(at) - hz) < 15, `ringtone note at ${at}s: ${note(at)} Hz`);
  }
  const back = get('ringback');
  const f = dominantFrequency(pcm(back.samples, 800, 8000), back.rate);
  assert.ok(Math.abs(f - 440) < 15 || Math.abs(f - 480) < 15, `ringback ${f} Hz`);
  const silentTail = back.samples.subarray(Math.round(1.3 * back.rate));
  assert.ok(silentTail.length > 2 * back.rate && silentTail.every((v) => v === 0), '3 s pause');
  const busy = get('busy');
  const on = pcm(busy.samples, 400, 2800);
  const bf = dominantFrequency(on, busy.rate);
  assert.ok(Math.abs(bf - 480) < 15 || Math.abs(bf - 620) < 15, `busy ${bf} Hz`);
  assert.ok(
    busy.samples
      .subarray(Math.round(0.45 * busy.rate), Math.round(0.75 * busy.rate))
      .every((v) => v === 0),
    'busy cadence',
  );
  assert.ok(get('hangup').samples.length / get('hangup').rate < 1.5, 'a short cue');
});
