// A token bucket on an injected clock: the rate cap for signals per identity (and anything else
// that must be allowed in bursts but bounded on average). `take` refuses what the bucket cannot
// pay now; `charge` pays after the fact and may leave a debt, which `msUntil` turns into the
// time to wait, for costs known only once spent (bytes read, CPU time used).
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  take(cost = 1): boolean {
    this.#refill();
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  /** Spend `cost` whether or not the bucket holds it (the level may go below zero). */
  charge(cost: number): void {
    this.#refill();
    this.#tokens -= cost;
  }

  /** Milliseconds until the bucket holds `level` tokens (0 when it already does). */
  msUntil(level = 0): number {
    this.#refill();
    return this.#tokens >= level ? 0 : ((level - this.#tokens) / this.ratePerSec) * 1000;
  }

  /** True when the bucket is full: nothing has been spent within the last burst/rate seconds. */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.burst;
  }

  #refill(): void {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSec);
    this.#last = t;
  }
}
