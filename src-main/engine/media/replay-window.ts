// Sliding-window replay protection over u32 sequence numbers (RFC 6479 style: a ring of 32-bit
// blocks, so advancing the window clears whole words instead of shifting bits). One window per
// key epoch; the sender starts a new epoch before its sequence numbers wrap, so inside a window
// sequence numbers are plain increasing integers and need no wrap arithmetic.
// `check` never changes state and `accept` is called only after the AEAD tag verified, so a
// forged packet can neither advance the window nor burn a sequence number.

export type ReplayCheck = 'ok' | 'duplicate' | 'too-old' | 'invalid';

export const DEFAULT_REPLAY_WINDOW_BITS = 2048;

export class ReplayWindow {
  readonly #blocks: Uint32Array;
  readonly #blockMask: number;
  /** Frames this far behind the highest accepted one are still judged individually. */
  readonly size: number;
  #top = -1;

  /** `bits`: a power of two >= 64. The usable window is bits - 32 (one block is the ring's slack). */
  constructor(bits: number = DEFAULT_REPLAY_WINDOW_BITS) {
    if (!Number.isInteger(bits) || bits < 64 || (bits & (bits - 1)) !== 0) {
      throw new RangeError('replay window bits must be a power of two >= 64');
    }
    const n = bits / 32;
    this.#blocks = new Uint32Array(n);
    this.#blockMask = n - 1;
    this.size = bits - 32;
  }

  /** Highest accepted sequence number, or -1 before the first. */
  get highest(): number {
    return this.#top;
  }

  check(seq: number): ReplayCheck {
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) return 'invalid';
    if (seq > this.#top) return 'ok';
    if (this.#top - seq >= this.size) return 'too-old';
    const block = this.#blocks[(seq >>> 5) & this.#blockMask] ?? 0;
    return (block >>> (seq & 31)) & 1 ? 'duplicate' : 'ok';
  }

  /** Records an authenticated sequence number. Returns the same verdict `check` would have. */
  accept(seq: number): ReplayCheck {
    const verdict = this.check(seq);
    if (verdict !== 'ok') return verdict;
    if (seq > this.#top) {
      const from = this.#top < 0 ? -1 : this.#top >>> 5;
      const to = seq >>> 5;
      // Clear the blocks the window slides over; past a full ring, everything is stale.
      const steps = Math.min(to - from, this.#blocks.length);
      for (let i = 1; i <= steps; i++) this.#blocks[(to - steps + i) & this.#blockMask] = 0;
      this.#top = seq;
    }
    const idx = (seq >>> 5) & this.#blockMask;
    this.#blocks[idx] = ((this.#blocks[idx] ?? 0) | (1 << (seq & 31))) >>> 0;
    return 'ok';
  }
}
