// Owns the test signals: tones, silence, deterministic noise, a voice-like buzz, tones with
// loud markers at known times (for latency and alignment measurements), silence/tone patterns
// (for DTX), and a spoken phrase through espeak-ng when it is installed. All 48 kHz mono Int16
// unless a rate is given.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../../src-main/engine/media/wav.ts';

export const RATE = 48_000;

/** Linear amplitude (0..1 of full scale) of a sine whose RMS is `dbfs`. */
export function sineAmplitudeForDbfs(dbfs: number): number {
  return Math.SQRT2 * 10 ** (dbfs / 20);
}

function samplesFor(ms: number, rate: number): number {
  return Math.round((ms * rate) / 1000);
}

function toInt16(v: number): number {
  const s = Math.round(v * 32767);
  return s > 32767 ? 32767 : s < -32768 ? -32768 : s;
}

export interface ToneOptions {
  freq: number;
  durationMs: number;
  /** Peak amplitude as a fraction of full scale (default 0.5). */
  amplitude?: number;
  rate?: number;
  /** Start phase in radians. */
  phase?: number;
  /** Raised-cosine fade in and out (ms), so the tone starts without a click. Default 0. */
  fadeMs?: number;
}

export function sineTone(opts: ToneOptions): Int16Array {
  const rate = opts.rate ?? RATE;
  const n = samplesFor(opts.durationMs, rate);
  const amp = opts.amplitude ?? 0.5;
  const fade = samplesFor(opts.fadeMs ?? 0, rate);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let g = 1;
    if (fade > 0 && i < fade) g = 0.5 - 0.5 * Math.cos((Math.PI * i) / fade);
    if (fade > 0 && n - 1 - i < fade)
      g = Math.min(g, 0.5 - 0.5 * Math.cos((Math.PI * (n - 1 - i)) / fade));
    out[i] = toInt16(amp * g * Math.sin((2 * Math.PI * opts.freq * i) / rate + (opts.phase ?? 0)));
  }
  return out;
}

export function silence(durationMs: number, rate = RATE): Int16Array {
  return new Int16Array(samplesFor(durationMs, rate));
}

/** Deterministic white noise (xorshift32), uniform, peak `amplitude` of full scale. */
export function whiteNoise(
  durationMs: number,
  amplitude: number,
  seed = 1,
  rate = RATE,
): Int16Array {
  const out = new Int16Array(samplesFor(durationMs, rate));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = toInt16(amplitude * ((x >>> 0) / 2147483648 - 1));
  }
  return out;
}

/**
 * A voice-like signal: a glottal-pulse-ish harmonic series (f0 with slow vibrato) shaped by a
 * syllable-rate envelope. Not speech, but with speech's pitch, spectrum tilt and level changes:
 * good enough to exercise a speech codec when espeak-ng is not installed.
 */
export function voiceLike(
  durationMs: number,
  opts: { f0?: number; amplitude?: number; rate?: number } = {},
): Int16Array {
  const rate = opts.rate ?? RATE;
  const f0 = opts.f0 ?? 140;
  const amp = opts.amplitude ?? 0.3;
  const out = new Int16Array(samplesFor(durationMs, rate));
  let phase = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    phase += (2 * Math.PI * f0 * (1 + 0.03 * Math.sin(2 * Math.PI * 5 * t))) / rate;
    let v = 0;
    for (let h = 1; h * f0 < Math.min(4000, rate / 2); h++) v += Math.sin(h * phase) / h;
    const env = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
    out[i] = toInt16((amp * env * v) / 1.7);
  }
  return out;
}

export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export interface MarkedTone {
  pcm: Int16Array;
  /** Marker start times in ms, as placed. */
  markersMs: number[];
}

/**
 * A quiet carrier tone with loud, short noise-burst markers at known times: the marker onsets
 * are easy to find again in a recording after a codec and a network, so the difference between
 * marker times in and out is the mouth-to-ear latency.
 */
export function toneWithMarkers(opts: {
  durationMs: number;
  markersMs: number[];
  /** Carrier tone (default 440 Hz at -30 dBFS); freq 0 for silence between markers. */
  carrierFreq?: number;
  carrierDbfs?: number;
  markerMs?: number;
  /** Marker peak amplitude (default 0.7 of full scale). */
  markerAmplitude?: number;
  rate?: number;
}): MarkedTone {
  const rate = opts.rate ?? RATE;
  const freq = opts.carrierFreq ?? 440;
  const pcm =
    freq > 0
      ? sineTone({
          freq,
          durationMs: opts.durationMs,
          amplitude: sineAmplitudeForDbfs(opts.carrierDbfs ?? -30),
          rate,
        })
      : silence(opts.durationMs, rate);
  const markerLen = samplesFor(opts.markerMs ?? 10, rate);
  opts.markersMs.forEach((ms, k) => {
    const start = samplesFor(ms, rate);
    const burst = whiteNoise((markerLen * 1000) / rate, opts.markerAmplitude ?? 0.7, 7 + k, rate);
    for (let i = 0; i < burst.length && start + i < pcm.length; i++)
      pcm[start + i] = burst[i] as number;
  });
  return { pcm, markersMs: [...opts.markersMs] };
}

export type PatternSegment =
  | { kind: 'silence'; ms: number }
  | { kind: 'tone'; ms: number; freq: number; amplitude?: number }
  | { kind: 'noise'; ms: number; amplitude: number };

/** Segments back to back, e.g. tone / silence / tone for DTX tests. */
export function pattern(segments: PatternSegment[], rate = RATE): Int16Array {
  return concat(
    ...segments.map((s, k) =>
      s.kind === 'silence'
        ? silence(s.ms, rate)
        : s.kind === 'noise'
          ? whiteNoise(s.ms, s.amplitude, 11 + k, rate)
          : sineTone({
              freq: s.freq,
              durationMs: s.ms,
              amplitude: s.amplitude ?? 0.5,
              rate,
              fadeMs: 2,
            }),
    ),
  );
}

/** Cut a signal into consecutive frames of `frameSamples` (the tail that does not fill one is dropped). */
export function frames(pcm: Int16Array, frameSamples: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let s = 0; s + frameSamples <= pcm.length; s += frameSamples)
    out.push(pcm.slice(s, s + frameSamples));
  return out;
}

/** True when `espeak-ng` can be run. */
export function hasEspeak(): boolean {
  const r = spawnSync('espeak-ng', ['--version'], { stdio: 'ignore', timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

/**
 * A spoken phrase as 48 kHz mono PCM, synthesised with `espeak-ng -w`, or null when espeak-ng is
 * not installed (the caller decides whether to fall back to voiceLike() or to report "not run").
 */
export function spokenPhrase(
  text = 'The quick brown fox jumps over the lazy dog.',
): Int16Array | null {
  if (!hasEspeak()) return null;
  const dir = mkdtempSync(join(tmpdir(), 'wzp-espeak-'));
  try {
    const file = join(dir, 'phrase.wav');
    const r = spawnSync('espeak-ng', ['-w', file, text], { stdio: 'ignore', timeout: 20_000 });
    if (r.error !== undefined || r.status !== 0) return null;
    return readWav(file).samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
