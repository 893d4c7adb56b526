// The figures of one call as hosts see them (CallStatsSnapshot), and the receiver report we send
// the peer once a second (what RTCP's receiver report says, as a `report` signal): loss over the
// last interval from the highest sequence number seen, our send bitrate, interarrival jitter,
// late frames, our own round trip to the relay. The peer's report of our media is kept here too:
// on the relay path the end-to-end RTT is our relay RTT plus the one the peer reports. Pure: the
// call hands it the counters of its sender and receiver, and the time.
import type { CallSignal, MediaPath } from '../../../src-shared/call-signals.ts';
import type { ReceiverStats, SenderStats } from '../media/media-pipeline.ts';
import { DEFAULT_TIER } from '../media/quality-tiers.ts';
import type { CallLiveness, CallStatsSnapshot } from './softphone-api.ts';

export type ReportSignal = Extract<CallSignal, { kind: 'report' }>;

export interface CallStatsInput {
  path: MediaPath | null;
  /** Round trip on the current path as this side measures it (relay: to the relay). */
  pathRttMs: number | null;
  tier: number | null;
  sender: SenderStats | null;
  receiver: ReceiverStats | null;
  /** What the call's liveness says of the peer, and how long it has been silent. */
  liveness: CallLiveness;
  silentMs: number;
}

/**
 * Figures about the peer's media older than this are not shown as current: a peer silent this
 * long has no round trip or jitter to speak of ("no data", never the last good value).
 */
export const STATS_STALE_MS = 2000;

export class CallStatsCollector {
  #last = { at: 0, bytesSent: 0, packetsReceived: 0, highestSeq: null as number | null };
  #intervalLossPct = 0;
  #bitrateKbps = 0;
  #peerRelayRttMs: number | null = null;

  /** Media starts: the first interval begins now. */
  start(now: number): void {
    this.#last = { at: now, bytesSent: 0, packetsReceived: 0, highestSeq: null };
  }

  /** The peer's report on how our media reaches it. */
  onPeerReport(report: ReportSignal): void {
    this.#peerRelayRttMs = report.relayRttMs;
  }

  /** Close the interval that ends now: its loss and our bitrate over it. */
  endInterval(now: number, sender: SenderStats | null, receiver: ReceiverStats | null): void {
    const dt = Math.max(1, now - this.#last.at);
    if (sender) this.#bitrateKbps = ((sender.bytesSent - this.#last.bytesSent) * 8) / dt;
    if (receiver && receiver.highestSeq !== null) {
      const expected =
        this.#last.highestSeq === null
          ? receiver.packetsReceived
          : (receiver.highestSeq - this.#last.highestSeq) >>> 0;
      const got = receiver.packetsReceived - this.#last.packetsReceived;
      this.#intervalLossPct =
        expected > 0 ? Math.max(0, Math.min(100, (100 * (expected - got)) / expected)) : 0;
    }
    this.#last = {
      at: now,
      bytesSent: sender?.bytesSent ?? 0,
      packetsReceived: receiver?.packetsReceived ?? 0,
      highestSeq: receiver?.highestSeq ?? null,
    };
  }

  snapshot(input: CallStatsInput): CallStatsSnapshot {
    const r = input.receiver;
    const s = input.sender;
    let rttMs = input.pathRttMs;
    if (input.path === 'relay' && rttMs !== null && this.#peerRelayRttMs !== null) {
      rttMs += this.#peerRelayRttMs;
    }
    const stale = input.liveness !== 'live' || input.silentMs > STATS_STALE_MS;
    if (stale) rttMs = null;
    return {
      path: input.path,
      rttMs: rttMs === null ? null : round(rttMs),
      // Nothing arrives: that is all of it lost, not the last interval's figure.
      lossPct: stale ? 100 : round(this.#intervalLossPct),
      jitterMs: r && !stale ? round(r.interarrivalJitterMs) : null,
      bitrateKbps: round(this.#bitrateKbps),
      tier: input.tier ?? DEFAULT_TIER.id,
      framesSent: s?.packetsSent ?? 0,
      framesReceived: r?.packetsReceived ?? 0,
      framesConcealed: r?.framesConcealed ?? 0,
      framesLate: r?.framesLate ?? 0,
      framesRecovered: r?.framesRecovered ?? 0,
      jitterBufferMs: r ? round(r.jitter.currentDelayMs) : 0,
      liveness: input.liveness,
      silentMs: round(input.silentMs),
    };
  }

  /** Our receiver report for the peer, from this second's snapshot. */
  report(
    snapshot: CallStatsSnapshot,
    receiver: ReceiverStats,
    relayRttMs: number | null,
  ): ReportSignal {
    return {
      kind: 'report',
      lossPct: snapshot.lossPct,
      jitterMs: snapshot.jitterMs ?? 0,
      lateFrames: receiver.framesLate,
      receivedFrames: receiver.packetsReceived,
      relayRttMs,
    };
  }
}

/** Figures to two decimals. */
export function round(x: number): number {
  return Math.round(x * 100) / 100;
}
