// Calls that clients asked this relay to take over (after their relay died, or after they failed
// over to this one), waiting for the other party to name the same call: a relay recreates a call
// only when both parties have claimed it, each naming the other, so no client can pull another
// identity into a call it is not in. Claims expire; pure, clock injected.
import type { CallId } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';

interface Claim {
  callId: CallId;
  party: Fingerprint;
  peer: Fingerprint;
  atMs: number;
}

export class ResumeClaims {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #max: number;
  readonly #claims = new Map<string, Claim>();
  /** Claims by the party they name, so a party coming online finds its claims at once. */
  readonly #byPeer = new Map<Fingerprint, Set<string>>();

  constructor(opts: { ttlMs: number; now: () => number; max?: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now;
    this.#max = opts.max ?? 100_000;
  }

  get size(): number {
    return this.#claims.size;
  }

  /** `party` (registered here) says it is in `callId` with `peer`. False when full. */
  claim(callId: CallId, party: Fingerprint, peer: Fingerprint): boolean {
    this.sweep();
    const key = `${callId} ${party}`;
    if (!this.#claims.has(key) && this.#claims.size >= this.#max) return false;
    this.#delete(key);
    this.#claims.set(key, { callId, party, peer, atMs: this.#now() });
    let s = this.#byPeer.get(peer);
    if (!s) this.#byPeer.set(peer, (s = new Set()));
    s.add(key);
    return true;
  }

  /** Removes and confirms `party`'s claim on `callId` naming `peer`. */
  take(callId: CallId, party: Fingerprint, peer: Fingerprint): boolean {
    const key = `${callId} ${party}`;
    const c = this.#claims.get(key);
    if (!c || c.peer !== peer || this.#now() - c.atMs > this.#ttlMs) return false;
    this.#delete(key);
    return true;
  }

  /** Live claims whose other party is `peer` (it just came online somewhere). */
  naming(peer: Fingerprint): { callId: CallId; party: Fingerprint }[] {
    const t = this.#now();
    const out: { callId: CallId; party: Fingerprint }[] = [];
    for (const key of this.#byPeer.get(peer) ?? []) {
      const c = this.#claims.get(key);
      if (c && t - c.atMs <= this.#ttlMs) out.push({ callId: c.callId, party: c.party });
    }
    return out;
  }

  /** Forget the claims `party` made on these calls (it disconnected). */
  dropParty(party: Fingerprint, callIds: readonly CallId[]): void {
    for (const id of callIds) this.#delete(`${id} ${party}`);
  }

  /** Drops expired claims; claims are kept in the order they were made, oldest first. */
  sweep(): void {
    const t = this.#now();
    for (const [k, c] of this.#claims) {
      if (t - c.atMs <= this.#ttlMs) break;
      this.#delete(k);
    }
  }

  #delete(key: string): void {
    const c = this.#claims.get(key);
    if (!c) return;
    this.#claims.delete(key);
    const s = this.#byPeer.get(c.peer);
    s?.delete(key);
    if (s && s.size === 0) this.#byPeer.delete(c.peer);
  }
}
