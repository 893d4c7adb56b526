import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder, encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { PathMetrics } from '../../src-main/engine/transport/path-metrics.ts';

function chunked(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

describe('signal framing', () => {
  test('frames survive any chunking; oversized frames are skipped and the stream stays in sync', () => {
    const max = 64;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 150 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (payloads, cuts) => {
          const stream = Uint8Array.from(payloads.flatMap((p) => [...encodeFrame(p)]));
          const dec = new FrameDecoder(max);
          const got = chunked(stream, cuts).flatMap((c) => dec.push(c));
          const expected = payloads.map((p) =>
            p.length > max
              ? { kind: 'oversized', length: p.length }
              : { kind: 'frame', payload: p },
          );
          assert.deepEqual(got, expected);
          assert.equal(dec.bufferedBytes, 0);
        },
      ),
    );
  });

  test('buffered bytes stay bounded by the limit', () => {
    const dec = new FrameDecoder(100);
    const huge = new Uint8Array(4 + 10_000);
    new DataView(huge.buffer).setUint32(0, 10_000);
    for (let i = 0; i < huge.length; i += 333) {
      dec.push(huge.subarray(i, i + 333));
      assert.ok(dec.bufferedBytes <= 104);
    }
    const next = dec.push(encodeFrame(new Uint8Array([7])));
    assert.deepEqual(next, [{ kind: 'frame', payload: new Uint8Array([7]) }]);
  });
});

describe('path metrics', () => {
  test('RTT, jitter and ping loss from a fake clock', () => {
    const m = new PathMetrics(1000);
    let now = 0;
    const rtts = [10, 14, 10, 14, 10, 14];
    for (const rtt of rtts) {
      const id = m.pingSent(now);
      m.pongReceived(id, now + rtt);
      now += 100;
    }
    const lost = m.pingSent(now);
    now += 2000;
    assert.equal(m.pongReceived(lost, now), false, 'a late pong is not a sample');
    const s = m.snapshot(now);
    assert.ok(s.rttMs !== null && s.rttMs > 10 && s.rttMs < 14);
    assert.equal(s.minRttMs, 10);
    assert.ok(s.jitterMs !== null && s.jitterMs > 0 && s.jitterMs <= 4);
    assert.ok(Math.abs(s.pingLossPct - 100 / 7) < 0.01);
    assert.equal(m.pongReceived(999, now), false, 'unknown ids are ignored');
  });
});
