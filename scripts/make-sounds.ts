// The app's call sounds, synthesised for this project (so they are ours to ship under the
// project's licence): `node --import tsx scripts/make-sounds.ts [--check]` writes them to
// assets/sounds/, or with --check verifies the committed files are exactly what this makes.
// - ringtone: a soft rising marimba-like motif (E5 G#5 B5, twice), then silence; loops.
// - ringback: what the caller hears while the other side rings: 440 + 480 Hz for 1.2 s, 3 s of
//   silence; loops.
// - busy: 480 + 620 Hz, 0.4 s on, 0.4 s off, three times.
// - hangup: two falling notes (G5, C5), the call is over.
// Deterministic (no randomness), 16-bit mono WAV.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wavefile from 'wavefile';

const OUT = fileURLToPath(new URL('../assets/sounds/', import.meta.url));

interface Sound {
  name: string;
  rate: number;
  samples: Float64Array;
}

const db = (x: number): number => 10 ** (x / 20);

/** A struck note: partials at 1x and ~4x (a marimba's bar), each with its own decay. */
function mallet(out: Float64Array, rate: number, at: number, freq: number, gain: number): void {
  const start = Math.round(at * rate);
  const len = Math.round(0.9 * rate);
  for (let i = 0; i < len && start + i < out.length; i++) {
    const t = i / rate;
    const attack = Math.min(1, t / 0.004);
    const v =
      Math.sin(2 * Math.PI * freq * t) * Math.exp(-t / 0.28) +
      0.25 * Math.sin(2 * Math.PI * freq * 3.93 * t) * Math.exp(-t / 0.06);
    out[start + i] = (out[start + i] as number) + gain * attack * v;
  }
}

/** Two summed tones with raised-cosine edges (no clicks), from `at` for `dur` seconds. */
function dualTone(
  out: Float64Array,
  rate: number,
  at: number,
  dur: number,
  f1: number,
  f2: number,
  gain: number,
): void {
  const start = Math.round(at * rate);
  const len = Math.round(dur * rate);
  const edge = Math.round(0.015 * rate);
  for (let i = 0; i < len && start + i < out.length; i++) {
    const t = i / rate;
    const e = Math.min(1, i / edge, (len - 1 - i) / edge);
    const w = 0.5 - 0.5 * Math.cos(Math.PI * Math.max(0, e));
    out[start + i] =
      (out[start + i] as number) +
      (gain / 2) * w * (Math.sin(2 * Math.PI * f1 * t) + Math.sin(2 * Math.PI * f2 * t));
  }
}

function normalise(x: Float64Array, peakDb: number): Float64Array {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const k = peak > 0 ? db(peakDb) / peak : 0;
  return x.map((v) => v * k);
}

export function makeSounds(): Sound[] {
  const ringRate = 22_050;
  const ring = new Float64Array(Math.round(3.0 * ringRate));
  const motif = [659.26, 830.61, 987.77];
  for (const [rep, base] of [0, 0.7].entries()) {
    motif.forEach((f, i) => mallet(ring, ringRate, base + i * 0.14, f, rep === 0 ? 1 : 0.85));
  }
  const toneRate = 8000;
  const ringback = new Float64Array(Math.round(4.2 * toneRate));
  dualTone(ringback, toneRate, 0, 1.2, 440, 480, 1);
  const busy = new Float64Array(Math.round(2.4 * toneRate));
  for (let i = 0; i < 3; i++) dualTone(busy, toneRate, i * 0.8, 0.4, 480, 620, 1);
  const hangRate = 22_050;
  const hangup = new Float64Array(Math.round(0.9 * hangRate));
  mallet(hangup, hangRate, 0, 783.99, 1);
  mallet(hangup, hangRate, 0.16, 523.25, 1);
  return [
    { name: 'ringtone', rate: ringRate, samples: normalise(ring, -4) },
    { name: 'ringback', rate: toneRate, samples: normalise(ringback, -12) },
    { name: 'busy', rate: toneRate, samples: normalise(busy, -12) },
    { name: 'hangup', rate: hangRate, samples: normalise(hangup, -8) },
  ];
}

export function encodeWav(s: Sound): Buffer {
  const pcm = Int16Array.from(s.samples, (v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, s.rate, '16', pcm);
  return Buffer.from(wav.toBuffer());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  mkdirSync(OUT, { recursive: true });
  let stale = 0;
  for (const s of makeSounds()) {
    const path = join(OUT, `${s.name}.wav`);
    const bytes = encodeWav(s);
    if (check) {
      let same = false;
      try {
        same = readFileSync(path).equals(bytes);
      } catch {
        same = false;
      }
      if (!same) {
        stale++;
        process.stderr.write(`make-sounds: ${path} differs from what the script makes\n`);
      }
    } else {
      writeFileSync(path, bytes);
      process.stdout.write(`${path}: ${(bytes.length / 1024).toFixed(0)} KiB\n`);
    }
  }
  process.exit(stale ? 1 : 0);
}
