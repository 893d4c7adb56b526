// The state kept for one network path of a call, in one place and as pure logic (iroh keeps its
// per-path state the same way): whether the path carries media (healthy), whether it is suspect
// (silent for a moment: every packet also goes over the relay), when an outage is declared
// (media falls back, the connection is kept: QUIC survives outages), when the path counts as
// back (it has answered steadily for a while), when it is abandoned (silent so long that a fresh
// attempt is faster than waiting for QUIC's backed-off retransmissions), and the backoff between
// attempts. It owns no socket and no timer: its supervisor feeds it the path's silence and the
// time, and acts on the verdict.

export interface PathTiming {
  /** Silent this long: send on both paths until it answers again or is given up. */
  suspectMs: number;
  /** No packet at all for this long (the direct path's pings run every 200 ms): fall back. */
  outageMs: number;
  /** After an outage, silences shorter than this count as the path answering. */
  aliveMs: number;
  /** ...and answering for this long brings it back. */
  recoveryMs: number;
  /** Silent this long, the connection is given up and a fresh attempt made soon after. */
  abandonMs: number;
  /** The first retry waits this long; each further one twice as long, up to retryMaxMs. */
  retryFirstMs: number;
  /** A retry after an abandoned connection comes at least this soon. */
  retryAfterOutageMs: number;
  retryMaxMs: number;
}

export const DIRECT_PATH_TIMING: Readonly<PathTiming> = Object.freeze({
  suspectMs: 300,
  outageMs: 1000,
  aliveMs: 400,
  recoveryMs: 1000,
  abandonMs: 3000,
  retryFirstMs: 2000,
  retryAfterOutageMs: 1000,
  retryMaxMs: 60_000,
});

export type PathVerdict =
  /** The path stopped answering: move media off it, keep the connection. */
  | { type: 'outage'; silenceMs: number }
  /** It answers steadily again: media may come back. */
  | { type: 'recovered' }
  /** Silent too long: drop the connection and retry (soon: see retryAfterOutageMs). */
  | { type: 'abandoned'; silenceMs: number };

export class PathState {
  readonly timing: Readonly<PathTiming>;
  #healthy = false;
  #recoveringSince: number | null = null;
  #retryDelayMs: number;

  constructor(timing: Readonly<PathTiming> = DIRECT_PATH_TIMING) {
    this.timing = timing;
    this.#retryDelayMs = timing.retryFirstMs;
  }

  /** The path carries packets (false while it is silent; it may come back). */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** The delay the next retry will wait. */
  get retryDelayMs(): number {
    return this.#retryDelayMs;
  }

  /** A fresh connection carries the path: healthy, and the retry backoff starts over. */
  up(): void {
    this.#healthy = true;
    this.#recoveringSince = null;
    this.#retryDelayMs = this.timing.retryFirstMs;
  }

  /** The connection is gone (closed, abandoned or replaced); whether it was carrying media. */
  down(): boolean {
    const was = this.#healthy;
    this.#healthy = false;
    this.#recoveringSince = null;
    return was;
  }

  /** Healthy but quiet for a moment: send on both paths. */
  isSuspect(silenceMs: number): boolean {
    return this.#healthy && silenceMs > this.timing.suspectMs;
  }

  /** One supervision step (every 100 ms or so) with the path's current silence. */
  observe(silenceMs: number, now: number): PathVerdict | null {
    const t = this.timing;
    if (this.#healthy) {
      if (silenceMs <= t.outageMs) return null;
      this.#healthy = false;
      this.#recoveringSince = null;
      return { type: 'outage', silenceMs };
    }
    if (silenceMs < t.aliveMs) {
      this.#recoveringSince ??= now;
      if (now - this.#recoveringSince < t.recoveryMs) return null;
      this.#healthy = true;
      return { type: 'recovered' };
    }
    this.#recoveringSince = null;
    if (silenceMs <= t.abandonMs) return null;
    // QUIC backs off exponentially during an outage and may take seconds to notice the way is
    // open again; a fresh attempt takes a few hundred ms.
    this.#retryDelayMs = Math.min(this.#retryDelayMs, t.retryAfterOutageMs);
    return { type: 'abandoned', silenceMs };
  }

  /** Take the delay of the retry being scheduled now; the one after waits twice as long. */
  takeRetryDelay(): number {
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.timing.retryMaxMs, delay * 2);
    return delay;
  }
}
