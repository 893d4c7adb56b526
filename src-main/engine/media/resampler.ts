// Owns sample-rate conversion: a Kaiser-windowed sinc resampler for any pair of rates, as a
// streaming object that takes chunks of any size (the browser microphone delivers 44.1 kHz) and
// as a one-shot function for whole files. Pure computation with no Node imports, so it could
// move to src-shared if the renderer ever needs it.
//
// Output sample n sits at input time n * inRate / outRate; the filter is centred on it (zero
// phase), so the streaming form holds back `halfTaps` input samples of look-ahead and flush()
// releases them. Positions are tracked as integers (input index + phase / L, with
// L = outRate / gcd), so long streams never drift.

export interface ResamplerOptions {
  /** Zero crossings of the sinc on each side at the lower of the two rates. Default 16. */
  halfZeroCrossings?: number;
  /** Passband edge as a fraction of the lower Nyquist frequency. Default 0.92. */
  cutoff?: number;
  /** Kaiser window beta (8.6 gives about 80 dB stop-band). Default 8.6. */
  kaiserBeta?: number;
}

/** Largest number of distinct filter phases stored; rate pairs needing more round the phase. */
const MAX_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isInteger(rate) || rate < 1000 || rate > 384_000) {
    throw new RangeError(`${name} must be an integer from 1000 to 384000 Hz, got ${rate}`);
  }
}

export class StreamingResampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Input samples the output lags behind the input (look-ahead of the centred filter). */
  readonly latencyInputSamples: number;
  private readonly step: number; // M: input advance per output, in 1/L units
  private readonly phasesL: number; // L
  private readonly taps: number;
  private readonly half: number;
  private readonly tablePhases: number;
  private readonly table: Float32Array; // tablePhases * taps
  private readonly passthrough: boolean;
  /** Pending input: history (half - 1 samples before the current position) and look-ahead. */
  private buf: Float32Array;
  private bufLen = 0;
  /** Index in `buf` of the input sample at or before the next output's position. */
  private index: number;
  private phase = 0;
  private totalIn = 0;
  private totalOut = 0;

  constructor(inRate: number, outRate: number, opts: ResamplerOptions = {}) {
    checkRate('input rate', inRate);
    checkRate('output rate', outRate);
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.phasesL = outRate / g;
    this.step = inRate / g;
    this.passthrough = inRate === outRate;
    const zeroCrossings = opts.halfZeroCrossings ?? 16;
    const cutoffFrac = opts.cutoff ?? 0.92;
    const beta = opts.kaiserBeta ?? 8.6;
    // Cutoff in cycles per input sample; a downsampler widens its filter by the ratio.
    const ratio = Math.min(1, outRate / inRate);
    const fc = 0.5 * cutoffFrac * ratio;
    this.half = Math.ceil(zeroCrossings / ratio);
    this.taps = 2 * this.half;
    this.latencyInputSamples = this.passthrough ? 0 : this.half;
    this.tablePhases = Math.min(this.phasesL, MAX_PHASES);
    this.table = new Float32Array(this.tablePhases * this.taps);
    const i0Beta = besselI0(beta);
    for (let p = 0; p < this.tablePhases; p++) {
      const frac = p / this.tablePhases;
      let sum = 0;
      for (let k = 0; k < this.taps; k++) {
        // Distance from the output position to input sample (index - half + 1 + k).
        const d = frac + this.half - 1 - k;
        const x = d / this.half;
        const w = Math.abs(x) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - x * x)) / i0Beta;
        const arg = 2 * fc * d;
        const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
        const h = 2 * fc * sinc * w;
        this.table[p * this.taps + k] = h;
        sum += h;
      }
      // Unity gain at DC for every phase, so a constant stays constant (no phase ripple).
      for (let k = 0; k < this.taps; k++) {
        const at = p * this.taps + k;
        this.table[at] = (this.table[at] as number) / sum;
      }
    }
    // Start with half - 1 zeros of history so the first output is centred on input sample 0.
    this.buf = new Float32Array(Math.max(1024, this.taps * 4));
    this.bufLen = this.half - 1;
    this.index = this.half - 1;
  }

  /** Output samples the stream will have produced after flush() for `inputSamples` of input. */
  static outputLength(inputSamples: number, inRate: number, outRate: number): number {
    return Math.ceil((inputSamples * outRate) / inRate);
  }

  /** Feed a chunk; returns every output sample whose look-ahead is now available. */
  process(input: Int16Array): Int16Array {
    this.totalIn += input.length;
    if (this.passthrough) {
      this.totalOut += input.length;
      return input.slice();
    }
    this.append(input);
    return this.drain();
  }

  /** End of stream: pads with silence and returns the remaining outputs. Resets the stream. */
  flush(): Int16Array {
    const target = StreamingResampler.outputLength(this.totalIn, this.inRate, this.outRate);
    let out: Int16Array = new Int16Array(0);
    if (!this.passthrough) {
      const missing = Math.max(0, target - this.totalOut);
      this.append(new Int16Array(this.half + 1));
      out = this.drain().subarray(0, missing);
    }
    this.reset();
    return out.slice();
  }

  reset(): void {
    this.buf.fill(0);
    this.bufLen = this.half - 1;
    this.index = this.half - 1;
    this.phase = 0;
    this.totalIn = 0;
    this.totalOut = 0;
  }

  private append(input: Int16Array): void {
    if (this.bufLen + input.length > this.buf.length) {
      // Drop what no future output can reach, then grow if still needed.
      const keepFrom = Math.max(0, this.index - this.half + 1);
      this.buf.copyWithin(0, keepFrom, this.bufLen);
      this.bufLen -= keepFrom;
      this.index -= keepFrom;
      if (this.bufLen + input.length > this.buf.length) {
        const grown = new Float32Array((this.bufLen + input.length) * 2);
        grown.set(this.buf.subarray(0, this.bufLen));
        this.buf = grown;
      }
    }
    for (let i = 0; i < input.length; i++) this.buf[this.bufLen + i] = input[i] as number;
    this.bufLen += input.length;
  }

  private drain(): Int16Array {
    const L = this.phasesL;
    // The last buffer index whose whole look-ahead (half samples after it) is present.
    const available = this.bufLen - this.half - 1;
    if (this.index > available) return new Int16Array(0);
    const maxOut = Math.floor(((available - this.index) * L + L - 1 - this.phase) / this.step) + 1;
    const out = new Int16Array(maxOut);
    const buf = this.buf;
    const table = this.table;
    const taps = this.taps;
    const exactPhases = this.tablePhases === L;
    const scalePhase = this.tablePhases / L;
    let n = 0;
    while (this.index <= available && n < maxOut) {
      const p = exactPhases ? this.phase : Math.floor(this.phase * scalePhase);
      const base = p * taps;
      const start = this.index - this.half + 1;
      let acc = 0;
      for (let k = 0; k < taps; k++)
        acc += (table[base + k] as number) * (buf[start + k] as number);
      out[n++] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
      this.phase += this.step;
      while (this.phase >= L) {
        this.phase -= L;
        this.index++;
      }
    }
    this.totalOut += n;
    return n === maxOut ? out : out.slice(0, n);
  }
}

/**
 * Resample a whole signal. The result has ceil(n * outRate / inRate) samples and is aligned in
 * time with the input (no added delay).
 */
export function resample(
  pcm: Int16Array,
  inRate: number,
  outRate: number,
  opts?: ResamplerOptions,
): Int16Array {
  if (inRate === outRate) {
    checkRate('input rate', inRate);
    return pcm.slice();
  }
  const r = new StreamingResampler(inRate, outRate, opts);
  const a = r.process(pcm);
  const b = r.flush();
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Cuts a stream of variable-size chunks (what a resampler returns) into fixed-size frames, e.g.
 * 960-sample Opus frames from 44.1 kHz microphone buffers.
 */
export class FrameRechunker {
  private readonly frameSamples: number;
  private pending: Int16Array;
  private pendingLen = 0;

  constructor(frameSamples: number) {
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(`frame size must be a positive integer, got ${frameSamples}`);
    }
    this.frameSamples = frameSamples;
    this.pending = new Int16Array(frameSamples * 2);
  }

  /** Samples waiting for a full frame. */
  get buffered(): number {
    return this.pendingLen;
  }

  push(chunk: Int16Array): Int16Array[] {
    if (this.pendingLen + chunk.length > this.pending.length) {
      const grown = new Int16Array((this.pendingLen + chunk.length) * 2);
      grown.set(this.pending.subarray(0, this.pendingLen));
      this.pending = grown;
    }
    this.pending.set(chunk, this.pendingLen);
    this.pendingLen += chunk.length;
    const frames: Int16Array[] = [];
    let off = 0;
    while (this.pendingLen - off >= this.frameSamples) {
      frames.push(this.pending.slice(off, off + this.frameSamples));
      off += this.frameSamples;
    }
    if (off > 0) {
      this.pending.copyWithin(0, off, this.pendingLen);
      this.pendingLen -= off;
    }
    return frames;
  }
}
