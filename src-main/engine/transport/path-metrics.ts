// Path quality from our own timestamped pings: QUIC's own RTT is whole milliseconds (0 or 1 on a
// LAN, FINDINGS.md), too coarse for jitter or for comparing a direct path with a relayed one.
// Pure logic: the connection feeds it send/receive events with times from an injected clock.

export interface PathMetricsSnapshot {
  /** Smoothed round-trip time (RFC 6298 style, alpha 1/8), ms. */
  rttMs: number | null;
  /** Lowest RTT seen, ms. */
  minRttMs: number | null;
  /** Smoothed variation between consecutive RTT samples (RFC 3550 style, 1/16), ms. */
  jitterMs: number | null;
  /** Pings lost among the last window of pings whose answer is due, %. */
  pingLossPct: number;
  pingsSent: number;
  pongsReceived: number;
}

const LOSS_WINDOW = 50;

export class PathMetrics {
  #outstanding = new Map<number, number>();
  #nextId = 1;
  #srtt: number | null = null;
  #minRtt: number | null = null;
  #jitter: number | null = null;
  #lastRtt: number | null = null;
  #recent: boolean[] = [];
  #pingsSent = 0;
  #pongsReceived = 0;

  constructor(readonly pingTimeoutMs = 2000) {}

  /** Returns the id to put in the ping. */
  pingSent(nowMs: number): number {
    this.#expire(nowMs);
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    this.#outstanding.set(id, nowMs);
    this.#pingsSent++;
    return id;
  }

  /** A pong came back; unknown or expired ids are ignored (returns false). */
  pongReceived(id: number, nowMs: number): boolean {
    this.#expire(nowMs);
    const sentAt = this.#outstanding.get(id);
    if (sentAt === undefined) return false;
    this.#outstanding.delete(id);
    this.#pongsReceived++;
    this.#record(true);
    const rtt = Math.max(0, nowMs - sentAt);
    this.#srtt = this.#srtt === null ? rtt : this.#srtt + (rtt - this.#srtt) / 8;
    this.#minRtt = this.#minRtt === null ? rtt : Math.min(this.#minRtt, rtt);
    if (this.#lastRtt !== null) {
      const d = Math.abs(rtt - this.#lastRtt);
      this.#jitter = this.#jitter === null ? d : this.#jitter + (d - this.#jitter) / 16;
    }
    this.#lastRtt = rtt;
    return true;
  }

  snapshot(nowMs: number): PathMetricsSnapshot {
    this.#expire(nowMs);
    const lost = this.#recent.filter((ok) => !ok).length;
    return {
      rttMs: this.#srtt,
      minRttMs: this.#minRtt,
      jitterMs: this.#jitter,
      pingLossPct: this.#recent.length === 0 ? 0 : (100 * lost) / this.#recent.length,
      pingsSent: this.#pingsSent,
      pongsReceived: this.#pongsReceived,
    };
  }

  #expire(nowMs: number): void {
    for (const [id, sentAt] of this.#outstanding) {
      if (nowMs - sentAt >= this.pingTimeoutMs) {
        this.#outstanding.delete(id);
        this.#record(false);
      }
    }
  }

  #record(ok: boolean): void {
    this.#recent.push(ok);
    if (this.#recent.length > LOSS_WINDOW) this.#recent.shift();
  }
}
