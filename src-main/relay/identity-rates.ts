// Signal rate state per identity rather than per connection, so that reconnecting does not
// refill a bucket. A bucket that has refilled while its identity holds no session is forgotten
// by sweep(), so memory follows the identities seen within the last few seconds.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { TokenBucket } from '../engine/base/token-bucket.ts';

export class IdentityRates {
  readonly #buckets = new Map<Fingerprint, TokenBucket>();

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {}

  bucket(fingerprint: Fingerprint): TokenBucket {
    let b = this.#buckets.get(fingerprint);
    if (!b) {
      b = new TokenBucket(this.ratePerSec, this.burst, this.now);
      this.#buckets.set(fingerprint, b);
    }
    return b;
  }

  /** Forget full buckets of identities that `isLive` says hold no session. */
  sweep(isLive: (fingerprint: Fingerprint) => boolean): void {
    for (const [fp, b] of this.#buckets) if (b.full && !isLive(fp)) this.#buckets.delete(fp);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
