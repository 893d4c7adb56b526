// A small streaming resampler and framer for the renderer (it cannot import the engine's): the
// sound card runs at whatever rate the platform picks (44.1 kHz on the test machines, see
// FINDINGS.md) and the IPC carries 48 kHz. Linear interpolation with state carried across blocks
// is enough for speech between these close rates; the engine does the heavy DSP.

export class LinearResampler {
  readonly #step: number;
  /** Where the next output sample falls, in input samples from the start of the next block. */
  #pos = 0;
  #last = 0;
  #primed = false;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
  ) {
    if (!(inRate > 0) || !(outRate > 0)) throw new RangeError('sample rates must be positive');
    this.#step = inRate / outRate;
  }

  process(input: Float32Array): Float32Array {
    if (input.length === 0) return new Float32Array(0);
    if (this.inRate === this.outRate) return Float32Array.from(input);
    if (!this.#primed) {
      // The first output sample is the first input sample.
      this.#last = input[0] as number;
      this.#pos = 0;
      this.#primed = true;
    }
    // Index -1 is the previous block's last sample, so interpolation spans block edges.
    const at = (i: number): number => (i < 0 ? this.#last : (input[i] as number));
    const out: number[] = [];
    const n = input.length;
    while (this.#pos <= n - 1) {
      const i0 = Math.floor(this.#pos);
      const frac = this.#pos - i0;
      const a = at(i0);
      out.push(frac === 0 ? a : a + (at(i0 + 1) - a) * frac);
      this.#pos += this.#step;
    }
    this.#pos -= n;
    this.#last = input[n - 1] as number;
    return Float32Array.from(out);
  }
}

/** Cuts a float stream into fixed-size 16-bit frames. */
export class FrameChunker {
  readonly #buf: Int16Array;
  #fill = 0;

  constructor(readonly frameSamples: number) {
    this.#buf = new Int16Array(frameSamples);
  }

  push(samples: Float32Array, onFrame: (frame: Int16Array) => void): void {
    for (let i = 0; i < samples.length; i++) {
      this.#buf[this.#fill++] = floatToInt16(samples[i] as number);
      if (this.#fill === this.frameSamples) {
        onFrame(Int16Array.from(this.#buf));
        this.#fill = 0;
      }
    }
  }
}

export function floatToInt16(x: number): number {
  const c = x > 1 ? 1 : x < -1 ? -1 : Number.isNaN(x) ? 0 : x;
  return c < 0 ? Math.round(c * 0x8000) : Math.round(c * 0x7fff);
}

export function int16ToFloat(frame: Int16Array): Float32Array {
  const out = new Float32Array(frame.length);
  for (let i = 0; i < frame.length; i++) out[i] = (frame[i] as number) / 0x8000;
  return out;
}

/** RMS level of a block in dBFS, floored at -90. */
export function levelDb(samples: Float32Array): number {
  if (samples.length === 0) return -90;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += (samples[i] as number) ** 2;
  const rms = Math.sqrt(sum / samples.length);
  return rms <= 0 ? -90 : Math.max(-90, 20 * Math.log10(rms));
}
