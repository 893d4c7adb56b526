// Owns the measurements tests and benchmarks make on audio (usually a recorded call WAV against
// the signal that was played in): level, dominant frequency, delay by cross-correlation, marker
// onsets, and a similarity score after alignment. Pure functions on Int16Array PCM.

/** RMS of a PCM block (in sample units, full scale 32768). */
export function rms(pcm: Int16Array, start = 0, end = pcm.length): number {
  const s = Math.max(0, start);
  const e = Math.min(pcm.length, end);
  if (e <= s) return 0;
  let sum = 0;
  for (let i = s; i < e; i++) {
    const v = pcm[i] as number;
    sum += v * v;
  }
  return Math.sqrt(sum / (e - s));
}

/** Level in dB relative to full scale; -Infinity for digital silence. */
export function rmsDbfs(pcm: Int16Array, start = 0, end = pcm.length): number {
  const r = rms(pcm, start, end);
  return r > 0 ? 20 * Math.log10(r / 32768) : -Infinity;
}

/** Sum of squares (energy) of a block. */
export function energy(pcm: Int16Array, start = 0, end = pcm.length): number {
  const r = rms(pcm, start, end);
  return r * r * Math.max(0, Math.min(pcm.length, end) - Math.max(0, start));
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** In-place iterative radix-2 complex FFT (inverse when `inverse`, unscaled). */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n !== im.length || (n & (n - 1)) !== 0)
    throw new RangeError('fft length must be a power of 2');
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i] as number;
      re[i] = re[j] as number;
      re[j] = tr;
      const ti = im[i] as number;
      im[i] = im[j] as number;
      im[j] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    const half = len >> 1;
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < half; k++) {
        const a = i + k;
        const b = a + half;
        const xr = (re[b] as number) * cr - (im[b] as number) * ci;
        const xi = (re[b] as number) * ci + (im[b] as number) * cr;
        re[b] = (re[a] as number) - xr;
        im[b] = (im[a] as number) - xi;
        re[a] = (re[a] as number) + xr;
        im[a] = (im[a] as number) + xi;
        const nr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = nr;
      }
    }
  }
}

export interface FrequencyOptions {
  minHz?: number;
  maxHz?: number;
  /** Analyse at most this many samples from `start` (default: up to 2^16). */
  maxSamples?: number;
  start?: number;
}

/**
 * Frequency of the strongest spectral peak (Hann-windowed FFT, zero-padded, refined by parabolic
 * interpolation of the log magnitude): accurate to well under 1 Hz for a clean tone of 0.1 s+.
 */
export function dominantFrequency(
  pcm: Int16Array,
  rate: number,
  opts: FrequencyOptions = {},
): number {
  const start = opts.start ?? 0;
  const len = Math.min(pcm.length - start, opts.maxSamples ?? 65536);
  if (len < 16) return Number.NaN;
  const n = nextPow2(Math.max(len * 4, 8192));
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < len; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1));
    re[i] = (pcm[start + i] as number) * w;
  }
  fft(re, im);
  const lo = Math.max(1, Math.floor(((opts.minHz ?? 20) * n) / rate));
  const hi = Math.min(n / 2 - 1, Math.ceil(((opts.maxHz ?? rate / 2) * n) / rate));
  let best = -1;
  let bestMag = -Infinity;
  const mag = (k: number): number => Math.hypot(re[k] as number, im[k] as number);
  for (let k = lo; k <= hi; k++) {
    const m = mag(k);
    if (m > bestMag) {
      bestMag = m;
      best = k;
    }
  }
  if (best < 0 || bestMag === 0) return Number.NaN;
  const a = Math.log(mag(best - 1) + 1e-12);
  const b = Math.log(bestMag + 1e-12);
  const c = Math.log(mag(best + 1) + 1e-12);
  const denom = a - 2 * b + c;
  const shift = denom === 0 ? 0 : (0.5 * (a - c)) / denom;
  return ((best + shift) * rate) / n;
}

/** Goertzel power of one frequency (normalised so a full-scale sine gives about 0 dB). */
export function goertzelDb(
  pcm: Int16Array,
  rate: number,
  freq: number,
  start = 0,
  end = pcm.length,
): number {
  const w = (2 * Math.PI * freq) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  const n = Math.max(0, Math.min(pcm.length, end) - start);
  for (let i = 0; i < n; i++) {
    const s0 = (pcm[start + i] as number) / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  if (n === 0 || power <= 0) return -Infinity;
  return 10 * Math.log10((4 * power) / (n * n));
}

export interface DelayResult {
  /** How many samples later the reference appears in the recording (may be fractional). */
  delaySamples: number;
  delayMs: number;
  /** Normalised cross-correlation at the peak, -1..1 (1: identical up to gain). */
  peak: number;
}

export interface DelayOptions {
  /** Only look at delays from 0 to this (default 2000 ms). */
  maxDelayMs?: number;
  /** Also consider the recording being early (negative delays) down to -this. Default 0. */
  maxAdvanceMs?: number;
}

/**
 * Delay of `reference` inside `recording` by FFT cross-correlation, refined to a fraction of a
 * sample by parabolic interpolation. Both must be at `rate`.
 */
export function findDelay(
  reference: Int16Array,
  recording: Int16Array,
  rate: number,
  opts: DelayOptions = {},
): DelayResult | null {
  const maxLag = Math.round(((opts.maxDelayMs ?? 2000) * rate) / 1000);
  const minLag = -Math.round(((opts.maxAdvanceMs ?? 0) * rate) / 1000);
  if (reference.length === 0 || recording.length === 0) return null;
  const n = nextPow2(reference.length + recording.length);
  const ar = new Float64Array(n);
  const ai = new Float64Array(n);
  const br = new Float64Array(n);
  const bi = new Float64Array(n);
  for (let i = 0; i < recording.length; i++) ar[i] = recording[i] as number;
  for (let i = 0; i < reference.length; i++) br[i] = reference[i] as number;
  fft(ar, ai);
  fft(br, bi);
  // recording * conj(reference): the result at lag L is sum rec[i + L] * ref[i].
  for (let k = 0; k < n; k++) {
    const xr = ar[k] as number;
    const xi = ai[k] as number;
    const yr = br[k] as number;
    const yi = bi[k] as number;
    ar[k] = xr * yr + xi * yi;
    ai[k] = xi * yr - xr * yi;
  }
  fft(ar, ai, true);
  const at = (lag: number): number => (ar[(lag + n) % n] as number) / n;
  let bestLag = 0;
  let best = -Infinity;
  const hiLag = Math.min(maxLag, recording.length - 1);
  const loLag = Math.max(minLag, -(reference.length - 1));
  for (let lag = loLag; lag <= hiLag; lag++) {
    const v = at(lag);
    if (v > best) {
      best = v;
      bestLag = lag;
    }
  }
  if (!Number.isFinite(best) || best <= 0) return null;
  const a = at(bestLag - 1);
  const c = at(bestLag + 1);
  const denom = a - 2 * best + c;
  const shift = denom < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0;
  const delaySamples = bestLag + shift;
  return {
    delaySamples,
    delayMs: (delaySamples * 1000) / rate,
    peak: correlationAt(reference, recording, bestLag),
  };
}

/**
 * Pearson correlation of `reference` against `recording` shifted by `delaySamples` (integer
 * part), over the samples both cover: 1 = same waveform, 0 = unrelated.
 */
export function correlationAt(
  reference: Int16Array,
  recording: Int16Array,
  delaySamples: number,
): number {
  const lag = Math.round(delaySamples);
  const start = Math.max(0, -lag);
  const end = Math.min(reference.length, recording.length - lag);
  const n = end - start;
  if (n <= 1) return 0;
  let sx = 0;
  let sy = 0;
  for (let i = start; i < end; i++) {
    sx += reference[i] as number;
    sy += recording[i + lag] as number;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = start; i < end; i++) {
    const x = (reference[i] as number) - mx;
    const y = (recording[i + lag] as number) - my;
    sxy += x * y;
    sxx += x * x;
    syy += y * y;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** Find the delay, then score the aligned signals: what a "does the audio match" test wants. */
export function alignedCorrelation(
  reference: Int16Array,
  recording: Int16Array,
  rate: number,
  opts: DelayOptions = {},
): { delayMs: number; score: number } | null {
  const d = findDelay(reference, recording, rate, opts);
  if (!d) return null;
  return { delayMs: d.delayMs, score: correlationAt(reference, recording, d.delaySamples) };
}

export interface OnsetOptions {
  /** Level a window must exceed (dBFS). Default: 20 dB above the quietest 10 % of windows, or -40. */
  thresholdDbfs?: number;
  /** Analysis window in ms (default 1). */
  windowMs?: number;
  /** Ignore everything before this time (ms). */
  afterMs?: number;
}

/** 20 dB above the quietest tenth of the windows (the background), but at least -40 dBFS. */
function autoThresholdDbfs(pcm: Int16Array, win: number, from: number): number {
  const levels: number[] = [];
  for (let s = from; s + win <= pcm.length; s += win) levels.push(rmsDbfs(pcm, s, s + win));
  levels.sort((x, y) => x - y);
  const quiet = levels[Math.floor(levels.length * 0.1)] ?? -Infinity;
  return Number.isFinite(quiet) ? Math.max(-40, quiet + 20) : -40;
}

/**
 * Time (ms) of the first window louder than the threshold, refined to the first sample in that
 * window whose magnitude reaches the threshold level; null if none.
 */
export function detectOnset(pcm: Int16Array, rate: number, opts: OnsetOptions = {}): number | null {
  const win = Math.max(1, Math.round(((opts.windowMs ?? 1) * rate) / 1000));
  const from = Math.max(0, Math.round(((opts.afterMs ?? 0) * rate) / 1000));
  const threshold = opts.thresholdDbfs ?? autoThresholdDbfs(pcm, win, from);
  const amp = 32768 * 10 ** (threshold / 20);
  for (let s = from; s + win <= pcm.length; s += win) {
    if (rmsDbfs(pcm, s, s + win) > threshold) {
      // The window's RMS crossed: the onset is the first sample in or just before it that
      // reaches the threshold amplitude.
      for (let i = Math.max(from, s - win); i < s + win; i++) {
        if (Math.abs(pcm[i] as number) >= amp) return (i * 1000) / rate;
      }
      return (s * 1000) / rate;
    }
  }
  return null;
}

/** All onsets: bursts louder than the threshold separated by at least `minGapMs` of quiet. */
export function detectOnsets(
  pcm: Int16Array,
  rate: number,
  opts: OnsetOptions & { minGapMs?: number } = {},
): number[] {
  const out: number[] = [];
  let after = opts.afterMs ?? 0;
  const gap = opts.minGapMs ?? 100;
  const win = Math.max(1, Math.round(((opts.windowMs ?? 1) * rate) / 1000));
  const thresholdDbfs =
    opts.thresholdDbfs ?? autoThresholdDbfs(pcm, win, Math.round((after * rate) / 1000));
  for (;;) {
    const t = detectOnset(pcm, rate, { ...opts, thresholdDbfs, afterMs: after });
    if (t === null) return out;
    out.push(t);
    after = t + gap;
  }
}

/** Dominant frequency over successive blocks, for "which tone is playing when" checks. */
export function frequencyTrack(pcm: Int16Array, rate: number, blockMs: number): number[] {
  const block = Math.round((blockMs * rate) / 1000);
  const out: number[] = [];
  for (let s = 0; s + block <= pcm.length; s += block) {
    out.push(dominantFrequency(pcm, rate, { start: s, maxSamples: block }));
  }
  return out;
}
