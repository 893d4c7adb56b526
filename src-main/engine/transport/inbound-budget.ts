// What one connection's signal stream may cost us: bytes read, frames decoded and the CPU time
// spent parsing and handling them, each a token bucket. The connection charges a frame before
// it is parsed and the handling time after; while any bucket is in debt it stops reading, so
// QUIC flow control pushes back on the sender and a flood costs its sender, not us. Valid frames
// count exactly like invalid ones.
import { TokenBucket } from '../base/token-bucket.ts';

export interface InboundBudgetLimits {
  bytesPerSec: number;
  bytesBurst: number;
  framesPerSec: number;
  framesBurst: number;
  cpuMsPerSec: number;
  cpuMsBurst: number;
}

export class InboundBudget {
  readonly limits: InboundBudgetLimits;
  readonly #bytes: TokenBucket;
  readonly #frames: TokenBucket;
  readonly #cpu: TokenBucket;

  constructor(limits: InboundBudgetLimits, now: () => number = () => performance.now()) {
    for (const [k, v] of Object.entries(limits)) {
      if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`inbound budget: ${k} must be > 0`);
    }
    this.limits = { ...limits };
    this.#bytes = new TokenBucket(limits.bytesPerSec, limits.bytesBurst, now);
    this.#frames = new TokenBucket(limits.framesPerSec, limits.framesBurst, now);
    this.#cpu = new TokenBucket(limits.cpuMsPerSec, limits.cpuMsBurst, now);
  }

  /** Bytes taken off the stream, before they are decoded. */
  chargeBytes(n: number): void {
    this.#bytes.charge(n);
  }

  /** One frame about to be parsed. */
  chargeFrame(): void {
    this.#frames.charge(1);
  }

  /** Time spent parsing and handling. */
  chargeCpu(ms: number): void {
    this.#cpu.charge(ms);
  }

  /** Milliseconds to wait before parsing anything more (0: go on). */
  waitMs(): number {
    return Math.max(this.#bytes.msUntil(), this.#frames.msUntil(), this.#cpu.msUntil());
  }
}
