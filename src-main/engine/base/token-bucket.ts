// A token bucket on an injected clock: traffic may burst up to `burst` tokens and is bounded on
// average by `ratePerSec`. One class for every rate cap: signals per identity and relayed media
// per identity (packets and bytes, two buckets that must both admit a frame) in the relay, and
// what a peer may make us read and spend (inbound-budget.ts). `take` refuses what the bucket
// cannot pay now; `charge` pays after the fact and may leave a debt, which `msUntil` turns into
// the time to wait, for costs known only once spent (bytes read, CPU time used). Times are ms.
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {
    if (!(Number.isFinite(ratePerSec) && ratePerSec > 0 && Number.isFinite(burst) && burst > 0)) {
      throw new RangeError('a token bucket needs a rate and a burst above 0');
    }
    this.#tokens = burst;
    this.#last = now();
  }

  /** The tokens there are at time `at` (refilled for the time since the last look). */
  available(at: number = this.now()): number {
    this.#refill(at);
    return this.#tokens;
  }

  /** Takes `cost` tokens if there are that many; otherwise takes nothing. */
  take(cost = 1, at: number = this.now()): boolean {
    this.#refill(at);
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  /** Spend `cost` whether or not the bucket holds it (the level may go below zero). */
  charge(cost: number): void {
    this.#refill(this.now());
    this.#tokens -= cost;
  }

  /** Milliseconds until the bucket holds `level` tokens (0 when it already does). */
  msUntil(level = 0): number {
    this.#refill(this.now());
    return this.#tokens >= level ? 0 : ((level - this.#tokens) / this.ratePerSec) * 1000;
  }

  /** True when the bucket is full: nothing has been spent within the last burst/rate seconds. */
  get full(): boolean {
    this.#refill(this.now());
    return this.#tokens >= this.burst;
  }

  #refill(at: number): void {
    // A clock that steps back neither mints tokens nor stalls the refill afterwards.
    const dt = Math.max(0, at - this.#last) / 1000;
    this.#last = Math.max(this.#last, at);
    this.#tokens = Math.min(this.burst, this.#tokens + dt * this.ratePerSec);
  }
}
