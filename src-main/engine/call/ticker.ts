// A drift-free periodic clock for media: it calls back once for every period that has elapsed
// since it started (catching up after a stall instead of slipping), so 50 slices a second stay
// 50 a second however late the event loop runs. The scheduler is injectable for tests.

export interface Scheduler {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const realScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Real time, with timers that never keep the process alive (supervision, retries). */
export const backgroundScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export class Ticker {
  #next: number;
  #timer: { cancel(): void } | null = null;
  #stopped = false;

  constructor(
    readonly periodMs: number,
    private readonly onTick: (slotTimeMs: number) => void,
    private readonly scheduler: Scheduler = realScheduler,
    /** Beyond this many missed periods, skip ahead instead of replaying them all at once. */
    private readonly maxCatchUp = 10,
  ) {
    this.#next = scheduler.now();
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const delay = Math.max(0, this.#next - this.scheduler.now());
    this.#timer = this.scheduler.setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    const now = this.scheduler.now();
    let due = Math.floor((now - this.#next) / this.periodMs) + 1;
    if (due > this.maxCatchUp) {
      this.#next += (due - this.maxCatchUp) * this.periodMs;
      due = this.maxCatchUp;
    }
    for (let i = 0; i < due && !this.#stopped; i++) {
      this.onTick(this.#next);
      this.#next += this.periodMs;
    }
    this.#schedule();
  }
}
