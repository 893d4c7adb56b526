// Relayed media as a test client makes it: plain UDP sockets that bind to their grants on a
// relay's media plane, send numbered frames both ways, and an intruder without a grant (a made-up
// key on a real channel, and a replay from another address) who must get nothing through.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { RelayMediaChannel } from '../../src-main/engine/transport/relay-media-frame.ts';
import type { MediaGrantInfo } from '../../src-main/engine/signaling/relay-link.ts';

/** A UDP socket acting as a client's media socket on the relay's media plane. */
export async function mediaSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

/**
 * Each party sends 20 frames to the media address of its own grant (one relay, or two relays of
 * a cluster); each must receive the other's 20 exactly once, and nothing the intruder sent to
 * A's relay. `healthOfA` reads the metrics of the relay A sends to, where the intruder's frames
 * must show as dropped (bad MAC, replay).
 */
export async function relayedMediaBothWays(
  ga: MediaGrantInfo,
  gb: MediaGrantInfo,
  healthOfA: () => Promise<Record<string, unknown>>,
): Promise<void> {
  const sa = await mediaSocket();
  const sb = await mediaSocket();
  const se = await mediaSocket();
  const toA = (s: dgram.Socket, b: Buffer) => s.send(b, ga.media.port, ga.media.host);
  const toB = (s: dgram.Socket, b: Buffer) => s.send(b, gb.media.port, gb.media.host);
  try {
    const ca = new RelayMediaChannel(ga.channelId, ga.key);
    const cb = new RelayMediaChannel(gb.channelId, gb.key);
    const recvA: Buffer[] = [];
    const recvB: Buffer[] = [];
    sa.on('message', (m) => {
      const r = ca.receive(m);
      if (r.kind === 'data') recvA.push(r.payload);
    });
    sb.on('message', (m) => {
      const r = cb.receive(m);
      if (r.kind === 'data') recvB.push(r.payload);
    });
    // Both bind first so the relays learn their addresses.
    for (let i = 0; i < 3; i++) {
      toA(sa, ca.encodeBind());
      toB(sb, cb.encodeBind());
      await new Promise((r) => setTimeout(r, 30));
    }
    for (let i = 0; i < 20; i++) {
      toA(sa, ca.encodeData(Buffer.from(`a->b ${i}`)));
      toB(sb, cb.encodeData(Buffer.from(`b->a ${i}`)));
    }
    // The intruder, without a grant: a made-up key on A's channel, and a replay of A's frame.
    const fake = new RelayMediaChannel(ga.channelId, randomBytes(32));
    // Counters the relay has not seen yet, so the frame is judged on its MAC.
    for (let i = 0; i < 100; i++) fake.encodeBind();
    toA(se, fake.encodeData(Buffer.from('injected')));
    const replay = ca.encodeData(Buffer.from('a->b replayed'));
    toA(sa, replay);
    await new Promise((r) => setTimeout(r, 100));
    toA(se, replay);
    const deadline = Date.now() + 3000;
    while ((recvA.length < 20 || recvB.length < 21) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(recvB.length, 21, "b got a's frames once each, nothing injected");
    assert.equal(recvA.length, 20);
    assert.ok(recvB.every((p) => p.toString().startsWith('a->b')));
    assert.ok(recvA.every((p) => p.toString().startsWith('b->a')));
    const m = await healthOfA();
    const drops = (
      (m.media as Record<string, unknown>).forwarder as { drops: Record<string, number> }
    ).drops;
    assert.ok((drops.badMac ?? 0) >= 1, JSON.stringify(drops));
    assert.ok((drops.replay ?? 0) >= 1, JSON.stringify(drops));
  } finally {
    sa.close();
    sb.close();
    se.close();
  }
}
