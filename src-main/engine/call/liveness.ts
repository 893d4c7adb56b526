// Whether the other side of a call is still there, judged on the media plane alone (consent
// freshness in the spirit of RFC 7675): every authenticated packet from the peer, on any path,
// renews it. Each side makes sure the peer hears from it at least every `keepaliveMs` (media, a
// DTX keep-alive, or an explicit keep-alive when nothing else went out), so silence is never
// mistaken for absence. `reconnectAfterMs` of nothing: the call is "reconnecting" (the host says
// so and tries every path); `giveUpAfterMs` of nothing: the call is lost. A pure state machine on
// an injected clock: the Call feeds it packets and ticks and acts on what it returns.

export type LivenessState = 'live' | 'reconnecting' | 'lost';

export type LivenessOutput =
  /** Nothing heard for a while: show "Reconnecting…" and try every path. */
  | { type: 'reconnecting'; silentMs: number }
  /** The peer is heard again. */
  | { type: 'recovered'; silentMs: number }
  /** Nothing heard for too long: end the call ("connection lost"). */
  | { type: 'lost'; silentMs: number }
  /** Nothing sent for a while: send a keep-alive so the peer keeps hearing us. */
  | { type: 'keepalive' };

export interface LivenessOptions {
  reconnectAfterMs?: number;
  giveUpAfterMs?: number;
  keepaliveMs?: number;
}

export const LIVENESS_DEFAULTS = {
  reconnectAfterMs: 2000,
  giveUpAfterMs: 15_000,
  keepaliveMs: 500,
} as const;

export class CallLiveness {
  readonly #reconnectAfterMs: number;
  readonly #giveUpAfterMs: number;
  readonly #keepaliveMs: number;
  #state: LivenessState = 'live';
  #lastHeardAt: number;
  #lastSentAt: number;

  /** `now`: when media started (the peer has until then + reconnectAfterMs to be heard). */
  constructor(now: number, opts: LivenessOptions = {}) {
    this.#reconnectAfterMs = opts.reconnectAfterMs ?? LIVENESS_DEFAULTS.reconnectAfterMs;
    this.#giveUpAfterMs = opts.giveUpAfterMs ?? LIVENESS_DEFAULTS.giveUpAfterMs;
    this.#keepaliveMs = opts.keepaliveMs ?? LIVENESS_DEFAULTS.keepaliveMs;
    if (!(this.#reconnectAfterMs > 0 && this.#giveUpAfterMs > this.#reconnectAfterMs)) {
      throw new RangeError('liveness needs 0 < reconnectAfterMs < giveUpAfterMs');
    }
    this.#lastHeardAt = now;
    this.#lastSentAt = now;
  }

  get state(): LivenessState {
    return this.#state;
  }

  get lastHeardAt(): number {
    return this.#lastHeardAt;
  }

  silentMs(now: number): number {
    return Math.max(0, now - this.#lastHeardAt);
  }

  /** An authenticated packet from the peer arrived (any path). */
  heard(now: number): LivenessOutput[] {
    if (this.#state === 'lost') return [];
    const silentMs = this.silentMs(now);
    this.#lastHeardAt = Math.max(this.#lastHeardAt, now);
    if (this.#state === 'reconnecting') {
      this.#state = 'live';
      return [{ type: 'recovered', silentMs }];
    }
    return [];
  }

  /** We sent something the peer will authenticate (media or a keep-alive). */
  sent(now: number): void {
    this.#lastSentAt = Math.max(this.#lastSentAt, now);
  }

  /** Call every 100-250 ms. */
  tick(now: number): LivenessOutput[] {
    if (this.#state === 'lost') return [];
    const out: LivenessOutput[] = [];
    const silentMs = this.silentMs(now);
    if (silentMs >= this.#giveUpAfterMs) {
      this.#state = 'lost';
      return [{ type: 'lost', silentMs }];
    }
    if (this.#state === 'live' && silentMs >= this.#reconnectAfterMs) {
      this.#state = 'reconnecting';
      out.push({ type: 'reconnecting', silentMs });
    }
    if (now - this.#lastSentAt >= this.#keepaliveMs) {
      this.#lastSentAt = now;
      out.push({ type: 'keepalive' });
    }
    return out;
  }
}
