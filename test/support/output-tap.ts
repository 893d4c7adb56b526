// Measures what a page plays, at its output: an init script (page.addInitScript) that taps every
// Web Audio connection into an AudioContext's destination (the node the browser plays) with an
// AnalyserNode, and every 50 ms records the level (dBFS) and the loudest frequency of what
// reaches it. The app is not asked and cannot tell; it is measured the way a speaker hears it.
import type { Page } from 'playwright-core';

export interface OutputSample {
  /** Date.now() in the page. */
  at: number;
  /** RMS level over the last ~43 ms, dBFS (-120 for silence). */
  dbfs: number;
  /** Frequency of the loudest FFT bin above 150 Hz, Hz (0 for silence). */
  peakHz: number;
}

declare global {
  interface Window {
    __wzpOutput?: OutputSample[];
  }
}

// Plain JavaScript text: a function passed from here would carry the TypeScript loader's helpers.
const TAP_SCRIPT = `(() => {
  const samples = [];
  window.__wzpOutput = samples;
  const taps = new WeakMap();
  const contexts = new Set();
  const connect = AudioNode.prototype.connect;
  function tapFor(ctx) {
    let a = taps.get(ctx);
    if (!a) {
      a = ctx.createAnalyser();
      a.fftSize = 2048;
      a.smoothingTimeConstant = 0;
      taps.set(ctx, a);
      contexts.add(ctx);
    }
    return a;
  }
  AudioNode.prototype.connect = function (...args) {
    const dest = args[0];
    if (dest instanceof AudioDestinationNode) connect.call(this, tapFor(dest.context));
    return connect.apply(this, args);
  };
  const time = new Float32Array(2048);
  setInterval(() => {
    let best = { dbfs: -120, peakHz: 0 };
    for (const ctx of contexts) {
      if (ctx.state === 'closed') {
        contexts.delete(ctx);
        continue;
      }
      const a = taps.get(ctx);
      a.getFloatTimeDomainData(time);
      let sum = 0;
      for (const v of time) sum += v * v;
      const rms = Math.sqrt(sum / time.length);
      const dbfs = rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
      if (dbfs <= best.dbfs) continue;
      const freq = new Float32Array(a.frequencyBinCount);
      a.getFloatFrequencyData(freq);
      const binHz = ctx.sampleRate / a.fftSize;
      let peak = Math.ceil(150 / binHz);
      for (let i = peak; i < freq.length; i++) if (freq[i] > freq[peak]) peak = i;
      best = { dbfs, peakHz: peak * binHz };
    }
    samples.push({ at: Date.now(), dbfs: best.dbfs, peakHz: best.peakHz });
    if (samples.length > 20000) samples.splice(0, 10000);
  }, 50);
})();`;

/** Start measuring a page's output (call before it loads the app). */
export async function tapOutput(page: Page): Promise<void> {
  await page.addInitScript({ content: TAP_SCRIPT });
}

/** Samples recorded since `from` (page time). */
export async function outputSince(page: Page, from: number): Promise<OutputSample[]> {
  return page.evaluate((t) => (window.__wzpOutput ?? []).filter((s) => s.at >= t), from);
}

/** Samples louder than `minDb` whose loudest frequency is within `tolHz` of one of `freqs`. */
export function audibleAt(
  samples: readonly OutputSample[],
  freqs: readonly number[],
  minDb = -45,
  tolHz = 25,
): number {
  return samples.filter((s) => s.dbfs > minDb && freqs.some((f) => Math.abs(s.peakHz - f) <= tolHz))
    .length;
}
