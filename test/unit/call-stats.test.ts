// A call's figures and its receiver report (CallStatsCollector): loss over each interval from
// the highest sequence number (with wrap-around), the send bitrate, the end-to-end RTT on the
// relay path from both sides' relay RTTs, and the report sent to the peer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CallStatsCollector } from '../../src-main/engine/call/call-stats.ts';
import type { ReceiverStats, SenderStats } from '../../src-main/engine/media/media-pipeline.ts';
import type { JitterBufferStats } from '../../src-main/engine/media/jitter-buffer.ts';
import { DEFAULT_TIER_ID } from '../../src-main/engine/media/quality-tiers.ts';

const sender = (bytesSent: number, packetsSent = 0): SenderStats => ({
  framesIn: 0,
  packetsSent,
  bytesSent,
  framesSuppressed: 0,
  sealFailures: 0,
});

const receiver = (packetsReceived: number, highestSeq: number | null): ReceiverStats => ({
  packetsReceived,
  packetsMalformed: 0,
  packetsUndecryptable: 0,
  framesPlayed: 0,
  framesConcealed: 2,
  framesRecovered: 1,
  framesLate: 3,
  duplicates: 0,
  highestSeq,
  peerTier: null,
  interarrivalJitterMs: 4.567,
  jitter: { currentDelayMs: 40.123 } as JitterBufferStats,
});

const base = {
  path: 'relay' as const,
  pathRttMs: 20,
  tier: 5,
  liveness: 'live' as const,
  silentMs: 0,
};

describe('CallStatsCollector', () => {
  test('bitrate and loss over one interval', () => {
    const c = new CallStatsCollector();
    c.start(0);
    c.endInterval(1000, sender(4000), receiver(45, 49));
    const snap = c.snapshot({ ...base, sender: sender(4000, 50), receiver: receiver(45, 49) });
    assert.equal(snap.bitrateKbps, 32);
    // The first interval expects as many packets as arrived (the peer's first seq is unknown).
    assert.equal(snap.lossPct, 0);
    c.endInterval(2000, sender(8000), receiver(90, 99));
    const next = c.snapshot({ ...base, sender: null, receiver: receiver(90, 99) });
    assert.equal(next.lossPct, 10, '45 of the 50 packets after seq 49 arrived');
    assert.deepEqual(
      { ...next, bitrateKbps: undefined },
      {
        path: 'relay',
        rttMs: 20,
        lossPct: 10,
        jitterMs: 4.57,
        bitrateKbps: undefined,
        tier: 5,
        framesSent: 0,
        framesReceived: 90,
        framesConcealed: 2,
        framesLate: 3,
        framesRecovered: 1,
        jitterBufferMs: 40.12,
        liveness: 'live',
        silentMs: 0,
      },
    );
  });

  test('a peer silent for over 2 s has no round trip or jitter, and all its media is lost', () => {
    const c = new CallStatsCollector();
    c.start(0);
    c.endInterval(1000, sender(4000), receiver(50, 49));
    const live = c.snapshot({ ...base, sender: null, receiver: receiver(50, 49), silentMs: 2000 });
    assert.equal(live.rttMs, 20, 'two seconds of silence is still current');
    assert.equal(live.lossPct, 0);
    for (const stale of [
      { silentMs: 2001, liveness: 'live' as const },
      { silentMs: 100, liveness: 'reconnecting' as const },
    ]) {
      const snap = c.snapshot({ ...base, ...stale, sender: null, receiver: receiver(50, 49) });
      assert.equal(snap.rttMs, null, JSON.stringify(stale));
      assert.equal(snap.jitterMs, null);
      assert.equal(snap.lossPct, 100);
      assert.equal(snap.liveness, stale.liveness);
    }
  });

  test('before media: no figures, the default tier', () => {
    const snap = new CallStatsCollector().snapshot({
      path: null,
      pathRttMs: null,
      tier: null,
      sender: null,
      receiver: null,
      liveness: 'live',
      silentMs: 0,
    });
    assert.equal(snap.tier, DEFAULT_TIER_ID);
    assert.equal(snap.jitterMs, null);
    assert.equal(snap.rttMs, null);
  });

  test('on the relay path the RTT adds the relay RTT the peer reports; not on the direct path', () => {
    const c = new CallStatsCollector();
    c.onPeerReport({
      kind: 'report',
      lossPct: 0,
      jitterMs: 0,
      lateFrames: 0,
      receivedFrames: 0,
      relayRttMs: 15.5,
    });
    assert.equal(c.snapshot({ ...base, sender: null, receiver: null }).rttMs, 35.5);
    assert.equal(c.snapshot({ ...base, path: 'direct', sender: null, receiver: null }).rttMs, 20);
  });

  test('the receiver report carries the interval loss, jitter and our relay RTT', () => {
    const c = new CallStatsCollector();
    const r = receiver(10, 9);
    const snap = c.snapshot({ ...base, sender: null, receiver: r });
    assert.deepEqual(c.report(snap, r, 12), {
      kind: 'report',
      lossPct: 0,
      jitterMs: 4.57,
      lateFrames: 3,
      receivedFrames: 10,
      relayRttMs: 12,
    });
  });

  test('interval loss stays within 0..100 across sequence wrap-around and duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.array(fc.record({ advance: fc.nat(500), got: fc.nat(600) }), { maxLength: 20 }),
        (start, steps) => {
          const c = new CallStatsCollector();
          c.start(0);
          let seq = start;
          let received = 0;
          steps.forEach((st, i) => {
            seq = (seq + st.advance) >>> 0;
            received += st.got;
            c.endInterval((i + 1) * 1000, null, receiver(received, seq));
            const loss = c.snapshot({ ...base, sender: null, receiver: null }).lossPct;
            assert.ok(loss >= 0 && loss <= 100, String(loss));
            if (i > 0 && st.got >= st.advance) assert.equal(loss, 0);
          });
        },
      ),
    );
  });
});
