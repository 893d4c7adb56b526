// A scheduler on a fake clock for pure logic and supervisors that take one (call/ticker.ts's
// Scheduler): time moves only through `advance`, and due timers run in order of their due time
// (ties in the order they were set), each seeing the clock at its own due time.
import type { Scheduler } from '../../src-main/engine/call/ticker.ts';

interface Timer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeScheduler implements Scheduler {
  #now: number;
  #order = 0;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer: Timer = {
      at: this.#now + Math.max(0, ms),
      order: this.#order++,
      fn,
      cancelled: false,
    };
    this.#timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Timers set and not yet run or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Move the clock forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.order < next.order)))
          next = t;
      }
      if (!next) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
