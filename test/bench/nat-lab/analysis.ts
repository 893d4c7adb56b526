// Pure figures for the NAT-lab bench: summaries of samples, mouth-to-ear from marker onsets in a
// recording, and audio gaps counted as 20 ms blocks quieter than a threshold inside a window of
// a recording that should carry a continuous tone. No I/O, so it can be checked on made-up PCM.
import { rmsDbfs } from '../../support/audio-analysis.ts';
import { percentile } from '../bench-types.ts';

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Median, nearest-rank p95, min and max (NaN for an empty sample), rounded to 0.1. */
export function summarize(values: readonly number[]): Summary {
  const xs = values.filter((x) => Number.isFinite(x));
  return {
    n: xs.length,
    median: round1(percentile(xs, 50)),
    p95: round1(percentile(xs, 95)),
    min: round1(xs.length ? Math.min(...xs) : Number.NaN),
    max: round1(xs.length ? Math.max(...xs) : Number.NaN),
  };
}

/**
 * Latency of each marker placed at `markersMs` in the sender's microphone WAV, from the onsets
 * heard in the receiver's recording. Both files start at their process's `mediaStartMs`, so
 * `offsetMs` = receiver's mediaStartMs - sender's. A marker with no onset within `maxMs` after it
 * is left out (lost or not detected), never guessed.
 */
export function markerLatencies(
  onsetsMs: readonly number[],
  markersMs: readonly number[],
  offsetMs: number,
  maxMs = 1000,
): number[] {
  const out: number[] = [];
  for (const m of markersMs) {
    const heard = onsetsMs.find((t) => t + offsetMs > m && t + offsetMs < m + maxMs);
    if (heard !== undefined) out.push(heard + offsetMs - m);
  }
  return out;
}

export interface QuietCount {
  /** The window actually examined (clipped to the recording), ms from the recording's start. */
  fromMs: number;
  toMs: number;
  /** Blocks quieter than the threshold, in ms (blocks x block length). */
  quietMs: number;
  /** The longest run of consecutive quiet blocks, in ms: the audible gap. */
  longestMs: number;
}

/** Counts `blockMs` blocks quieter than `thresholdDbfs` between `fromMs` and `toMs`. */
export function quietBlocks(
  pcm: Int16Array,
  rate: number,
  fromMs: number,
  toMs: number,
  thresholdDbfs: number,
  blockMs = 20,
): QuietCount {
  const block = Math.round((blockMs * rate) / 1000);
  const first = Math.max(0, Math.floor((fromMs * rate) / 1000 / block));
  const end = Math.min(Math.floor(pcm.length / block), Math.ceil((toMs * rate) / 1000 / block));
  let quiet = 0;
  let run = 0;
  let longest = 0;
  for (let b = first; b < end; b++) {
    if (rmsDbfs(pcm, b * block, (b + 1) * block) < thresholdDbfs) {
      quiet++;
      run++;
      longest = Math.max(longest, run);
    } else {
      run = 0;
    }
  }
  return {
    fromMs: (first * block * 1000) / rate,
    toMs: (Math.max(first, end) * block * 1000) / rate,
    quietMs: quiet * blockMs,
    longestMs: longest * blockMs,
  };
}

/** Start (ms) of the first `blockMs` block louder than `thresholdDbfs`, or null. */
export function firstAudibleMs(
  pcm: Int16Array,
  rate: number,
  thresholdDbfs: number,
  blockMs = 20,
): number | null {
  const block = Math.round((blockMs * rate) / 1000);
  for (let s = 0; s + block <= pcm.length; s += block) {
    if (rmsDbfs(pcm, s, s + block) >= thresholdDbfs) return (s * 1000) / rate;
  }
  return null;
}

/** A cumulative counter sampled over time (e.g. `stats.framesConcealed`). */
export interface CounterSample {
  at: number;
  value: number;
}

/**
 * How much a cumulative counter grew across [fromAt, toAt]: from the last sample at or before
 * `fromAt` (0 when there is none: the counters start at 0 with the call) to the first sample at
 * or after `toAt`; null when no sample reaches `toAt`.
 */
export function counterDelta(
  samples: readonly CounterSample[],
  fromAt: number,
  toAt: number,
): number | null {
  const before = samples.filter((s) => s.at <= fromAt).pop()?.value ?? 0;
  const after = samples.find((s) => s.at >= toAt)?.value;
  return after === undefined ? null : after - before;
}
